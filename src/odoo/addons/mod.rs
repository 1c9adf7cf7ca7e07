//! Odoo's addons on disk: the directories of the addons path, where one
//! module lives, and (in [`hash`]) its checksum as click-odoo-update
//! computes it, many at once shared with helper processes ([`helpers`]),
//! the exclude patterns matched as Python's `fnmatch` does ([`fnmatch`]).

mod fnmatch;
mod hash;
mod helpers;

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::env::{self, ConfigError};
use crate::meanwhile::Meanwhile;

pub use hash::{checksum, stopped, Rules, DEFAULT_EXCLUDE, MAX_DEPTH};
pub(crate) use helpers::{helper_main, HELPER_COMMAND};

/// A manifest larger than this is not read for `installable`.
const MANIFEST_MAX: u64 = 1024 * 1024;

/// The directories Odoo looks for modules in, in its order.
#[derive(Debug, Clone)]
pub struct Addons {
    dirs: Vec<PathBuf>,
    /// The program helpers run ([`HELPER_COMMAND`]); `None`: no helpers.
    helper: Option<PathBuf>,
    /// Ends hashing at a stop and reaps meanwhile ([`hash::Stop`]).
    meanwhile: Meanwhile,
}

impl Addons {
    pub fn new(dirs: Vec<PathBuf>) -> Addons {
        Addons {
            dirs,
            helper: None,
            meanwhile: Meanwhile::default(),
        }
    }

    /// Hashing ends early, with [`hash::stopped`], once a stop is pending,
    /// and reaps children that ended meanwhile.
    pub(crate) fn minding(mut self, meanwhile: Meanwhile) -> Addons {
        self.meanwhile = meanwhile;
        self
    }

    /// Shares hashing with helper processes running `program` (odoo-init itself).
    pub fn with_helper(mut self, program: Option<PathBuf>) -> Addons {
        self.helper = program;
        self
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Where `module` is: the first directory of the path with
    /// `module/__manifest__.py` (or the older `__openerp__.py`). A name that
    /// is not a plain module name (`..`, a slash) is nowhere.
    pub fn find(&self, module: &str) -> Option<PathBuf> {
        let plain = !module.is_empty()
            && module
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            return None;
        }
        self.dirs.iter().map(|d| d.join(module)).find(|m| {
            ["__manifest__.py", "__openerp__.py"]
                .iter()
                .any(|f| m.join(f).is_file())
        })
    }
}

/// The addons path as Odoo finds it, without running Python: `ADDONS_PATH`
/// alone when it is set; else Odoo's own addon directories (below), then
/// `--addons-path` of Odoo's arguments `extra`, else `addons_path` of its
/// config file. Each must be a directory that can be listed: a wrong one is
/// an error naming it (Odoo refuses it too).
///
/// Odoo's own directories, where they exist: the Debian package's (the
/// official image: `/usr/lib/python3/dist-packages/odoo/addons`), a source
/// checkout's beside `ODOO_BIN` (`odoo/addons` and `addons`), and a pip
/// install's (`../lib/python3.*/site-packages/odoo/addons`, or
/// `dist-packages`, from `ODOO_BIN`).
pub(crate) fn discover(
    explicit: Option<&[PathBuf]>,
    odoo_bin: &Path,
    rc_addons_path: Option<&str>,
    extra: &[OsString],
) -> Result<Addons, ConfigError> {
    let args: Vec<String> = extra
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let configured = match super::args::value_of(&args, "--addons-path") {
        Some(v) => Some(("--addons-path", v.to_string())),
        None => rc_addons_path.map(|v| (RC_KEY, v.to_string())),
    };
    path(explicit, odoo_bin, configured)
}

const RC_KEY: &str = "addons_path (Odoo's config file)";

fn path(
    explicit: Option<&[PathBuf]>,
    odoo_bin: &Path,
    configured: Option<(&str, String)>,
) -> Result<Addons, ConfigError> {
    if let Some(dirs) = explicit {
        return Ok(Addons::new(once_each(dirs.to_vec())));
    }
    let mut dirs = own_dirs(odoo_bin);
    if let Some((name, value)) = configured {
        dirs.extend(env::directories(name, &value)?);
    }
    Ok(Addons::new(once_each(dirs)))
}

