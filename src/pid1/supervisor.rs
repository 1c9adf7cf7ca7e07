//! PID-1 duties for one supervised child at a time: start it with a clean
//! signal state, forward every signal it does not own, reap every zombie,
//! stop with escalation, restart in place on SIGHUP.
//!
//! It knows nothing of databases or modes: what to start, and any gate before
//! a (re)start, comes from a [`Launcher`] (`launch.rs`).

use std::io;
use std::time::{Duration, Instant};

use super::child::{spawn_status, Child};
use super::launch::{Abort, Launcher, Pause};
use super::stop::Scope;
use crate::exit;
use crate::meanwhile::Meanwhile;
use crate::pid1::memory;
use crate::pid1::signals::{self, Received, Signals};
use crate::reaper::Reaper;
use crate::status::{Phase, Status};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A child that ran this long is considered healthy: the backoff starts over.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);

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

    /// The run phase: start, watch, restart on SIGHUP, apply `on_exit`.
    /// Returns the exit code for `odoo-init`.
    pub fn serve(&mut self, launcher: &mut dyn Launcher, on_exit: OnExit) -> i32 {
        let mut quick_failures = 0u32;
        let mut last_status = 0;
        loop {
            let spec = match launcher.command(&mut Pause { sup: self }) {
                Ok(spec) => spec,
                Err(Abort::Stopped) => return self.finish(&mut Child::gone(last_status)),
                Err(Abort::Failed(code)) => return self.finish(&mut Child::gone(code)),
            };
            let mut child = match self.spawn(&spec, true) {
                Ok(child) => child,
                Err(e) if e.raw_os_error() == Some(libc::E2BIG) => {
                    match launcher.arguments_refused() {
                        Some(spec) => self
                            .spawn(&spec, true)
                            .unwrap_or_else(|e| Child::gone(spawn_status(&e))),
                        None => Child::gone(spawn_status(&e)),
                    }
                }
                Err(e) => Child::gone(spawn_status(&e)),
            };
            if child.status.is_none() {
                // Start-up is over until the next restart: its pages go.
                memory::give_back_startup_pages();
            }
            let status = match child.status {
                Some(status) => status,
                None => match self.watch(&mut child, launcher) {
                    Watched::Exited(status) => status,
                    Watched::Stopped => return self.finish(&mut child),
                    Watched::Restart => continue,
                },
            };
            last_status = status;
            self.reclaim_terminal();
            let ran = child.started.elapsed();
            if on_exit != OnExit::Exit {
                // A master that died by itself (kill -9, a crash) leaves its
                // workers holding Odoo's port: stop what is left of its group
                // as a restart would, before anything new starts.
                let group = Scope::ChildGroup(child.pid);
                if self.stop(&mut child, group).stop_requested {
                    return self.finish(&mut child);
                }
            }
            match on_exit {
                OnExit::Exit => return self.finish(&mut child),
                OnExit::Wait => {
                    self.status.phase(Phase::StoppedWaiting);
                    log::info!(
                        "ON_EXIT=wait: staying up; `kill -HUP 1` or `odoo-init restart` starts it again, SIGTERM stops the container"
                    );
                    if !self.idle(None) {
                        return self.finish(&mut Child::gone(0));
                    }
                }
                OnExit::Restart => {
                    quick_failures = if ran >= BACKOFF_RESET_AFTER {
                        0
                    } else {
                        quick_failures + 1
                    };
                    let delay = backoff(quick_failures);
                    self.status.restarting(delay);
                    log::info!(
                        "ON_EXIT=restart: starting again in {}s",
                        delay.as_secs_f64()
                    );
                    if !self.idle(Some(Instant::now() + delay)) {
                        return self.finish(&mut Child::gone(0));
                    }
                }
            }
        }
    }

    /// Lets code outside the supervisor sleep while signals are honoured.
    pub fn pause(&mut self) -> Pause<'_> {
        Pause { sup: self }
    }

    /// The status record (kept in the runtime directory once given one).
    pub fn status(&mut self) -> &mut Status {
        &mut self.status
    }

    /// Ends `odoo-init` without a running child: as PID 1, what is left in
    /// the container is stopped first. Returns `status`.
    pub fn shutdown(&mut self, status: i32) -> i32 {
        self.finish(&mut Child::gone(status))
    }

    /// Waits while no child runs. True: start again (SIGHUP or deadline);
    /// false: SIGTERM/SIGINT arrived.
    fn idle(&mut self, until: Option<Instant>) -> bool {
        loop {
            match self.next_event(None, until) {
                Event::Deadline | Event::Hangup => return true,
                Event::Stop(signo) => {
                    log::info!("{}: stopping", signals::name(signo));
                    return false;
                }
                Event::Reaped { .. } => {}
            }
        }
    }

    /// Watches a running child until it exits, a restart or a stop is asked.
    fn watch(&mut self, child: &mut Child, launcher: &mut dyn Launcher) -> Watched {
        loop {
            match self.next_event(Some(child), None) {
                Event::Reaped {
                    child: Some(status),
                    ..
                } => return Watched::Exited(status),
                Event::Reaped { .. } | Event::Deadline => {}
                Event::Stop(libc::SIGTERM) if !self.stop_delay.is_zero() => {
                    return self.delayed_stop(child);
                }
                Event::Stop(signo) => {
                    self.forward(child, signo);
                    return Watched::Stopped;
                }
                Event::Hangup => {
                    if let Some(why) = launcher.refuses_restart() {
                        log::error!(
                            "SIGHUP: restart refused, PID {} keeps running: {why}",
                            child.pid
                        );
                        continue;
                    }
                    // A stop that came while the launcher looked wins: the
                    // next wait takes it, and the child gets its one TERM.
                    if signals::stop_pending() {
                        log::info!("SIGHUP: a stop came first; no restart");
                        continue;
                    }
                    log::info!("SIGHUP: restarting PID {} in place", child.pid);
                    self.status.restarting(self.stop_budget());
                    self.forward(child, libc::SIGTERM);
                    let stopped = self.stop(child, Scope::ChildGroup(child.pid));
                    if stopped.stop_requested {
                        return Watched::Stopped;
                    }
                    return Watched::Restart;
                }
            }
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

pub(super) enum Watched {
    Exited(i32),
    /// SIGTERM/SIGINT: the child has its copy; `finish` does the rest.
    Stopped,
    Restart,
}

fn backoff(quick_failures: u32) -> Duration {
    let doubled = BACKOFF_FIRST.saturating_mul(1u32 << quick_failures.saturating_sub(1).min(16));
    doubled.min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
