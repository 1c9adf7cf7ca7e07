//! The state store: `curq_state_history` in the Odoo database. Reading the
//! latest state and writing the next busy state happen in one transaction
//! under a transaction-scoped advisory lock (safe with PgBouncer's
//! transaction pooling), so that of N pods exactly one claims a step.

use std::time::Duration;

use postgres::Client;

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
}

/// The states after which a pod may go on.
pub fn is_ready(state: &str) -> bool {
    matches!(state, "Ready" | "Reset" | "Force Ready")
}

/// The newest row, with ages measured by the database's clock.
#[derive(Debug, Clone)]
pub struct Latest {
    pub id: i32,
    pub state: String,
    pub write_date: String,
    pub age: Duration,
    /// Time since the owner's last heartbeat; `None` for rows without one.
    pub silence: Option<Duration>,
    pub owner: Option<String>,
}

/// What a waiting pod should do about a busy state.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Proceed,
    Wait,
    /// The owner is gone: write `Reset` and exit non-zero.
    Reset(String),
}

/// A busy state with a heartbeat is judged by the lease alone (a long
/// update that is alive keeps its claim); one without (the old shell
/// implementation) by `TIMEOUT`.
pub fn judge(latest: &Latest, timeout: Duration, lease: Duration) -> Verdict {
    if is_ready(&latest.state) {
        return Verdict::Proceed;
    }
    match latest.silence {
        Some(silence) if silence > lease => Verdict::Reset(format!(
            "the owner of '{}' ({}) has not sent a heartbeat for {:.0}s (lease {:.0}s)",
            latest.state,
            latest.owner.as_deref().unwrap_or("unknown"),
            silence.as_secs_f64(),
            lease.as_secs_f64()
        )),
        Some(_) => Verdict::Wait,
        None if latest.age > timeout => Verdict::Reset(format!(
            "'{}' has lasted {:.0}s, longer than TIMEOUT ({:.0}s)",
            latest.state,
            latest.age.as_secs_f64(),
            timeout.as_secs_f64()
        )),
        None => Verdict::Wait,
    }
}

/// The result of trying to claim a busy state (or just look at the gate).
#[derive(Debug)]
pub enum Claim {
    /// Our busy row was written; its id.
    Claimed(i32),
    /// Nothing to claim and the gate is open.
    Open,
    /// Another pod's state blocks us.
    Busy(Latest),
    /// No state table (and we may not create it).
    NoTable,
}

/// Who writes rows: host, PID and mode go into the extra columns.
pub struct Writer {
    pub owner: String,
    pub mode: String,
}

pub struct Store<'a> {
    client: &'a mut Client,
    writer: &'a Writer,
}

type PgResult<T> = Result<T, postgres::Error>;

/// The table as the earlier shell implementation made it.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS curq_state_history \
    (id serial PRIMARY KEY, state varchar NOT NULL, write_date timestamptz NOT NULL DEFAULT now())";

/// A transaction holding the advisory lock until it ends.
fn locked(client: &mut Client) -> PgResult<postgres::Transaction<'_>> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    Ok(tx)
}

impl<'a> Store<'a> {
    pub fn new(client: &'a mut Client, writer: &'a Writer) -> Self {
        Store { client, writer }
    }

    /// Looks at the latest state and, if the gate is open and `busy` is
    /// given, writes it, all under the lock. `create`: make the table if it
    /// is missing (the new row then is the first). `force`: write `busy`
    /// whatever the latest state is.
    pub fn claim(&mut self, busy: Option<State>, create: bool, force: bool) -> PgResult<Claim> {
        if busy.is_none() && !create {
            return self.peek(force);
        }
        let mut tx = locked(self.client)?;
        let exists = table_exists(&mut tx)?;
        if !exists && !create {
            return Ok(Claim::NoTable);
        }
        if !exists {
            tx.batch_execute(CREATE_TABLE)?;
            log::info!("created the state table {TABLE}");
        }
        let extended = ensure_columns(&mut tx)?;
        let claim = match (latest_in(&mut tx)?, busy) {
            (Some(latest), _) if !force && !is_ready(&latest.state) => Claim::Busy(latest),
            (_, Some(state)) => Claim::Claimed(insert(self.writer, &mut tx, state, extended)?),
            (_, None) => Claim::Open,
        };
        tx.commit()?;
        Ok(claim)
    }

