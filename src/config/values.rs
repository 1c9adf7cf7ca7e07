//! The values of single settings that are more than a word: the scripts
//! of the deployment (where each is looked for), module lists and Odoo
//! arguments as a shell splits them.

use std::path::PathBuf;

use super::{Backup, Choice, Restore};
use crate::env::{self, invalid, ConfigError, Lookup};
use crate::odoo::args;
use crate::plan::Mode;

pub(super) const DEFAULT_MAINTENANCE: &str = "/etc/odoo/run.sh";
pub(super) const DEFAULT_PRE_INIT: &str = "/etc/odoo/pre-init.sh";
pub(super) const DEFAULT_PRE_UPDATE: &str = "/etc/odoo/pre-update.sh";

/// A script of the deployment's (`MAINTENANCE_SCRIPT`, the hooks), looked
/// for only where the mode runs it (a mount over `/etc/odoo` costs
/// `RunOnly` nothing): the variable's path, which must exist, else the
/// default where it exists, else none.
pub(super) fn script(
    env: Lookup,
    variable: &str,
    default: &str,
    runs: bool,
) -> Result<Option<PathBuf>, ConfigError> {
    match env(variable) {
        _ if !runs => Ok(None),
        Some(path) if !path.is_empty() => {
            let p = PathBuf::from(&path);
            if !p.is_file() {
                return Err(invalid(variable, &path, "an existing script file"));
            }
            Ok(Some(p))
        }
        _ => Ok(Some(PathBuf::from(default)).filter(|p| p.is_file())),
    }
}

pub(super) fn modules(variable: &str, env: Lookup) -> Result<Vec<String>, ConfigError> {
    let value = env(variable).unwrap_or_default();
    let list = env::comma_list(&value);
    for m in &list {
        if !m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                variable,
                &value,
                "comma-separated Odoo module names (letters, digits, _)",
            ));
        }
    }
    Ok(list)
}

/// `ODOO_STEP_ARGS`: words as a shell splits them (blanks separate; single
/// quotes keep everything; double quotes keep all but `\"` and `\\`; a
/// backslash outside quotes keeps the next character), nothing expanded.
/// A secret option is refused: step command lines are logged.
pub(super) fn step_args(value: &str) -> Result<Vec<String>, ConfigError> {
    let words = env::shell_words(value).ok_or_else(|| {
        invalid(
            "ODOO_STEP_ARGS",
            value,
            "Odoo arguments as a shell would split them (a quote is not closed)",
        )
    })?;
    if let Some(option) = args::secret_in(words.iter().map(String::as_str)) {
        return Err(invalid(
            "ODOO_STEP_ARGS",
            "<secret>",
            &format!(
                "no {option}: the steps get the password through the password file (DB_PASSWORD)"
            ),
        ));
    }
    Ok(words)
}

/// `BACKUP_DIR` (an existing directory) and `BACKUP_KEEP` (at least 1;
/// 3), with `pg_dump` and `pg_restore` found on `PATH`; `None` without
/// `BACKUP_DIR`.
pub(super) fn backup(env: Lookup) -> Result<Option<Backup>, ConfigError> {
    let Some(dir) = env("BACKUP_DIR").filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if !std::path::Path::new(&dir).is_dir() {
        return Err(invalid(
            "BACKUP_DIR",
            &dir,
            "an existing directory (a volume) for the backups",
        ));
    }
    let keep = match env("BACKUP_KEEP") {
        None => 3,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|k| *k >= 1)
            .ok_or_else(|| invalid("BACKUP_KEEP", &v, "a whole number, at least 1"))?,
    };
    let path = env("PATH");
    let tool = |name: &str| {
        env::find_executable(name, path.as_deref()).map_err(|why| {
            invalid(
                "BACKUP_DIR",
                &dir,
                &format!(
                    "{name} on PATH for the backups ({why}; apt-get install postgresql-client)"
                ),
            )
        })
    };
    Ok(Some(Backup {
        dir: PathBuf::from(&dir),
        keep,
        pg_dump: tool("pg_dump")?,
        pg_restore: tool("pg_restore")?,
    }))
}

