//! The image's checksums file (`ADDONS_CHECKSUMS_FILE`): the module
//! checksums of the addons baked into an image, written once when the
//! image is built (`odoo-init write-checksums FILE`), so that a starting pod
//! reads them instead of hashing every addon (some 100 ms of CPU for 500
//! addons, the same work in each of a fleet's pods).
//!
//! A sum from the file is used only where it must still hold: for a
//! module found now in the very directory it was hashed in, on the same
//! file system as the file itself (an addons directory mounted into the
//! container, as a dev container mounts its code, is another file system:
//! hashed as ever), under the same exclude patterns, and where the
//! database's languages keep or skip the same of the module's `.po` files
//! as the languages the file was written for. Everything else is hashed.
//! A module that reaches outside itself is hashed too: one with a symbolic
//! link leading out of it or a file on another file system when the file
//! was written (marked then, `"sealed": false`), and one with anything
//! mounted inside it now (a Kubernetes ConfigMap's `subPath` over one of
//! its files: `/proc/self/mountinfo`, read once per start). What the file
//! cannot see is a file of the image changed in place inside a running
//! container: the file is the image's word (docs/modes-and-state.md).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::addons::{Addons, Rules};
use crate::files;

/// What the file's first key says; another value is not this format.
const FORMAT: &str = "odoo-init checksums 2";
/// A larger file is refused (some 150 bytes a module).
const FILE_MAX: usize = 16 * 1024 * 1024;

/// One module's entry: its directory (of `dirs`), its sum, and the
/// language codes of its `.po` files (the part before `_`).
#[derive(Debug, Clone)]
struct Entry {
    dir: usize,
    /// `None`: the module reached outside itself when the file was
    /// written; it is hashed at every start.
    sum: Option<String>,
    po: Vec<String>,
}

/// The checksums file as read, for one start.
#[derive(Debug, Clone)]
pub(crate) struct Prehashed {
    rules: Rules,
    /// The file system the file is on: only directories on it are covered.
    device: u64,
    /// The addons directories hashed, canonical.
    dirs: Vec<PathBuf>,
    modules: HashMap<String, Entry>,
    /// An addons directory as the path gives it, and canonical: each
    /// resolved once, not once per module.
    resolved: HashMap<PathBuf, Option<PathBuf>>,
    /// Where something is mounted now (this process's view).
    mounts: Vec<PathBuf>,
}

impl Prehashed {
    /// Reads the file at `path`; an error says what is wrong with it.
    pub(crate) fn read(path: &Path) -> Result<Prehashed, String> {
        let unreadable = |e: io::Error| format!("{}: {e}", path.display());
        let (mut file, meta) = files::open_regular(path, 0).map_err(unreadable)?;
        let text = files::read_capped(&mut file, FILE_MAX).map_err(unreadable)?;
        let device = meta.dev();
        let bad = |why: &str| {
            format!(
                "{} is not a checksums file of this odoo-init ({why}); write it again with `odoo-init write-checksums`",
                path.display()
            )
        };
        let doc: Value = serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))?;
        if doc["format"] != FORMAT {
            return Err(bad("format"));
        }
        let texts = |v: &Value| -> Option<Vec<String>> {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let exclude = doc["exclude"].as_str().ok_or_else(|| bad("exclude"))?;
        let langs = texts(&doc["langs"]).ok_or_else(|| bad("langs"))?;
        let dirs: Vec<PathBuf> = texts(&doc["dirs"])
            .ok_or_else(|| bad("dirs"))?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let mut modules = HashMap::new();
        for (name, v) in doc["modules"].as_object().ok_or_else(|| bad("modules"))? {
            let entry = (|| {
                Some(Entry {
                    dir: usize::try_from(v["dir"].as_u64()?)
                        .ok()
                        .filter(|d| *d < dirs.len())?,
                    sum: match &v["sum"] {
                        Value::Null => None,
                        sum => Some(sum.as_str()?.to_string()),
                    },
                    po: texts(&v["po"])?,
                })
            })()
            .ok_or_else(|| bad(name))?;
            modules.insert(name.clone(), entry);
        }
        Ok(Prehashed {
            rules: Rules::new(exclude, &langs),
            device,
            dirs,
            modules,
            resolved: HashMap::new(),
            mounts: mount_points(),
        })
    }

    /// The sum of `module`, found now at `found`, if the file's still holds
    /// for it under the database's `rules`.
    pub(crate) fn sum(&mut self, module: &str, found: &Path, rules: &Rules) -> Option<&str> {
        let entry = self.modules.get(module)?;
        let same_langs = entry
            .po
            .iter()
            .all(|lang| self.rules.keeps_lang(lang) == rules.keeps_lang(lang));
        if !self.rules.same_patterns(rules) || !same_langs {
            return None;
        }
        let parent = found.parent()?;
        let here = self
            .resolved
            .entry(parent.to_path_buf())
            .or_insert_with(|| fs::canonicalize(parent).ok())
            .as_ref()?;
        // The module's own directory may be a link to another file system.
        let on_device = fs::metadata(found).ok()?.dev() == self.device;
        let canonical = here.join(found.file_name()?);
        let mounted_in = self.mounts.iter().any(|m| m.starts_with(&canonical));
        let sum = entry.sum.as_deref()?;
        (*here == self.dirs[entry.dir] && on_device && !mounted_in).then_some(sum)
    }
}

