//! Restart control: `odoo-init restart [-- ARGS]` hands new arguments to the
//! running `odoo-init` through a file in a private runtime directory and
//! sends it SIGHUP. The directory must be ours and closed to everyone else
//! (0700): arguments reach Odoo's command line, so a file that someone else
//! could have written is never used.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const PENDING: &str = "restart-args";

#[derive(Debug)]
pub struct RestartError(pub String);

impl fmt::Display for RestartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RestartError {}

fn fail(msg: String) -> RestartError {
    RestartError(msg)
}

/// The private runtime directory; created 0700 when missing.
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
    pub fn ensure_private(&self) -> Result<(), RestartError> {
        match fs::DirBuilder::new().mode(0o700).create(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(fail(format!(
                    "cannot create runtime directory {}: {e} (set ODOO_INIT_RUNTIME_DIR to a directory this user owns)",
                    self.path.display()
                )))
            }
        }
        let meta = fs::symlink_metadata(&self.path).map_err(|e| {
            fail(format!(
                "cannot inspect runtime directory {}: {e}",
                self.path.display()
            ))
        })?;
        let uid = nix::unistd::geteuid().as_raw();
        if !meta.file_type().is_dir() {
            return Err(fail(format!(
                "refusing runtime directory {}: it is not a directory (a symlink or file); remove it",
                self.path.display()
            )));
        }
        check_private(&self.path, &meta, uid, 0o077, "mode 0700")
    }

    /// Atomically replaces the pending arguments (temp file + rename).
    pub fn write_pending(&self, args: &[OsString]) -> Result<(), RestartError> {
        self.ensure_private()?;
        let tmp = self
            .path
            .join(format!("{PENDING}.{}.tmp", std::process::id()));
        let target = self.path.join(PENDING);
        let mut data = Vec::new();
        for a in args {
            data.extend_from_slice(a.as_bytes());
            data.push(0);
        }
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&data)?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, &target));
        written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            fail(format!(
                "cannot write restart arguments to {}: {e}",
                target.display()
            ))
        })
    }

    /// Takes (reads and removes) the pending arguments, if any were left.
    pub fn take_pending(&self) -> Result<Option<Vec<OsString>>, RestartError> {
        let target = self.path.join(PENDING);
        if fs::symlink_metadata(&target).is_err() {
            return Ok(None);
        }
        self.ensure_private()?;
        let mut file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&target)
            .map_err(|e| fail(format!("cannot open {}: {e}", target.display())))?;
        let meta = file
            .metadata()
            .map_err(|e| fail(format!("cannot inspect {}: {e}", target.display())))?;
        if !meta.file_type().is_file() {
            return Err(fail(format!(
                "refusing {}: not a regular file",
                target.display()
            )));
        }
        let uid = nix::unistd::geteuid().as_raw();
        check_private(
            &target,
            &meta,
            uid,
            0o022,
            "no write access for group or others",
        )?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| fail(format!("cannot read {}: {e}", target.display())))?;
        fs::remove_file(&target)
            .map_err(|e| fail(format!("cannot remove {}: {e}", target.display())))?;
        Ok(Some(decode(&data)))
    }
}

fn check_private(
    path: &Path,
    meta: &fs::Metadata,
    uid: u32,
    forbidden_bits: u32,
    accepted: &str,
) -> Result<(), RestartError> {
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

fn decode(data: &[u8]) -> Vec<OsString> {
    data.split(|&b| b == 0)
        .collect::<Vec<_>>()
        .split_last()
        .map(|(last, rest)| {
            let mut args: Vec<OsString> = rest
                .iter()
                .map(|a| OsString::from_vec(a.to_vec()))
                .collect();
            if !last.is_empty() {
                args.push(OsString::from_vec(last.to_vec()));
            }
            args
        })
        .unwrap_or_default()
}

/// The extra arguments of the supervised command: given at start, replaced
/// by those of `odoo-init restart -- ARGS` at the next restart.
pub struct ExtraArgs {
    current: Vec<OsString>,
    dir: RuntimeDir,
}

impl ExtraArgs {
    pub fn new(initial: Vec<OsString>, dir: RuntimeDir) -> Self {
        ExtraArgs {
            current: initial,
            dir,
        }
    }

    pub fn current(&self) -> &[OsString] {
        &self.current
    }

    /// Picks up pending arguments; a refused file is logged and the previous
    /// arguments are kept (a restart with known arguments is harmless).
    pub fn refresh(&mut self) {
        match self.dir.take_pending() {
            Ok(Some(args)) => {
                log::info!("restart arguments from `odoo-init restart`: {args:?}");
                self.current = args;
            }
            Ok(None) => {}
            Err(e) => log::error!("{e}; restarting with the previous arguments"),
        }
    }

    /// Leaves no stale arguments from an earlier container run behind.
    pub fn discard_stale(&self) {
        if let Err(e) = self.dir.take_pending() {
            log::warn!("{e}");
        }
    }
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

/// `odoo-init restart`: leave the arguments (if any) and send SIGHUP to `pid`.
pub fn request(pid: i32, args: Option<&[OsString]>, dir: &RuntimeDir) -> Result<(), RestartError> {
    let owner =
        process_uid(pid).ok_or_else(|| fail(format!("no process with PID {pid} to restart")))?;
    // SIGHUP to anything else (a host's systemd as PID 1, a shell) does harm.
    let target = process_name(pid).unwrap_or_default();
    let me_name = process_name(std::process::id() as i32).unwrap_or_default();
    if target != me_name {
        return Err(fail(format!(
            "PID {pid} is {target:?}, not {me_name}: nothing was signalled; give the PID of the running odoo-init with --pid (under `docker run --init`: --pid $(pidof {me_name}))"
        )));
    }
    let me = nix::unistd::geteuid().as_raw();
    if owner != me {
        return Err(fail(format!(
            "PID {pid} runs as uid {owner}, this command as uid {me}; run `odoo-init restart` as the same user (docker exec -u {owner} ...)"
        )));
    }
    match args {
        Some(args) => dir.write_pending(args)?,
        None => dir.ensure_private()?,
    }
    crate::signals::send(pid, libc::SIGHUP)
        .map_err(|e| fail(format!("cannot send SIGHUP to PID {pid}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_round_trips_empty_and_odd_arguments() {
        assert!(decode(b"").is_empty());
        assert_eq!(decode(b"-u\0my mod\0\0"), vec!["-u", "my mod", ""]);
        assert_eq!(decode(b"--x\0"), vec!["--x"]);
    }
}
