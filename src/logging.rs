//! `odoo-init`'s own log lines: stderr, one line per event, prefixed so they
//! stand out from Odoo's lines (which pass through untouched). With
//! `ODOO_INIT_LOG_FORMAT=json`, each is one JSON object instead, for log
//! aggregators: `time`, `level`, `message`, odoo-init's `pid`, the `mode`,
//! and the fields the line is about (`child_pid`, `status`, `row`, `state`).

use std::io::{self, Write};
use std::time::SystemTime;

use serde_json::{Map, Value};

/// The variable that sets the level (`env_logger` syntax: error, warn, info, debug).
pub const LEVEL_VARIABLE: &str = "ODOO_INIT_LOG";
/// The variable that chooses the form: `text` (default) or `json`.
pub const FORMAT_VARIABLE: &str = "ODOO_INIT_LOG_FORMAT";

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Sets up logging from `ODOO_INIT_LOG`. A value that is not a level (or
/// `target=level` pairs, comma-separated) would silence every line, errors
/// included: it is refused, logging at `info`, and the caller exits 64.
pub fn init() -> Result<(), String> {
    let value = std::env::var(LEVEL_VARIABLE).ok();
    let valid = value.as_deref().is_none_or(is_filter);
    let format = std::env::var(FORMAT_VARIABLE).unwrap_or_default();
    let json = format.trim().eq_ignore_ascii_case("json");
    let format_valid =
        json || format.trim().is_empty() || format.trim().eq_ignore_ascii_case("text");
    let mode = std::env::var("MODE").unwrap_or_default();
    let filter = value
        .filter(|_| valid)
        .unwrap_or_else(|| "info".to_string());
    env_logger::Builder::new()
        .parse_filters(&filter)
        // The PostgreSQL client logs statements at debug (`CREATE ROLE ...
        // PASSWORD 'SCRAM-SHA-256$...'`) and server notices at info: never ours to show.
        .filter_module("tokio_postgres", log::LevelFilter::Off)
        .filter_module("postgres", log::LevelFilter::Warn)
        .format(move |buf, record| {
            if json {
                return writeln!(buf, "{}", json_line(record, &mode));
            }
            write!(buf, "[odoo-init] {:<5} ", record.level())?;
            std::fmt::write(&mut OneLine(buf), *record.args()).map_err(io::Error::other)?;
            writeln!(buf)
        })
        .target(env_logger::Target::Stderr)
        .init();
    if !format_valid {
        return Err(format!(
            "{FORMAT_VARIABLE}={format:?} is not valid: text or json"
        ));
    }
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

/// One record as one JSON object (serde_json escapes what needs it, line
/// breaks included: one event is one line).
fn json_line(record: &log::Record, mode: &str) -> Value {
    let mut line = Map::new();
    line.insert(
        "time".into(),
        Value::String(crate::clock::rfc3339(SystemTime::now())),
    );
    line.insert("level".into(), Value::String(record.level().to_string()));
    line.insert("message".into(), Value::String(record.args().to_string()));
    line.insert("pid".into(), Value::from(std::process::id()));
    if !mode.is_empty() {
        line.insert("mode".into(), Value::String(mode.to_string()));
    }
    let mut fields = Fields(&mut line);
    let _ = record.key_values().visit(&mut fields);
    Value::Object(line)
}

/// The key-value pairs a log call gave (`log::info!(row = id; ...)`).
struct Fields<'a>(&'a mut Map<String, Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let value = match value.to_i64() {
            Some(n) => Value::from(n),
            None => Value::String(value.to_string()),
        };
        self.0.insert(key.as_str().to_string(), value);
        Ok(())
    }
}

/// Writes a message with its control characters escaped (`\n`, `\r`,
/// `\t`, else `\u{1b}`): one event is one line, and a value, an argument or
/// a server message can neither break it nor steer the reader's terminal
/// (ESC sequences, BEL).
struct OneLine<'a, W: Write>(&'a mut W);

impl<W: Write> std::fmt::Write for OneLine<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(char::is_control) {
            let c = rest[at..].chars().next().unwrap_or('\0');
            let escaped = match c {
                '\n' => "\\n".to_string(),
                '\r' => "\\r".to_string(),
                '\t' => "\\t".to_string(),
                c => c.escape_unicode().to_string(),
            };
            self.0
                .write_all(&rest.as_bytes()[..at])
                .and_then(|()| self.0.write_all(escaped.as_bytes()))
                .map_err(|_| std::fmt::Error)?;
            rest = &rest[at + c.len_utf8()..];
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
    fn terminal_controls_in_a_message_are_escaped() {
        let mut out = Vec::new();
        let hostile = "\u{1b}[2J\u{7}x\ty\u{9b}z é";
        std::fmt::write(&mut OneLine(&mut out), format_args!("{hostile}")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\\u{1b}[2J\\u{7}x\\ty\\u{9b}z é");
        assert!(!text.chars().any(char::is_control));
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
