//! The runtime directory: the files a running `odoo-init` shares with its
//! children (the password file) and with the commands that talk to it
//! (`odoo-init restart`). One private directory per user
//! (`ODOO_INIT_RUNTIME_DIR`, else `/tmp/odoo-init-UID`: ours, mode 0700)
//! and in it one directory per running `odoo-init`, named `PID-START-NS`
//! (its PID and start time as `/proc` shows them, and its PID namespace's
//! inode), so that two `odoo-init` of one user on one host never share a
//! file, even two that are each PID 1 of their own namespace and started
//! in the same clock tick, and `--pid N` finds the right one.
//! The instance removes its directory when it exits.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::files;

#[derive(Debug)]
pub struct RuntimeError(pub String);

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuntimeError {}

fn fail(msg: String) -> RuntimeError {
    RuntimeError(msg)
}

/// The per-user runtime directory.
pub struct RuntimeDir {
    path: PathBuf,
}

impl RuntimeDir {
    pub fn new(path: PathBuf) -> Self {
        RuntimeDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the directory if missing and checks that it is a real
    /// directory, owned by us, that nobody else can write or enter.
    pub fn ensure_private(&self) -> Result<(), RuntimeError> {
        make_private_dir(&self.path)
    }
}

/// The directory of one running `odoo-init`.
#[derive(Clone)]
pub struct Instance {
    path: PathBuf,
}

impl Instance {
    /// Makes this process's own directory. One of the same name can only be
    /// left by a process that had our PID and our start time, which is gone.
    pub fn create(dir: &RuntimeDir) -> Result<Instance, RuntimeError> {
        dir.ensure_private()?;
        let key = key("self").ok_or_else(|| fail("cannot read /proc/self/stat".into()))?;
        let path = dir.path().join(key);
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_dir_all(&path)
                .map_err(|e| fail(format!("cannot remove the stale {}: {e}", path.display())))?;
        }
        make_private_dir(&path)?;
        Ok(Instance { path })
    }

    /// The directory of the `odoo-init` with this PID. A process in another
    /// PID namespace (`unshare`, a container sharing `/tmp`) named its
    /// directory with the PID it sees: its start time and its namespace's
    /// inode, the same seen from every namespace, find it (the start time
    /// alone where the namespace cannot be read: another user's process).
    pub fn of(dir: &RuntimeDir, pid: i32) -> Result<Instance, RuntimeError> {
        dir.ensure_private()?;
        let key =
            key(&pid.to_string()).ok_or_else(|| fail(format!("no process with PID {pid}")))?;
        let exact = dir.path().join(&key);
        if exact.is_dir() {
            return Ok(Instance { path: exact });
        }
        // Its PID there is another: the start time and, where it could be
        // read, the namespace (the same from every PID namespace) find it.
        let wanted: Vec<&str> = key.split('-').skip(1).collect();
        let mut found: Vec<PathBuf> = fs::read_dir(dir.path())
            .map_err(|e| fail(format!("cannot list {}: {e}", dir.path().display())))?
            .filter_map(|entry| entry.ok())
            .filter(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let theirs: Vec<&str> = name.split('-').skip(1).collect();
                !wanted.is_empty() && theirs.starts_with(&wanted)
            })
            .map(|entry| entry.path())
            .collect();
        match found.len() {
            1 => Ok(Instance {
                path: found.remove(0),
            }),
            0 => Err(fail(format!(
                "PID {pid} has no directory in {} (it runs with another ODOO_INIT_RUNTIME_DIR, or could not make one: see its log)",
                dir.path().display()
            ))),
            _ => Err(fail(format!(
                "several directories in {} match PID {pid}'s start time; run this command in PID {pid}'s own PID namespace (docker exec)",
                dir.path().display()
            ))),
        }
    }

    /// Writes `name` atomically: a new temp file (`O_EXCL`: a leftover
    /// never lends it its mode), 0600, renamed over `name`. Not synced:
    /// these files live only as long as this process; readers need the
    /// rename's atomicity, not durability.
    ///
    /// A directory that was removed under it (a tmp cleaner) is made again,
    /// private as before, and the write tried once more.
    pub fn write(&self, name: &str, data: &[u8]) -> Result<PathBuf, RuntimeError> {
        match self.write_once(name, data) {
            Err(RemovedUnder) => {
                if let Some(parent) = self.path.parent() {
                    make_private_dir(parent)?;
                }
                make_private_dir(&self.path)?;
                log::warn!(
                    "the runtime directory {} was removed: made again",
                    self.path.display()
                );
                self.write_once(name, data)
                    .map_err(|_| fail(format!("cannot write {}", self.path.join(name).display())))
            }
            Err(Failed(e)) => Err(e),
            Ok(path) => Ok(path),
        }
    }

    fn write_once(&self, name: &str, data: &[u8]) -> Result<PathBuf, WriteError> {
        let target = self.path.join(name);
        let tmp = self.path.join(format!("{name}.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut f| f.write_all(data))
            .and_then(|()| fs::rename(&tmp, &target));
        written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            if e.kind() == io::ErrorKind::NotFound && !self.path.exists() {
                return RemovedUnder;
            }
            Failed(fail(format!("cannot write {}: {e}", target.display())))
        })?;
        Ok(target)
    }

    /// Where `name` is (or would be) in it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Whether `name` is there.
    pub fn has(&self, name: &str) -> bool {
        self.path.join(name).exists()
    }

    /// Takes (reads and removes) `name` if it is there: a regular file of
    /// ours that nobody else can write, at most `cap` bytes, opened without
    /// blocking. A refused file is removed too, so that it is refused once.
    pub fn take(&self, name: &str, cap: usize) -> Result<Option<Vec<u8>>, RuntimeError> {
        let target = self.path.join(name);
        if fs::symlink_metadata(&target).is_err() {
            return Ok(None);
        }
        let read = read_private(&target, cap);
        if let Err(e) = fs::remove_file(&target) {
            return Err(fail(format!("cannot remove {}: {e}", target.display())));
        }
        read.map(Some)
    }

    /// Reads `name` (left in place), with the checks of [`Instance::take`].
    pub fn read(&self, name: &str, cap: usize) -> Result<Vec<u8>, RuntimeError> {
        read_private(&self.path.join(name), cap)
    }

    /// Removes the directory and everything in it (at exit).
    pub fn remove(&self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            log::warn!("cannot remove {}: {e}", self.path.display());
        }
    }
}