/// Each directory once, in its first place: two spellings of one
/// directory (`/usr/bin/../lib/...` and `/usr/lib/...`, a symlink) are one.
fn once_each(dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = Vec::new();
    let mut kept = Vec::new();
    for dir in dirs {
        let real = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if !seen.contains(&real) {
            seen.push(real);
            kept.push(dir);
        }
    }
    kept
}

/// Odoo's own addon directories for the common layouts, those that exist.
fn own_dirs(odoo_bin: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/usr/lib/python3/dist-packages/odoo/addons")];
    let bin = fs::canonicalize(odoo_bin).unwrap_or_else(|_| odoo_bin.to_path_buf());
    if let Some(here) = bin.parent() {
        found.push(here.join("odoo/addons"));
        found.push(here.join("addons"));
        if let Ok(libs) = fs::read_dir(here.join("../lib")) {
            // A venv's site-packages; Debian's pip puts it in dist-packages.
            let mut pythons: Vec<PathBuf> = libs
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
                .flat_map(|e| {
                    ["site-packages", "dist-packages"].map(|d| e.path().join(d).join("odoo/addons"))
                })
                .collect();
            pythons.sort();
            found.extend(pythons);
        }
    }
    found.retain(|d| d.is_dir());
    found
}

/// Whether the manifest in `dir` leaves the module installable (the key
/// `installable` set to `False` is what makes it not).
pub fn installable(dir: &Path) -> bool {
    let Some(text) = ["__manifest__.py", "__openerp__.py"].iter().find_map(|f| {
        let mut text = String::new();
        File::open(dir.join(f))
            .ok()?
            .take(MANIFEST_MAX)
            .read_to_string(&mut text)
            .ok()?;
        Some(text)
    }) else {
        return false;
    };
    let flat: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    !(flat.contains("\"installable\":False") || flat.contains("'installable':False"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoos_own_addons_are_found_beside_a_checkout_and_a_pip_install() {
        let root = std::env::temp_dir().join(format!("odoo-init-own-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for dir in [
            "src/odoo/addons",
            "src/addons",
            "venv/bin",
            "venv/lib/python3.11/site-packages/odoo/addons",
            "usr/local/bin",
            "usr/local/lib/python3.11/dist-packages/odoo/addons",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        let checkout = own_dirs(&root.join("src/odoo-bin"));
        assert!(
            checkout.contains(&root.join("src/odoo/addons")),
            "{checkout:?}"
        );
        assert!(checkout.contains(&root.join("src/addons")), "{checkout:?}");
        let venv = own_dirs(&root.join("venv/bin/odoo"));
        assert!(
            venv.iter()
                .any(|d| d.ends_with("site-packages/odoo/addons")),
            "{venv:?}"
        );
        let debian_pip = own_dirs(&root.join("usr/local/bin/odoo"));
        assert!(
            debian_pip
                .iter()
                .any(|d| d.ends_with("dist-packages/odoo/addons")),
            "{debian_pip:?}"
        );
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_directory_reached_two_ways_is_listed_once() {
        let root = std::env::temp_dir().join(format!("odoo-init-once-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("usr/lib/odoo/addons")).unwrap();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink(root.join("usr/lib"), root.join("lib")).unwrap();
        let dirs = vec![
            root.join("usr/lib/odoo/addons"),
            root.join("usr/bin/../lib/odoo/addons"),
            root.join("lib/odoo/addons"),
        ];
        assert_eq!(once_each(dirs), [root.join("usr/lib/odoo/addons")]);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_module_is_found_by_its_manifest_and_a_path_is_no_module_name() {
        let root = std::env::temp_dir().join(format!("odoo-init-addons-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("a/m1")).unwrap();
        fs::create_dir_all(root.join("b/m1")).unwrap();
        fs::create_dir_all(root.join("b/m2")).unwrap();
        fs::write(root.join("a/m1/__manifest__.py"), "{}").unwrap();
        fs::write(root.join("b/m1/__manifest__.py"), "{}").unwrap();
        fs::write(root.join("b/m2/__manifest__.py"), "{'installable' : False}").unwrap();
        let addons = Addons::new(vec![root.join("a"), root.join("b")]);
        assert_eq!(addons.find("m1"), Some(root.join("a/m1")));
        assert!(installable(&root.join("a/m1")));
        assert!(!installable(&root.join("b/m2")));
        assert_eq!(addons.find("m3"), None);
        assert_eq!(addons.find("../b/m1"), None);
        let _ = fs::remove_dir_all(&root);
    }
}
