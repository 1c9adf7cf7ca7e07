//! The module checksums stored in the Odoo database, where
//! click-odoo-update keeps them: `ir_config_parameter`
//! `module_auto_update.installed_checksums`, JSON `{module: hex}` (`false`
//! for an installed module found on no path). The addons are hashed before
//! any state transaction ([`Sums::add`]); under the state lock the job only
//! reads what is stored, compares ([`changed`]) and writes ([`store`]), so
//! that of N pods exactly one sees a module as changed and nothing slow
//! holds the lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::PathBuf;

use crate::db::client::Transaction;
use tokio_postgres::types::Type;

use super::addons::{self, Addons, Rules};
use super::prehashed::Prehashed;

pub const PARAM: &str = "module_auto_update.installed_checksums";
pub const PARAM_EXCLUDE: &str = "module_auto_update.exclude_patterns";

type PgResult<T> = Result<T, tokio_postgres::Error>;

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
pub(crate) fn has_table(tx: &mut Transaction, name: &str) -> PgResult<bool> {
    tx.query_typed_one("SELECT to_regclass($1) IS NOT NULL", &[(&name, Type::TEXT)])?
        .try_get(0)
}

/// The one text column `sql` selects from `table`, or nothing when there
/// is no such table.
fn texts(tx: &mut Transaction, table: &str, sql: &str) -> PgResult<Vec<String>> {
    let present = has_table(tx, table)?;
    texts_if(tx, present, sql)
}

/// Reads the installed modules, the stored checksums and the rules: four
/// statements (a pod's start waits for each).
pub fn read(tx: &mut Transaction) -> PgResult<Known> {
    let present = tx.query_typed_one(
        "SELECT to_regclass('ir_module_module') IS NOT NULL, \
         to_regclass('ir_config_parameter') IS NOT NULL, to_regclass('res_lang') IS NOT NULL",
        &[],
    )?;
    let (modules, params, langs): (bool, bool, bool) = (
        present.try_get(0)?,
        present.try_get(1)?,
        present.try_get(2)?,
    );
    let installed = texts_if(
        tx,
        modules,
        "SELECT name::text FROM ir_module_module WHERE state IN ('installed', 'to upgrade') AND name IS NOT NULL ORDER BY name",
    )?;
    let mut values: HashMap<String, String> = HashMap::new();
    if params {
        for row in tx.query_typed(
            "SELECT key::text, value::text FROM ir_config_parameter WHERE key IN ($1, $2)",
            &[(&PARAM, Type::TEXT), (&PARAM_EXCLUDE, Type::TEXT)],
        )? {
            if let (Some(key), Some(value)) = (row.try_get(0)?, row.try_get(1)?) {
                values.insert(key, value);
            }
        }
    }
    let stored = match values.get(PARAM) {
        None => HashMap::new(),
        Some(text) => parse(text).unwrap_or_else(|why| {
            log::warn!("{PARAM} in ir_config_parameter is not what click-odoo-update stores ({why}): every module counts as changed");
            HashMap::new()
        }),
    };
    let exclude = values
        .remove(PARAM_EXCLUDE)
        .unwrap_or_else(|| addons::DEFAULT_EXCLUDE.into());
    let langs = texts_if(
        tx,
        langs,
        "SELECT code::text FROM res_lang WHERE active AND code IS NOT NULL",
    )?;
    Ok(Known {
        installed,
        stored,
        rules: Rules::new(&exclude, &langs),
    })
}

/// The one text column `sql` selects, or nothing when its table is not
/// `present`.
fn texts_if(tx: &mut Transaction, present: bool, sql: &str) -> PgResult<Vec<String>> {
    if !present {
        return Ok(Vec::new());
    }
    tx.query_typed(sql, &[])?
        .iter()
        .map(|r| r.try_get(0))
        .collect()
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

/// The checksums of the image's modules, by name (`None`: on no addons
/// path), made with one set of rules. Filled outside any state transaction.
#[derive(Debug, Default)]
pub(crate) struct Sums {
    rules: Option<Rules>,
    of: BTreeMap<String, Option<String>>,
    /// The image's checksums file, where it still holds: read, not hashed.
    prehashed: Option<Prehashed>,
}

impl Sums {
    /// Sums that take a module's checksum from the image's file where it
    /// still holds for it ([`Prehashed::sum`]), and hash the others.
    pub(crate) fn with_prehashed(prehashed: Option<Prehashed>) -> Sums {
        Sums {
            prehashed,
            ..Sums::default()
        }
    }

    /// Whether every one of `modules` has its sum made with `rules`.
    pub(crate) fn covers(&self, modules: &[String], rules: &Rules) -> bool {
        self.rules.as_ref().is_some_and(|r| r.same_as(rules))
            && modules.iter().all(|m| self.of.contains_key(m))
    }

    /// Hashes those of `modules` that are not known yet with `rules` (all
    /// of them again when the rules changed). Slow: never inside a state
    /// transaction.
    pub(crate) fn add(
        &mut self,
        addons: &Addons,
        modules: &[String],
        rules: &Rules,
    ) -> io::Result<()> {
        if !self.rules.as_ref().is_some_and(|r| r.same_as(rules)) {
            self.of.clear();
            self.rules = Some(rules.clone());
        }
        let mut missing: Vec<(&String, Option<PathBuf>)> = modules
            .iter()
            .filter(|m| !self.of.contains_key(*m))
            .map(|m| (m, addons.find(m)))
            .collect();
        let found = missing.iter().filter(|(_, d)| d.is_some()).count();
        if let Some(prehashed) = &mut self.prehashed {
            missing.retain(|(module, dir)| {
                let sum = dir.as_deref().and_then(|d| prehashed.sum(module, d, rules));
                if let Some(sum) = sum {
                    self.of.insert(module.to_string(), Some(sum.to_string()));
                }
                sum.is_none()
            });
        }
        let dirs: Vec<PathBuf> = missing.iter().filter_map(|(_, d)| d.clone()).collect();
        if self.prehashed.is_some() && found > 0 {
            // What the operator asked for, and what it gave.
            log::info!(
                "module checksums: {} of {found} read from ADDONS_CHECKSUMS_FILE, {} hashed",
                found - dirs.len(),
                dirs.len()
            );
        }
        let mut hashed = addons.checksums(&dirs, rules)?.into_iter();
        for (module, dir) in missing {
            // `hashed` holds a sum for each module found, in this order.
            let sum = dir.and_then(|_| hashed.next());
            self.of.insert(module.clone(), sum);
        }
        Ok(())
    }

    /// The JSON to store for `installed`, as click-odoo-update's `json.dumps` writes it.
    pub(crate) fn to_json(&self, installed: &[String]) -> String {
        let sums: BTreeMap<&str, serde_json::Value> = installed
            .iter()
            .map(|m| {
                let sum = self.of.get(m).cloned().flatten();
                let value = sum.map_or(serde_json::Value::Bool(false), serde_json::Value::String);
                (m.as_str(), value)
            })
            .collect();
        serde_json::to_string(&sums).unwrap_or_default()
    }
}

/// What a comparison of the image's sums with the stored ones found.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Installed modules (of `only`) whose sum differs: to update.
    pub(crate) changed: Vec<String>,
    /// Installed modules found on no path, or not installable: left alone.
    nowhere: Vec<String>,
    /// `base` is installed but on no addons path: Odoo's own go unseen.
    base_unseen: bool,
}

