//! UTC time as text, for what odoo-init writes down (log lines, backup
//! names and manifests). Leaf: std only.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2026-12-02T17:45:01.123Z`: UTC, milliseconds.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// `20261202T174501Z`: UTC, seconds, no separators (names that sort by time).
pub(crate) fn compact(at: SystemTime) -> String {
    let text = rfc3339(at);
    let (seconds, _) = text.split_once('.').unwrap_or((&text, ""));
    seconds.replace(['-', ':'], "") + "Z"
}

#[cfg(test)]
mod tests {
    use super::{compact, rfc3339};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_are_rfc3339_in_utc() {
        let at = |s: u64, ms: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_796_233_501, 123), "2026-12-02T17:45:01.123Z");
    }

    #[test]
    fn compact_times_sort_as_times() {
        assert_eq!(
            compact(UNIX_EPOCH + Duration::from_millis(1_796_233_501_123)),
            "20261202T174501Z"
        );
    }
}
