//! The state history for people (`odoo-init state`): the last rows with
//! the optional columns when the table has them, in one snapshot.

use crate::db::client::Client;
use tokio_postgres::types::Type;

use super::columns::{has_columns, table_exists};
use super::conn;
use super::state::{utc, TABLE};

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// Rows of the table for people: the column names and each row's cells as text.
pub(crate) struct History {
    pub(crate) columns: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<String>>,
}

/// The last `limit` rows, oldest first, with the optional columns (who
/// wrote each row, its heartbeat, a failed step's status) when the table
/// has them; `None` when there is no table. One transaction, so that it
/// reads one snapshot (and works through PgBouncer).
pub(crate) fn read(client: &mut Client, limit: Option<i64>) -> PgResult<Option<History>> {
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
    let who = ["host", "pid", "mode", "heartbeat", "exit_status"];
    if has_columns(&mut tx, &who)? {
        columns.extend(who);
        select.extend([
            "coalesce(host::text, '')".to_string(),
            "coalesce(pid::text, '')".into(),
            "coalesce(mode::text, '')".into(),
            format!("coalesce({}, '')", utc("heartbeat")),
            "coalesce(exit_status::text, '')".into(),
        ]);
    }
    if has_columns(&mut tx, &["backup", "backup_bytes", "backup_seconds"])? {
        columns.push("backup");
        // The path, then its size and time: `PATH (15.8 MB, 0.4 s)`.
        select.push(
            "coalesce(backup || coalesce(' (' || round(backup_bytes / 1e6, 1) || ' MB, ' \
             || round(backup_seconds::numeric, 1) || ' s)', ''), '')"
                .into(),
        );
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