/// The mount points of this process's mount namespace (the fifth field of
/// `/proc/self/mountinfo`, its octal escapes undone); none when it cannot
/// be read (then nothing is taken for mounted, as before this check).
fn mount_points() -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let Ok(text) = fs::read("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .map(|field| PathBuf::from(std::ffi::OsString::from_vec(unescape(field))))
        .collect()
}

/// `\040` and the like (how mountinfo writes a space, a tab, a newline,
/// a backslash) back to their bytes.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        // Three octal digits after a backslash, of a byte (\000 to \377).
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| {
                let value = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                u8::try_from(value).ok()
            });
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// True when nothing in `module` reaches outside it: no symbolic link
/// whose target lies outside the module (or is gone), no entry on another
/// file system than the module's own; walked without following links, at
/// most [`super::addons::MAX_DEPTH`] deep (deeper counts as reaching out).
fn sealed(module: &Path) -> io::Result<bool> {
    let top = fs::canonicalize(module)?;
    let device = fs::metadata(&top)?.dev();
    let mut pending = vec![(top.clone(), 0)];
    while let Some((dir, depth)) = pending.pop() {
        if depth > super::addons::MAX_DEPTH {
            return Ok(false);
        }
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            if meta.dev() != device {
                return Ok(false);
            }
            if meta.file_type().is_symlink() {
                match fs::canonicalize(&path) {
                    Ok(target) if target.starts_with(&top) => {}
                    _ => return Ok(false),
                }
            } else if meta.is_dir() {
                pending.push((path, depth + 1));
            }
        }
    }
    Ok(true)
}

/// Hashes every module on the addons path (the first of a name, as Odoo
/// takes it) under `rules` and writes the checksums file to `path`
/// (replaced whole). How many modules it holds.
pub(crate) fn write(addons: &Addons, rules: &Rules, path: &Path) -> io::Result<usize> {
    let mut found: BTreeMap<String, (usize, PathBuf)> = BTreeMap::new();
    let mut dirs: Vec<String> = Vec::new();
    for (index, dir) in addons.dirs().iter().enumerate() {
        // As text: JSON holds no other path (and `json!` would panic on one).
        let canonical = fs::canonicalize(dir)?;
        let text = canonical.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a UTF-8 path", canonical.display()),
            )
        })?;
        dirs.push(text.to_string());
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(module) = addons.find(&name).filter(|m| m.parent() == Some(dir)) {
                found.entry(name).or_insert((index, module));
            }
        }
    }
    // A file with no module in it would stand for an image that has none.
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no module in the addons path (ADDONS_PATH, addons_path of Odoo's config file, Odoo's own): nothing written",
        ));
    }
    let module_dirs: Vec<PathBuf> = found.values().map(|(_, m)| m.clone()).collect();
    let sums = addons.checksums(&module_dirs, rules)?;
    let modules: serde_json::Map<String, Value> = found
        .into_iter()
        .zip(sums)
        .map(|((name, (dir, module)), sum)| {
            // A module reaching outside itself keeps no sum: it is hashed.
            let sum = sealed(&module)?.then_some(sum);
            let entry = json!({"dir": dir, "sum": sum, "po": po_langs(&module)});
            Ok((name, entry))
        })
        .collect::<io::Result<_>>()?;
    let count = modules.len();
    let doc = json!({
        "format": FORMAT,
        "exclude": rules.exclude_text(),
        "langs": rules.langs(),
        "dirs": dirs,
        "modules": modules,
    });
    let temporary = path.with_extension("partial");
    fs::write(&temporary, doc.to_string())?;
    fs::rename(&temporary, path)?;
    Ok(count)
}

