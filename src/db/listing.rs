//! The databases a server holds for Odoo, as Odoo's own `list_dbs` finds
//! them (`odoo/service/db.py`): those the role owns (every one for the
//! `postgres` role), not templates, that accept connections, not the
//! maintenance database; then, one connection each, those that hold an
//! Odoo (its `ir_module_module` table).

use tokio_postgres::types::Type;

use super::client::Client;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// Odoo's list for `user`, by name.
pub(crate) fn listed(client: &mut Client, user: &str) -> PgResult<Vec<String>> {
    let rows = client.query_typed(
        "SELECT datname::text FROM pg_database \
         WHERE ($1 = 'postgres' OR datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)) \
         AND NOT datistemplate AND datallowconn \
         AND datname NOT IN ('template0', 'template1', 'postgres') \
         ORDER BY datname",
        &[(&user, Type::TEXT)],
    )?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Whether the database `client` is connected to holds an Odoo.
pub(crate) fn holds_odoo(client: &mut Client) -> PgResult<bool> {
    client
        .query_typed_one("SELECT to_regclass('ir_module_module') IS NOT NULL", &[])?
        .try_get(0)
}
