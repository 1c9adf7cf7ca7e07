//! The state store: `curq_state_history` in the Odoo database. Reading the
//! latest state and writing the next busy state happen in one transaction
//! under a transaction-scoped advisory lock (safe with PgBouncer's
//! transaction pooling), so that of N pods exactly one claims a step.
//!
//! Every statement is sent with `query_typed*` (the unnamed statement, one
//! round trip) or the simple protocol, so nothing depends on server-side
//! state between transactions. Columns are cast in SQL to the types read
//! here, so a table whose columns were altered (`id bigint`, `state text`)
//! reads as well, and one that cannot be read is an error, never a panic.

use std::time::Duration;

use super::{conn, fence};
use crate::db::client::{Client, Transaction};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

pub use super::columns::TABLE;
use super::columns::{ensure_columns, table_exists};
use super::verdict::{self, Latest};
/// Key of the transaction-scoped advisory lock ("curq").
const LOCK_KEY: i64 = 0x6375_7271;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Creating,
    Updating,
    Maintenance,
    Ready,
    Reset,
    ForceReady,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Creating => "Creating",
            State::Updating => "Updating",
            State::Maintenance => "Maintenance",
            State::Ready => "Ready",
            State::Reset => "Reset",
            State::ForceReady => "Force Ready",
        }
    }

    fn is_busy(self) -> bool {
        !matches!(self, State::Ready | State::Reset | State::ForceReady)
    }
}

/// What the gate sees without the lock (the run phase): one query.
#[derive(Debug)]
pub(crate) enum Seen {
    NoTable,
    Empty,
    Latest(Latest),
}

/// Who writes rows: host, PID and mode go into the extra columns, and the
/// lease with every busy row, so that waiters judge it by the owner's.
pub(crate) struct Store {
    owner: String,
    mode: String,
    lease: Duration,
    /// A table was found that we may not alter: said once, not per write.
    columns_refused: bool,
}

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The table as the earlier shell implementation made it.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS curq_state_history \
    (id serial PRIMARY KEY, state varchar NOT NULL, write_date timestamptz NOT NULL DEFAULT now())";

/// A UTC timestamp as text, whatever the session's time zone.
pub(super) fn utc(expr: &str) -> String {
    format!("to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
}

impl Store {
    pub(crate) fn new(owner: String, mode: &str, lease: Duration) -> Store {
        Store {
            owner,
            mode: mode.to_string(),
            lease,
            columns_refused: false,
        }
    }

    /// The latest row, without the lock: it writes nothing.
    pub(crate) fn peek(&self, client: &mut Client) -> PgResult<Seen> {
        let mut tx = conn::bounded(client)?;
        let latest = match tx.query_typed_opt(&latest_sql(), &[]) {
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
                return Ok(Seen::NoTable)
            }
            other => other?.as_ref().map(to_latest).transpose()?,
        };
        fence::end_stale(&mut tx, latest.as_ref().and_then(live_claim))?;
        tx.commit()?;
        Ok(latest.map_or(Seen::Empty, Seen::Latest))
    }

    /// Opens the state transaction (bounded statements) and takes the
    /// advisory lock: of N pods, one at a time holds it until
    /// [`Locked::commit`] or until it is dropped (rolled back).
    pub(crate) fn lock<'a>(&'a mut self, client: &'a mut Client) -> PgResult<Locked<'a>> {
        let mut tx = conn::bounded(client)?;
        tx.query_typed(
            "SELECT pg_advisory_xact_lock($1)",
            &[(&LOCK_KEY, Type::INT8)],
        )?;
        Ok(Locked {
            tx,
            store: self,
            extended: None,
            written: Vec::new(),
            created: false,
            ended: None,
        })
    }

    /// Writes `state` as the newest row whatever the latest is, creating
    /// the table if missing, in one transaction under the lock (`Force
    /// Ready`, a restored database's `Ready`).
    pub(crate) fn write(&mut self, client: &mut Client, state: State) -> PgResult<()> {
        let mut locked = self.lock(client)?;
        locked.create_table()?;
        locked.insert(state)?;
        locked.commit()
    }

    /// How rows of this process name their owner (`host:pid`).
    fn owner_pid(&self) -> String {
        format!("{}:{}", self.owner, std::process::id())
    }
}

/// The state transaction under the advisory lock, driven by the job: read
/// the latest row, decide, write, commit. What it wrote is said once the
/// commit succeeded, never before.
pub(crate) struct Locked<'a> {
    tx: Transaction<'a>,
    store: &'a mut Store,
    /// Whether the table has the optional columns, once asked.
    extended: Option<bool>,
    written: Vec<(i64, State)>,
    created: bool,
    /// The reset claim whose step's sessions were ended, and how many.
    ended: Option<(i64, i64)>,
}

impl<'a> Locked<'a> {
    pub(crate) fn has_table(&mut self) -> PgResult<bool> {
        table_exists(&mut self.tx)
    }

    /// Creates the table (as the earlier shell implementation made it) if it is missing.
    pub(crate) fn create_table(&mut self) -> PgResult<()> {
        if !self.has_table()? {
            self.tx.batch_execute(CREATE_TABLE)?;
            self.created = true;
        }
        Ok(())
    }

    /// The newest row.
    pub(crate) fn latest(&mut self) -> PgResult<Option<Latest>> {
        self.extended()?;
        let latest = latest_in(&mut self.tx)?;
        fence::end_stale(&mut self.tx, latest.as_ref().and_then(live_claim))?;
        Ok(latest)
    }

    /// Writes `state` as the newest row; its id.
    pub(crate) fn insert(&mut self, state: State) -> PgResult<i64> {
        let extended = self.extended()?;
        let id = insert(self.store, &mut self.tx, state, extended)?;
        self.written.push((id, state));
        Ok(id)
    }

