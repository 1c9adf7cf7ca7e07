//! The owner's writes on its own busy row, each only while that row is the
//! latest: the heartbeat, and its step's failure. False from either: the
//! claim was lost (a `Reset` or a newer state was written after it), and
//! nothing was written.

use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::client::Client;
use super::state::TABLE;
use super::{conn, fence};

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// Refreshes the heartbeat on our busy row `claimed`.
pub(crate) fn beat(client: &mut Client, claimed: i64) -> PgResult<bool> {
    update_own_row(client, claimed, "heartbeat = now()", None)
}

/// Records that the step of our busy row `claimed` failed, with its exit
/// status: waiters then wait for a person (or `TIMEOUT`) instead of
/// resetting it when the heartbeat stops.
pub(crate) fn record_failure(client: &mut Client, claimed: i64, status: i32) -> PgResult<bool> {
    update_own_row(
        client,
        claimed,
        "exit_status = $2, heartbeat = now()",
        Some(status),
    )
}

/// What is recorded of the backup made before an update.
pub(crate) struct BackupMade<'a> {
    pub(crate) path: &'a str,
    /// Its bytes, when the helper could tell them.
    pub(crate) bytes: Option<i64>,
    pub(crate) seconds: f64,
}

/// Records on our busy row `claimed` where the backup made before its
/// update is (a rollback finds it there), its size and how long it took.
pub(crate) fn record_backup(
    client: &mut Client,
    claimed: i64,
    made: &BackupMade,
) -> PgResult<bool> {
    set_columns(
        client,
        claimed,
        &[
            ("backup", &made.path, Type::TEXT),
            ("backup_bytes", &made.bytes, Type::INT8),
            ("backup_seconds", &made.seconds, Type::FLOAT8),
        ],
    )
}

/// Records on our busy row `claimed` (a failed update) the image's module
/// checksums (JSON): a rollback refuses that image's update afterwards.
pub(crate) fn record_code(client: &mut Client, claimed: i64, code: &str) -> PgResult<bool> {
    set_columns(client, claimed, &[("code", &code, Type::TEXT)])
}

/// `column = value, ...` on row `claimed` if it is the latest.
fn set_columns(
    client: &mut Client,
    claimed: i64,
    values: &[(&str, &(dyn ToSql + Sync), Type)],
) -> PgResult<bool> {
    let set: Vec<String> = (values.iter().enumerate())
        .map(|(i, (column, _, _))| format!("{column} = ${}", i + 2))
        .collect();
    let params: Vec<_> = values.iter().map(|(_, v, t)| (*v, t.clone())).collect();
    update_latest(client, claimed, &set.join(", "), &params, false)
}

/// `SET set` on row `claimed` if it is the latest, ending every other
/// claim's sessions then (the row is busy and ours).
fn update_own_row(
    client: &mut Client,
    claimed: i64,
    set: &str,
    status: Option<i32>,
) -> PgResult<bool> {
    let params: Vec<(&(dyn ToSql + Sync), Type)> = match &status {
        Some(status) => vec![(status, Type::INT4)],
        None => Vec::new(),
    };
    update_latest(client, claimed, set, &params, true)
}

/// `SET set` (`params` from `$2`) on row `claimed` if it is the latest;
/// with `end_others`, every other claim's sessions ended in the same
/// transaction. On a table without the optional columns (a legacy one we
/// may not alter) nothing can be written: it only checks that the row is
/// still the latest.
fn update_latest(
    client: &mut Client,
    claimed: i64,
    set: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
    end_others: bool,
) -> PgResult<bool> {
    let sql = format!(
        "UPDATE {TABLE} SET {set} \
         WHERE id = $1 AND id = (SELECT max(id) FROM {TABLE}) RETURNING id::int8"
    );
    let all: Vec<(&(dyn ToSql + Sync), Type)> = [(&claimed as _, Type::INT8)]
        .into_iter()
        .chain(params.iter().cloned())
        .collect();
    let mut tx = conn::bounded(client)?;
    match tx.query_typed_opt(&sql, &all) {
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_COLUMN) => {
            drop(tx);
            is_latest(client, claimed)
        }
        Err(e) => Err(e),
        Ok(row) => {
            // Our row is the latest and busy: every other claim is over.
            if end_others && row.is_some() {
                fence::end_stale(&mut tx, Some(claimed))?;
            }
            tx.commit()?;
            Ok(row.is_some())
        }
    }
}

fn is_latest(client: &mut Client, claimed: i64) -> PgResult<bool> {
    let mut tx = conn::bounded(client)?;
    let check = format!("SELECT max(id)::int8 = $1 FROM {TABLE}");
    let ours = tx
        .query_typed_one(&check, &[(&claimed, Type::INT8)])?
        .try_get::<_, Option<bool>>(0)?
        == Some(true);
    tx.commit()?;
    Ok(ours)
}
