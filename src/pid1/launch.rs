//! The seam between the supervisor and whoever decides what it starts:
//! the [`Launcher`] it asks before every (re)start, the [`ChildSpec`] it
//! gets back (or why not: [`Abort`]), and the [`Pause`] a launcher sleeps
//! through while the supervisor keeps reaping and listening.

use std::time::{Duration, Instant};

pub use super::child::ChildSpec;
use super::signals;
use super::supervisor::{Event, Supervisor};
use crate::meanwhile::Meanwhile;
use crate::status::Status;

/// Why a launcher did not produce a command.
#[derive(Debug)]
pub enum Abort {
    /// SIGTERM/SIGINT arrived while it was waiting: stop without starting.
    Stopped,
    /// It failed and logged why; `odoo-init` exits with this code.
    Failed(i32),
}

/// What to start, decided anew before every (re)start.
pub trait Launcher {
    /// The command to start now. It may wait (the state gate), sleeping
    /// only through `pause` so that SIGTERM is honoured meanwhile.
    fn command(&mut self, pause: &mut Pause) -> Result<ChildSpec, Abort>;
    /// The kernel refused that command's arguments (`E2BIG`): a command to
    /// start instead (the previous arguments), if there is one.
    fn arguments_refused(&mut self) -> Option<ChildSpec> {
        None
    }
    /// A restart was asked while the child runs: a reason to refuse it, the
    /// child then running on (a gate that can only fail, and would leave
    /// the container without Odoo). It must not sleep: the child is not
    /// watched meanwhile.
    fn refuses_restart(&mut self) -> Option<String> {
        None
    }
}

/// Lets a launcher sleep while the supervisor keeps reaping and listening.
pub struct Pause<'a> {
    pub(super) sup: &'a mut Supervisor,
}

impl Pause<'_> {
    /// The status record, for what the launcher is doing (the gate).
    pub fn status(&mut self) -> &mut Status {
        &mut self.sup.status
    }

    /// [`Supervisor::stopped_status`].
    pub fn stopped_status(&self) -> i32 {
        self.sup.stopped_status()
    }

    /// [`Supervisor::meanwhile`], for the database client's waits.
    pub(crate) fn meanwhile(&self) -> Meanwhile {
        self.sup.meanwhile()
    }

    /// SIGTERM or SIGINT arrived and waits to be taken (by the next sleep):
    /// for a caller about to commit to something it could not stop.
    pub fn stop_pending(&self) -> bool {
        signals::stop_pending()
    }

    /// Sleeps for `span`; `Err(Abort::Stopped)` if SIGTERM/SIGINT arrives.
    /// SIGHUPs meanwhile are folded into the start that follows.
    pub fn sleep(&mut self, span: Duration) -> Result<(), Abort> {
        let until = Instant::now() + span;
        loop {
            match self.sup.next_event(None, Some(until)) {
                Event::Deadline => return Ok(()),
                Event::Stop(signo) => {
                    log::info!("{} while waiting to start: stopping", signals::name(signo));
                    return Err(Abort::Stopped);
                }
                Event::Hangup => log::info!("SIGHUP while waiting to start: already starting"),
                Event::Reaped { .. } => {}
            }
        }
    }
}

impl Supervisor {
    /// Lets code outside the supervisor sleep while signals are honoured.
    pub fn pause(&mut self) -> Pause<'_> {
        Pause { sup: self }
    }
}
