//! `odoo-init write-checksums FILE`: the image's module checksums, written
//! when the image is built ([`crate::odoo::prehashed`]), and the same file
//! read by the commands that compare checksums outside the main job.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::options::{self, Spec};
use crate::env;
use crate::exit::Failure;
use crate::odoo::addons::{self, Rules};
use crate::odoo::checksums::Sums;
use crate::odoo::prehashed::{self, Prehashed};

/// The languages a checksums file is written for when `--langs` is not
/// given: what a new Odoo database has active.
const DEFAULT_LANGS: &str = "en_US";

/// `write-checksums FILE [--langs CODES] [--exclude PATTERNS]`: hashes the
/// addons path the environment gives (as `odoo-init state --changed` finds
/// it) and writes FILE.
pub(super) fn write(args: &[OsString]) -> Result<String, Failure> {
    let spec = Spec {
        valued: &["--langs", "--exclude"],
        flags: &[],
        words: 1,
        dashes: false,
    };
    let parsed = options::parse(args, &spec)
        .map_err(|why| Failure::Usage(format!("write-checksums: {why}")))?;
    let Some(file) = parsed.words.first().map(PathBuf::from) else {
        return Err(Failure::Usage(
            "write-checksums needs the file to write: odoo-init write-checksums FILE".into(),
        ));
    };
    let langs: Vec<String> = parsed
        .value("--langs")
        .unwrap_or(DEFAULT_LANGS)
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let exclude = parsed.value("--exclude").unwrap_or(addons::DEFAULT_EXCLUDE);
    let rules = Rules::new(exclude, &langs);
    let found = addons::from_env(&env::process_env)
        .map(|a| a.with_helper(std::env::current_exe().ok()))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let count = prehashed::write(&found, &rules, &file)
        .map_err(|e| Failure::Os(format!("writing {}: {e}", file.display())))?;
    Ok(format!(
        "wrote the checksums of {count} modules to {} (languages {})\n",
        file.display(),
        langs.join(",")
    ))
}

/// Sums that read the image's checksums file when `ADDONS_CHECKSUMS_FILE`
/// names one, as the main job does.
pub(super) fn image_sums() -> Result<Sums, Failure> {
    let Some(path) = std::env::var_os("ADDONS_CHECKSUMS_FILE").filter(|v| !v.is_empty()) else {
        return Ok(Sums::default());
    };
    Prehashed::read(Path::new(&path))
        .map(|file| Sums::with_prehashed(Some(file)))
        .map_err(|why| Failure::Usage(format!("ADDONS_CHECKSUMS_FILE: {why}")))
}
