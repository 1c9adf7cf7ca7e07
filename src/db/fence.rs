//! Fencing a reset claim at the database: every session a claimed step
//! starts carries the claim's tag as its `application_name`, so that the
//! pod that resets a silent owner can end them (`pg_terminate_backend`)
//! before its `Reset` commits. A role may end the backends of its own role;
//! the steps run as `DB_USER`, as odoo-init does.

use crate::db::client::{Client, Transaction};
use tokio_postgres::types::Type;

use super::conn;

/// The tag of the claim whose busy row is `id`: what its step's sessions
/// carry, as `application_name` itself (libpq's `PGAPPNAME`) or followed by
/// `-` and more (Odoo's `ODOO_PGAPPNAME`, `{pid}` replaced). Row ids are
/// never reused in a table, so the tag is the claim's alone on its database.
pub(crate) fn claim_tag(id: i64) -> String {
    format!("odoo-init-claim-{id}")
}

/// Ends every other session on this database that carries the tag of
/// claim `id`, and waits (up to a second each, PostgreSQL 14+) until each
/// has exited, so that its open transaction is rolled back before the
/// caller commits; the number ended.
pub(crate) fn end_sessions(tx: &mut Transaction, id: i64) -> Result<i64, tokio_postgres::Error> {
    let version: i32 = tx
        .query_typed_one("SELECT current_setting('server_version_num')::int4", &[])?
        .try_get(0)?;
    // The wait for the backend's exit came with PostgreSQL 14.
    let terminate = if version >= 140_000 {
        "pg_terminate_backend(pid, 1000)"
    } else {
        "pg_terminate_backend(pid)"
    };
    // The tagged sessions are chosen first (`OFFSET 0` keeps the planner
    // from folding the subquery): a condition beside the call would not
    // keep it from being called on other sessions.
    let sql = format!(
        "SELECT count(*) FILTER (WHERE {terminate})::int8 FROM \
         (SELECT pid FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid() \
          AND (application_name = $1 OR starts_with(application_name, $1 || '-')) \
          OFFSET 0) tagged"
    );
    let tag = claim_tag(id);
    tx.query_typed_one(&sql, &[(&tag, Type::TEXT)])?.try_get(0)
}

/// Ends this role's sessions on this database that carry the tag of any
/// claim but `live` (the latest row's, while it is busy): what a reset
/// owner's step, or a straggler of a finished one, opened after the sweeps
/// that went with its `Reset`. Every look at the state (a peek, a locked
/// look) and every owner's beat does it. It does not wait for them (it runs
/// inside state transactions) and leaves other roles' sessions alone (not
/// this role's to end: an error would fail the look); the number ended.
pub(crate) fn end_stale(
    tx: &mut Transaction,
    live: Option<i64>,
) -> Result<i64, tokio_postgres::Error> {
    let live = live.map(claim_tag).unwrap_or_default();
    let sql = "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int8 FROM \
         (SELECT pid FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid() \
          AND usename = current_user \
          AND starts_with(application_name, $1) \
          AND application_name <> $2 AND NOT starts_with(application_name, $2 || '-') \
          OFFSET 0) stale";
    let prefix = claim_tag_prefix();
    let ended: i64 = tx
        .query_typed_one(sql, &[(&prefix, Type::TEXT), (&live, Type::TEXT)])?
        .try_get(0)?;
    if ended > 0 {
        log::warn!("ended {ended} database session(s) of claims that are no longer live");
    }
    Ok(ended)
}

/// What every claim's tag starts with.
fn claim_tag_prefix() -> String {
    claim_tag(0).trim_end_matches('0').to_string()
}

/// [`end_sessions`] in a bounded transaction of its own: the second sweep,
/// right after the `Reset` committed, for a session the owner's step made
/// between the first sweep and that commit.
pub(crate) fn sweep(client: &mut Client, id: i64) -> Result<i64, tokio_postgres::Error> {
    let mut tx = conn::bounded(client)?;
    let ended = end_sessions(&mut tx, id)?;
    tx.commit()?;
    Ok(ended)
}
