//! A module's checksum as click-odoo-update computes it
//! (`click_odoo_contrib/_addon_hash.py`, also behind OCA's
//! `module_auto_update`), so that a database one tool brought up to date
//! is up to date for the other.
//!
//! The checksum is a SHA-1 over the addon's files in `os.walk` order: in
//! each directory its files sorted by name, then its subdirectories sorted,
//! depth first; a symlinked directory is not entered, a symlinked file is
//! read. Each file adds its path relative to the addon, then its bytes.
//! Skipped: paths matching an exclude pattern (Python's `fnmatch`, whose
//! `*` also matches `/`), and under `i18n/` and `i18n_extra/` the `.po`
//! files of languages not active in the database (compared by the part
//! before `_`; with no active language at all, none is skipped, as there).
//! A subdirectory that cannot be listed adds nothing, as `os.walk` skips it.
//! A file name that is not UTF-8 (click-odoo-contrib fails on it) adds its
//! bytes as they are. A file that cannot be read, or is no regular file
//! (a FIFO: never waited on), is an error, and so is a tree deeper than
//! [`MAX_DEPTH`] directories.
//!

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use nix::dir::{Dir, Type};
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode};
use sha1::{Digest, Sha1};

use crate::meanwhile::Meanwhile;

use super::fnmatch::{matches, tokens, Token};

/// click-odoo-update's exclude patterns, unless the database sets
/// `module_auto_update.exclude_patterns`.
pub const DEFAULT_EXCLUDE: &str = "*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*,tests/*";

/// What a checksum leaves out: exclude patterns and inactive languages.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The patterns, parsed once.
    exclude: Vec<Vec<Token>>,
    keep_langs: BTreeSet<String>,
    /// As given, for helpers.
    pub(super) exclude_text: String,
    pub(super) langs: Vec<String>,
}

impl Rules {
    /// The same patterns and languages: checksums made with one hold for the other.
    pub(crate) fn same_as(&self, other: &Rules) -> bool {
        fn sorted(langs: &[String]) -> BTreeSet<&String> {
            langs.iter().collect()
        }
        self.exclude_text == other.exclude_text && sorted(&self.langs) == sorted(&other.langs)
    }

    /// The same exclude patterns (the languages aside).
    pub(crate) fn same_patterns(&self, other: &Rules) -> bool {
        self.exclude_text == other.exclude_text
    }

    /// Whether a `.po` file of language `lang` (the part before `_`) counts.
    pub(crate) fn keeps_lang(&self, lang: &str) -> bool {
        self.keep_langs.is_empty() || self.keep_langs.contains(lang)
    }

    /// The exclude patterns as given.
    pub(crate) fn exclude_text(&self) -> &str {
        &self.exclude_text
    }

    /// The active languages as given.
    pub(crate) fn langs(&self) -> &[String] {
        &self.langs
    }

    /// `exclude`: comma-separated patterns (the database's parameter, or
    /// [`DEFAULT_EXCLUDE`]); `active_langs`: `res_lang` codes (`fr_BE`).
    pub fn new(exclude: &str, active_langs: &[String]) -> Rules {
        Rules {
            exclude: exclude
                .split(',')
                .map(|p| tokens(&p.trim().chars().collect::<Vec<char>>()))
                .collect(),
            keep_langs: active_langs
                .iter()
                .map(|l| l.split('_').next().unwrap_or("").to_string())
                .collect(),
            exclude_text: exclude.to_string(),
            langs: active_langs.to_vec(),
        }
    }

    /// Every path below the directory `reldir` matches one pattern (as
    /// `static/*` and `tests/*` do for `static/` and `tests/`): nothing in
    /// it can count, so it need not be read at all.
    fn covers(&self, reldir: &[u8]) -> bool {
        let dir: Vec<char> = String::from_utf8_lossy(reldir)
            .chars()
            .chain(['/'])
            .collect();
        self.exclude.iter().any(|tokens| match tokens.split_last() {
            Some((Token::Star, prefix)) => {
                prefix.len() == dir.len()
                    && prefix
                        .iter()
                        .zip(&dir)
                        .all(|(t, c)| !matches!(t, Token::Star) && t.matches(*c))
            }
            _ => false,
        })
    }