/// Checks that `pid` is a running odoo-init (the same program name as this
/// one) of this user: nothing is signalled or read for anything else (a
/// host's systemd as PID 1, a shell given by mistake).
pub fn check_target(pid: i32) -> Result<(), RuntimeError> {
    let owner = process_uid(pid).ok_or_else(|| fail(format!("no process with PID {pid}")))?;
    let target = process_name(pid).unwrap_or_default();
    let me_name = process_name(std::process::id() as i32).unwrap_or_default();
    if target != me_name {
        return Err(fail(format!(
            "PID {pid} is {target:?}, not {me_name}; give the PID of the running odoo-init with --pid (under `docker run --init`: --pid $(pidof {me_name}))"
        )));
    }
    let me = nix::unistd::geteuid().as_raw();
    if owner != me {
        return Err(fail(format!(
            "PID {pid} runs as uid {owner}, this command as uid {me}; run it as the same user (docker exec -u {owner} ...)"
        )));
    }
    Ok(())
}

/// The effective uid of `pid`, from `/proc/PID/status` (the owner of
/// `/proc/PID` itself is root for a process that is not dumpable, as the
/// main job makes itself).
fn process_uid(pid: i32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// The program name of `pid` (`/proc/PID/comm`, readable for any process).
fn process_name(pid: i32) -> Option<String> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end_matches('\n').to_string())
}

fn read_private(path: &Path, cap: usize) -> Result<Vec<u8>, RuntimeError> {
    let refuse = |why: String| fail(format!("refusing {}: {why}", path.display()));
    let (mut file, meta) =
        files::open_regular(path, libc::O_NOFOLLOW).map_err(|e| refuse(e.to_string()))?;
    check_private(path, &meta, 0o022, "no write access for group or others")?;
    files::read_capped(&mut file, cap).map_err(|e| refuse(e.to_string()))
}

