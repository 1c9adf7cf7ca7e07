//! The backup itself, done by a child of PID 1 (`odoo-init backup-step`,
//! [`helper_main`]) under the claim's heartbeat: it may take minutes, and a
//! stop ends it like any step (a SIGTERM, then the usual escalation). Its
//! environment is the steps' (libpq's variables, the password file, the
//! claim's tag: a pod that resets the claim ends `pg_dump`'s sessions).
//!
//! In order: `pg_dump` into `NAME.partial/dump` and, while it runs, what
//! earlier runs left to remove (backups pruned, `.partial` ones of runs
//! killed long ago) removed and the filestore linked into
//! `NAME.partial/filestore`; the dump read back (`pg_restore --list`) while
//! the manifest is written; what is new synced, `NAME.partial` renamed to
//! `NAME` and the directory synced; then the oldest complete backups beyond
//! `KEEP` pruned: renamed `NAME.pruned` (no backup any more), their files
//! removed by the next run while its `pg_dump` works. Killed at any point,
//! it leaves at most a `.partial` or `.pruned` directory, which no one
//! takes for a backup and a later run removes.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::tree::{link_tree, update_tree, Copied};
use super::{PARTIAL, PRUNED};

/// The hidden command: `odoo-init backup-step DIR NAME FILESTORE MANIFEST
/// KEEP PG_DUMP PG_RESTORE JOBS FORMAT BYTES` (`dir`, or `zip`: Odoo's
/// zip, `NAME.zip`); the backup's size in bytes is written to the file
/// `BYTES` (for the state row) once it is complete.
pub(crate) const HELPER_COMMAND: &str = "backup-step";

/// A `.partial` directory older than this is left from a run that was
/// killed: removed by the next one.
const STALE: Duration = Duration::from_secs(3600);

