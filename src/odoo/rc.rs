//! Odoo's config file (`ODOO_RC`, `-c`): its `[options]` as Odoo reads
//! them. Odoo 15 to 18 read it with Python's `configparser.RawConfigParser`
//! and then take `items('options')`; this reader does what that does, so
//! that odoo-init sees the values Odoo sees:
//!
//! - `key = value` and `key: value`, split at the first `=` or `:`; the key
//!   lower-cased (`DB_HOST` is `db_host`), key and value stripped;
//! - a line indented deeper than its key's continues the value (joined
//!   with a newline); blank lines inside a value are kept, trailing ones
//!   dropped;
//! - a line whose first non-blank character is `#` or `;` is a comment
//!   (there are no comments after a value: `x = 1 # one` is `1 # one`);
//! - `[DEFAULT]` values show in every section, `[options]`' own win;
//! - what `RawConfigParser` refuses, Odoo cannot start with either: a key
//!   twice in a section, a section twice, a key before any section, a line
//!   that is neither: refused here, with the line's number.
//!
//! Odoo then reads `True`/`true` and `False`/`false` as booleans; a value
//! that is `False` (how Odoo saves an unset option), `false` or empty is
//! unset for odoo-init ([`value`]). `None` is the text `None` to Odoo and
//! to odoo-init alike. Read by the job (the `db_*` fallbacks, the addons
//! path), by the probes (where Odoo listens) and by the stand-in Odoo.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::env::{invalid, ConfigError, Lookup};
use crate::files;

/// The `[options]` of one config file, every key it sets, as text.
pub type Options = HashMap<String, String>;

/// Where the official image keeps it; read when `ODOO_RC` is unset and it exists.
pub(crate) const DEFAULT_PATH: &str = "/etc/odoo/odoo.conf";
/// The most an Odoo config file may hold (docs/configuration.md, Configuration).
pub(crate) const MAX_BYTES: usize = 1024 * 1024;
/// Names older Odoo versions wrote, read by Odoo as their new ones.
const RENAMED: [(&str, &str); 3] = [
    ("xmlrpc_port", "http_port"),
    ("xmlrpc_interface", "http_interface"),
    ("xmlrpc", "http_enable"),
];

/// A value of `[options]` as Odoo takes it: `None` for one it treats as
/// unset (`False`, `false`, empty).
pub fn value<'a>(rc: &'a Options, key: &str) -> Option<&'a String> {
    rc.get(key)
        .filter(|v| !matches!(v.as_str(), "False" | "false" | ""))
}

/// `[options]` of an Odoo config file, as Odoo reads it (see the module's
/// documentation); a file Odoo could not read either is an error naming
/// the line.
pub fn read(path: &Path) -> std::io::Result<Options> {
    let text = files::read_text(path, MAX_BYTES)?;
    parse(&text).map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidData, why))
}

/// One section's keys, each with its lines until the file is read.
type Section = Vec<(String, Vec<String>)>;

/// What `RawConfigParser.read_string` followed by `items('options')` and
/// Odoo's renames give; `Err` where `read_string` raises.
pub fn parse(text: &str) -> Result<Options, String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut sections: Vec<(String, Section)> = Vec::new();
    let mut defaults: Section = Vec::new();
    // Which section lines go to (`None`: DEFAULT), once a header was seen.
    let mut current: Option<Option<usize>> = None;
    // The key continuation lines go to, and the indentation of its line.
    let mut key: Option<usize> = None;
    let mut indent = usize::MAX;
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let stripped = raw.trim();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        if stripped.is_empty() {
            // Kept inside a value (dropped at its end if nothing follows).
            if let (Some(section), Some(k)) = (current, key) {
                section_mut(&mut sections, &mut defaults, section)[k]
                    .1
                    .push(String::new());
            }
            continue;
        }
        let this_indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        if let (Some(section), Some(k)) = (current, key) {
            if this_indent > indent {
                section_mut(&mut sections, &mut defaults, section)[k]
                    .1
                    .push(stripped.to_string());
                continue;
            }
        }
        indent = this_indent;
        if let Some(header) = section_header(stripped) {
            current = Some(if header == "DEFAULT" {
                None
            } else if sections.iter().any(|(name, _)| name == header) {
                return Err(format!("line {line_no}: section [{header}] appears twice"));
            } else {
                sections.push((header.to_string(), Vec::new()));
                Some(sections.len() - 1)
            });
            key = None;
            continue;
        }
        let Some(section) = current else {
            return Err(format!(
                "line {line_no}: a value before any [section] (Odoo reads [options])"
            ));
        };
        let Some(at) = stripped.find(['=', ':']) else {
            return Err(format!(
                "line {line_no}: neither `key = value`, `key: value`, a [section] nor a comment"
            ));
        };
        let name = stripped[..at].trim_end().to_lowercase();
        if name.is_empty() {
            return Err(format!("line {line_no}: a value without a key"));
        }
        let entries = section_mut(&mut sections, &mut defaults, section);
        if entries.iter().any(|(k, _)| *k == name) {
            return Err(format!(
                "line {line_no}: {name} is set twice in the same section"
            ));
        }
        entries.push((name, vec![stripped[at + 1..].trim().to_string()]));
        key = Some(entries.len() - 1);
    }
    let joined = |entries: &Section| -> Vec<(String, String)> {
        entries
            .iter()
            .map(|(k, lines)| (k.clone(), lines.join("\n").trim_end().to_string()))
            .collect()
    };
    // `items('options')`'s order: DEFAULT's keys first, then the section's
    // own; a key in both keeps DEFAULT's place with the section's value.
    let mut items = joined(&defaults);
    match sections.iter().find(|(name, _)| name == "options") {
        Some((_, entries)) => {
            for (key, value) in joined(entries) {
                match items.iter_mut().find(|(k, _)| *k == key) {
                    Some(item) => item.1 = value,
                    None => items.push((key, value)),
                }
            }
        }
        // Odoo ignores a file without [options]: so do we.
        None => return Ok(Options::new()),
    }
    // Odoo renames each old name as it meets it, in that order: of
    // `xmlrpc_port` and `http_port`, the later one wins.
    let mut options = Options::new();
    for (key, value) in items {
        let key = match RENAMED.iter().find(|(old, _)| *old == key) {
            Some((_, new)) => new.to_string(),
            None => key,
        };
        options.insert(key, value);
    }
    Ok(options)
}

