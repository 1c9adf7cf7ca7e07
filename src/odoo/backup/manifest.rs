//! What a backup's `manifest.json` holds, read from the database being
//! backed up: what Odoo's own `dump_db` writes (`odoo_dump`, `db_name`,
//! `version`, `version_info`, `major_version`, `pg_version`, the installed
//! `modules` with their versions), and odoo-init's own part (`odoo_init`:
//! the state row it was made for, the module checksums the database had
//! stored, when).

use serde_json::{json, Map, Value};
use tokio_postgres::types::Type;

use crate::db::client::Transaction;
use crate::odoo::checksums;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The manifest of `db` as it is now, for the backup made for state row
/// `row` (the update's claim; the latest row for `odoo-init backup`), made
/// at `made_at` (RFC 3339).
pub(crate) fn manifest(
    tx: &mut Transaction,
    db: &str,
    row: Option<i64>,
    made_at: &str,
) -> PgResult<String> {
    let server: i32 = tx
        .query_typed_one("SELECT current_setting('server_version_num')::int4", &[])?
        .try_get(0)?;
    // As Odoo writes it: "%d.%d" % divmod(server_version / 100, 100).
    let pg_version = format!("{}.{}", server / 10_000, server / 100 % 100);
    // Through to_jsonb: a module table without latest_version reads null.
    let rows = match checksums::has_table(tx, "ir_module_module")? {
        false => Vec::new(),
        true => tx.query_typed(
            "SELECT name::text, to_jsonb(m)->>'latest_version' FROM ir_module_module m \
             WHERE state = 'installed' ORDER BY name",
            &[],
        )?,
    };
    let mut modules = Map::new();
    for r in &rows {
        let name: Option<String> = r.try_get(0)?;
        let version: Option<String> = r.try_get(1)?;
        if let Some(name) = name {
            modules.insert(name, version.map_or(Value::Null, Value::String));
        }
    }
    let stored: Option<String> = match checksums::has_table(tx, "ir_config_parameter")? {
        false => None,
        true => tx
            .query_typed_opt(
                "SELECT value FROM ir_config_parameter WHERE key = $1",
                &[(&checksums::PARAM, Type::TEXT)],
            )?
            .map(|r| r.try_get(0))
            .transpose()?,
    };
    let checksums = stored
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .unwrap_or(Value::Null);
    // Odoo's series from base's version ("17.0.1.3": 17.0).
    let series = modules.get("base").and_then(Value::as_str).and_then(|v| {
        let mut parts = v.split('.');
        Some((
            parts.next()?.parse::<u32>().ok()?,
            parts.next()?.parse::<u32>().ok()?,
        ))
    });
    let (version, version_info) = match series {
        Some((major, minor)) => (
            json!(format!("{major}.{minor}")),
            json!([major, minor, 0, "final", 0, ""]),
        ),
        None => (Value::Null, Value::Null),
    };
    let doc = json!({
        "odoo_dump": "1",
        "db_name": db,
        "version": version,
        "version_info": version_info,
        "major_version": version,
        "pg_version": pg_version,
        "modules": modules,
        "odoo_init": {
            "format": 1,
            "state_row": row,
            "made_at": made_at,
            "checksums": checksums,
        },
    });
    Ok(doc.to_string())
}