impl Comparison {
    /// Says once what the comparison leaves alone.
    pub(crate) fn say(&self) {
        if self.base_unseen {
            log::warn!("Odoo's own addons (base) are on no addons path odoo-init knows: their changes go unseen; set ADDONS_PATH to every addons directory, or UPDATE=all");
        }
        if !self.nowhere.is_empty() {
            log::info!(
                "installed but on no addons path (or not installable), left alone: {}",
                self.nowhere.join(",")
            );
        }
    }
}

/// The installed modules (of `only`, when it names any) whose sum in
/// `sums` differs from their stored checksum; modules found on no path, or
/// not installable, are left alone. `sums` must cover them ([`Sums::covers`]).
pub(crate) fn compare(known: &Known, sums: &Sums, addons: &Addons, only: &[String]) -> Comparison {
    let mut found = Comparison {
        base_unseen: known.installed.iter().any(|m| m == "base") && addons.find("base").is_none(),
        ..Comparison::default()
    };
    for module in wanted(known, only) {
        match sums.of.get(module).and_then(Option::as_ref) {
            None => found.nowhere.push(module.clone()),
            Some(sum) if known.stored.get(module).and_then(Option::as_ref) == Some(sum) => {}
            // Whether it is installable matters only for one that changed:
            // its manifest is read then, not for every module at every start.
            Some(_) => match addons.find(module) {
                Some(dir) if addons::installable(&dir) => found.changed.push(module.clone()),
                _ => found.nowhere.push(module.clone()),
            },
        }
    }
    found
}

/// The installed modules an update compares: all, or those of `only`.
pub(crate) fn wanted<'k>(known: &'k Known, only: &[String]) -> Vec<&'k String> {
    let only: BTreeSet<&str> = only.iter().map(String::as_str).collect();
    known
        .installed
        .iter()
        .filter(|m| only.is_empty() || only.contains(m.as_str()))
        .collect()
}

/// The modules of `only` (`MODULES`) the database lacks (not `installed`
/// nor `to upgrade`): an update installs them in the same run.
pub(crate) fn missing(known: &Known, only: &[String]) -> Vec<String> {
    only.iter()
        .filter(|m| !known.installed.contains(m))
        .cloned()
        .collect()
}

/// The modules in state `installed` (after a step: what the checksums are stored for).
pub(crate) fn installed(tx: &mut Transaction) -> PgResult<Vec<String>> {
    texts(
        tx,
        "ir_module_module",
        "SELECT name::text FROM ir_module_module WHERE state = 'installed' AND name IS NOT NULL ORDER BY name",
    )
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

/// Whether two images' module checksums (JSON objects, as stored) are
/// the same code: every module both have has the same checksum, and they
/// have one in common.
pub(crate) fn same_code(a: &str, b: &str) -> bool {
    type Object = serde_json::Map<String, serde_json::Value>;
    let read = |text: &str| serde_json::from_str::<Object>(text).ok();
    let (Some(a), Some(b)) = (read(a), read(b)) else {
        return false;
    };
    let common: Vec<&String> = a.keys().filter(|k| b.contains_key(*k)).collect();
    !common.is_empty() && common.iter().all(|k| a.get(*k) == b.get(*k))
}

#[cfg(test)]
mod tests {
    use super::same_code;

    #[test]
    fn same_code_compares_the_modules_both_have() {
        assert!(same_code(r#"{"base":"a","crm":"b"}"#, r#"{"base":"a"}"#));
        assert!(!same_code(
            r#"{"base":"a","crm":"b"}"#,
            r#"{"base":"a","crm":"c"}"#
        ));
        assert!(!same_code(r#"{"base":"a"}"#, r#"{"crm":"a"}"#));
        assert!(!same_code("not json", r#"{"base":"a"}"#));
    }
}