    fn skips(&self, reldir: &[u8], name: &[u8], path: &[u8]) -> bool {
        let path: Vec<char> = String::from_utf8_lossy(path).chars().collect();
        if self.exclude.iter().any(|p| matches(&path, p)) {
            return true;
        }
        if self.keep_langs.is_empty() || !matches!(reldir, b"i18n" | b"i18n_extra") {
            return false;
        }
        let (stem, ext) = splitext(name);
        ext == b".po" && {
            let lang = stem.split(|b| *b == b'_').next().unwrap_or(b"");
            !self.keeps_lang(String::from_utf8_lossy(lang).as_ref())
        }
    }
}

/// Python's `os.path.splitext` for a file name: the extension from the last
/// dot, unless only dots stand before it.
fn splitext(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|b| *b == b'.') {
        Some(i) if name[..i].iter().any(|b| *b != b'.') => (&name[..i], &name[i..]),
        _ => (name, b""),
    }
}

/// The deepest directory a walk enters below an addon: deeper is an error,
/// not a crash (a tree 15,000 directories deep once overflowed PID 1's
/// stack). Odoo's own addons go about 10 deep.
pub const MAX_DEPTH: usize = 256;

/// Between two chunks of this many reads a long hash looks at the stop.
const READS_PER_LOOK: usize = 16;

/// What may end a hash early: the caller's [`Meanwhile`] (a stop, the
/// job's SIGTERM and SIGINT), looked at between directories and every
/// 1 MiB read, which also reaps children that ended meanwhile.
#[derive(Clone, Copy, Default)]
pub struct Stop<'a>(pub Option<&'a Meanwhile>);

impl Stop<'_> {
    fn asked(self) -> io::Result<()> {
        match self.0 {
            Some(meanwhile) if meanwhile.stop_asked() => Err(stopped()),
            _ => Ok(()),
        }
    }
}

/// The error of a hash ended by its [`Stop`].
pub fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "stopped")
}

/// The checksum (lowercase hex SHA-1) of the addon in `dir`.
pub fn checksum(dir: &Path, rules: &Rules) -> io::Result<String> {
    checksum_until(dir, rules, Stop::default())
}