/// `PID-START-NS` of a process as `/proc/WHICH` shows it (`self` or a
/// PID): the PID in the namespace of this `/proc`, the start time in clock
/// ticks since boot, the inode of its PID namespace (`PID-START` where that
/// cannot be read: another user's process).
fn key(which: &str) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{which}/stat")).ok()?;
    let pid = stat.split_whitespace().next()?;
    // The name in parentheses may hold spaces: fields are counted after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let start = after_name.split_whitespace().nth(19)?;
    // "pid:[4026531836]": one inode per namespace while it lives.
    let ns = fs::read_link(format!("/proc/{which}/ns/pid")).ok();
    let inode = ns.as_ref().and_then(|l| {
        let l = l.to_str()?;
        l.strip_prefix("pid:[")?
            .strip_suffix(']')
            .map(str::to_string)
    });
    Some(match inode {
        Some(inode) => format!("{pid}-{start}-{inode}"),
        None => format!("{pid}-{start}"),
    })
}

/// Why a write failed: the directory was gone, or anything else.
enum WriteError {
    RemovedUnder,
    Failed(RuntimeError),
}
use WriteError::{Failed, RemovedUnder};

fn make_private_dir(path: &Path) -> Result<(), RuntimeError> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(fail(format!(
                "cannot create runtime directory {}: {e}{HINT}",
                path.display()
            )))
        }
    }
    let meta = fs::symlink_metadata(path)
        .map_err(|e| fail(format!("cannot inspect {}: {e}", path.display())))?;
    if !meta.file_type().is_dir() {
        return Err(fail(format!(
            "refusing runtime directory {}: it is not a directory (a symlink or file){HINT}",
            path.display()
        )));
    }
    check_private(path, &meta, 0o077, "mode 0700").map_err(|e| fail(format!("{e}{HINT}")))
}

const HINT: &str = "; remove it, or set ODOO_INIT_RUNTIME_DIR to a directory of this user's";

fn check_private(
    path: &Path,
    meta: &fs::Metadata,
    forbidden_bits: u32,
    accepted: &str,
) -> Result<(), RuntimeError> {
    let uid = nix::unistd::geteuid().as_raw();
    let mode = meta.permissions().mode() & 0o7777;
    if meta.uid() != uid {
        return Err(fail(format!(
            "refusing {}: owned by uid {}, not by this user (uid {uid})",
            path.display(),
            meta.uid()
        )));
    }
    if mode & forbidden_bits != 0 {
        return Err(fail(format!(
            "refusing {}: mode {mode:04o} lets others in; accepted is {accepted}",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two PID 1s of other namespaces, started in the same clock tick: the
    /// start time alone cannot tell their directories apart, the namespace
    /// can (as seen from outside both, with `--pid`).
    #[test]
    fn a_pid_from_outside_finds_its_own_of_two_same_tick_directories() {
        let dir = std::env::temp_dir().join(format!("odoo-init-of-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let runtime = RuntimeDir::new(dir.clone());
        runtime.ensure_private().unwrap();
        let own = key("self").unwrap();
        let [_, start, ns] = own.split('-').collect::<Vec<_>>()[..] else {
            panic!("{own}");
        };
        let mine = dir.join(format!("1-{start}-{ns}"));
        for name in [format!("1-{start}-1{ns}"), format!("1-{start}-{ns}")] {
            make_private_dir(&dir.join(name)).unwrap();
        }
        let found = Instance::of(&runtime, std::process::id() as i32).unwrap();
        assert_eq!(found.path, mine);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_leftover_temp_file_does_not_lend_its_mode() {
        let dir = std::env::temp_dir().join(format!("odoo-init-rt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let instance = Instance::create(&RuntimeDir::new(dir.clone())).unwrap();
        let leftover = instance
            .path
            .join(format!("pgpass.{}.tmp", std::process::id()));
        fs::write(&leftover, b"old").unwrap();
        fs::set_permissions(&leftover, fs::Permissions::from_mode(0o644)).unwrap();
        let written = instance.write("pgpass", b"new").unwrap();
        let mode = fs::metadata(&written).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&written).unwrap(), b"new");
        instance.remove();
        assert!(!instance.path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_is_pid_start_time_and_namespace_even_with_odd_names() {
        let own = key("self").unwrap();
        let parts: Vec<&str> = own.split('-').collect();
        let [pid, start, ns] = parts[..] else {
            panic!("{own}");
        };
        assert_eq!(pid, std::process::id().to_string());
        assert!(start.parse::<u64>().is_ok(), "{own}");
        assert!(ns.parse::<u64>().is_ok(), "{own}");
        assert_eq!(key(pid).as_deref(), Some(own.as_str()));
    }
}
