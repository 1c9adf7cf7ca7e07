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

use super::conn;
use postgres::types::{ToSql, Type};
use postgres::{Client, Row, Transaction};

pub const TABLE: &str = "curq_state_history";
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

/// The states after which a pod may go on.
pub(crate) fn is_ready(state: &str) -> bool {
    matches!(state, "Ready" | "Reset" | "Force Ready")
}

/// The newest row. Times are the database's (UTC text), ages by its clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub id: i64,
    pub state: String,
    pub write_date: String,
    pub age: Duration,
    /// The owner's last heartbeat (UTC text); `None` for rows without one.
    pub heartbeat: Option<String>,
    /// The owner's `STATE_LEASE`, recorded with its claim.
    pub lease: Option<Duration>,
    /// The exit status of a step that failed (recorded by its owner).
    pub failed: Option<i32>,
    pub owner: Option<String>,
}

/// What a waiting pod should do about the latest state.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Proceed,
    /// Wait; what for.
    Wait(String),
    /// Write `Reset` and exit non-zero; why.
    Reset(String),
}

/// The gate's rule for a busy state. `watched`: how long this pod has itself
/// seen the row's heartbeat unchanged while the database answered it (time in
/// which it could not reach the database does not count). `lease`: this pod's
/// `STATE_LEASE`, used only for rows that do not carry their owner's.
///
/// - a step that failed: its owner is alive and said so; wait for a person
///   (`ForceUpdateOnly`, `ForceReadyState`), `Reset` only after `TIMEOUT`;
/// - a heartbeat: the owner is gone once it stayed unchanged for the owner's
///   lease; a long step that is alive keeps its claim;
/// - no heartbeat (the old shell implementation): `Reset` after `TIMEOUT`.
pub fn judge(latest: &Latest, watched: Duration, timeout: Duration, lease: Duration) -> Verdict {
    if is_ready(&latest.state) {
        return Verdict::Proceed;
    }
    let row = format!(
        "'{}' (row {}, written {}, by {})",
        latest.state,
        latest.id,
        latest.write_date,
        latest.owner.as_deref().unwrap_or("the old implementation")
    );
    let timed_out = latest.age > timeout;
    let too_long = || {
        Verdict::Reset(format!(
            "{row} has lasted {:.0}s, longer than TIMEOUT ({:.0}s)",
            latest.age.as_secs_f64(),
            timeout.as_secs_f64()
        ))
    };
    if let Some(status) = latest.failed {
        if timed_out {
            return too_long();
        }
        return Verdict::Wait(format!(
            "the step of {row} failed with status {status} at {}: the database may be half-done; \
             fix the cause, then run MODE=ForceUpdateOnly or ForceReadyState (a waiting pod \
             writes Reset only after TIMEOUT, {:.0}s)",
            latest.heartbeat.as_deref().unwrap_or("an unknown time"),
            timeout.as_secs_f64()
        ));
    }
    match &latest.heartbeat {
        Some(beat) => {
            let lease = latest.lease.unwrap_or(lease);
            if watched >= lease {
                Verdict::Reset(format!(
                    "the owner of {row} sent no heartbeat for {:.0}s while the database answered \
                     (last {beat}; its lease {:.0}s)",
                    watched.as_secs_f64(),
                    lease.as_secs_f64()
                ))
            } else {
                Verdict::Wait(format!(
                    "state {row}; its owner's heartbeat {beat}, its lease {:.0}s",
                    lease.as_secs_f64()
                ))
            }
        }
        None if timed_out => too_long(),
        None => Verdict::Wait(format!(
            "state {row}; without a heartbeat it is reset after TIMEOUT ({:.0}s)",
            timeout.as_secs_f64()
        )),
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

type PgResult<T> = Result<T, postgres::Error>;

/// The table as the earlier shell implementation made it.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS curq_state_history \
    (id serial PRIMARY KEY, state varchar NOT NULL, write_date timestamptz NOT NULL DEFAULT now())";

/// The optional columns odoo-init adds when it may.
const EXTRA_COLUMNS: [(&str, &str); 6] = [
    ("host", "varchar"),
    ("pid", "integer"),
    ("mode", "varchar"),
    ("heartbeat", "timestamptz"),
    ("lease_seconds", "double precision"),
    ("exit_status", "integer"),
];

/// A UTC timestamp as text, whatever the session's time zone.
fn utc(expr: &str) -> String {
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
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => {
                return Ok(Seen::NoTable)
            }
            other => other?.as_ref().map(to_latest).transpose()?,
        };
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
        })
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
        latest_in(&mut self.tx)
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
    /// have finished or beaten meanwhile).
    pub(crate) fn reset_if_latest(&mut self, seen: &Latest) -> PgResult<bool> {
        let still = self
            .latest()?
            .is_some_and(|l| l.id == seen.id && l.heartbeat == seen.heartbeat);
        if still {
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
        for (id, state) in self.written {
            log::info!("state {id}: {}", state.as_str());
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

/// Records on our busy row that its step failed, with its exit status:
/// waiters then wait for a person (or `TIMEOUT`) instead of resetting it
/// when the heartbeat stops.
pub(crate) fn record_failure(client: &mut Client, claimed: i64, status: i32) -> PgResult<()> {
    let sql = format!("UPDATE {TABLE} SET exit_status = $2, heartbeat = now() WHERE id = $1");
    let mut tx = conn::bounded(client)?;
    match tx.query_typed(&sql, &[(&claimed, Type::INT8), (&status, Type::INT4)]) {
        // A legacy table we may not alter: nothing to record it in.
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_COLUMN) => Ok(()),
        Err(e) => Err(e),
        Ok(_) => tx.commit(),
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

/// Refreshes the heartbeat on our busy row `claimed` if it is still the
/// latest row. False: the claim is lost (a `Reset` or another state was
/// written after it). On a table without the heartbeat column it only checks.
pub fn beat(client: &mut Client, claimed: i64) -> PgResult<bool> {
    let update = format!(
        "UPDATE {TABLE} SET heartbeat = now() \
         WHERE id = $1 AND id = (SELECT max(id) FROM {TABLE}) RETURNING id::int8"
    );
    let id = [(&claimed as &(dyn ToSql + Sync), Type::INT8)];
    let mut tx = conn::bounded(client)?;
    let ours = match tx.query_typed_opt(&update, &id) {
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_COLUMN) => {
            drop(tx);
            let mut tx = conn::bounded(client)?;
            let check = format!("SELECT max(id)::int8 = $1 FROM {TABLE}");
            let ours = tx
                .query_typed_one(&check, &id)?
                .try_get::<_, Option<bool>>(0)?
                == Some(true);
            tx.commit()?;
            return Ok(ours);
        }
        other => other?.is_some(),
    };
    tx.commit()?;
    Ok(ours)
}

fn table_exists(tx: &mut Transaction) -> PgResult<bool> {
    let row = tx.query_typed_one(
        "SELECT to_regclass($1) IS NOT NULL",
        &[(&TABLE, Type::TEXT)],
    )?;
    row.try_get(0)
}

/// The table has every optional column.
fn has_extra_columns(tx: &mut Transaction) -> PgResult<bool> {
    let names: Vec<&str> = EXTRA_COLUMNS.iter().map(|(n, _)| *n).collect();
    let present: i64 = tx
        .query_typed_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) \
             AND NOT attisdropped AND attname = ANY($2)",
            &[(&TABLE, Type::TEXT), (&names, Type::TEXT_ARRAY)],
        )?
        .try_get(0)?;
    Ok(present == EXTRA_COLUMNS.len() as i64)
}

/// Adds the optional columns if we may; a legacy table we cannot alter
/// keeps working with its three columns (`refused`: found so once, said once).
fn ensure_columns(tx: &mut Transaction, refused: &mut bool) -> PgResult<bool> {
    if has_extra_columns(tx)? {
        return Ok(true);
    }
    if *refused {
        return Ok(false);
    }
    let adds: Vec<String> = EXTRA_COLUMNS
        .iter()
        .map(|(name, ty)| format!("ADD COLUMN IF NOT EXISTS {name} {ty}"))
        .collect();
    let mut sp = tx.savepoint("columns")?;
    match sp.batch_execute(&format!("ALTER TABLE {TABLE} {}", adds.join(", "))) {
        Ok(()) => {
            sp.commit()?;
            Ok(true)
        }
        Err(e) => {
            *refused = true;
            log::warn!(
                "cannot add the heartbeat columns to {TABLE} ({}); using its three columns: busy states then time out by TIMEOUT",
                conn::message(&e)
            );
            sp.rollback()?;
            Ok(false)
        }
    }
}

/// The newest row; through `to_jsonb` the optional columns read as NULL on
/// a legacy table, so one query serves both. Every column is cast to the
/// type `to_latest` reads.
fn latest_sql() -> String {
    format!(
        "SELECT id::int8, coalesce(state::text, ''), {}, \
         extract(epoch FROM now() - write_date)::float8, \
         {}, (j->>'lease_seconds')::float8, (j->>'exit_status')::int4, \
         (j->>'host') || ':' || (j->>'pid') \
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

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
}

/// Rows of the table for people: the column names and each row's cells as text.
pub struct History {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// The last `limit` rows, oldest first, with the optional columns (who
/// wrote each row, its heartbeat, a failed step's status) when the table
/// has them; `None` when there is no table. One transaction, so that it
/// reads one snapshot (and works through PgBouncer).
pub fn history(client: &mut Client, limit: Option<i64>) -> PgResult<Option<History>> {
    let mut tx = conn::bounded(client)?;
    if !table_exists(&mut tx)? {
        return Ok(None);
    }
    let mut columns = vec!["id", "state", "write_date"];
    let mut select = vec![
        "id::text".to_string(),
        "coalesce(state::text, '')".into(),
        format!("coalesce({}, '')", utc("write_date")),
    ];
    if has_extra_columns(&mut tx)? {
        columns.extend(["host", "pid", "mode", "heartbeat", "exit_status"]);
        select.extend([
            "coalesce(host::text, '')".to_string(),
            "coalesce(pid::text, '')".into(),
            "coalesce(mode::text, '')".into(),
            format!("coalesce({}, '')", utc("heartbeat")),
            "coalesce(exit_status::text, '')".into(),
        ]);
    }
    let rows = tx.query_typed(
        &format!(
            "SELECT {} FROM (SELECT * FROM {TABLE} ORDER BY id DESC LIMIT $1) newest ORDER BY id",
            select.join(", ")
        ),
        &[(&limit.unwrap_or(i64::MAX), Type::INT8)],
    )?;
    let rows = rows
        .iter()
        .map(|r| (0..columns.len()).map(|i| r.try_get(i)).collect())
        .collect::<PgResult<Vec<Vec<String>>>>()?;
    tx.commit()?;
    Ok(Some(History { columns, rows }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(state: &str, age: u64, beat: bool) -> Latest {
        Latest {
            id: 7,
            state: state.into(),
            write_date: String::new(),
            age: Duration::from_secs(age),
            heartbeat: beat.then(|| "2024-03-13 09:45:37.431489+00".to_string()),
            lease: None,
            failed: None,
            owner: Some("pod-a:42".into()),
        }
    }

    const T: Duration = Duration::from_secs(1800);
    const L: Duration = Duration::from_secs(60);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_gate_opens_on_ready_reset_and_force_ready() {
        for s in ["Ready", "Reset", "Force Ready"] {
            assert_eq!(
                judge(&latest(s, 99999, false), secs(0), T, L),
                Verdict::Proceed
            );
        }
    }

    #[test]
    fn busy_states_without_heartbeat_wait_until_timeout() {
        assert!(matches!(
            judge(&latest("Updating", 10, false), secs(0), T, L),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            judge(&latest("Updating", 1801, false), secs(0), T, L),
            Verdict::Reset(_)
        ));
    }

    #[test]
    fn a_heartbeat_is_judged_by_what_this_pod_watched_and_the_owners_lease() {
        // A live heartbeat keeps a long step's claim, whatever the row's age.
        let mut row = latest("Updating", 5000, true);
        assert!(matches!(judge(&row, secs(59), T, L), Verdict::Wait(_)));
        assert!(matches!(judge(&row, secs(60), T, L), Verdict::Reset(_)));
        // The owner's lease travels with its claim: a waiter with a short
        // STATE_LEASE does not reset an owner that beats less often.
        row.lease = Some(secs(120));
        assert!(matches!(
            judge(&row, secs(90), T, secs(10)),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            judge(&row, secs(120), T, secs(10)),
            Verdict::Reset(_)
        ));
    }

    #[test]
    fn a_failed_step_waits_for_a_person_or_timeout_not_the_lease() {
        let mut row = latest("Updating", 300, true);
        row.failed = Some(1);
        match judge(&row, secs(3600), T, L) {
            Verdict::Wait(why) => {
                assert!(why.contains("failed with status 1"), "{why}");
                assert!(why.contains("ForceUpdateOnly"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        row.age = secs(1801);
        assert!(matches!(judge(&row, secs(0), T, L), Verdict::Reset(_)));
    }
}
