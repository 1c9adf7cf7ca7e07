//! The server's databases as a whole, for restores and rollbacks, on the
//! admin's session (`DB_ADMIN_USER` on the maintenance database): whether
//! one exists, dropping one that no one serves, renaming, swapping two in
//! one transaction, ending the sessions on one, and the restore lock.
//!
//! The restore lock is a session-level advisory lock, keyed by the
//! database's name, on the maintenance database: a database being
//! restored has no state table yet to be the gate, and a session lock goes
//! with its session, so a restorer that dies frees it at once.

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::client::Client;
use super::conn::ident;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The first key of the restore lock ("rest"); the second is the name's hash.
const RESTORE_LOCK: i32 = 0x7265_7374;

pub(crate) fn exists(client: &mut Client, name: &str) -> PgResult<bool> {
    let row = client.query_typed_opt(
        "SELECT 1 FROM pg_database WHERE datname = $1",
        &[(&name, Type::TEXT)],
    )?;
    Ok(row.is_some())
}

/// The newest (by name, which sorts by time) database named `prefix...`.
pub(crate) fn newest_with_prefix(client: &mut Client, prefix: &str) -> PgResult<Option<String>> {
    client
        .query_typed_opt(
            "SELECT datname::text FROM pg_database WHERE left(datname, length($1)) = $1 \
             ORDER BY datname DESC LIMIT 1",
            &[(&prefix, Type::TEXT)],
        )?
        .map(|r| r.try_get(0))
        .transpose()
}

/// Takes the restore lock of `name` if no other session holds it.
pub(crate) fn try_restore_lock(client: &mut Client, name: &str) -> PgResult<bool> {
    client
        .query_typed_one(
            "SELECT pg_try_advisory_lock($1, hashtext($2))",
            &[(&RESTORE_LOCK, Type::INT4), (&name, Type::TEXT)],
        )?
        .try_get(0)
}

/// Drops `name` if it exists, ending its sessions (PostgreSQL 13+).
pub(crate) fn drop_if_exists(client: &mut Client, name: &str) -> PgResult<()> {
    client.batch_execute(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        ident(name)
    ))
}

/// Whether new sessions on `name` wait for each commit to reach the disk
/// (`synchronous_commit`): off while a restore fills it, back to the
/// server's default before it is put in place.
pub(crate) fn flush_wait(client: &mut Client, name: &str, wait: bool) -> PgResult<()> {
    let sql = match wait {
        true => format!("ALTER DATABASE {} RESET synchronous_commit", ident(name)),
        false => format!(
            "ALTER DATABASE {} SET synchronous_commit = off",
            ident(name)
        ),
    };
    client.batch_execute(&sql)
}

/// Ends every other session on `name`, waiting up to 5 s for each to be
/// gone (a rename refuses a database with sessions); how many.
pub(crate) fn end_sessions(client: &mut Client, name: &str) -> PgResult<i64> {
    client
        .query_typed_one(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[(&name, Type::TEXT)],
        )?
        .try_get(0)
}

/// Renames `from` to `to` (no session may be on `from`).
pub(crate) fn rename(client: &mut Client, from: &str, to: &str) -> PgResult<()> {
    client.batch_execute(&format!(
        "ALTER DATABASE {} RENAME TO {}",
        ident(from),
        ident(to)
    ))
}

/// `name` renamed to `aside` and `incoming` to `name` in one transaction:
/// either both happened or neither. Its sessions are ended first (and
/// again when one came back in between: a pod's Odoo reconnects).
pub(crate) fn swap(client: &mut Client, name: &str, aside: &str, incoming: &str) -> PgResult<()> {
    let sql = format!(
        "BEGIN; ALTER DATABASE {n} RENAME TO {a}; ALTER DATABASE {i} RENAME TO {n}; COMMIT",
        n = ident(name),
        a = ident(aside),
        i = ident(incoming)
    );
    let mut tries = 0;
    loop {
        end_sessions(client, name)?;
        match client.batch_execute(&sql) {
            Ok(()) => return Ok(()),
            Err(e) => {
                // The transaction the failed statement left is ended first.
                client.batch_execute("ROLLBACK")?;
                tries += 1;
                if tries >= 20 || e.code() != Some(&SqlState::OBJECT_IN_USE) {
                    return Err(e);
                }
            }
        }
    }
}
