//! What a rollback reads and writes in the state table: the failed update
//! whose backup it restores (its row: the backup's path, the failing
//! image's module checksums), and on the restored database's `Force
//! Ready` row the image whose update is not tried again by itself.

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::client::{Client, Transaction};
use super::conn;
use super::state::TABLE;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The latest update that failed with a backup recorded.
#[derive(Debug, Clone)]
pub(crate) struct FailedUpdate {
    pub(crate) id: i64,
    pub(crate) backup: String,
    /// The failing image's module checksums (JSON), when it recorded them.
    pub(crate) code: Option<String>,
    /// The rows written after it that are not a person's answer
    /// (`Reset`, `Force Ready`): a later step ran on the failed database.
    pub(crate) later_steps: Vec<(i64, String)>,
}

/// The latest failed update with a backup; `None` when there is none (or
/// the table has not the columns that record one).
pub(crate) fn failed_update(client: &mut Client) -> PgResult<Option<FailedUpdate>> {
    let mut tx = conn::bounded(client)?;
    let found = tx.query_typed_opt(
        &format!(
            "SELECT id::int8, backup::text, code::text FROM {TABLE} \
             WHERE state = 'Updating' AND exit_status IS NOT NULL AND backup IS NOT NULL \
             ORDER BY id DESC LIMIT 1"
        ),
        &[],
    );
    let row = match found {
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_COLUMN) => return Ok(None),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(None),
        other => other?,
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let later = tx.query_typed(
        &format!(
            "SELECT id::int8, state::text FROM {TABLE} \
             WHERE id > $1 AND state NOT IN ('Reset', 'Force Ready') ORDER BY id"
        ),
        &[(&id, Type::INT8)],
    )?;
    let later_steps = later
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<PgResult<_>>()?;
    tx.commit()?;
    Ok(Some(FailedUpdate {
        id,
        backup: row.try_get(1)?,
        code: row.try_get(2)?,
        later_steps,
    }))
}

/// On row `id` (a rollback's `Force Ready`): the image whose update failed.
pub(crate) fn mark_refused(tx: &mut Transaction, id: i64, code: &str) -> PgResult<()> {
    tx.query_typed(
        &format!("UPDATE {TABLE} SET refused_code = $2 WHERE id = $1"),
        &[(&id, Type::INT8), (&code, Type::TEXT)],
    )
    .map(drop)
}

/// The image a rollback refused (the newest such row: its id and the
/// checksums), unless an update succeeded after it.
pub(crate) fn refused(client: &mut Client) -> PgResult<Option<(i64, String)>> {
    let mut tx = conn::bounded(client)?;
    let found = tx.query_typed_opt(
        &format!(
            "SELECT r.id::int8, r.refused_code::text FROM {TABLE} r \
             WHERE r.refused_code IS NOT NULL AND NOT EXISTS \
               (SELECT 1 FROM {TABLE} u WHERE u.id > r.id AND u.state = 'Updating' \
                AND EXISTS (SELECT 1 FROM {TABLE} d WHERE d.id = u.id + 1 AND d.state = 'Ready')) \
             ORDER BY r.id DESC LIMIT 1"
        ),
        &[],
    );
    let row = match found {
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_COLUMN) => return Ok(None),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(None),
        other => other?,
    };
    tx.commit()?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}
