//! Restart control: `odoo-init restart [-- ARGS]` hands new arguments to the
//! running `odoo-init` through `restart-args` in that process's own runtime
//! directory ([`crate::runtime`]) and sends it SIGHUP; the running one picks
//! them up before its next start.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::runtime::{self, Instance, RuntimeDir, RuntimeError};

const PENDING: &str = "restart-args";
/// The most bytes of restart arguments (NUL-terminated) that are passed on
/// (docs/commands.md, Commands): far more than a command line needs, far less than
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
    /// This odoo-init's runtime directory, if it has one.
    pub fn instance(&self) -> Option<&Instance> {
        self.instance.as_ref()
    }

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
    /// file is logged and the previous arguments are kept. True when new
    /// arguments were taken.
    pub fn pick_up(&mut self) -> bool {
        self.previous = None;
        let Some(instance) = &self.instance else {
            return false;
        };
        match instance.take(PENDING, ARGS_MAX) {
            Ok(Some(data)) => {
                // Not shown here: the start's own line shows them, as the
                // launcher lets them be shown.
                log::info!("new arguments from `odoo-init restart`");
                let args = decode(&data);
                self.previous = Some(std::mem::replace(&mut self.current, args));
                true
            }
            Ok(None) => false,
            Err(e) => {
                log::error!("{e}; starting with the previous arguments");
                false
            }
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

/// `odoo-init restart`: leave the arguments (if any) and send SIGHUP to `pid`.
pub fn request(pid: i32, args: Option<&[OsString]>, dir: &RuntimeDir) -> Result<(), RuntimeError> {
    runtime::check_target(pid).map_err(|e| fail(format!("{e}: nothing was signalled")))?;
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