/// The language codes of the `.po` files in a module's `i18n/` and
/// `i18n_extra/` (the part of the name before `_` and `.po`), sorted.
fn po_langs(module: &Path) -> Vec<String> {
    let mut langs: Vec<String> = ["i18n", "i18n_extra"]
        .iter()
        .filter_map(|sub| fs::read_dir(module.join(sub)).ok())
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".po")?;
            Some(stem.split('_').next().unwrap_or("").to_string())
        })
        .collect();
    langs.sort();
    langs.dedup();
    langs
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(
            super::unescape(br"/mnt/my\040addons/a\134b"),
            b"/mnt/my addons/a\\b".to_vec()
        );
        assert_eq!(super::unescape(br"/plain\0"), br"/plain\0".to_vec());
        // Not a byte: kept as it is.
        assert_eq!(super::unescape(br"/x\777"), br"/x\777".to_vec());
    }

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("odoo-init-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        root
    }

    fn module(root: &Path, dir: &str, name: &str, files: &[(&str, &str)]) {
        let m = root.join(dir).join(name);
        fs::create_dir_all(m.join("i18n")).unwrap();
        fs::write(m.join("__manifest__.py"), "{}").unwrap();
        for (f, text) in files {
            fs::write(m.join(f), text).unwrap();
        }
    }

    #[test]
    fn a_written_sum_is_the_hashed_one_and_holds_only_where_it_must() {
        let root = scratch("prehashed");
        module(
            &root,
            "a",
            "m1",
            &[("i18n/fr.po", "fr"), ("i18n/de_CH.po", "de")],
        );
        module(&root, "a", "m2", &[("x.py", "x")]);
        // m1 again later on the path: Odoo takes the first.
        module(&root, "b", "m1", &[("y.py", "y")]);
        let addons = Addons::new(vec![root.join("a"), root.join("b")]);
        let en = Rules::new(super::super::addons::DEFAULT_EXCLUDE, &["en_US".into()]);
        let file = root.join("sums.json");
        assert_eq!(write(&addons, &en, &file).unwrap(), 2);
        let mut pre = Prehashed::read(&file).unwrap();
        let m1 = root.join("a/m1");
        let hashed = super::super::addons::checksum(&m1, &en).unwrap();
        assert_eq!(pre.sum("m1", &m1, &en), Some(hashed.as_str()));
        assert_eq!(pre.modules["m1"].po, ["de", "fr"]);
        // Found elsewhere than where it was hashed: not this sum.
        assert_eq!(pre.sum("m1", &root.join("b/m1"), &en), None);
        assert_eq!(pre.sum("m3", &root.join("a/m3"), &en), None);
        // A language that keeps one more of m1's .po files: hashed; m2 has none.
        let fr = Rules::new(
            super::super::addons::DEFAULT_EXCLUDE,
            &["en_US".into(), "fr_BE".into()],
        );
        assert_eq!(pre.sum("m1", &m1, &fr), None);
        assert!(pre.sum("m2", &root.join("a/m2"), &fr).is_some());
        // Other exclude patterns: hashed.
        let other = Rules::new("*.pyc", &["en_US".into()]);
        assert_eq!(pre.sum("m2", &root.join("a/m2"), &other), None);
        // Not this format: an error that says how to make it.
        fs::write(&file, "{\"format\": \"something else\"}").unwrap();
        let why = Prehashed::read(&file).unwrap_err();
        assert!(why.contains("write-checksums"), "{why}");
        let _ = fs::remove_dir_all(&root);
    }
}
