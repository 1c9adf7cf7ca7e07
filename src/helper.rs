//! Helper processes: work PID 1 gives to a process of its own instead of
//! doing it on its one thread, because nothing could cut it short there (a
//! name lookup inside libc) or because it is worth sharing out (hashing).
//! A helper is this same program run with a hidden command, with an empty
//! environment but what it is given (the secrets stay in PID 1), and is
//! waited for the way every wait of PID 1 is: `poll` on its output beside
//! the [`Meanwhile`] descriptors, until a deadline. A stop or the deadline
//! ends it (SIGKILL: it holds nothing that needs a clean end) and it is
//! reaped; its status is kept in the reaper, which may reap it first.
//!
//! Knows nothing of what a helper does: only its argv, its output and its
//! exit.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::meanwhile::Meanwhile;

/// The program a helper runs when no other is given: this very one (the
/// kernel's link works even when the file was replaced since).
pub(crate) const THIS_PROGRAM: &str = "/proc/self/exe";

/// Why a helper gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoAnswer {
    /// A stop is pending (the helper was ended at once).
    Stop,
    /// Not done by the deadline (ended).
    Deadline,
    /// Its output broke off, or was not text.
    Broken,
}

/// One running helper and what it minds while it is waited for.
pub(crate) struct Helper<'m> {
    child: Child,
    meanwhile: &'m Meanwhile,
}

impl<'m> Helper<'m> {
    /// `program COMMAND ARGS...` with only `env` in its environment, no
    /// standard input and its output to us; kept in the reaper from the
    /// start.
    pub(crate) fn start<A: AsRef<OsStr>>(
        program: &Path,
        args: impl IntoIterator<Item = A>,
        env: &[(&str, OsString)],
        meanwhile: &'m Meanwhile,
    ) -> io::Result<Helper<'m>> {
        let child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        // Its status kept for us if a wait of ours reaps it first.
        if let Some(reaper) = &meanwhile.reaper {
            reaper.keep(child.id() as libc::pid_t);
        }
        Ok(Helper { child, meanwhile })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// All it writes and whether it then exited 0. Waits until its output
    /// ends, no longer than `deadline`, reaping meanwhile; a helper that
    /// closed its output but has not exited by the deadline is ended (one
    /// stopped just before its exit must not hold PID 1).
    pub(crate) fn output(mut self, deadline: Instant) -> Result<(String, bool), NoAnswer> {
        let read = match self.child.stdout.take() {
            Some(out) => read_until(out, deadline, self.meanwhile),
            None => Err(NoAnswer::Broken),
        };
        match read {
            Ok(bytes) => {
                let exited_0 = self.reap(deadline);
                String::from_utf8(bytes)
                    .map(|text| (text, exited_0))
                    .map_err(|_| NoAnswer::Broken)
            }
            Err(why) => {
                self.end();
                Err(why)
            }
        }
    }

    /// Ends it and reaps it: its output is not wanted.
    pub(crate) fn end(self) {
        self.reap(Instant::now());
    }

    /// Reaps it; true when it exited 0. One that has not exited by
    /// `deadline` is ended with SIGKILL.
    fn reap(mut self, deadline: Instant) -> bool {
        let pid = self.child.id() as libc::pid_t;
        if let Some(raw) = reaped(pid, self.meanwhile, deadline) {
            return raw == 0;
        }
        let exited_0 = match self.child.try_wait() {
            Ok(Some(status)) => status.success(),
            _ => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                false
            }
        };
        if let Some(reaper) = &self.meanwhile.reaper {
            reaper.forget(pid);
        }
        exited_0
    }
}

/// With a reaper (PID 1): `pid`'s raw status once the reaper reaped it
/// (a wait of ours may have done so meanwhile, [`Meanwhile::tend`]),
/// waited for on its descriptor until `deadline`; `None` at the deadline,
/// at a stop, and without a reaper.
fn reaped(pid: libc::pid_t, meanwhile: &Meanwhile, deadline: Instant) -> Option<i32> {
    let reaper = meanwhile.reaper.as_deref()?;
    loop {
        if let Some(raw) = reaper.take(pid) {
            return Some(raw);
        }
        let mut fds = meanwhile.descriptors();
        if !poll_until(&mut fds, deadline) || meanwhile.polled(&fds) {
            return None;
        }
    }
}

/// `poll` until one of `fds` is ready (true) or `deadline` passes (false).
fn poll_until(fds: &mut [PollFd], deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Rounded up: a deadline a fraction of a millisecond away is not now.
        let ms = u16::try_from(left.as_millis() + 1).unwrap_or(u16::MAX);
        if left.is_zero() {
            return false;
        }
        match poll(fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
            Ok(_) => return true,
        }
    }
}

/// All a helper writes, until its end of output. `poll` on its pipe and the
/// [`Meanwhile`]'s descriptors: waits for its output or a stop, never
/// longer than the deadline, and reaps meanwhile.
fn read_until(
    mut out: ChildStdout,
    deadline: Instant,
    meanwhile: &Meanwhile,
) -> Result<Vec<u8>, NoAnswer> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut fds = vec![PollFd::new(out.as_fd(), PollFlags::POLLIN)];
        fds.extend(meanwhile.descriptors());
        if !poll_until(&mut fds, deadline) {
            return Err(NoAnswer::Deadline);
        }
        if meanwhile.polled(&fds[1..]) {
            return Err(NoAnswer::Stop);
        }
        if fds[0].revents().is_none_or(|r| r.is_empty()) {
            // Only a child ended (reaped above): wait on.
            continue;
        }
        // Readable or hung up: this read does not block.
        match out.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(NoAnswer::Broken),
        }
    }
}
