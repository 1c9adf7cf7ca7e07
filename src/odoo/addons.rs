//! Odoo's addons on disk: the directories of the addons path, where one
//! module lives, and its checksum as click-odoo-update computes it
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
//! (a FIFO: never waited on), is an error.
//!
//! Many addons at once ([`Addons::checksums`]) are shared out to helper
//! processes, one per further CPU: hashing a full Odoo installation is
//! some 10,000 file system calls, and a starting pod waits for them.
//! Processes, not threads: PID 1 stays one thread; each helper is this
//! same program run as `odoo-init hash-addons` ([`helper_main`]), waited
//! for before the result is used.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::dir::{Dir, Type};
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode};

use sha1::{Digest, Sha1};

use crate::env::{self, ConfigError, Lookup};
use crate::odoo::rc;

/// click-odoo-update's exclude patterns, unless the database sets
/// `module_auto_update.exclude_patterns`.
pub const DEFAULT_EXCLUDE: &str = "*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*,tests/*";
/// A manifest larger than this is not read for `installable`.
const MANIFEST_MAX: u64 = 1024 * 1024;

/// The hidden command a hashing helper runs: `odoo-init hash-addons
/// EXCLUDE LANGS DIR...`.
pub const HELPER_COMMAND: &str = "hash-addons";
/// Fewer addons than this are hashed here alone: a helper costs a process.
const SHARE_FROM: usize = 16;
/// At most this many processes hash at once (this one included).
const MAX_WORKERS: usize = 4;

/// The directories Odoo looks for modules in, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addons {
    dirs: Vec<PathBuf>,
    /// The program helpers run ([`HELPER_COMMAND`]); `None`: no helpers.
    helper: Option<PathBuf>,
}

impl Addons {
    pub fn new(dirs: Vec<PathBuf>) -> Addons {
        Addons { dirs, helper: None }
    }

    /// Shares hashing with helper processes running `program` (odoo-init itself).
    pub fn with_helper(mut self, program: Option<PathBuf>) -> Addons {
        self.helper = program;
        self
    }

    /// The checksums of `dirs`, in their order. With a helper program, 16
    /// or more addons and more than one CPU (as the scheduler and the
    /// container's CPU quota allow), each further CPU's share (up to 3)
    /// goes to a helper while this process hashes its own; a helper that
    /// cannot be started or fails leaves its share to this process.
    pub fn checksums(&self, dirs: &[PathBuf], rules: &Rules) -> io::Result<Vec<String>> {
        let workers = match &self.helper {
            Some(_) if dirs.len() >= SHARE_FROM => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS),
            _ => 1,
        };
        let share = |k: usize| (k..dirs.len()).step_by(workers);
        let mut helpers: Vec<(usize, Child)> = Vec::new();
        if let Some(program) = &self.helper {
            for k in 1..workers {
                let spawned = Command::new(program)
                    .arg(HELPER_COMMAND)
                    .arg(&rules.exclude_text)
                    .arg(rules.langs.join(","))
                    .args(share(k).map(|i| &dirs[i]))
                    // It needs nothing of ours, and the secrets stay here.
                    .env_clear()
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .spawn();
                match spawned {
                    Ok(child) => helpers.push((k, child)),
                    Err(e) => log::debug!("no hashing helper ({}): {e}", program.display()),
                }
            }
        }
        let mut sums = vec![String::new(); dirs.len()];
        let mine: Vec<usize> = (0..workers)
            .filter(|k| !helpers.iter().any(|(h, _)| h == k))
            .flat_map(share)
            .collect();
        let mut result = hash_into(&mut sums, &mine, dirs, rules);
        let mut processes = 1;
        // Every helper is waited for, whatever happened here.
        for (k, child) in helpers {
            let indexes: Vec<usize> = share(k).collect();
            match helper_output(child, indexes.len()) {
                Some(lines) => {
                    processes += 1;
                    for (i, line) in indexes.into_iter().zip(lines) {
                        match line.strip_prefix('!') {
                            Some(error) => result = result.and(Err(io::Error::other(error))),
                            None => sums[i] = line,
                        }
                    }
                }
                None if result.is_ok() => result = hash_into(&mut sums, &indexes, dirs, rules),
                None => {}
            }
        }
        log::debug!("{} addons hashed by {processes} processes", dirs.len());
        result.map(|()| sums)
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
    let configured = match super::args::value_of(&args, "--addons-path", None) {
        Some(v) => Some(("--addons-path", v.to_string())),
        None => rc_addons_path.map(|v| (RC_KEY, v.to_string())),
    };
    path(explicit, odoo_bin, configured)
}

