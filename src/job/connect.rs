//! Waiting for PostgreSQL and retrying a piece of work: the job's loops
//! around the session's single attempts, sleeping only through the
//! supervisor's pause so that SIGTERM is honoured meanwhile.

use std::time::{Duration, Instant};

use crate::db::client::Client;

use crate::db::conn::{self, Attempt, ConnectError};
use crate::db::session::Session;
use crate::exit::Failure;
use crate::pid1::launch::Pause;

/// The least time an attempt made at the `DB_WAIT_TIMEOUT` deadline gets:
/// a local server answers within it, and the deadline is overrun by no more.
const LAST_ATTEMPT: Duration = Duration::from_secs(1);

/// How long a retried piece of work waits between tries.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Why no connection was had.
pub(super) enum NotConnected {
    /// SIGTERM/SIGINT while waiting.
    Stopped,
    Failed(ConnectError),
}

/// A live connection on `session`: made when missing, retried with the
/// backoff while the server refuses connections or is starting up, for at
/// most `within` (`DB_WAIT_TIMEOUT`); fails at once on credentials, TLS or
/// a missing database. Every attempt ends by the deadline (the last one
/// gets at least [`LAST_ATTEMPT`]), and any of them at once on a stop.
pub(super) fn connected<'s>(
    session: &'s mut Session,
    within: Duration,
    pause: &mut Pause,
) -> Result<&'s mut Client, NotConnected> {
    let until = Instant::now() + within;
    let mut said = false;
    loop {
        let by = until.max(Instant::now() + LAST_ATTEMPT);
        let why = match session.connect_until(by) {
            Ok(_) => break,
            Err(Attempt::Retry(why)) => why,
            Err(Attempt::Stopped) => return Err(NotConnected::Stopped),
            Err(other) => return Err(NotConnected::Failed(other.into())),
        };
        // The last pause ends at the deadline, with one more attempt there.
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NotConnected::Failed(ConnectError::Unreachable(format!(
                "{} after {}s (DB_WAIT_TIMEOUT): {why}",
                session.target().describe(),
                within.as_secs_f64()
            ))));
        }
        if !said {
            let at = session.target().describe();
            log::info!("waiting for PostgreSQL at {at}: {why}");
            pause.status().waiting_for(&format!("PostgreSQL at {at}"));
            said = true;
        }
        let delay = session.retry_after().min(left);
        if pause.sleep(delay).is_err() {
            return Err(NotConnected::Stopped);
        }
    }
    if said {
        log::info!("PostgreSQL is up ({})", session.target().describe());
    }
    session
        .connect()
        .map_err(|e| NotConnected::Failed(e.into()))
}

/// What no connection means for the job.
pub(super) fn unavailable(e: NotConnected) -> Failure {
    match e {
        NotConnected::Stopped | NotConnected::Failed(ConnectError::Stopped) => Failure::Stopped,
        NotConnected::Failed(why) => Failure::Db(why.to_string()),
    }
}

/// A statement that failed for good.
pub(super) fn db_failure(what: &str, e: &tokio_postgres::Error) -> Failure {
    Failure::Db(format!("{what}: {}", conn::message(e)))
}

/// One piece of work on `session`; a connection lost or a lock waited out
/// meanwhile is retried (the connection made again) within `within`
/// (`DB_WAIT_TIMEOUT`), said once. Each caller's work checks under the lock
/// what it relies on, or only reads, so trying again is safe.
pub(super) fn retrying<T>(
    session: &mut Session,
    within: Duration,
    pause: &mut Pause,
    what: &str,
    mut work: impl FnMut(&mut Client) -> Result<T, tokio_postgres::Error>,
) -> Result<T, Failure> {
    let started = Instant::now();
    let mut said = false;
    loop {
        let client = connected(session, within, pause).map_err(unavailable)?;
        let e = match work(client) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        session.lost(&e);
        if session.stopped() {
            return Err(Failure::Stopped);
        }
        let passing = conn::is_connection_loss(&e) || conn::is_lock_wait(&e);
        if !passing || started.elapsed() >= within {
            return Err(db_failure(what, &e));
        }
        if !std::mem::replace(&mut said, true) {
            log::info!("{what}: {}; trying again", conn::message(&e));
        }
        if pause.sleep(RETRY_PAUSE).is_err() {
            return Err(Failure::Stopped);
        }
    }
}
