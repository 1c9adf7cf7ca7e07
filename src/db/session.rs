//! A database session: one target and the connection to it, made when it
//! is needed and dropped when a statement says it is gone. It makes one
//! attempt at a time and never sleeps: the caller decides when to try
//! again (the job through the supervisor's pause, the heartbeat at its
//! next tick), so that signals are honoured between attempts.

use std::time::{Duration, Instant};

use super::client::{Client, Cut};
use super::conn::{self, Attempt, Backoff, Target};

pub(crate) struct Session {
    target: Target,
    client: Option<Client>,
    /// The pauses between failed attempts; reset by a connection made.
    backoff: Backoff,
    /// The last operation or attempt was ended by the stop descriptor.
    stopped: bool,
}

impl Session {
    pub(crate) fn new(target: Target) -> Session {
        Session {
            target,
            client: None,
            backoff: Backoff::new(),
            stopped: false,
        }
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The live connection, made with one attempt when there is none (or
    /// the server closed it); the attempt gives up at `deadline`.
    pub(crate) fn connect_until(&mut self, deadline: Instant) -> Result<&mut Client, Attempt> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let client = self.target.connect_once(deadline).inspect_err(|e| {
                self.stopped = matches!(e, Attempt::Stopped);
            })?;
            self.stopped = false;
            self.backoff = Backoff::new();
            self.client = Some(client);
        }
        match self.client.as_mut() {
            Some(client) => Ok(client),
            None => Err(Attempt::Retry("no connection".into())),
        }
    }

    /// [`Session::connect_until`] with the attempt's own bound only.
    pub(crate) fn connect(&mut self) -> Result<&mut Client, Attempt> {
        self.connect_until(Instant::now() + conn::CONNECT_TIMEOUT)
    }

    /// How long to wait before the next attempt after a failed one.
    pub(crate) fn retry_after(&mut self) -> Duration {
        self.backoff.next_delay()
    }

    /// Lets the connection go: a pod that only waits or serves holds none
    /// between the moments it needs one (the next [`Session::connect`]
    /// makes it again), so that a fleet leaves the server's connection
    /// slots to the Odoo that updates or serves.
    pub(crate) fn close(&mut self) {
        if let Some(client) = self.client.take() {
            client.close();
        }
    }

    /// A statement failed: true, and the connection dropped (the next
    /// [`Session::connect`] makes it again), when the error says it is gone.
    pub(crate) fn lost(&mut self, e: &tokio_postgres::Error) -> bool {
        let lost = conn::is_connection_loss(e);
        if lost {
            let cut = self.client.take().and_then(|c| c.cut());
            self.stopped = cut == Some(Cut::Stop);
            if cut == Some(Cut::Deadline) {
                log::warn!(
                    "no answer from PostgreSQL at {} in time: the connection is dropped and made again",
                    self.target.describe()
                );
            }
        }
        lost
    }

    /// The last statement or attempt was ended by the stop descriptor (not
    /// by the server or the network): the caller stops, saying nothing of
    /// a lost connection.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }
}
