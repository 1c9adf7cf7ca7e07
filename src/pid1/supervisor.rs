//! The supervisor's core: the signals taken over, the one wait for what
//! matters next (`next_event`: a child reaped, a SIGHUP, a stop, a
//! deadline; every other signal forwarded), the child started and reaped,
//! the status record. The stop sequence (`stop.rs`), the run phase
//! (`serve.rs`), one-off steps (`step.rs`) and the launcher's pause
//! (`launch.rs`) are built on it; it uses none of them.
//!
//! It knows nothing of databases or modes: what to start, and any gate before
//! a (re)start, comes from a `launch::Launcher`.

use std::io;
use std::time::{Duration, Instant};

use super::child::{self, Child, ChildSpec};
use crate::exit;
use crate::meanwhile::Meanwhile;
use crate::pid1::signals::{self, Received, Signals};
use crate::reaper::Reaper;
use crate::status::Status;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;

/// What happens when the supervised command exits by itself (`ON_EXIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExit {
    /// `odoo-init` exits with the child's status (production).
    Exit,
    /// Stay up; start the child again on SIGHUP (development containers).
    Wait,
    /// Start it again after a capped exponential backoff.
    Restart,
}

/// The supervisor's own settings (`STOP_TIMEOUT`, `STOP_DELAY`, `ON_EXIT`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) stop_timeout: Duration,
    /// How long the first SIGTERM of the run phase waits before it reaches
    /// Odoo (readiness is down meanwhile), so that a load balancer stops
    /// sending requests first.
    pub(crate) stop_delay: Duration,
    pub(crate) on_exit: OnExit,
}

pub(super) enum Event {
    Reaped {
        /// The tracked child's status, if it was among the reaped.
        child: Option<i32>,
        /// `waitpid` said there are no children at all any more.
        none_left: bool,
    },
    Hangup,
    Stop(i32),
    Deadline,
}

pub struct Supervisor {
    pub(super) signals: Signals,
    /// What it is doing, for `odoo-init status`: written at each change.
    pub(super) status: Status,
    pub(super) pid1: bool,
    /// We are the foreground process group of our terminal: hand it to each child.
    pub(super) terminal: bool,
    pub(super) stop_timeout: Duration,
    pub(super) stop_delay: Duration,
    /// Readable while SIGTERM/SIGINT is pending ([`signals::stop_descriptor`]).
    stop: Arc<OwnedFd>,
    /// The first SIGTERM or SIGINT taken.
    stopped_by: Option<i32>,
    /// Every reap, the supervisor's and the database client's
    /// ([`Supervisor::reaper`]); the child's status is kept there.
    pub(super) reaper: Rc<Reaper>,
}

impl Supervisor {
    /// Takes over the signal mask; when not PID 1, becomes a child subreaper
    /// so that orphans of the child are still reaped here.
    pub fn new(settings: &Settings) -> io::Result<Self> {
        let signals = Signals::take_over()?;
        let pid1 = std::process::id() == 1;
        if !pid1 {
            nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
        }
        let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
            && nix::unistd::tcgetpgrp(std::io::stdin()).ok() == Some(nix::unistd::getpgrp());
        let stop = Arc::new(signals::stop_descriptor()?);
        // After take_over: its signalfd sees SIGCHLD only while it is blocked.
        let reaper = Rc::new(Reaper::new()?);
        Ok(Supervisor {
            stop,
            reaper,
            stopped_by: None,
            signals,
            status: Status::detached(),
            pid1,
            terminal,
            stop_timeout: settings.stop_timeout,
            stop_delay: settings.stop_delay,
        })
    }

    /// Says, once, what it is when it is not PID 1 (for those who
    /// supervise a command: the main job, a one-off, `supervise`).
    pub fn announce(&self) {
        if !self.pid1 {
            log::info!(
                "not PID 1 (PID {}): child subreaper; orphans of the child are reaped here, and only processes started here are signalled",
                std::process::id()
            );
        }
    }

    /// The status of a stop before anything ran: 128 + the signal (143 for
    /// SIGTERM, 130 for SIGINT), as a shell reports a process it ended.
    /// The first one taken, else the one still pending (a database wait
    /// ended by it has not taken it yet).
    pub fn stopped_status(&self) -> i32 {
        let signo = match self.stopped_by {
            Some(signo) => signo,
            None if signals::is_pending(&[libc::SIGINT])
                && !signals::is_pending(&[libc::SIGTERM]) =>
            {
                libc::SIGINT
            }
            None => libc::SIGTERM,
        };
        exit::for_signal(signo)
    }

