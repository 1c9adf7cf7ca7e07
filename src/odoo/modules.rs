//! What Odoo's module table says after a step. Odoo (15 and 18 alike) logs
//! a warning for a module name it cannot find and still exits 0, so an
//! install's exit status alone does not say that anything was installed.

use crate::db::client::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use crate::db::conn;

/// The modules of `names` that are not `installed`, each with what
/// `ir_module_module` says of it (`not found` when it has no row, e.g. a
/// name on no addons path).
pub fn not_installed(
    client: &mut Client,
    names: &[String],
) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    let mut tx = conn::bounded(client)?;
    let rows = match tx.query_typed(
        "SELECT name::text, state::text FROM ir_module_module WHERE name = ANY($1)",
        &[(&names, Type::TEXT_ARRAY)],
    ) {
        // A database where nothing was ever installed.
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Vec::new(),
        other => other?,
    };
    let mut states = Vec::with_capacity(rows.len());
    for row in &rows {
        let name: Option<String> = row.try_get(0)?;
        let state: Option<String> = row.try_get(1)?;
        states.push((name.unwrap_or_default(), state.unwrap_or_default()));
    }
    Ok(names
        .iter()
        .filter_map(|name| match states.iter().find(|(n, _)| n == name) {
            Some((_, state)) if state == "installed" => None,
            Some((_, state)) => Some((name.clone(), state.clone())),
            None => Some((name.clone(), "not found".to_string())),
        })
        .collect())
}

/// Whether the database holds an Odoo: its module table is there (with a
/// state table missing, it was made by Odoo or another image, not by an
/// `Init` or install odoo-init is running).
pub(crate) fn holds_odoo(
    tx: &mut crate::db::client::Transaction,
) -> Result<bool, tokio_postgres::Error> {
    tx.query_typed_one("SELECT to_regclass('ir_module_module') IS NOT NULL", &[])?
        .try_get(0)
}
