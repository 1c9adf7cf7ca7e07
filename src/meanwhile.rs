//! What a wait that is not the supervisor's own (a database operation,
//! hashing the addons, waiting for a hashing helper) keeps minding for PID
//! 1 meanwhile: a stop ends it, and children that end are reaped at once.
//!
//! Handed down by the job from the supervisor ([`Meanwhile`] is made by
//! `pid1::supervisor::Supervisor::meanwhile`); the sides below only watch its
//! descriptors and call [`Meanwhile::tend`]: they know nothing of signals
//! or of who started which process.

use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::reaper::Reaper;

#[derive(Clone, Debug, Default)]
pub(crate) struct Meanwhile {
    /// Readable while SIGTERM or SIGINT is pending (a signalfd that is
    /// never read: the supervisor's next wait takes the signal).
    pub(crate) stop: Option<Arc<OwnedFd>>,
    /// Reaps when its descriptor is readable.
    pub(crate) reaper: Option<Rc<Reaper>>,
}

impl Meanwhile {
    /// Its descriptors, to be polled beside a wait's own: the stop
    /// descriptor first, then the reaper's.
    pub(crate) fn descriptors(&self) -> Vec<PollFd<'_>> {
        let stop = self.stop.as_deref();
        let chld = self.reaper.as_deref().map(|r| &**r.descriptor());
        stop.into_iter()
            .chain(chld)
            .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect()
    }

    /// After a poll of [`Meanwhile::descriptors`]: reaps if a child
    /// ended; true when a stop is pending.
    pub(crate) fn polled(&self, fds: &[PollFd]) -> bool {
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let stop = self.stop.is_some();
        if self.reaper.is_some() && ready(usize::from(stop)) {
            self.tend();
        }
        stop && ready(0)
    }

    /// A look that never waits: reaps if a child ended, and says whether
    /// a stop is pending.
    pub(crate) fn stop_asked(&self) -> bool {
        let mut fds = self.descriptors();
        // A zero timeout: a look, never a wait.
        !fds.is_empty()
            && matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
            && self.polled(&fds)
    }

    /// Reaps what ended (when there is a reaper and it has anything).
    pub(crate) fn tend(&self) {
        if let Some(reaper) = &self.reaper {
            reaper.tend();
        }
    }
}
