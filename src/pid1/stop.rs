//! The stop sequence: after the first TERM reached the child (or it is
//! gone), wait; TERM to what is left once the child is gone; a second TERM
//! at `STOP_TIMEOUT`; SIGKILL to everything in scope 3 s later; done the
//! moment nothing in scope is left.

use std::time::{Duration, Instant};

use super::child::Child;
use super::signals;
use super::supervisor::{Event, Supervisor};
use crate::exit;
use crate::status::Phase;

/// Between the second SIGTERM and SIGKILL (SPEC §6).
const KILL_GRACE: Duration = Duration::from_secs(3);

/// How long to wait for processes to vanish after SIGKILL before giving up.
const AFTER_KILL: Duration = Duration::from_secs(2);

/// Which processes a stop sequence must see gone before it is done.
#[derive(Clone, Copy)]
pub(super) enum Scope {
    /// Everything in the container (as PID 1); only the child otherwise.
    Container,
    /// The child and its process group (a restart: `docker exec` shells survive).
    ChildGroup(libc::pid_t),
}

/// How a stop sequence ended.
pub(super) struct Stopped {
    pub(super) status: i32,
    /// SIGTERM/SIGINT arrived during it: the caller must not start anything.
    pub(super) stop_requested: bool,
}

impl Supervisor {
    /// The longest a stop sequence takes: `STOP_TIMEOUT`, the SIGKILL
    /// grace, and the wait after SIGKILL.
    pub(super) fn stop_budget(&self) -> Duration {
        self.stop_timeout + KILL_GRACE + AFTER_KILL
    }

    /// Ends `odoo-init` without a running child: as PID 1, what is left in
    /// the container is stopped first. Returns `status`.
    pub fn shutdown(&mut self, status: i32) -> i32 {
        self.finish(&mut Child::gone(status))
    }

    /// The one stop sequence before `odoo-init` exits: waits for the child
    /// (already sent TERM, or gone), then, as PID 1, for everything left in
    /// the container. Returns the child's status.
    pub(super) fn finish(&mut self, child: &mut Child) -> i32 {
        self.status.bounded(Phase::Stopping, self.stop_budget());
        let status = self.stop(child, Scope::Container).status;
        log::info!("exiting with status {status}");
        status
    }

    /// The stop sequence after the first TERM reached the child (or the
    /// child is gone): wait; TERM to what is left in scope once the child is
    /// gone; second TERM to the child at `STOP_TIMEOUT`; SIGKILL to all in
    /// scope 3 s later. Returns the moment nothing in scope is left.
    pub(super) fn stop(&mut self, child: &mut Child, scope: Scope) -> Stopped {
        let second_term = Instant::now() + self.stop_timeout;
        let kill_all = second_term + KILL_GRACE;
        let give_up = kill_all + AFTER_KILL;
        let mut deadline = second_term;
        let mut leftovers_termed = false;
        let mut none_left = false;
        let mut stop_requested = false;
        loop {
            if child.status.is_some() {
                if !leftovers_termed {
                    leftovers_termed = true;
                    self.signal_scope(scope, libc::SIGTERM);
                    none_left = self.reap(child).1;
                }
                if self.scope_empty(scope, none_left) {
                    break;
                }
            }
            match self.next_event(Some(child), Some(deadline)) {
                Event::Reaped { none_left: n, .. } => none_left = n,
                Event::Hangup => log::info!("SIGHUP while stopping: ignored"),
                Event::Stop(signo) => {
                    stop_requested = true;
                    self.forward(child, signo);
                }
                Event::Deadline if deadline == second_term => {
                    if child.status.is_none() {
                        log::warn!(
                            "PID {} still running {}s after SIGTERM (STOP_TIMEOUT): second SIGTERM",
                            child.pid,
                            self.stop_timeout.as_secs_f64()
                        );
                        self.forward(child, libc::SIGTERM);
                    }
                    deadline = kill_all;
                }
                Event::Deadline if deadline == kill_all => {
                    log::warn!("processes still running: SIGKILL");
                    if child.status.is_none() {
                        self.forward(child, libc::SIGKILL);
                    }
                    self.signal_scope(scope, libc::SIGKILL);
                    deadline = give_up;
                }
                Event::Deadline => {
                    log::error!("processes survived SIGKILL for {AFTER_KILL:?}; giving up on them");
                    break;
                }
            }
        }
        Stopped {
            // A child killed before it could report keeps the SIGKILL status.
            status: child.status.unwrap_or(exit::for_signal(libc::SIGKILL)),
            stop_requested,
        }
    }

    pub(super) fn signal_scope(&self, scope: Scope, signo: i32) {
        let target = match scope {
            Scope::Container if self.pid1 => -1,
            Scope::Container => return,
            Scope::ChildGroup(pgid) => -pgid,
        };
        match signals::send(target, signo) {
            Ok(()) => log::info!(
                "sent {} to {}",
                signals::name(signo),
                match scope {
                    Scope::Container => "every process left in the container".to_string(),
                    Scope::ChildGroup(pgid) => format!("what is left of process group {pgid}"),
                }
            ),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => log::warn!("cannot send {}: {e}", signals::name(signo)),
        }
    }

    pub(super) fn scope_empty(&self, scope: Scope, none_left: bool) -> bool {
        match scope {
            Scope::Container => !self.pid1 || none_left,
            Scope::ChildGroup(pgid) => {
                matches!(signals::send(-pgid, 0), Err(e) if e.raw_os_error() == Some(libc::ESRCH))
            }
        }
    }
}