    /// The gate without a claim (the run phase): one query, no lock, no
    /// transaction: it writes nothing, so it needs none.
    fn peek(&mut self, force: bool) -> PgResult<Claim> {
        match self.client.query_opt(&latest_sql(), &[]) {
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => {
                Ok(Claim::NoTable)
            }
            Err(e) => Err(e),
            Ok(None) => {
                log::info!("gate open: {TABLE} is empty");
                Ok(Claim::Open)
            }
            Ok(Some(row)) => {
                let latest = to_latest(&row);
                if force || is_ready(&latest.state) {
                    log::info!(
                        "gate open: latest state '{}' (row {})",
                        latest.state,
                        latest.id
                    );
                    Ok(Claim::Open)
                } else {
                    Ok(Claim::Busy(latest))
                }
            }
        }
    }

    /// Writes `state` (Ready, Force Ready) unconditionally, under the lock.
    pub fn write(&mut self, state: State, create: bool) -> PgResult<i32> {
        let mut tx = locked(self.client)?;
        if create {
            tx.batch_execute(CREATE_TABLE)?;
        }
        let extended = ensure_columns(&mut tx)?;
        let id = insert(self.writer, &mut tx, state, extended)?;
        tx.commit()?;
        Ok(id)
    }

    /// Writes `Reset` only if `seen` is still the latest row (another waiter
    /// may have written it already, or the owner finished meanwhile).
    pub fn reset_if_latest(&mut self, seen: i32) -> PgResult<bool> {
        let mut tx = locked(self.client)?;
        let extended = ensure_columns(&mut tx)?;
        let still = latest_in(&mut tx)?.is_some_and(|l| l.id == seen);
        if still {
            insert(self.writer, &mut tx, State::Reset, extended)?;
        }
        tx.commit()?;
        Ok(still)
    }
}

fn insert(
    writer: &Writer,
    tx: &mut postgres::Transaction,
    state: State,
    extended: bool,
) -> PgResult<i32> {
    let row = if extended {
        let heartbeat = !matches!(state, State::Ready | State::Reset | State::ForceReady);
        tx.query_one(
            &format!(
                "INSERT INTO {TABLE} (state, host, pid, mode, heartbeat) \
                     VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END) RETURNING id"
            ),
            &[
                &state.as_str(),
                &writer.owner,
                &(std::process::id() as i32),
                &writer.mode,
                &heartbeat,
            ],
        )?
    } else {
        tx.query_one(
            &format!("INSERT INTO {TABLE} (state) VALUES ($1) RETURNING id"),
            &[&state.as_str()],
        )?
    };
    let id: i32 = row.get(0);
    log::info!("state {id}: {}", state.as_str());
    Ok(id)
}

/// Refreshes the heartbeat on our busy row (nothing on a legacy table).
pub fn heartbeat(client: &mut Client, id: i32) -> PgResult<()> {
    let sql = format!("UPDATE {TABLE} SET heartbeat = now() WHERE id = $1");
    match client.execute(&sql, &[&id]) {
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_COLUMN) => Ok(()),
        other => other.map(|_| ()),
    }
}

fn table_exists(tx: &mut postgres::Transaction) -> PgResult<bool> {
    let row = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])?;
    Ok(row.get(0))
}

/// Adds the optional columns if we may; a legacy table we cannot alter
/// keeps working with its three columns.
fn ensure_columns(tx: &mut postgres::Transaction) -> PgResult<bool> {
    let present: i64 = tx
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) \
             AND NOT attisdropped AND attname IN ('host', 'pid', 'mode', 'heartbeat')",
            &[&TABLE],
        )?
        .get(0);
    if present == 4 {
        return Ok(true);
    }
    let mut sp = tx.savepoint("columns")?;
    let added = sp.batch_execute(&format!(
        "ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS host varchar, \
         ADD COLUMN IF NOT EXISTS pid integer, ADD COLUMN IF NOT EXISTS mode varchar, \
         ADD COLUMN IF NOT EXISTS heartbeat timestamptz"
    ));
    match added {
        Ok(()) => {
            sp.commit()?;
            Ok(true)
        }
        Err(e) => {
            log::warn!("cannot add heartbeat columns to {TABLE} ({e}); using its three columns, busy states then time out by TIMEOUT");
            sp.rollback()?;
            Ok(false)
        }
    }
}

/// The newest row; through `to_jsonb` the optional columns read as NULL on
/// a legacy table, so one query serves both.
fn latest_sql() -> String {
    format!(
        "SELECT id, state, write_date::text, extract(epoch FROM now() - write_date)::float8, \
         extract(epoch FROM now() - (to_jsonb(t)->>'heartbeat')::timestamptz)::float8, \
         (to_jsonb(t)->>'host') || ':' || (to_jsonb(t)->>'pid') \
         FROM {TABLE} t ORDER BY id DESC LIMIT 1"
    )
}

