//! The owner's heartbeat while its step runs: refreshes `heartbeat` on its
//! busy row, makes the connection again when it drops, and notices when the
//! claim was lost (a `Reset` or another state written after the busy row).
//!
//! It runs from the supervisor's wait loop between signals ([`Tick`]), never
//! on a thread of its own: one beat is one short statement, and an attempt
//! to reconnect is one connection attempt; the pauses between attempts are
//! the supervisor's deadlines, so signals are honoured meanwhile.

use std::time::{Duration, Instant};

use postgres::Client;

use crate::db::conn::{self, Backoff, Target};
use crate::db::state;
use crate::pid1::supervisor::Tick;

/// How often the owner beats: a quarter of its lease, between 1 s and 15 s.
/// With `config::MIN_LEASE` this leaves a waiter's lease room for one beat
/// interval plus the longest reconnect pause (`conn::BACKOFF_MAX`).
pub fn interval(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// Why the heartbeat asked to stop the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Another pod wrote after our busy row: the claim is not ours any more.
    ClaimLost,
    /// No beat landed for `DB_WAIT_TIMEOUT` (the last error is logged).
    Unreachable,
}

pub struct Heartbeat<'a> {
    target: Target<'a>,
    claimed: i64,
    client: Option<Client>,
    every: Duration,
    /// `DB_WAIT_TIMEOUT`: how long beats may fail before the step is stopped.
    give_up_after: Duration,
    last_beat: Instant,
    /// Set while beats fail: the pauses between attempts, and that it was said.
    failing: Option<Backoff>,
    stopped: Option<Stopped>,
}

impl<'a> Heartbeat<'a> {
    pub fn new(
        target: Target<'a>,
        claimed: i64,
        client: Option<Client>,
        lease: Duration,
        give_up_after: Duration,
    ) -> Heartbeat<'a> {
        Heartbeat {
            target,
            claimed,
            client,
            every: interval(lease),
            give_up_after,
            last_beat: Instant::now(),
            failing: None,
            stopped: None,
        }
    }

    pub fn every(&self) -> Duration {
        self.every
    }

    /// One beat (making the connection first if it is gone); what next.
    pub fn tick(&mut self) -> Tick {
        match self.beat() {
            Ok(true) => {
                if self.failing.take().is_some() {
                    log::info!(
                        "heartbeat on state {} is back ({})",
                        self.claimed,
                        self.target.describe()
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
                self.stopped = Some(Stopped::ClaimLost);
                Tick::Stop
            }
            Err(why) => {
                if self.last_beat.elapsed() >= self.give_up_after {
                    log::error!(
                        "no heartbeat on state {} for {:.0}s (DB_WAIT_TIMEOUT): {why}; stopping the step",
                        self.claimed,
                        self.give_up_after.as_secs_f64()
                    );
                    self.stopped = Some(Stopped::Unreachable);
                    return Tick::Stop;
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

    fn beat(&mut self) -> Result<bool, String> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        let client = match &mut self.client {
            Some(c) => c,
            None => {
                let c = self
                    .target
                    .connect_once()
                    .map_err(|e| conn::ConnectError::from(e).to_string())?;
                self.client.insert(c)
            }
        };
        match state::beat(client, self.claimed) {
            Ok(ours) => Ok(ours),
            Err(e) => {
                if conn::is_connection_loss(&e) {
                    self.client = None;
                }
                Err(conn::message(&e))
            }
        }
    }

    /// Why the step was stopped, if it was.
    pub fn stopped(&self) -> Option<&Stopped> {
        self.stopped.as_ref()
    }

    /// The connection, for what follows the step.
    pub fn into_client(self) -> Option<Client> {
        self.client
    }
}