/// [`checksum`], ended early (with [`stopped`]) when `stop` says so.
pub fn checksum_until(dir: &Path, rules: &Rules, stop: Stop) -> io::Result<String> {
    let mut sha = Sha1::new();
    let mut buf = vec![0u8; 64 * 1024];
    // os.walk of a directory it cannot list yields nothing.
    if let Ok(top) = Dir::open(dir, DIR_FLAGS, Mode::empty()) {
        walk(top, rules, &mut sha, &mut buf, stop)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    }
    Ok(sha.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_CLOEXEC);

/// A directory of the walk being visited: its subdirectories still to
/// enter, last first.
struct Visit {
    dir: Dir,
    reldir: Vec<u8>,
    subdirs: Vec<Vec<u8>>,
}

/// The walk, depth first without recursion (the stack is a `Vec`, its
/// depth bounded by [`MAX_DEPTH`]): each directory's files when it is
/// entered, then its subdirectories in order.
fn walk(top: Dir, rules: &Rules, sha: &mut Sha1, buf: &mut [u8], stop: Stop) -> io::Result<()> {
    let mut stack = vec![enter(top, Vec::new(), rules, sha, buf, stop)?];
    while let Some(visit) = stack.last_mut() {
        let Some(name) = visit.subdirs.pop() else {
            stack.pop();
            continue;
        };
        let sub_rel = joined(&visit.reldir, &name);
        if rules.covers(&sub_rel) {
            continue;
        }
        // A directory that cannot be listed adds nothing, as in os.walk.
        let Ok(sub) = Dir::openat(
            &visit.dir,
            name.as_slice(),
            DIR_FLAGS | OFlag::O_NOFOLLOW,
            Mode::empty(),
        ) else {
            continue;
        };
        if stack.len() > MAX_DEPTH {
            return Err(io::Error::other(format!(
                "{}: more than {MAX_DEPTH} directories deep",
                String::from_utf8_lossy(&sub_rel)
            )));
        }
        stack.push(enter(sub, sub_rel, rules, sha, buf, stop)?);
    }
    Ok(())
}

/// Enters one directory: hashes its files (sorted), returns its
/// subdirectories to visit. Files and subdirectories are opened relative
/// to it (`openat`): one path component to look up each.
fn enter(
    mut dir: Dir,
    reldir: Vec<u8>,
    rules: &Rules,
    sha: &mut Sha1,
    buf: &mut [u8],
    stop: Stop,
) -> io::Result<Visit> {
    stop.asked()?;
    // (name, known to be a regular file) of the files; the directories.
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    let names: Vec<(Vec<u8>, Option<Type>)> = dir
        .iter()
        .flatten()
        .map(|e| (e.file_name().to_bytes().to_vec(), e.file_type()))
        .filter(|(n, _)| n != b"." && n != b"..")
        .collect();
    for (name, kind) in names {
        let stat = |follow: bool| {
            let flag = if follow {
                AtFlags::empty()
            } else {
                AtFlags::AT_SYMLINK_NOFOLLOW
            };
            fstatat(&dir, name.as_slice(), flag).ok()
        };
        // From the directory listing itself (d_type) where the file system
        // says; a stat only where it does not.
        let kind = kind.or_else(|| stat(false).map(|s| type_of(s.st_mode)));
        match kind {
            Some(Type::Directory) => dirs.push(name),
            // os.walk's is_dir() follows a link; it enters no linked directory.
            Some(Type::Symlink) => {
                if stat(true).is_none_or(|s| type_of(s.st_mode) != Type::Directory) {
                    files.push((name, false));
                }
            }
            Some(Type::File) => files.push((name, true)),
            _ => files.push((name, false)),
        }
    }
    files.sort();
    for (name, regular) in &files {
        let path = joined(&reldir, name);
        if rules.skips(&reldir, name, &path) {
            continue;
        }
        sha.update(&path);
        hash_file(&dir, name, *regular, sha, buf, stop).map_err(|e| {
            io::Error::new(e.kind(), format!("{}: {e}", String::from_utf8_lossy(&path)))
        })?;
    }
    // Sorted, last first: popped in order.
    dirs.sort_by(|a, b| b.cmp(a));
    Ok(Visit {
        dir,
        reldir,
        subdirs: dirs,
    })
}

fn type_of(mode: libc::mode_t) -> Type {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => Type::Directory,
        libc::S_IFREG => Type::File,
        libc::S_IFLNK => Type::Symlink,
        _ => Type::Fifo,
    }
}

fn joined(reldir: &[u8], name: &[u8]) -> Vec<u8> {
    if reldir.is_empty() {
        name.to_vec()
    } else {
        [reldir, b"/", name].concat()
    }
}

/// Adds the bytes of the regular file `name` in `dir` (a link followed).
/// `regular`: the directory listing said so already: no stat.
fn hash_file(
    dir: &Dir,
    name: &[u8],
    regular: bool,
    sha: &mut Sha1,
    buf: &mut [u8],
    stop: Stop,
) -> io::Result<()> {
    // O_NONBLOCK: a FIFO is refused below, never waited on.
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut file = File::from(fd);
    if !regular && !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    for reads in 1.. {
        if reads % READS_PER_LOOK == 0 {
            stop.asked()?;
        }
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => sha.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_passed_over_only_when_every_path_below_is_excluded() {
        let rules = Rules::new(DEFAULT_EXCLUDE, &[]);
        assert!(rules.covers(b"static"));
        assert!(rules.covers(b"tests"));
        assert!(!rules.covers(b"i18n"));
        assert!(!rules.covers(b"models"));
        // Conservative: only a pattern that spells the directory, then `*`.
        assert!(!rules.covers(b"static/src"));
        let rules = Rules::new("data/?/*,[ab]*", &[]);
        assert!(rules.covers(b"data/x"));
        assert!(!rules.covers(b"data/xy"));
        assert!(!rules.covers(b"a"));
    }

    #[test]
    fn splitext_is_pythons() {
        assert_eq!(splitext(b"fr.po"), (&b"fr"[..], &b".po"[..]));
        assert_eq!(splitext(b".po"), (&b".po"[..], &b""[..]));
        assert_eq!(splitext(b"..po"), (&b"..po"[..], &b""[..]));
        assert_eq!(splitext(b"a..po"), (&b"a."[..], &b".po"[..]));
        assert_eq!(splitext(b"README"), (&b"README"[..], &b""[..]));
    }
}
