//! The module checksums stored in the Odoo database, where
//! click-odoo-update keeps them: `ir_config_parameter`
//! `module_auto_update.installed_checksums`, JSON `{module: hex}` (`false`
//! for an installed module found on no path). Read and written inside the
//! state store's transaction, under its lock, so that of N pods exactly one
//! sees a module as changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::PathBuf;

use postgres::types::Type;
use postgres::Transaction;

use super::addons::{self, Addons, Rules};

pub const PARAM: &str = "module_auto_update.installed_checksums";
pub const PARAM_EXCLUDE: &str = "module_auto_update.exclude_patterns";

type PgResult<T> = Result<T, postgres::Error>;

/// What the database says, read in one transaction.
#[derive(Debug)]
pub struct Known {
    /// `installed` and `to upgrade` modules, by name.
    pub installed: Vec<String>,
    /// The stored checksums: `None` for a stored `false`. Empty when
    /// nothing is stored (or what is stored is not such JSON: said once).
    pub stored: HashMap<String, Option<String>>,
    pub rules: Rules,
}

/// A table's presence, without aborting the transaction when it is missing.
fn has_table(tx: &mut Transaction, name: &str) -> PgResult<bool> {
    tx.query_typed_one("SELECT to_regclass($1) IS NOT NULL", &[(&name, Type::TEXT)])?
        .try_get(0)
}

fn param(tx: &mut Transaction, key: &str) -> PgResult<Option<String>> {
    if !has_table(tx, "ir_config_parameter")? {
        return Ok(None);
    }
    match tx.query_typed_opt(
        "SELECT value::text FROM ir_config_parameter WHERE key = $1",
        &[(&key, Type::TEXT)],
    )? {
        Some(row) => row.try_get(0),
        None => Ok(None),
    }
}

/// The one text column `sql` selects from `table`, or nothing when there
/// is no such table.
fn texts(tx: &mut Transaction, table: &str, sql: &str) -> PgResult<Vec<String>> {
    if !has_table(tx, table)? {
        return Ok(Vec::new());
    }
    tx.query_typed(sql, &[])?
        .iter()
        .map(|r| r.try_get(0))
        .collect()
}

/// Reads the installed modules, the stored checksums and the rules.
pub fn read(tx: &mut Transaction) -> PgResult<Known> {
    let installed = texts(
        tx,
        "ir_module_module",
        "SELECT name::text FROM ir_module_module WHERE state IN ('installed', 'to upgrade') AND name IS NOT NULL ORDER BY name",
    )?;
    let stored = match param(tx, PARAM)? {
        None => HashMap::new(),
        Some(text) => parse(&text).unwrap_or_else(|why| {
            log::warn!("{PARAM} in ir_config_parameter is not what click-odoo-update stores ({why}): every module counts as changed");
            HashMap::new()
        }),
    };
    let exclude = param(tx, PARAM_EXCLUDE)?.unwrap_or_else(|| addons::DEFAULT_EXCLUDE.into());
    let langs = texts(
        tx,
        "res_lang",
        "SELECT code::text FROM res_lang WHERE active AND code IS NOT NULL",
    )?;
    Ok(Known {
        installed,
        stored,
        rules: Rules::new(&exclude, &langs),
    })
}

/// `{module: hex or false}`, as click-odoo-update's `json.dumps` writes it.
fn parse(text: &str) -> Result<HashMap<String, Option<String>>, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map(str::to_string)))
        .collect())
}

/// The installed modules (of `only`, when it names any) whose files differ
/// from their stored checksum; modules found on no path, or not
/// installable, are left alone (said once per run).
pub fn changed(known: &Known, addons: &Addons, only: &[String]) -> io::Result<Vec<String>> {
    let wanted: BTreeSet<&str> = only.iter().map(String::as_str).collect();
    let mut nowhere = Vec::new();
    let mut found = Vec::new();
    for module in &known.installed {
        if !wanted.is_empty() && !wanted.contains(module.as_str()) {
            continue;
        }
        match addons.find(module) {
            Some(dir) => found.push((module, dir)),
            None => nowhere.push(module.as_str()),
        }
    }
    let dirs: Vec<PathBuf> = found.iter().map(|(_, dir)| dir.clone()).collect();
    let sums = addons.checksums(&dirs, &known.rules)?;
    let mut changed = Vec::new();
    for ((module, dir), sum) in found.into_iter().zip(sums) {
        // Whether it is installable matters only for one that changed: its
        // manifest is read then, not for every module at every start.
        if known.stored.get(module) != Some(&Some(sum)) {
            if addons::installable(&dir) {
                changed.push(module.clone());
            } else {
                nowhere.push(module.as_str());
            }
        }
    }
    if !nowhere.is_empty() {
        log::info!(
            "installed but on no addons path (or not installable), left alone: {}",
            nowhere.join(",")
        );
    }
    Ok(changed)
}

/// The checksums of every `installed` module now, as JSON to store.
pub fn current(tx: &mut Transaction, addons: &Addons) -> Result<String, Error> {
    let known = read(tx)?;
    let installed = texts(
        tx,
        "ir_module_module",
        "SELECT name::text FROM ir_module_module WHERE state = 'installed' AND name IS NOT NULL ORDER BY name",
    )?;
    let found: Vec<(String, Option<PathBuf>)> = installed
        .into_iter()
        .map(|m| {
            let dir = addons.find(&m);
            (m, dir)
        })
        .collect();
    let dirs: Vec<PathBuf> = found.iter().filter_map(|(_, d)| d.clone()).collect();
    let mut hashed = addons.checksums(&dirs, &known.rules)?.into_iter();
    let mut sums = BTreeMap::new();
    for (module, dir) in found {
        // `hashed` holds a sum for each module found, in this order.
        let sum = dir.and_then(|_| hashed.next());
        let value = sum.map_or(serde_json::Value::Bool(false), serde_json::Value::String);
        sums.insert(module, value);
    }
    Ok(serde_json::to_string(&sums).unwrap_or_default())
}

/// Stores `json` as the installed checksums (the row made if missing).
pub fn store(tx: &mut Transaction, json: &str) -> PgResult<()> {
    if !has_table(tx, "ir_config_parameter")? {
        log::warn!("no ir_config_parameter table: the checksums are not stored");
        return Ok(());
    }
    let updated = tx.query_typed(
        "UPDATE ir_config_parameter SET value = $1, write_date = now() AT TIME ZONE 'UTC' WHERE key = $2 RETURNING 1",
        &[(&json, Type::TEXT), (&PARAM, Type::TEXT)],
    )?;
    if updated.is_empty() {
        tx.query_typed(
            "INSERT INTO ir_config_parameter (key, value, create_date, write_date) \
             VALUES ($2, $1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
            &[(&json, Type::TEXT), (&PARAM, Type::TEXT)],
        )?;
    }
    Ok(())
}

/// A database error, or an addon that could not be read.
#[derive(Debug)]
pub enum Error {
    Db(postgres::Error),
    Files(io::Error),
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Db(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Files(e)
    }
}
