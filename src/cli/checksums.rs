//! `odoo-init write-checksums FILE`: the image's module checksums, written
//! when the image is built ([`crate::odoo::prehashed`]), and the same file
//! read by the commands that compare checksums outside the main job.

use std::ffi::OsString;
use std::path::PathBuf;

use super::options::{self, Spec};
use crate::config::Config;
use crate::exit::Failure;
use crate::job::Prepared;
use crate::odoo::addons::{self, Rules};
use crate::odoo::checksums::Sums;
use crate::odoo::prehashed::{self, Prehashed};

/// The languages a checksums file is written for when `--langs` is not
/// given: what a new Odoo database has active.
const DEFAULT_LANGS: &str = "en_US";

/// `write-checksums FILE [--langs CODES] [--exclude PATTERNS]`: hashes the
/// addons path the environment gives (as `odoo-init state --changed` finds
/// it) and writes FILE.
pub(super) fn write(prepared: &mut Prepared, args: &[OsString]) -> Result<String, Failure> {
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
    let found = prepared.addons(&[])?;
    let count = prehashed::write(&found, &rules, &file).map_err(|e| {
        let why = format!("writing {}: {e}", file.display());
        match e.kind() {
            // No module, or a directory gone since it was checked: the
            // addons path is wrong, not the system.
            std::io::ErrorKind::NotFound => Failure::Usage(why),
            _ => Failure::Os(why),
        }
    })?;
    Ok(format!(
        "wrote the checksums of {count} modules to {} (languages {})\n",
        file.display(),
        langs.join(",")
    ))
}

/// Sums that read the image's checksums file when `ADDONS_CHECKSUMS_FILE`
/// names one, as the main job does.
pub(super) fn image_sums(cfg: &Config) -> Result<Sums, Failure> {
    let Some(path) = &cfg.checksums_file else {
        return Ok(Sums::default());
    };
    Prehashed::read(path)
        .map(|file| Sums::with_prehashed(Some(file)))
        .map_err(|why| Failure::Usage(format!("ADDONS_CHECKSUMS_FILE: {why}")))
}