/// `backup-step ...`: 0 when the backup `DIR/NAME` is complete; 1 (said)
/// otherwise.
pub(crate) fn helper_main(args: &[OsString]) -> i32 {
    let [dir, name, filestore, manifest, keep, pg_dump, pg_restore, jobs, format, bytes] = args
    else {
        log::error!(
            "{HELPER_COMMAND}: DIR NAME FILESTORE MANIFEST KEEP PG_DUMP PG_RESTORE JOBS FORMAT BYTES expected"
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
        Ok(Made { path, size, copied }) => {
            log::info!(
                "backup {}: {size} bytes, filestore {} files ({} linked, {} copied, {} kept from a pruned backup), {:.1}s",
                path.display(),
                copied.files(),
                copied.linked,
                copied.copied,
                copied.kept,
                started.elapsed().as_secs_f64()
            );
            if let Err(e) = fs::write(bytes, size.to_string()) {
                log::warn!(
                    "writing the backup's size to {}: {e}",
                    Path::new(bytes).display()
                );
            }
            if let Err(e) = prune(&dir, keep) {
                log::warn!("pruning old backups in {}: {e}", dir.display());
            }
            0
        }
        Err(e) => {
            log::error!("backup in {} failed: {e}", dir.display());
            1
        }
    }
}

/// A complete backup: where, its bytes (the dump's, the files', the
/// manifest's), and what the filestore's copy did.
struct Made {
    path: PathBuf,
    size: u64,
    copied: Copied,
}

/// The backup `dir/name`, made under `name.partial` and renamed once whole.
fn make(
    dir: &Path,
    name: &str,
    filestore: &Path,
    manifest: &Path,
    (pg_dump, pg_restore): (&Path, &Path),
    jobs: u32,
) -> io::Result<Made> {
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
    // The database: pg_dump's directory format, its files synced by pg_dump.
    // Meanwhile (this helper has nothing else to do while the server
    // dumps): the files linked where one file system holds both (a pruned
    // backup's links brought up to date where there is one), copied
    // elsewhere, and made durable; what earlier runs left removed.
    let dump = Command::new(pg_dump)
        .arg("--format=directory")
        .arg(format!("--jobs={jobs}"))
        .arg("--file")
        .arg(partial.join("dump"))
        .stdin(Stdio::null())
        .spawn()?;
    let mut copied = Copied::default();
    let tree = partial.join("filestore");
    // The pruned backup's tree first: what is left of it is removed next.
    let taken = filestore.is_dir() && take_pruned(dir, filestore, &tree);
    remove_left(dir);
    let files = match (filestore.is_dir(), taken) {
        (true, true) => update_tree(filestore, &tree, &mut copied),
        (true, false) => link_tree(filestore, &tree, &mut copied),
        (false, _) => fs::create_dir(&tree),
    };
    alongside(vec![dump], "pg_dump", files.and_then(|()| copied.sync()))?;
    // Read back: a dump pg_restore cannot list is no backup. Meanwhile the
    // manifest copied and made durable, the dump's bytes counted.
    let list = Command::new(pg_restore)
        .arg("--list")
        .arg(partial.join("dump"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let copy = partial.join("manifest.json");
    let written = fs::copy(manifest, &copy).and_then(|n| {
        File::open(&copy)?.sync_all()?;
        Ok(n)
    });
    let bytes = written.as_ref().map_or(0, |n| n + copied.bytes);
    let size = bytes + size(&partial.join("dump"));
    alongside(
        vec![list],
        "pg_restore --list of the dump",
        written.map(drop),
    )?;
    // What is not durable yet: the names in `partial`, then its own.
    File::open(&partial)?.sync_all()?;
    fs::rename(&partial, &done)?;
    File::open(dir)?.sync_all()?;
    Ok(Made {
        path: done,
        size,
        copied,
    })
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
) -> io::Result<Made> {
    fs::create_dir_all(dir)?;
    remove_left(dir);
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
    Ok(Made {
        size: size(&done),
        path: done,
        copied,
    })
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

/// Keeps the newest `keep` complete backups of `dir` (by their names,
/// [`super::by_time`]): the older ones renamed `NAME.pruned`, which takes
/// them out of the set at once, and their files left to the next run,
/// which takes the newest one's filestore over ([`take_pruned`]) and
/// removes the rest ([`remove_left`]) while its `pg_dump` works. The
/// volume holds, between two backups, what it holds during one.
fn prune(dir: &Path, keep: usize) -> io::Result<()> {
    let mut complete = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // A backup is a directory, or Odoo's zip.
        let backup = entry.file_type()?.is_dir() || name.ends_with(".zip");
        if backup && !name.ends_with(PARTIAL) && !name.ends_with(PRUNED) {
            complete.push(name);
        }
    }
    complete.sort_by_key(|n| super::by_time(n));
    let old = complete.len().saturating_sub(keep);
    for name in &complete[..old] {
        fs::rename(dir.join(name), dir.join(format!("{name}{PRUNED}")))?;
        log::info!("pruned the old backup {}", dir.join(name).display());
    }
    match old {
        0 => Ok(()),
        _ => File::open(dir)?.sync_all(),
    }
}

/// The newest pruned backup's filestore in `dir`, when it holds links to
/// `filestore` (the same file system), renamed to `to`, to be brought up
/// to date ([`update_tree`]) instead of made anew. False when there is
/// none to take (a first backup, copies on another file system).
fn take_pruned(dir: &Path, filestore: &Path, to: &Path) -> bool {
    let device = |p: &Path| fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::dev(&m));
    let same = matches!((device(filestore), device(dir)), (Ok(a), Ok(b)) if a == b);
    let mut pruned: Vec<PathBuf> = match fs::read_dir(dir) {
        // Directories themselves, never reached through a symbolic link:
        // the tree taken is changed in place, what it lacks removed.
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(PRUNED))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path().join("filestore"))
            .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
            .collect(),
        Err(_) => return false,
    };
    pruned.sort_by_key(|p| super::by_time(&p.to_string_lossy()));
    match pruned.pop() {
        Some(newest) if same => fs::rename(newest, to).is_ok(),
        _ => false,
    }
}

/// What earlier runs left in `dir` removed: backups they pruned, and
/// `.partial` ones of runs killed long ago (a recent one may be another
/// run's). What cannot be removed is said and left: it fails no backup.
fn remove_left(dir: &Path) {
    let left = fs::read_dir(dir).and_then(|entries| {
        entries
            .map(|entry| {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let stale = name.ends_with(PARTIAL)
                    && entry
                        .metadata()?
                        .modified()
                        .ok()
                        .and_then(|m| SystemTime::now().duration_since(m).ok())
                        .is_some_and(|age| age > STALE);
                Ok((name.ends_with(PRUNED) || stale).then(|| entry.path()))
            })
            .collect::<io::Result<Vec<_>>>()
    });
    let left = left.unwrap_or_else(|e| {
        log::warn!(
            "looking for what earlier backups left in {}: {e}",
            dir.display()
        );
        Vec::new()
    });
    for path in left.into_iter().flatten() {
        if let Err(e) = remove(&path) {
            log::warn!(
                "removing {}, left by an earlier backup: {e}",
                path.display()
            );
        }
    }
}

/// Removes a backup: a directory with what is in it, or a file.
fn remove(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}
