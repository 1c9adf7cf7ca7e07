//! `odoo-init`'s own log lines: stderr, one line per event, prefixed so they
//! stand out from Odoo's lines (which pass through untouched).

use std::io::{self, Write};

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
        .format(|buf, record| {
            write!(buf, "[odoo-init] {:<5} ", record.level())?;
            std::fmt::write(&mut OneLine(buf), *record.args()).map_err(io::Error::other)?;
            writeln!(buf)
        })
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

/// Writes a message with its line breaks escaped (`\n`, `\r`): one event is
/// one line, whatever a value, an argument or a server message holds.
struct OneLine<'a, W: Write>(&'a mut W);

impl<W: Write> std::fmt::Write for OneLine<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(['\n', '\r']) {
            let escaped: &[u8] = if rest.as_bytes()[at] == b'\n' {
                b"\\n"
            } else {
                b"\\r"
            };
            self.0
                .write_all(&rest.as_bytes()[..at])
                .and_then(|()| self.0.write_all(escaped))
                .map_err(|_| std::fmt::Error)?;
            rest = &rest[at + 1..];
        }
        self.0
            .write_all(rest.as_bytes())
            .map_err(|_| std::fmt::Error)
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
    use super::{is_filter, OneLine};

    #[test]
    fn line_breaks_in_a_message_are_escaped() {
        let mut out = Vec::new();
        std::fmt::write(&mut OneLine(&mut out), format_args!("a\nb\r\nc{}", "\n")).unwrap();
        assert_eq!(out, b"a\\nb\\r\\nc\\n");
    }

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