/// The section's entries (`None`: DEFAULT).
fn section_mut<'s>(
    sections: &'s mut [(String, Section)],
    defaults: &'s mut Section,
    which: Option<usize>,
) -> &'s mut Section {
    match which {
        Some(i) => &mut sections[i].1,
        None => defaults,
    }
}

/// `[name]` at the start of a stripped line: the name up to its last `]`
/// (what `RawConfigParser`'s `\[(?P<header>.+)\]` matches).
fn section_header(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// `ODOO_RC` (default [`DEFAULT_PATH`] when it exists) and its `[options]`.
pub(crate) fn locate(env: Lookup) -> Result<(Option<PathBuf>, Options), ConfigError> {
    let path = match env("ODOO_RC") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.exists()),
    };
    let values = match &path {
        Some(p) => read(p).map_err(|e| {
            invalid(
                "ODOO_RC",
                &p.display().to_string(),
                &format!("a readable Odoo config file ({e})"),
            )
        })?,
        None => HashMap::new(),
    };
    Ok((path, values))
}

/// Odoo's config file `text` with `admin_passwd = hash` as its only
/// `admin_passwd` of `[options]` (Python's parser refuses a key twice):
/// other lines as they are, the section made when the file has none.
pub(crate) fn with_admin_passwd(text: &str, hash: &str) -> String {
    let ours = format!("admin_passwd = {hash}\n");
    let mut out = String::with_capacity(text.len() + ours.len());
    let (mut section, mut placed, mut skipping) = (String::new(), false, false);
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        // A continuation line (indented) belongs to the key before it.
        if skipping && line.starts_with([' ', '\t']) && !trimmed.is_empty() {
            continue;
        }
        skipping = false;
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            section = name.to_string();
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push('\n');
            }
            if section == "options" && !placed {
                out.push_str(&ours);
                placed = true;
            }
            continue;
        }
        let key = trimmed.split(['=', ':']).next().unwrap_or("").trim();
        if section == "options"
            && key.eq_ignore_ascii_case("admin_passwd")
            && !line.starts_with([' ', '\t'])
        {
            skipping = true;
            continue;
        }
        out.push_str(line);
    }
    if !placed {
        let sep = if out.is_empty() || out.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        out = format!("[options]\n{ours}{sep}{out}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_passwd_is_replaced_once_in_options() {
        let text = "[options]\ndb_host = db\nADMIN_PASSWD = old\n   continued\nx = 1\n[other]\nadmin_passwd = kept\n";
        let out = with_admin_passwd(text, "$h");
        assert_eq!(
            out,
            "[options]\nadmin_passwd = $h\ndb_host = db\nx = 1\n[other]\nadmin_passwd = kept\n"
        );
        assert_eq!(get(&out, "admin_passwd").as_deref(), Some("$h"));
        assert_eq!(
            with_admin_passwd("", "$h"),
            "[options]\nadmin_passwd = $h\n"
        );
    }

    fn get(text: &str, key: &str) -> Option<String> {
        parse(text).unwrap().get(key).cloned()
    }

    #[test]
    fn keys_values_and_continuations_read_as_odoo_reads_them() {
        let text =
            "[options]\nDB_HOST : db\naddons_path = /a,\n    /b\n\n  /c\n\nx=1 # not a comment\n";
        assert_eq!(get(text, "db_host").as_deref(), Some("db"));
        assert_eq!(get(text, "addons_path").as_deref(), Some("/a,\n/b\n\n/c"));
        assert_eq!(get(text, "x").as_deref(), Some("1 # not a comment"));
        let rc = parse("[DEFAULT]\ndb_port=1\ndb_user=a\n[options]\ndb_user=b\nxmlrpc_port=8070\n")
            .unwrap();
        assert_eq!(rc["db_port"], "1");
        assert_eq!(rc["db_user"], "b");
        assert_eq!(rc["http_port"], "8070");
        assert!(parse("[other]\na=1\n").unwrap().is_empty());
    }

    #[test]
    fn what_odoo_cannot_read_is_refused_with_its_line() {
        for (text, line) in [
            ("a=1\n[options]\n", "line 1"),
            ("[options]\na=1\nA=2\n", "line 3"),
            ("[options]\n[options]\n", "line 2"),
            ("[options]\njust words\n", "line 2"),
            ("[options]\n= 1\n", "line 2"),
        ] {
            let why = parse(text).unwrap_err();
            assert!(why.starts_with(line), "{text:?}: {why}");
        }
    }

    #[test]
    fn false_and_empty_are_unset() {
        let rc = parse("[options]\na = False\nb = false\nc =\nd = None\ne = True\n").unwrap();
        for k in ["a", "b", "c"] {
            assert_eq!(value(&rc, k), None, "{k}");
        }
        assert_eq!(value(&rc, "d").map(String::as_str), Some("None"));
        assert_eq!(value(&rc, "e").map(String::as_str), Some("True"));
    }
}