/// `RESTORE_FROM` (`MODE=Restore`: required, a backup this can read),
/// `RESTORE_NEUTRALIZE`, `ON_UPDATE_FAILURE`, and the tools a restore
/// runs (`pg_restore`, `psql` on `PATH`): required where this run may
/// restore (`Restore`, `ON_UPDATE_FAILURE=rollback`), else found if there.
pub(super) fn restore(
    env: Lookup,
    mode: Mode,
    entry_restores: bool,
) -> Result<Restore, ConfigError> {
    let from = match env("RESTORE_FROM").filter(|v| !v.is_empty()) {
        None if mode == Mode::Restore && !entry_restores => {
            return Err(invalid(
                "RESTORE_FROM",
                "",
                "the backup MODE=Restore restores (an odoo-init backup, an Odoo backup zip, a pg_dump custom-format file)",
            ))
        }
        None => None,
        Some(path) if mode == Mode::Restore => {
            let kind = crate::odoo::backup::Kind::of(std::path::Path::new(&path));
            if !matches!(kind, Ok(Some(_))) {
                let why = match kind {
                    Err(e) => format!("a readable backup ({e})"),
                    _ => "an odoo-init backup directory (complete: not .partial or .pruned), an Odoo backup zip or a pg_dump custom-format file".into(),
                };
                return Err(invalid("RESTORE_FROM", &path, &why));
            }
            Some(PathBuf::from(path))
        }
        Some(path) => Some(PathBuf::from(path)),
    };
    let neutralize = match env("RESTORE_NEUTRALIZE") {
        Some(v) if !v.is_empty() => env::boolean("RESTORE_NEUTRALIZE", &v)?,
        _ => false,
    };
    let rollback = match env("ON_UPDATE_FAILURE").as_deref().map(str::trim) {
        None | Some("" | "stop") => false,
        Some("rollback") => true,
        Some(other) => {
            return Err(invalid(
                "ON_UPDATE_FAILURE",
                other,
                "stop (the default: wait for a person) or rollback (restore the backup made before the update)",
            ))
        }
    };
    if rollback && env("BACKUP_DIR").is_none_or(|d| d.is_empty()) {
        return Err(invalid(
            "ON_UPDATE_FAILURE",
            "rollback",
            "BACKUP_DIR set too (a rollback restores the backup made before the update)",
        ));
    }
    let needed = mode == Mode::Restore || rollback || entry_restores;
    let path = env("PATH");
    let tool = |name: &str| match env::find_executable(name, path.as_deref()) {
        Ok(found) => Ok(Some(found)),
        Err(_) if !needed => Ok(None),
        Err(why) => Err(invalid(
            "PATH",
            "",
            &format!("{name} for restores ({why}; apt-get install postgresql-client)"),
        )),
    };
    Ok(Restore {
        from,
        neutralize,
        rollback,
        pg_restore: tool("pg_restore")?,
        psql: tool("psql")?,
    })
}

/// With `LIST_DB=True`, which databases the steps work on: `DB_NAMES`
/// (those, in that order), else `DB_FILTER` (Odoo's `dbfilter`: a regular
/// expression matched at the start of a name), else every database Odoo
/// would list. Both set, or a filter that depends on a request (`%h`,
/// `%d`), is refused.
pub(super) fn choice(env: Lookup) -> Result<Choice, ConfigError> {
    let names = env("DB_NAMES").filter(|v| !v.trim().is_empty());
    let filter = env("DB_FILTER").filter(|v| !v.is_empty());
    match (names, filter) {
        (Some(_), Some(_)) => Err(invalid(
            "DB_FILTER",
            "",
            "unset when DB_NAMES is set (DB_NAMES names the databases itself)",
        )),
        (Some(list), None) => {
            let names = env::comma_list(&list);
            for name in &names {
                super::check_name("DB_NAMES", name, super::Name::Database)?;
            }
            Ok(Choice::Names(names))
        }
        (None, Some(pattern)) => {
            if pattern.contains("%h") || pattern.contains("%d") {
                return Err(invalid(
                    "DB_FILTER",
                    &pattern,
                    "a regular expression without %h or %d (they depend on a request's host, which a step has not)",
                ));
            }
            // re.match: anchored at the start only, as Odoo matches it.
            let regex = regex::Regex::new(&format!("^(?:{pattern})")).map_err(|e| {
                invalid(
                    "DB_FILTER",
                    &pattern,
                    &format!("a regular expression, as Odoo's dbfilter ({e})"),
                )
            })?;
            Ok(Choice::Filter(pattern, regex))
        }
        (None, None) => Ok(Choice::All),
    }
}

/// `ON_FAILED_DATABASE` (`LIST_DB=True`, `RunOnly`): true (`leave-out`, the
/// default) leaves a database whose update failed out of Odoo's dbfilter
/// for the run; false (`wait`) waits at its gate as one database's pods do.
pub(super) fn leave_out_failed(env: Lookup) -> Result<bool, ConfigError> {
    match env("ON_FAILED_DATABASE").as_deref().map(str::trim) {
        None | Some("") | Some("leave-out") => Ok(true),
        Some("wait") => Ok(false),
        Some(other) => Err(invalid(
            "ON_FAILED_DATABASE",
            other,
            "leave-out (serve the others without it) or wait (serve nothing until a person mends it)",
        )),
    }
}
