//! The backup itself, done by a child of PID 1 (`odoo-init backup-step`,
//! [`helper_main`]) under the claim's heartbeat: it may take minutes, and a
//! stop ends it like any step (a SIGTERM, then the usual escalation). Its
//! environment is the steps' (libpq's variables, the password file, the
//! claim's tag: a pod that resets the claim ends `pg_dump`'s sessions).
//!
//! In order: `pg_dump` into `NAME.partial/dump` and, while it runs, the
//! filestore linked into `NAME.partial/filestore`; the manifest written,
//! the dump read back (`pg_restore --list`), everything synced at once
//! (`syncfs`), then `NAME.partial` renamed to
//! `NAME` and the directory synced; then the oldest complete backups beyond
//! `KEEP` removed. Killed at any point, it leaves at most a `.partial`
//! directory, which no one takes for a backup and a later run removes.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::PARTIAL;

/// The hidden command: `odoo-init backup-step DIR NAME FILESTORE MANIFEST
/// KEEP PG_DUMP PG_RESTORE JOBS FORMAT` (`dir`, or `zip`: Odoo's zip,
/// `NAME.zip`).
pub(crate) const HELPER_COMMAND: &str = "backup-step";

/// A `.partial` directory older than this is left from a run that was
/// killed: removed by the next one.
const STALE: Duration = Duration::from_secs(3600);

/// What the filestore copy did, and what of it is not durable yet.
#[derive(Default)]
pub(super) struct Copied {
    linked: u64,
    copied: u64,
    /// The directories made, the copy's own first: a link is a name in a
    /// directory, and the linked file's bytes were durable already.
    dirs: Vec<PathBuf>,
}

impl Copied {
    /// What [`link_tree`] made, made durable. Links only: each directory
    /// synced, and nothing else; a `syncfs` would be one call, but it also
    /// writes out whatever else waits on that file system (a PostgreSQL
    /// beside it: measured, 150 ms with 300 MB waiting, where a
    /// filestore's few hundred directories take under 1 ms). Copies (the
    /// backup on another file system): their bytes must be written out
    /// anyway, and one `syncfs` of that file system does it for all at
    /// once, where a sync per file would wait for the disk per file.
    pub(super) fn sync(&self) -> io::Result<()> {
        match (self.copied, self.dirs.first()) {
            (0, _) => self
                .dirs
                .iter()
                .try_for_each(|dir| File::open(dir)?.sync_all()),
            (_, Some(root)) => nix::unistd::syncfs(File::open(root)?).map_err(io::Error::from),
            (_, None) => Ok(()),
        }
    }
}

/// `backup-step ...`: 0 when the backup `DIR/NAME` is complete; 1 (said)
/// otherwise.
pub(crate) fn helper_main(args: &[OsString]) -> i32 {
    let [dir, name, filestore, manifest, keep, pg_dump, pg_restore, jobs, format] = args else {
        log::error!(
            "{HELPER_COMMAND}: DIR NAME FILESTORE MANIFEST KEEP PG_DUMP PG_RESTORE JOBS FORMAT expected"
        );
        return crate::exit::USAGE;
    };
    let keep = keep.to_str().and_then(|k| k.parse().ok()).unwrap_or(3);
    let jobs = jobs.to_str().and_then(|j| j.parse().ok()).unwrap_or(1);
    let dir = PathBuf::from(dir);
    let started = Instant::now();
    let tools = (Path::new(pg_dump), Path::new(pg_restore));
    let name = name.to_string_lossy();
    let (filestore, manifest) = (Path::new(filestore), Path::new(manifest));
    let made = match format.to_str() {
        Some("zip") => make_zip(&dir, &name, filestore, manifest, tools.0),
        _ => make(&dir, &name, filestore, manifest, tools, jobs),
    };
    match made {
        Ok((path, copied)) => {
            log::info!(
                "backup {}: {} bytes, filestore {} files ({} linked, {} copied), {:.1}s",
                path.display(),
                size(&path),
                copied.linked + copied.copied,
                copied.linked,
                copied.copied,
                started.elapsed().as_secs_f64()
            );
            if let Err(e) = prune(&dir, keep) {
                log::warn!("removing old backups in {}: {e}", dir.display());
            }
            0
        }
        Err(e) => {
            log::error!("backup in {} failed: {e}", dir.display());
            1
        }
    }
}

