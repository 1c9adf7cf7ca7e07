//! The run phase: Odoo started, watched, restarted in place on SIGHUP
//! (the launcher asked again before every start), `STOP_DELAY`'s wait
//! before the first TERM, and what `ON_EXIT` says when it exits by itself.

use std::time::{Duration, Instant};

use super::child::{spawn_status, Child};
use super::launch::{Abort, Launcher, Pause};
use super::memory;
use super::signals;
use super::stop::Scope;
use super::supervisor::{Event, OnExit, Supervisor};
use crate::status::Phase;

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A child that ran this long is considered healthy: the backoff starts over.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);

impl Supervisor {
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

    /// `STOP_DELAY`: the first SIGTERM of the run phase reaches the child
    /// only after the delay, the status saying `stopping` at once (readiness
    /// down, so that the load balancer lets go first). A second SIGTERM, or
    /// a SIGINT, ends the wait: the delayed SIGTERM goes now, and only it
    /// (a second one would be Odoo's forced shutdown). The child's own end
    /// ends it too. A deadline, not a timer: nothing wakes otherwise.
    fn delayed_stop(&mut self, child: &mut Child) -> Watched {
        self.status
            .bounded(Phase::Stopping, self.stop_delay + self.stop_budget());
        log::info!(
            "SIGTERM: reaches PID {} in {}s (STOP_DELAY); readiness is down meanwhile, a second SIGTERM sends it now",
            child.pid,
            self.stop_delay.as_secs_f64()
        );
        let until = Instant::now() + self.stop_delay;
        loop {
            match self.next_event(Some(child), Some(until)) {
                Event::Reaped { child: Some(_), .. } => return Watched::Stopped,
                Event::Reaped { .. } => {}
                Event::Hangup => log::info!("SIGHUP while stopping: ignored"),
                Event::Stop(signo) => {
                    log::info!("{}: the rest of STOP_DELAY skipped", signals::name(signo));
                    break;
                }
                Event::Deadline => break,
            }
        }
        self.forward(child, libc::SIGTERM);
        Watched::Stopped
    }
}

enum Watched {
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
