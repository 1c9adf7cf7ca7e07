//! The state table's shape: its name, whether it is there, which of odoo-init's
//! optional columns it has, and adding them where this role may (a table
//! the shell image made, or an earlier version extended, gets the rest at
//! this version's first write; one it may not alter keeps its columns).

use tokio_postgres::types::Type;

use super::client::Transaction;
use super::conn;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The state table (the earlier shell implementation's name).
pub const TABLE: &str = "curq_state_history";

/// The optional columns odoo-init adds when it may.
const EXTRA_COLUMNS: [(&str, &str); 11] = [
    ("host", "varchar"),
    ("pid", "integer"),
    ("mode", "varchar"),
    ("heartbeat", "timestamptz"),
    ("lease_seconds", "double precision"),
    ("exit_status", "integer"),
    // The backup made before the row's update: its path, size, duration.
    ("backup", "text"),
    ("backup_bytes", "bigint"),
    ("backup_seconds", "double precision"),
    // A failed update's image (its module checksums), and on a rollback's
    // row the image whose update is not tried again (db/rollback.rs).
    ("code", "text"),
    ("refused_code", "text"),
];

/// The table is there.
pub(super) fn table_exists(tx: &mut Transaction) -> PgResult<bool> {
    let row = tx.query_typed_one(
        "SELECT to_regclass($1) IS NOT NULL",
        &[(&TABLE, Type::TEXT)],
    )?;
    row.try_get(0)
}

/// The table has every optional column.
pub(super) fn has_extra_columns(tx: &mut Transaction) -> PgResult<bool> {
    let names: Vec<&str> = EXTRA_COLUMNS.iter().map(|(n, _)| *n).collect();
    has_columns(tx, &names)
}

/// The table has each of `names` (a table an earlier version extended has
/// the columns of its time, until this one writes a row).
pub(super) fn has_columns(tx: &mut Transaction, names: &[&str]) -> PgResult<bool> {
    let present: i64 = tx
        .query_typed_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) \
             AND NOT attisdropped AND attname = ANY($2)",
            &[(&TABLE, Type::TEXT), (&names, Type::TEXT_ARRAY)],
        )?
        .try_get(0)?;
    Ok(present == names.len() as i64)
}

/// Adds the optional columns if we may; a legacy table we cannot alter
/// keeps working with its three columns (`refused`: found so once, said once).
pub(super) fn ensure_columns(tx: &mut Transaction, refused: &mut bool) -> PgResult<bool> {
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