/// The backup `dir/name`, made under `name.partial` and renamed once whole.
fn make(
    dir: &Path,
    name: &str,
    filestore: &Path,
    manifest: &Path,
    (pg_dump, pg_restore): (&Path, &Path),
    jobs: u32,
) -> io::Result<(PathBuf, Copied)> {
    fs::create_dir_all(dir)?;
    let partial = dir.join(format!("{name}{PARTIAL}"));
    let done = dir.join(name);
    if done.exists() {
        return Err(io::Error::other(format!(
            "{} exists already",
            done.display()
        )));
    }
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    fs::create_dir(&partial)?;
    // The database: pg_dump's directory format, its files synced by pg_dump;
    // the files linked meanwhile (this helper has nothing else to do while
    // the server dumps), where one file system holds both, copied elsewhere,
    // and made durable.
    let dump = Command::new(pg_dump)
        .arg("--format=directory")
        .arg(format!("--jobs={jobs}"))
        .arg("--file")
        .arg(partial.join("dump"))
        .stdin(Stdio::null())
        .spawn()?;
    let mut copied = Copied::default();
    let files = match filestore.is_dir() {
        true => link_tree(filestore, &partial.join("filestore"), &mut copied),
        false => fs::create_dir(partial.join("filestore")),
    };
    alongside(vec![dump], "pg_dump", files.and_then(|()| copied.sync()))?;
    let copy = partial.join("manifest.json");
    fs::copy(manifest, &copy)?;
    // Read back: a dump pg_restore cannot list is no backup.
    let listed = Command::new(pg_restore)
        .arg("--list")
        .arg(partial.join("dump"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()?;
    if !listed.success() {
        return Err(io::Error::other(format!(
            "pg_restore --list of the dump failed ({listed})"
        )));
    }
    // What is not durable yet: the manifest and the names in `partial`.
    File::open(&copy)?.sync_all()?;
    File::open(&partial)?.sync_all()?;
    fs::rename(&partial, &done)?;
    File::open(dir)?.sync_all()?;
    Ok((done, copied))
}

/// Odoo's zip `dir/name.zip` (as `dump_db` writes it: `dump.sql` from
/// `pg_dump --no-owner`, `filestore/`, `manifest.json`), written as
/// `name.zip.partial` and renamed once whole and synced.
fn make_zip(
    dir: &Path,
    name: &str,
    filestore: &Path,
    manifest: &Path,
    pg_dump: &Path,
) -> io::Result<(PathBuf, Copied)> {
    fs::create_dir_all(dir)?;
    let done = dir.join(format!("{name}.zip"));
    if done.exists() {
        return Err(io::Error::other(format!(
            "{} exists already",
            done.display()
        )));
    }
    let partial = dir.join(format!("{name}.zip{PARTIAL}"));
    let sql = dir.join(format!("{name}.sql{PARTIAL}"));
    run(Command::new(pg_dump)
        .arg("--no-owner")
        .arg("--format=plain")
        .arg("--file")
        .arg(&sql))?;
    let mut zip = super::zip::Writer::create(&partial)?;
    zip.add("dump.sql", &sql)?;
    let mut copied = Copied::default();
    if filestore.is_dir() {
        let mut pending = vec![(filestore.to_path_buf(), String::from("filestore"))];
        while let Some((src, inside)) = pending.pop() {
            for entry in fs::read_dir(&src)? {
                let entry = entry?;
                let name = format!("{inside}/{}", entry.file_name().to_string_lossy());
                if entry.path().is_dir() {
                    pending.push((entry.path(), name));
                } else {
                    zip.add(&name, &entry.path())?;
                    copied.copied += 1;
                }
            }
        }
    }
    zip.add("manifest.json", manifest)?;
    zip.finish()?;
    fs::remove_file(&sql)?;
    fs::rename(&partial, &done)?;
    File::open(dir)?.sync_all()?;
    Ok((done, copied))
}

/// The end of `tools`, children that ran while this helper did its own
/// part (`meanwhile`'s result): they wait on the server while this works
/// on files, and no thread is needed for it. When our part failed, their
/// work is of no use without it: they are stopped.
pub(super) fn alongside(
    tools: Vec<Child>,
    what: &str,
    meanwhile: io::Result<()>,
) -> io::Result<()> {
    if let Err(e) = meanwhile {
        return Err(stopped(tools, e));
    }
    let mut failed = None;
    for mut tool in tools {
        let status = tool.wait()?;
        if !status.success() {
            failed.get_or_insert(status);
        }
    }
    match failed {
        None => Ok(()),
        Some(status) => Err(io::Error::other(format!("{what} failed ({status})"))),
    }
}

/// `tools` killed and waited for, their work of no use after `why`.
pub(super) fn stopped(tools: Vec<Child>, why: io::Error) -> io::Error {
    for mut tool in tools {
        let _ = tool.kill();
        let _ = tool.wait();
    }
    why
}

/// Runs a tool with our environment; its failure as an error.
pub(super) fn run(command: &mut Command) -> io::Result<()> {
    let status = command.stdin(Stdio::null()).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{command:?} failed ({status})")))
    }
}

/// `from`'s tree made again at `to`: directories made, files hard-linked,
/// or copied where linking is refused (another file system), symbolic
/// links made again as they are. Nothing is synced here: the caller syncs
/// ([`Copied::sync`]) when it has nothing else to do (while the server
/// works); `to`'s own name is its parent's to sync.
pub(super) fn link_tree(from: &Path, to: &Path, copied: &mut Copied) -> io::Result<()> {
    let mut pending = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = pending.pop() {
        fs::create_dir(&dst)?;
        copied.dirs.push(dst.clone());
        for entry in fs::read_dir(&src)? {
            let entry = entry?;
            let (s, d) = (entry.path(), dst.join(entry.file_name()));
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push((s, d));
            } else if kind.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&s)?, &d)?;
            } else if fs::hard_link(&s, &d).is_ok() {
                copied.linked += 1;
            } else {
                fs::copy(&s, &d)?;
                copied.copied += 1;
            }
        }
    }
    Ok(())
}

/// The bytes of a file, or of the files below a directory.
fn size(path: &Path) -> u64 {
    if path.is_file() {
        return fs::metadata(path).map_or(0, |m| m.len());
    }
    fs::read_dir(path)
        .map(|d| {
            d.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => size(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Keeps the newest `keep` complete backups of `dir` (their names sort by
/// time) and removes the older ones, and `.partial` directories left by
/// runs killed long ago.
fn prune(dir: &Path, keep: usize) -> io::Result<()> {
    let mut complete = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        // A backup is a directory, or Odoo's zip.
        if !kind.is_dir() && !name.ends_with(".zip") && !name.ends_with(PARTIAL) {
            continue;
        }
        if name.ends_with(PARTIAL) {
            let age = entry
                .metadata()?
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            if age > STALE {
                remove(&entry.path())?;
            }
        } else {
            complete.push(name);
        }
    }
    complete.sort();
    let old = complete.len().saturating_sub(keep);
    for name in &complete[..old] {
        remove(&dir.join(name))?;
        log::info!("removed the old backup {}", dir.join(name).display());
    }
    Ok(())
}

/// Removes a backup: a directory with what is in it, or a file.
fn remove(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}
