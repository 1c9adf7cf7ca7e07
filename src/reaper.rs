//! Reaping: every zombie this process has, taken at once, wherever PID 1
//! happens to wait; the exit status of a process someone waits for (the
//! supervisor's child, a hashing helper) kept until they take it.
//!
//! Two kinds of wait share it. The supervisor's own (`sigtimedwait`) reaps
//! when it takes SIGCHLD. A wait that is not the supervisor's (a database
//! operation, which may stall for seconds) watches [`Reaper::descriptor`]
//! and calls [`Reaper::tend`] when it is readable: orphans re-parented to
//! PID 1 do not stay zombies until the operation ends, and the child's
//! status is not lost to a reap that was not the supervisor's.
//!
//! Knows nothing of databases, Odoo or the supervisor: only process IDs and
//! `waitpid`. Whoever waits for a process of its own by its PID (the
//! supervisor its child, `odoo::addons::helpers` the hashing helpers)
//! keeps it here first and takes its status from here: any reap here may
//! be the one that found it.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// What one reap found.
pub(crate) struct Reaped {
    /// `waitpid` said there are no children at all any more.
    pub(crate) none_left: bool,
    /// How many processes were reaped.
    pub(crate) count: u32,
}

#[derive(Debug)]
pub(crate) struct Reaper {
    /// A signalfd of SIGCHLD: readable while a SIGCHLD is pending. Read
    /// (drained) only by [`Reaper::tend`], so that the next SIGCHLD makes
    /// it readable again for a wait that watches it edge by edge.
    chld: Arc<OwnedFd>,
    /// The processes whose status someone will ask for, and that status
    /// once they were reaped (the raw `waitpid` status).
    kept: RefCell<Vec<(libc::pid_t, Option<i32>)>>,
    /// [`Reaper::tend`] reaped since the supervisor last asked: SIGCHLD
    /// may have been consumed by it, so the supervisor looks without one.
    news: Cell<bool>,
}

impl Reaper {
    /// SIGCHLD must be blocked already (`pid1::signals::Signals::take_over`):
    /// a signalfd sees only signals that are not delivered.
    pub(crate) fn new() -> io::Result<Reaper> {
        use nix::sys::signal::{SigSet, Signal};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let mut chld = SigSet::empty();
        chld.add(Signal::SIGCHLD);
        // Non-blocking (drained until empty), closed on exec (no child inherits it).
        let fd = SignalFd::with_flags(&chld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Reaper {
            chld: Arc::new(OwnedFd::from(fd)),
            kept: RefCell::new(Vec::new()),
            news: Cell::new(false),
        })
    }

    /// Readable when a child ended since the last [`Reaper::tend`] (or the
    /// supervisor's wait took the SIGCHLD).
    pub(crate) fn descriptor(&self) -> &Arc<OwnedFd> {
        &self.chld
    }

    /// `pid`'s status is kept when it is reaped, until [`Reaper::take`].
    pub(crate) fn keep(&self, pid: libc::pid_t) {
        self.kept.borrow_mut().push((pid, None));
    }

    /// `pid`'s raw `waitpid` status, once it was reaped (it is then no
    /// longer kept).
    pub(crate) fn take(&self, pid: libc::pid_t) -> Option<i32> {
        let mut kept = self.kept.borrow_mut();
        let at = kept.iter().position(|(p, s)| *p == pid && s.is_some())?;
        kept.swap_remove(at).1
    }

    /// `pid` no longer kept (reaped by its own waiter, or ended); its raw
    /// status if it was reaped here.
    pub(crate) fn forget(&self, pid: libc::pid_t) -> Option<i32> {
        let mut kept = self.kept.borrow_mut();
        let at = kept.iter().position(|(p, _)| *p == pid)?;
        kept.swap_remove(at).1
    }

    /// Reaps until nothing is left to reap, keeping the status of the kept.
    pub(crate) fn reap(&self) -> Reaped {
        let mut count = 0;
        let none_left = loop {
            let mut raw = 0;
            // SAFETY: waitpid only writes the status integer we own.
            let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
            if pid > 0 {
                count += 1;
                if let Some(k) = self.kept.borrow_mut().iter_mut().find(|(p, _)| *p == pid) {
                    k.1 = Some(raw);
                }
                continue;
            }
            if pid == 0 {
                break false;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => break true,
                _ => break false,
            }
        };
        Reaped { none_left, count }
    }

    /// For a wait that is not the supervisor's, when [`Reaper::descriptor`]
    /// is readable: the pending SIGCHLD taken (the descriptor drained), then
    /// everything reaped.
    pub(crate) fn tend(&self) {
        // A siginfo record is 128 bytes; the read returns whole records and
        // fails with EAGAIN once none is left.
        let mut record = [0u8; 128];
        while nix::unistd::read(&*self.chld, &mut record).is_ok_and(|n| n > 0) {}
        if self.reap().count > 0 {
            self.news.set(true);
        }
    }

    /// True once after [`Reaper::tend`] reaped anything: the supervisor
    /// then acts as on a SIGCHLD that it never saw.
    pub(crate) fn news(&self) -> bool {
        self.news.replace(false)
    }
}
