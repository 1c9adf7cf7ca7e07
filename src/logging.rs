//! `odoo-init`'s own log lines: stderr, one line per event, prefixed so they
//! stand out from Odoo's lines (which pass through untouched).

use std::io::Write;

/// The variable that sets the level (`env_logger` syntax: error, warn, info, debug).
pub const LEVEL_VARIABLE: &str = "ODOO_INIT_LOG";

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Sets up logging from `ODOO_INIT_LOG`. A value that is not a level (or
/// `target=level` pairs, comma-separated) would silence every line, errors
/// included: it is refused, logging at `info`, and the caller exits 64.
pub fn init() -> Result<(), String> {
    let value = std::env::var(LEVEL_VARIABLE).ok();
    let valid = value.as_deref().is_none_or(is_filter);
    let filter = value
        .filter(|_| valid)
        .unwrap_or_else(|| "info".to_string());
    env_logger::Builder::new()
        .parse_filters(&filter)
        // The PostgreSQL client logs statements at debug (`CREATE ROLE ...
        // PASSWORD 'SCRAM-SHA-256$...'`) and server notices at info: never ours to show.
        .filter_module("tokio_postgres", log::LevelFilter::Off)
        .filter_module("postgres", log::LevelFilter::Warn)
        .format(|buf, record| writeln!(buf, "[odoo-init] {:<5} {}", record.level(), record.args()))
        .target(env_logger::Target::Stderr)
        .init();
    if valid {
        Ok(())
    } else {
        let shown = std::env::var_os(LEVEL_VARIABLE).unwrap_or_default();
        Err(format!(
            "{LEVEL_VARIABLE}={:?} is not valid: one of {} (or TARGET=LEVEL pairs, comma-separated)",
            shown.to_string_lossy(),
            LEVELS.join(", ")
        ))
    }
}

fn is_level(word: &str) -> bool {
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word.trim()))
}

/// `env_logger`'s directives, without its regular-expression suffix.
fn is_filter(value: &str) -> bool {
    !value.trim().is_empty()
        && value
            .split(',')
            .all(|directive| match directive.split_once('=') {
                Some((target, level)) => !target.trim().is_empty() && is_level(level),
                None => is_level(directive),
            })
}

#[cfg(test)]
mod tests {
    use super::is_filter;

    #[test]
    fn levels_and_target_pairs_are_filters_anything_else_is_not() {
        for ok in ["info", "DEBUG", "warn,postgres=off", "odoo_init=trace"] {
            assert!(is_filter(ok), "{ok}");
        }
        for bad in ["verbose", "", "info,", "=info", "x=loud", "info/regex"] {
            assert!(!is_filter(bad), "{bad}");
        }
    }
}
