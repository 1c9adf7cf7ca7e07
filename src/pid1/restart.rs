//! Restart control: `odoo-init restart [-- ARGS]` hands new arguments to the
//! running `odoo-init` through `restart-args` in that process's own runtime
//! directory ([`crate::pid1::runtime`]) and sends it SIGHUP; the running one picks
//! them up before its next start.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::pid1::runtime::{Instance, RuntimeDir, RuntimeError};

const PENDING: &str = "restart-args";
/// The most bytes of restart arguments (NUL-terminated) that are passed on
/// (README, Commands): far more than a command line needs, far less than
/// the kernel's limit for one argument.
pub const ARGS_MAX: usize = 64 * 1024;

fn fail(msg: String) -> RuntimeError {
    RuntimeError(msg)
}

fn encode(args: &[OsString]) -> Vec<u8> {
    let mut data = Vec::new();
    for a in args {
        data.extend_from_slice(a.as_bytes());
        data.push(0);
    }
    data
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
/// by those of `odoo-init restart -- ARGS` at the next start.
pub struct ExtraArgs {
    current: Vec<OsString>,
    /// The arguments before the ones just picked up, until a start used them.
    previous: Option<Vec<OsString>>,
    /// Where `restart-args` arrives; none when no directory could be made.
    instance: Option<Instance>,
}

impl ExtraArgs {
    pub fn new(initial: Vec<OsString>, instance: Option<Instance>) -> Self {
        ExtraArgs {
            current: initial,
            previous: None,
            instance,
        }
    }

    pub fn current(&self) -> &[OsString] {
        &self.current
    }

    /// Before a start: takes arguments left by `odoo-init restart`, also
    /// those left while odoo-init waited at the gate or ran a step. A refused
    /// file is logged and the previous arguments are kept.
    pub fn pick_up(&mut self) {
        self.previous = None;
        let Some(instance) = &self.instance else {
            return;
        };
        match instance.take(PENDING, ARGS_MAX) {
            Ok(Some(data)) => {
                let args = decode(&data);
                log::info!("restart arguments from `odoo-init restart`: {args:?}");
                self.previous = Some(std::mem::replace(&mut self.current, args));
            }
            Ok(None) => {}
            Err(e) => log::error!("{e}; starting with the previous arguments"),
        }
    }

    /// The kernel refused the arguments just picked up (E2BIG): back to the
    /// previous ones. False when there were none to go back to.
    pub fn revert(&mut self) -> bool {
        match self.previous.take() {
            Some(previous) => {
                log::error!("the new restart arguments cannot be passed to a program (too long for the kernel); starting with the previous arguments");
                self.current = previous;
                true
            }
            None => false,
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
pub fn request(pid: i32, args: Option<&[OsString]>, dir: &RuntimeDir) -> Result<(), RuntimeError> {
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
    if let Some(args) = args {
        let data = encode(args);
        if data.len() > ARGS_MAX {
            return Err(fail(format!(
                "the new arguments take {} bytes; at most {} KiB are passed on: nothing was signalled",
                data.len(),
                ARGS_MAX / 1024
            )));
        }
        Instance::of(dir, pid)?.write(PENDING, &data)?;
    }
    crate::pid1::signals::send(pid, libc::SIGHUP)
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
        let args: Vec<OsString> = vec!["-u".into(), "".into(), "a b".into()];
        assert_eq!(decode(&encode(&args)), args);
    }
}
