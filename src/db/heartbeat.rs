//! The owner's heartbeat while its step runs: refreshes `heartbeat` on its
//! busy row, makes the connection again when it drops, and notices when the
//! claim was lost (a `Reset` or another state written after the busy row).
//!
//! The job calls [`Heartbeat::tick`] when the deadline it returned has
//! passed, between the supervisor's waits, never from a thread of its own:
//! one beat is one short statement, and an attempt to reconnect is one
//! connection attempt, so signals are honoured between them.

use std::time::{Duration, Instant};

use crate::db::conn::{self, Backoff, ConnectError};
use crate::db::owner;
use crate::db::session::Session;

/// How often the owner beats: a quarter of its lease, between 1 s and 15 s.
/// With the shortest lease (5 s) this leaves a waiter's lease room for one
/// beat interval plus the longest reconnect pause (`conn::BACKOFF_MAX`).
pub(crate) fn interval(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// What the heartbeat wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Tick again after this long.
    After(Duration),
    /// Stop the step: why.
    Stop(Stopped),
}

/// Why the heartbeat asked to stop the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// Another pod wrote after our busy row: the claim is not ours any more.
    ClaimLost,
    /// No beat landed for `DB_WAIT_TIMEOUT` (the last error is logged).
    Unreachable,
}

pub(crate) struct Heartbeat {
    claimed: i64,
    every: Duration,
    /// `DB_WAIT_TIMEOUT`: how long beats may fail before the step is stopped.
    give_up_after: Duration,
    last_beat: Instant,
    /// Set while beats fail: the pauses between attempts, and that it was said.
    failing: Option<Backoff>,
}

impl Heartbeat {
    pub(crate) fn new(claimed: i64, lease: Duration, give_up_after: Duration) -> Heartbeat {
        Heartbeat {
            claimed,
            every: interval(lease),
            give_up_after,
            last_beat: Instant::now(),
            failing: None,
        }
    }

    pub(crate) fn every(&self) -> Duration {
        self.every
    }

    /// One beat on `session` (making the connection first if it is gone); what next.
    pub(crate) fn tick(&mut self, session: &mut Session) -> Tick {
        match self.beat(session) {
            Ok(true) => {
                if self.failing.take().is_some() {
                    log::info!(
                        "heartbeat on state {} is back ({})",
                        self.claimed,
                        session.target().describe()
                    );
                }
                self.last_beat = Instant::now();
                Tick::After(self.every)
            }
            Ok(false) => {
                log::error!(
                    "state {} is no longer the latest row: another pod wrote Reset or a newer state after it; stopping the step",
                    self.claimed
                );
                Tick::Stop(Stopped::ClaimLost)
            }
            // Ended by a stop: the job's next wait takes it at once.
            Err(_) if session.stopped() => Tick::After(Duration::ZERO),
            Err(why) => {
                if self.last_beat.elapsed() >= self.give_up_after {
                    log::error!(
                        "no heartbeat on state {} for {:.0}s (DB_WAIT_TIMEOUT): {why}; stopping the step",
                        self.claimed,
                        self.give_up_after.as_secs_f64()
                    );
                    return Tick::Stop(Stopped::Unreachable);
                }
                let backoff = self.failing.get_or_insert_with(|| {
                    log::warn!(
                        "heartbeat on state {} failed: {why}; trying again with backoff",
                        self.claimed
                    );
                    Backoff::new()
                });
                // Never longer than a beat: an owner whose database is back beats at once.
                Tick::After(backoff.next_delay().min(self.every))
            }
        }
    }

    fn beat(&mut self, session: &mut Session) -> Result<bool, String> {
        let client = session
            .connect()
            .map_err(|e| ConnectError::from(e).to_string())?;
        match owner::beat(client, self.claimed) {
            Ok(ours) => Ok(ours),
            Err(e) => {
                session.lost(&e);
                Err(conn::message(&e))
            }
        }
    }
}