    /// What waits outside the supervisor (the database client's, hashing)
    /// mind: the stop descriptor, readable while SIGTERM or SIGINT is
    /// pending, to end at a stop; the reaper, to reap while they wait.
    pub(crate) fn meanwhile(&self) -> Meanwhile {
        Meanwhile {
            stop: Some(Arc::clone(&self.stop)),
            reaper: Some(Rc::clone(&self.reaper)),
        }
    }

    /// The status record (kept in the runtime directory once given one).
    pub fn status(&mut self) -> &mut Status {
        &mut self.status
    }

    /// Starts the child, its status kept for us whoever reaps it.
    /// `serving`: the run phase's child (the phase becomes `running`).
    pub(super) fn spawn(&mut self, spec: &ChildSpec, serving: bool) -> io::Result<Child> {
        let child = child::spawn(spec, self.terminal)?;
        self.reaper.keep(child.pid);
        log::info!(child_pid = child.pid; "started PID {}: {}", child.pid, spec.shown.join(" "));
        self.status.child_started(child.pid, &spec.shown, serving);
        Ok(child)
    }

    /// Sends one signal to the child's PID.
    pub(super) fn forward(&self, child: &Child, signo: i32) {
        child::forward(child, signo);
    }

    /// Reaps until nothing is left to reap (`Reaper::reap`). Returns the
    /// child's status if it was reaped now, or by a wait that was not the
    /// supervisor's (`Reaper::tend`), and whether no children at all remain.
    pub(super) fn reap(&mut self, child: &mut Child) -> (Option<i32>, bool) {
        let reaped = self.reaper.reap();
        // Orphans are only counted: this runs once per wake, whatever their number.
        if reaped.count > 0 {
            log::debug!("reaped {} process(es)", reaped.count);
        }
        let status = match self.reaper.take(child.pid) {
            Some(raw) if child.status.is_none() => Some(self.exited(child, raw)),
            _ => None,
        };
        (status, reaped.none_left)
    }

    /// Records and logs the tracked child's end.
    fn exited(&mut self, child: &mut Child, raw: i32) -> i32 {
        let (status, how) = child::ended(raw);
        log::info!(
            child_pid = child.pid, status = status;
            "PID {} exited with status {status}{how} after {:.1}s",
            child.pid,
            child.started.elapsed().as_secs_f64()
        );
        child.status = Some(status);
        self.status
            .child_exited(status, child.started.elapsed().as_secs_f64());
        status
    }

    /// After the child is gone, take the terminal's foreground back so that
    /// Ctrl-C reaches `odoo-init` while nothing runs (ON_EXIT=wait).
    pub(super) fn reclaim_terminal(&self) {
        if self.terminal {
            let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
        }
    }

    /// Waits for the next thing that matters; forwards everything else.
    pub(super) fn next_event(
        &mut self,
        child: Option<&mut Child>,
        deadline: Option<Instant>,
    ) -> Event {
        let mut child = child;
        loop {
            // A database operation reaped meanwhile and took the SIGCHLD
            // with it: what it reaped is looked at as if one had come.
            let received = if self.reaper.news() {
                Received {
                    signo: libc::SIGCHLD,
                    sender: 0,
                }
            } else {
                match self.signals.wait(deadline) {
                    Some(received) => received,
                    None => return Event::Deadline,
                }
            };
            match received.signo {
                libc::SIGCHLD => {
                    let (status, none_left) = match child.as_deref_mut() {
                        Some(c) => self.reap(c),
                        None => self.reap(&mut Child::gone(0)),
                    };
                    return Event::Reaped {
                        child: status,
                        none_left,
                    };
                }
                libc::SIGHUP => return Event::Hangup,
                libc::SIGTERM | libc::SIGINT => {
                    self.stopped_by.get_or_insert(received.signo);
                    return Event::Stop(received.signo);
                }
                _ => self.pass_on(child.as_deref(), received),
            }
        }
    }

    fn pass_on(&self, child: Option<&Child>, received: Received) {
        if self.signals.is_own(&received) {
            return;
        }
        match child {
            Some(c) if c.status.is_none() => self.forward(c, received.signo),
            _ => log::info!(
                "{} received while no child runs: ignored",
                signals::name(received.signo)
            ),
        }
    }
}