    /// Writes `Ready` for our busy row `claimed` only if it is still the
    /// latest row. False: the claim was lost (another pod wrote `Reset` or
    /// a newer state after it), and nothing was written. A `Ready` of ours
    /// right after it (a commit whose answer was lost with the connection,
    /// then tried again) counts as written.
    pub(crate) fn finish(&mut self, claimed: i64) -> PgResult<bool> {
        let extended = self.extended()?;
        match self.latest()? {
            Some(l) if l.id == claimed => {
                self.insert(State::Ready)?;
                Ok(true)
            }
            Some(l) if extended && l.state == State::Ready.as_str() => {
                let after: i64 = self
                    .tx
                    .query_typed_one(
                        &format!("SELECT count(*) FROM {TABLE} WHERE id > $1"),
                        &[(&claimed, Type::INT8)],
                    )?
                    .try_get(0)?;
                Ok(after == 1 && l.owner.as_deref() == Some(&self.store.owner_pid()))
            }
            _ => Ok(false),
        }
    }

    /// Writes `Reset` only if `seen` is still the latest row with the same
    /// heartbeat (another waiter may have written it already, the owner may
    /// have finished or beaten meanwhile). Before it, every session of the
    /// owner's step is ended ([`fence::end_sessions`]): what it had not
    /// committed is rolled back before the `Reset` commits.
    pub(crate) fn reset_if_latest(&mut self, seen: &Latest) -> PgResult<bool> {
        let still = self
            .latest()?
            .is_some_and(|l| l.id == seen.id && l.heartbeat == seen.heartbeat);
        if still {
            self.ended = Some((seen.id, fence::end_sessions(&mut self.tx, seen.id)?));
            self.insert(State::Reset)?;
        }
        Ok(still)
    }

    /// The transaction, for what must be read or written under the same
    /// lock (the module checksums with `Ready`).
    pub(crate) fn transaction(&mut self) -> &mut Transaction<'a> {
        &mut self.tx
    }

    /// Commits, then says what was written.
    pub(crate) fn commit(self) -> PgResult<()> {
        self.tx.commit()?;
        if self.created {
            log::info!("created the state table {TABLE}");
        }
        if let Some((claim, ended)) = self.ended {
            log::info!(row = claim; "ended {ended} database session(s) of the step of state {claim}");
        }
        for (id, state) in self.written {
            log::info!(row = id, state = state.as_str(); "state {id}: {}", state.as_str());
        }
        Ok(())
    }

    fn extended(&mut self) -> PgResult<bool> {
        if let Some(known) = self.extended {
            return Ok(known);
        }
        let extended = ensure_columns(&mut self.tx, &mut self.store.columns_refused)?;
        self.extended = Some(extended);
        Ok(extended)
    }
}

fn insert(store: &Store, tx: &mut Transaction, state: State, extended: bool) -> PgResult<i64> {
    let row = if extended {
        let busy = state.is_busy();
        let lease = busy.then_some(store.lease.as_secs_f64());
        tx.query_typed_one(
            &format!(
                "INSERT INTO {TABLE} (state, host, pid, mode, heartbeat, lease_seconds) \
                 VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END, $6) RETURNING id::int8"
            ),
            &[
                (&state.as_str(), Type::VARCHAR),
                (&store.owner, Type::VARCHAR),
                (&(std::process::id() as i32), Type::INT4),
                (&store.mode, Type::VARCHAR),
                (&busy, Type::BOOL),
                (&lease as &(dyn ToSql + Sync), Type::FLOAT8),
            ],
        )?
    } else {
        tx.query_typed_one(
            &format!("INSERT INTO {TABLE} (state) VALUES ($1) RETURNING id::int8"),
            &[(&state.as_str(), Type::VARCHAR)],
        )?
    };
    row.try_get(0)
}

/// The longest state or writer odoo-init reads from a row: what it writes
/// is far shorter, and whatever another writer put there reaches the log,
/// the status record and the probes only this long.
const SHOWN_MAX: usize = 120;

/// The newest row; through `to_jsonb` the optional columns read as NULL on
/// a legacy table, so one query serves both. Every column is cast to the
/// type `to_latest` reads; texts cut at [`SHOWN_MAX`] characters.
fn latest_sql() -> String {
    format!(
        "SELECT id::int8, left(coalesce(state::text, ''), {SHOWN_MAX}), {}, \
         extract(epoch FROM now() - write_date)::float8, \
         {}, (j->>'lease_seconds')::float8, (j->>'exit_status')::int4, \
         left((j->>'host') || ':' || (j->>'pid'), {SHOWN_MAX}) \
         FROM (SELECT t.id, t.state, t.write_date, to_jsonb(t) AS j \
               FROM {TABLE} t ORDER BY t.id DESC LIMIT 1) newest",
        utc("write_date"),
        utc("(j->>'heartbeat')::timestamptz")
    )
}

fn to_latest(r: &Row) -> PgResult<Latest> {
    Ok(Latest {
        id: r.try_get(0)?,
        state: r.try_get(1)?,
        write_date: r.try_get(2)?,
        age: secs(r.try_get(3)?),
        heartbeat: r.try_get(4)?,
        lease: r.try_get::<_, Option<f64>>(5)?.map(secs),
        failed: r.try_get(6)?,
        owner: r.try_get(7)?,
    })
}

fn latest_in(tx: &mut Transaction) -> PgResult<Option<Latest>> {
    tx.query_typed_opt(&latest_sql(), &[])?
        .as_ref()
        .map(to_latest)
        .transpose()
}

/// The claim of the latest row while it is busy: the only one whose
/// sessions are live.
fn live_claim(latest: &Latest) -> Option<i64> {
    (!verdict::is_ready(&latest.state)).then_some(latest.id)
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
}