fn to_latest(r: &postgres::Row) -> Latest {
    Latest {
        id: r.get(0),
        state: r.get(1),
        write_date: r.get(2),
        age: secs(r.get(3)),
        silence: r.get::<_, Option<f64>>(4).map(secs),
        owner: r.get(5),
    }
}

fn latest_in(tx: &mut postgres::Transaction) -> PgResult<Option<Latest>> {
    Ok(tx.query_opt(&latest_sql(), &[])?.as_ref().map(to_latest))
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
}

/// One row of the history, for `odoo-init state`.
pub struct HistoryRow {
    pub id: i32,
    pub state: String,
    pub write_date: String,
}

/// The last `limit` rows, oldest first; `None` when there is no table.
pub fn history(client: &mut Client, limit: Option<i64>) -> PgResult<Option<Vec<HistoryRow>>> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client.query(
        &format!(
            "SELECT id, state, write_date::text FROM \
             (SELECT * FROM {TABLE} ORDER BY id DESC LIMIT $1) newest ORDER BY id"
        ),
        &[&limit.unwrap_or(i64::MAX)],
    )?;
    Ok(Some(
        rows.iter()
            .map(|r| HistoryRow {
                id: r.get(0),
                state: r.get(1),
                write_date: r.get(2),
            })
            .collect(),
    ))
}

/// Formats the history like `psql` does (the seed's example).
pub fn format_history(rows: &[HistoryRow]) -> String {
    let id_w = rows
        .iter()
        .map(|r| r.id.to_string().len())
        .max()
        .unwrap_or(0)
        .max(2);
    let st_w = rows.iter().map(|r| r.state.len()).max().unwrap_or(0).max(5);
    let wd_w = rows
        .iter()
        .map(|r| r.write_date.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let center = |s: &str, w: usize| {
        let left = (w - s.len()) / 2;
        format!(
            "{}{}{}",
            " ".repeat(left),
            s,
            " ".repeat(w - s.len() - left)
        )
    };
    let mut out = format!(
        " {} | {} | {} \n-{}-+-{}-+-{}-\n",
        center("id", id_w),
        center("state", st_w),
        center("write_date", wd_w),
        "-".repeat(id_w),
        "-".repeat(st_w),
        "-".repeat(wd_w)
    );
    for r in rows {
        out.push_str(&format!(
            " {:>id_w$} | {:<st_w$} | {:<wd_w$}\n",
            r.id, r.state, r.write_date
        ));
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(state: &str, age: u64, silence: Option<u64>) -> Latest {
        Latest {
            id: 7,
            state: state.into(),
            write_date: String::new(),
            age: Duration::from_secs(age),
            silence: silence.map(Duration::from_secs),
            owner: Some("pod-a:42".into()),
        }
    }

    #[test]
    fn the_gate_opens_on_ready_reset_and_force_ready() {
        let (t, l) = (Duration::from_secs(1800), Duration::from_secs(60));
        for s in ["Ready", "Reset", "Force Ready"] {
            assert_eq!(judge(&latest(s, 99999, None), t, l), Verdict::Proceed);
        }
    }

    #[test]
    fn busy_states_wait_then_reset() {
        let (t, l) = (Duration::from_secs(1800), Duration::from_secs(60));
        assert_eq!(judge(&latest("Updating", 10, None), t, l), Verdict::Wait);
        assert!(matches!(
            judge(&latest("Updating", 1801, None), t, l),
            Verdict::Reset(_)
        ));
        // A live heartbeat keeps a long step's claim; a silent one loses it early.
        assert_eq!(
            judge(&latest("Updating", 5000, Some(5)), t, l),
            Verdict::Wait
        );
        assert!(matches!(
            judge(&latest("Creating", 70, Some(61)), t, l),
            Verdict::Reset(_)
        ));
    }

    #[test]
    fn history_looks_like_psql() {
        let rows = vec![
            HistoryRow {
                id: 1,
                state: "Creating".into(),
                write_date: "2024-03-13 09:45:37.431489+00".into(),
            },
            HistoryRow {
                id: 17,
                state: "Force Ready".into(),
                write_date: "2024-03-14 08:01:04.483985+00".into(),
            },
        ];
        let text = format_history(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            " id |    state    |          write_date           "
        );
        assert_eq!(
            lines[1],
            "----+-------------+-------------------------------"
        );
        assert_eq!(
            lines[2],
            "  1 | Creating    | 2024-03-13 09:45:37.431489+00"
        );
        assert_eq!(lines[4], "(2 rows)");
    }
}
