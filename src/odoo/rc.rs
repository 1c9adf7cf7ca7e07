//! Odoo's config file (`ODOO_RC`, `-c`): its `[options]` as key → value.
//! Read by the job for the `db_*` fallbacks and the addons path, by the
//! probes for where Odoo listens, and by the stand-in Odoo.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::env::{invalid, ConfigError, Lookup};
use crate::files;

/// The `[options]` of one config file, every key it sets.
pub type Options = HashMap<String, String>;

/// Where the official image keeps it; read when `ODOO_RC` is unset and it exists.
pub(crate) const DEFAULT_PATH: &str = "/etc/odoo/odoo.conf";
/// The most an Odoo config file may hold (README, Configuration).
const MAX_BYTES: usize = 1024 * 1024;

/// A value of `[options]`; `False` is how Odoo writes an unset one.
pub fn value<'a>(rc: &'a Options, key: &str) -> Option<&'a String> {
    rc.get(key).filter(|v| v.as_str() != "False")
}

/// `[options]` of an Odoo config file, every key it sets (`False` included:
/// see [`value`]).
pub fn read(path: &Path) -> std::io::Result<Options> {
    let text = files::read_text(path, MAX_BYTES)?;
    let mut in_options = false;
    let mut values = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_options = line == "[options]";
        } else if let (true, Some((k, v))) = (in_options, line.split_once('=')) {
            let v = v.trim();
            if !line.starts_with(['#', ';']) {
                values.insert(k.trim().to_string(), v.to_string());
            }
        }
    }
    Ok(values)
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
