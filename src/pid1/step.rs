//! One-off steps (install, update, maintenance): started like the run
//! phase's child, waited for until a deadline (the job beats in between),
//! stopped when the job says so. No restarts, SIGHUP is folded.

use std::time::Instant;

use super::child::ChildSpec;
use super::child::{spawn_status, Child};
use super::stop::Scope;
use super::supervisor::{Event, Supervisor};

/// What happened while a one-off step (install, update, maintenance) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepEvent {
    /// It exited by itself with this status.
    Exited(i32),
    /// SIGTERM/SIGINT stopped it (its copy forwarded, the stop sequence
    /// done); its status.
    Interrupted(i32),
    /// The deadline passed; it still runs.
    Deadline,
}

/// A one-off step that runs.
pub(crate) struct Step(pub(super) Child);

impl Supervisor {
    /// Starts a one-off step; its exit status when it could not be started.
    pub(crate) fn start_step(&mut self, spec: &ChildSpec) -> Result<Step, i32> {
        self.spawn(spec, false)
            .map(Step)
            .map_err(|e| spawn_status(&e))
    }

    /// Waits for the step until `until`. SIGHUP is logged and ignored
    /// (restart is for the run phase); SIGTERM/SIGINT stop it with the
    /// usual escalation.
    pub(crate) fn wait_step(&mut self, step: &mut Step, until: Instant) -> StepEvent {
        loop {
            match self.next_event(Some(&mut step.0), Some(until)) {
                Event::Reaped {
                    child: Some(status),
                    ..
                } => return StepEvent::Exited(status),
                Event::Reaped { .. } => {}
                Event::Deadline => return StepEvent::Deadline,
                Event::Hangup => {
                    log::info!("SIGHUP ignored: restart applies in the run phase")
                }
                Event::Stop(signo) => {
                    self.forward(&step.0, signo);
                    let group = Scope::ChildGroup(step.0.pid);
                    return StepEvent::Interrupted(self.stop(&mut step.0, group).status);
                }
            }
        }
    }

    /// Stops a step that must not go on (its owner lost its claim) with the
    /// usual stop sequence; its status.
    pub(crate) fn abandon_step(&mut self, mut step: Step) -> i32 {
        self.forward(&step.0, libc::SIGTERM);
        let group = Scope::ChildGroup(step.0.pid);
        self.stop(&mut step.0, group).status
    }
}