/// The same from the environment alone, for `odoo-init state --changed`
/// (no `MODE`, no Odoo arguments; an `ODOO_BIN` not found is taken as given).
pub(crate) fn from_env(env: Lookup) -> Result<Addons, ConfigError> {
    let explicit = match env("ADDONS_PATH") {
        Some(v) if !v.trim().is_empty() => Some(env::directories("ADDONS_PATH", &v)?),
        _ => None,
    };
    let (_, options) = rc::locate(env)?;
    let bin = env("ODOO_BIN").unwrap_or_else(|| "odoo".into());
    let odoo_bin =
        env::find_executable(&bin, env("PATH").as_deref()).unwrap_or_else(|_| PathBuf::from(bin));
    let configured = rc::value(&options, "addons_path").map(String::as_str);
    discover(explicit.as_deref(), &odoo_bin, configured, &[])
}

const RC_KEY: &str = "addons_path (Odoo's config file)";

fn path(
    explicit: Option<&[PathBuf]>,
    odoo_bin: &Path,
    configured: Option<(&str, String)>,
) -> Result<Addons, ConfigError> {
    if let Some(dirs) = explicit {
        return Ok(Addons::new(dirs.to_vec()));
    }
    let mut dirs = own_dirs(odoo_bin);
    if let Some((name, value)) = configured {
        for dir in env::directories(name, &value)? {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    Ok(Addons::new(dirs))
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
    found.dedup();
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

/// `sums[i]` for each of `indexes`, hashed here; the first error ends it.
fn hash_into(
    sums: &mut [String],
    indexes: &[usize],
    dirs: &[PathBuf],
    rules: &Rules,
) -> io::Result<()> {
    for &i in indexes {
        sums[i] = checksum(&dirs[i], rules)?;
    }
    Ok(())
}

/// A helper's lines, once it exited 0 with one line per addon; `None` otherwise.
fn helper_output(mut child: Child, expected: usize) -> Option<Vec<String>> {
    let mut text = String::new();
    let read = child
        .stdout
        .take()
        .map(|mut out| out.read_to_string(&mut text));
    let status = child.wait();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let ok =
        matches!(read, Some(Ok(_))) && status.is_ok_and(|s| s.success()) && lines.len() == expected;
    if !ok {
        log::debug!("a hashing helper failed; its share is hashed here");
    }
    ok.then_some(lines)
}

/// `odoo-init hash-addons EXCLUDE LANGS DIR...`: one line per directory,
/// its checksum or `!` and the error. What [`Addons::checksums`] runs.
pub fn helper_main(args: &[OsString]) -> i32 {
    let [exclude, langs, dirs @ ..] = args else {
        log::error!("{HELPER_COMMAND}: EXCLUDE LANGS DIR... expected");
        return crate::exit::USAGE;
    };
    let langs: Vec<String> = langs
        .to_string_lossy()
        .split(',')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let rules = Rules::new(&exclude.to_string_lossy(), &langs);
    let mut out = io::BufWriter::new(io::stdout().lock());
    for dir in dirs {
        let line = match checksum(Path::new(dir), &rules) {
            Ok(sum) => sum,
            Err(e) => format!("!{}", e.to_string().replace('\n', " ")),
        };
        if writeln!(out, "{line}").is_err() {
            return crate::exit::OS_ERROR;
        }
    }
    match out.flush() {
        Ok(()) => 0,
        Err(_) => crate::exit::OS_ERROR,
    }
}

/// What a checksum leaves out: exclude patterns and inactive languages.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The patterns, parsed once.
    exclude: Vec<Vec<Token>>,
    keep_langs: BTreeSet<String>,
    /// As given, for helpers.
    exclude_text: String,
    langs: Vec<String>,
}

impl Rules {
    /// The same patterns and languages: checksums made with one hold for the other.
    pub(crate) fn same_as(&self, other: &Rules) -> bool {
        fn sorted(langs: &[String]) -> BTreeSet<&String> {
            langs.iter().collect()
        }
        self.exclude_text == other.exclude_text && sorted(&self.langs) == sorted(&other.langs)
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
            !self
                .keep_langs
                .contains(String::from_utf8_lossy(lang).as_ref())
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

/// The checksum (lowercase hex SHA-1) of the addon in `dir`.
pub fn checksum(dir: &Path, rules: &Rules) -> io::Result<String> {
    let mut sha = Sha1::new();
    let mut buf = vec![0u8; 64 * 1024];
    // os.walk of a directory it cannot list yields nothing.
    if let Ok(mut top) = Dir::open(dir, DIR_FLAGS, Mode::empty()) {
        walk(&mut top, &mut Vec::new(), rules, &mut sha, &mut buf)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    }
    Ok(sha.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_CLOEXEC);

/// One directory of the walk. Files and subdirectories are opened relative
/// to it (`openat`): one path component to look up each, not the whole path.
fn walk(
    dir: &mut Dir,
    reldir: &mut Vec<u8>,
    rules: &Rules,
    sha: &mut Sha1,
    buf: &mut [u8],
) -> io::Result<()> {
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
            fstatat(&*dir, name.as_slice(), flag).ok()
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
    dirs.sort();
    for (name, regular) in &files {
        let path = joined(reldir, name);
        if rules.skips(reldir, name, &path) {
            continue;
        }
        sha.update(&path);
        hash_file(dir, name, *regular, sha, buf).map_err(|e| {
            io::Error::new(e.kind(), format!("{}: {e}", String::from_utf8_lossy(&path)))
        })?;
    }
    for name in &dirs {
        let sub_rel = joined(reldir, name);
        if rules.covers(&sub_rel) {
            continue;
        }
        // A directory that cannot be listed adds nothing, as in os.walk.
        let Ok(mut sub) = Dir::openat(
            &*dir,
            name.as_slice(),
            DIR_FLAGS | OFlag::O_NOFOLLOW,
            Mode::empty(),
        ) else {
            continue;
        };
        let len = reldir.len();
        *reldir = sub_rel;
        walk(&mut sub, reldir, rules, sha, buf)?;
        reldir.truncate(len);
    }
    Ok(())
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
    loop {
        match file.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sha.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Python's `fnmatch.fnmatch` on POSIX: `*` any run of characters (`/`
/// included), `?` one character, `[seq]`, `[!seq]` with ranges; a `[`
/// without its `]` is itself.
pub fn fnmatch(name: &[char], pattern: &[char]) -> bool {
    matches(name, &tokens(pattern))
}

/// [`fnmatch`] with the pattern parsed already.
fn matches(name: &[char], tokens: &[Token]) -> bool {
    // Classic wildcard matching with one backtrack point per `*`.
    let (mut n, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
            }
            Some(tok) if tok.matches(name[n]) => {
                n += 1;
                t += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    star = Some((st, sn + 1));
                    t = st + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|tok| matches!(tok, Token::Star))
}

#[derive(Debug, Clone)]
enum Token {
    Star,
    Any,
    Char(char),
    /// Negated, and the ranges (a single character is a range of one).
    Class(bool, Vec<(char, char)>),
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Char(x) => *x == c,
            Token::Class(negated, ranges) => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// The pattern as fnmatch.translate reads it.
fn tokens(p: &[char]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        i += 1;
        match c {
            '*' => {
                if !matches!(out.last(), Some(Token::Star)) {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::Any),
            '[' => {
                let mut j = i;
                if p.get(j) == Some(&'!') {
                    j += 1;
                }
                if p.get(j) == Some(&']') {
                    j += 1;
                }
                while j < p.len() && p[j] != ']' {
                    j += 1;
                }
                if j >= p.len() {
                    out.push(Token::Char('['));
                    continue;
                }
                let stuff = &p[i..j];
                i = j + 1;
                let (negated, body) = match stuff.split_first() {
                    Some(('!', rest)) => (true, rest),
                    _ => (false, stuff),
                };
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        // An empty range (z-a) matches nothing, as in Python.
                        if body[k] <= body[k + 2] {
                            ranges.push((body[k], body[k + 2]));
                        }
                        k += 3;
                    } else {
                        ranges.push((body[k], body[k]));
                        k += 1;
                    }
                }
                out.push(Token::Class(negated, ranges));
            }
            c => out.push(Token::Char(c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, pattern: &str) -> bool {
        let n: Vec<char> = name.chars().collect();
        let p: Vec<char> = pattern.chars().collect();
        fnmatch(&n, &p)
    }

    #[test]
    fn fnmatch_is_pythons() {
        assert!(m("static/src/js/a.js", "static/*"));
        assert!(m("a/b/c.pyc", "*.pyc"));
        assert!(!m("a/static/x", "static/*"));
        assert!(m("i18n/x.pot", "i18n/*.pot"));
        assert!(!m("i18n_extra/x.pot", "i18n/*.pot"));
        assert!(m("tests/a", "tests/*"));
        assert!(!m("tests", "tests/*"));
        assert!(m("a", "?"));
        assert!(!m("ab", "?"));
        assert!(m("b", "[abc]"));
        assert!(!m("d", "[abc]"));
        assert!(m("d", "[!abc]"));
        assert!(m("q", "[a-z]"));
        assert!(m("]", "[]]"));
        assert!(m("x", "[!]]"));
        assert!(m("[", "["));
        assert!(m("-", "[a-]"));
        assert!(!m("b", "[z-a]"));
        assert!(m("", "*"));
        assert!(m("abcabd", "*ab?"));
        assert!(m("é.po", "?.po"));
    }

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
    fn splitext_is_pythons() {
        assert_eq!(splitext(b"fr.po"), (&b"fr"[..], &b".po"[..]));
        assert_eq!(splitext(b".po"), (&b".po"[..], &b""[..]));
        assert_eq!(splitext(b"..po"), (&b"..po"[..], &b""[..]));
        assert_eq!(splitext(b"a..po"), (&b"a."[..], &b".po"[..]));
        assert_eq!(splitext(b"README"), (&b"README"[..], &b""[..]));
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
