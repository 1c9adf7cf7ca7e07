//! The job's settings from the environment (then libpq's `PG*`, then
//! Odoo's config file), validated before anything starts: an error names
//! the variable, the value and what is accepted, in one line. Each side
//! gets its own part: the supervisor its [`supervisor::Settings`], the
//! database side a [`Db`] and the password apart, the Odoo side an
//! [`odoo::command::Odoo`] without secrets.

mod database;
mod process;
mod settings;
mod tls;
mod values;

use std::path::PathBuf;
use std::time::Duration;

use crate::db::Db;
use crate::env::{self, boolean, invalid, seconds_or, secret, ConfigError, Lookup};
use crate::odoo::command::Odoo;
use crate::odoo::rc;
use crate::pid1::supervisor;
use crate::plan::{Mode, Plan, Step};

use database::{check_name, Name};
pub(crate) use database::{database, Database};
pub(crate) use process::{runtime_dir, supervisor};
pub use settings::{help, variables, Setting, SETTINGS};
use values::{
    modules, script, step_args, DEFAULT_MAINTENANCE, DEFAULT_PRE_INIT, DEFAULT_PRE_UPDATE,
};

/// The shortest `STATE_LEASE`: the owner beats every quarter of its lease
/// (at least every second) and, when its connection dropped, tries again
/// at most `db::conn::BACKOFF_MAX` (2 s) after the database is back; a waiter
/// needs a whole lease of silence to write `Reset`. 5 s leaves that room.
const MIN_LEASE: Duration = Duration::from_secs(5);

/// Everything the main job (`odoo-init` with `MODE`) needs.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) mode: Mode,
    pub(crate) list_db: bool,
    /// How long a busy state may last before a waiting pod writes `Reset`.
    pub(crate) timeout: Duration,
    /// How long an owner's heartbeat may be silent before it counts as dead.
    pub(crate) lease: Duration,
    pub(crate) db: Db,
    /// `DB_USER`'s password: for odoo-init's connections and the children's password file.
    pub(crate) password: Option<String>,
    pub(crate) admin_user: String,
    pub(crate) admin_password: Option<String>,
    /// `ADMIN_PASSWORD`: Odoo's `admin` user's password, set on a new database.
    pub(crate) odoo_admin_password: Option<String>,
    /// `ADMIN_PASSWD`: Odoo's master password (`admin_passwd`, its
    /// database manager's), given to the run phase as a hash.
    pub(crate) master_password: Option<String>,
    /// Odoo's config file (`ODOO_RC`, else `/etc/odoo/odoo.conf` where it is).
    pub(crate) rc_file: Option<PathBuf>,
    pub(crate) db_wait_timeout: Duration,
    /// What Odoo's command lines are made of.
    pub(crate) odoo: Odoo,
    /// `None`: the default script is absent, the step is skipped.
    pub(crate) maintenance_script: Option<PathBuf>,
    /// Run under an install's claim before Odoo's install (`None`: none).
    pub(crate) pre_init_script: Option<PathBuf>,
    /// Run under an update's claim before Odoo's update (`None`: none).
    pub(crate) pre_update_script: Option<PathBuf>,
    pub(crate) supervisor: supervisor::Settings,
    pub(crate) runtime_dir: PathBuf,
    /// `UPDATE`: what an update step updates.
    pub(crate) update: UpdateWhat,
    /// `ADDONS_PATH`: the directories whose addons are checksummed, instead
    /// of Odoo's own and its configured ones (`odoo::addons::discover`).
    pub(crate) addons_path: Option<Vec<PathBuf>>,
    /// `ADDONS_CHECKSUMS_FILE`: the image's module checksums, written when
    /// it was built (`odoo::prehashed`).
    pub(crate) checksums_file: Option<PathBuf>,
    /// `addons_path` of the Odoo config file, as written.
    pub(crate) rc_addons_path: Option<String>,
    /// Where Odoo keeps its data (the filestore) unless its arguments say:
    /// `data_dir` of the config file, else Odoo's default for this user.
    pub(crate) data_dir: PathBuf,
    /// `BACKUP_DIR`: a backup before every update, kept there.
    pub(crate) backup: Option<Backup>,
    /// `RESTORE_FROM`, `RESTORE_NEUTRALIZE`, `ON_UPDATE_FAILURE`.
    pub(crate) restore: Restore,
    /// `LIST_DB=True`: `DB_FILTER`, `DB_NAMES`.
    pub(crate) databases: Choice,
    /// `LIST_DB=True`, `RunOnly`: `ON_FAILED_DATABASE=leave-out` (or `wait`).
    pub(crate) leave_out_failed: bool,
    /// `dbfilter` of the Odoo config file, kept when databases are left out.
    pub(crate) rc_dbfilter: Option<String>,
    /// What to say at start about settings whose sources disagree.
    pub(crate) notes: Vec<String>,
}

/// Which databases `LIST_DB=True` works on.
#[derive(Debug, Clone)]
pub(crate) enum Choice {
    /// Every database Odoo would list.
    All,
    /// `DB_FILTER`: its text, and it compiled (anchored at the start).
    Filter(String, regex::Regex),
    /// `DB_NAMES`, in that order.
    Names(Vec<String>),
}

impl Choice {
    /// Whether `name`, which Odoo lists, is chosen.
    pub(crate) fn takes(&self, name: &str) -> bool {
        match self {
            Choice::All => true,
            Choice::Filter(_, regex) => regex.is_match(name),
            Choice::Names(names) => names.iter().any(|n| n == name),
        }
    }
}

/// What restores need: `MODE=Restore`'s, a rollback's.
#[derive(Debug, Clone)]
pub(crate) struct Restore {
    /// `RESTORE_FROM`: the backup `MODE=Restore` restores.
    pub(crate) from: Option<PathBuf>,
    /// `RESTORE_NEUTRALIZE`: Odoo's `neutralize` on the restored database.
    pub(crate) neutralize: bool,
    /// `ON_UPDATE_FAILURE=rollback`: a failed update's owner restores its backup.
    pub(crate) rollback: bool,
    /// `pg_restore` and `psql`, found on `PATH` at start.
    pub(crate) pg_restore: Option<PathBuf>,
    pub(crate) psql: Option<PathBuf>,
}

/// `BACKUP_DIR` and what goes with it.
#[derive(Debug, Clone)]
pub(crate) struct Backup {
    /// The directory (a volume): each database's backups in a directory of its own.
    pub(crate) dir: PathBuf,
    /// `BACKUP_KEEP`: how many complete backups of a database stay.
    pub(crate) keep: usize,
    /// `pg_dump` and `pg_restore`, found on `PATH` at start.
    pub(crate) pg_dump: PathBuf,
    pub(crate) pg_restore: PathBuf,
}

/// Odoo's own default data directory (`odoo/tools/config.py`,
/// `_get_default_datadir`): `~/.local/share/Odoo` when the home directory
/// exists, else `/var/lib/odoo`.
fn default_data_dir(env: Lookup) -> PathBuf {
    match env("HOME").map(PathBuf::from) {
        Some(home) if home.is_dir() => home.join(".local/share/Odoo"),
        _ => PathBuf::from("/var/lib/odoo"),
    }
}

/// `UPDATE`: what an update step updates (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateWhat {
    /// The installed modules whose checksum differs from the stored one.
    Changed,
    /// Every installed module (or `MODULES`), as before checksums.
    All,
}

/// Which entry point reads the settings, and so what it needs of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The main job: `MODE` is required; `ODOO_BIN` must be found unless
    /// the mode never runs Odoo.
    Main,
    /// One of Odoo's subcommands as a one-off: `ODOO_BIN` must be found.
    OdooOneOff,
    /// Any other program as a one-off: `ODOO_BIN` as for [`Entry::Tool`].
    OneOff,
    /// `state`, `adopt`: `ODOO_BIN` where found, else as given (it only
    /// locates Odoo's own addons).
    Tool,
    /// `write-checksums`, at image build: as [`Entry::Tool`], no database.
    Build,
    /// `rollback`: as [`Entry::Tool`], with the tools of a restore.
    Restores,
    /// `state --all`: as [`Entry::Tool`], over the databases `LIST_DB`
    /// chooses, none named.
    Listing,
}

impl Entry {
    /// Whether one database must be named (`LIST_DB` aside).
    fn needs_database(self) -> bool {
        !matches!(self, Entry::Build | Entry::Listing)
    }
}

impl Config {
    /// Reads and validates everything `entry` needs, touching nothing but
    /// files it reads. Outside the main job `MODE` may be unset (then it
    /// counts as `RunOnly`: no Force mode) and one database is always named.
    pub(crate) fn from_env(env: Lookup, entry: Entry) -> Result<Config, ConfigError> {
        let mode = match env("MODE") {
            Some(value) => Mode::parse(&value)
                .ok_or_else(|| invalid("MODE", &value, &format!("one of {}", Mode::names())))?,
            None if entry != Entry::Main => Mode::RunOnly,
            None => {
                return Err(ConfigError {
                    variable: "MODE".into(),
                    value: None,
                    accepted: format!("set it to one of {}", Mode::names()),
                })
            }
        };
        let list_db = match env("LIST_DB") {
            None => false,
            Some(v) => boolean("LIST_DB", &v)?,
        } && matches!(entry, Entry::Main | Entry::Listing);
        if list_db && !mode.allows_list_db() {
            return Err(invalid(
                "LIST_DB",
                "True",
                &format!("False with MODE={mode}: it names one database (DB_NAME); with LIST_DB, RunOnly serves the chosen databases, UpdateOnly and InstallOnly (and their AndRun forms) work on each, Init does nothing"),
            ));
        }
        let timeout = seconds_or("TIMEOUT", env, 1800.0)?;
        let lease = seconds_or("STATE_LEASE", env, 60.0)?;
        if lease < MIN_LEASE {
            return Err(invalid(
                "STATE_LEASE",
                &env("STATE_LEASE").unwrap_or_default(),
                "at least 5 seconds: the owner beats every quarter of its lease (at least every second) and may need 2 s to reconnect before a waiter may judge it gone",
            ));
        }
        let db_wait_timeout = seconds_or("DB_WAIT_TIMEOUT", env, 120.0)?;

        let demo = match env("DEMO") {
            None => false,
            Some(v) => boolean("DEMO", &v)?,
        };
        let step_args = match env("ODOO_STEP_ARGS") {
            None => Vec::new(),
            Some(v) => step_args(&v)?,
        };
        let (odoo_rc, rc) = rc::locate(env)?;
        let Database {
            db,
            password,
            odoo_args,
            mut notes,
        } = database(
            env,
            (odoo_rc.as_deref(), &rc),
            !list_db && entry.needs_database(),
        )?;
        // One database behind the gate: Odoo gets --no-database-list (a
        // database manager would make and drop databases past the gate).
        // The file saying otherwise is overridden, and told so.
        let rc_list_db = rc
            .get("list_db")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if rc_list_db
            && !list_db
            && entry == Entry::Main
            && Plan::for_mode(mode, list_db).steps.contains(&Step::Run)
        {
            notes.push(format!(
                "list_db = True ({}) is overridden: Odoo runs with --no-database-list, since the state gate watches DB_NAME alone and Odoo's database manager would make and drop databases past it; LIST_DB=True serves many databases (RunOnly, each behind its own gate)",
                odoo_rc.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
            ));
        }
        // Many databases: DB_NAME names none of them; said, never silent.
        if let Some(name) = env("DB_NAME").filter(|n| list_db && !n.is_empty()) {
            notes.push(format!(
                "DB_NAME={name} is not used with LIST_DB=True: the databases are those Odoo would list, narrowed by DB_FILTER or DB_NAMES (DB_NAMES={name} for this one alone)"
            ));
        }
        if db.user == "postgres" && entry == Entry::Main {
            return Err(invalid(
                "DB_USER",
                &db.user,
                "a role other than postgres: Odoo refuses to run as the superuser; Init creates the role for you",
            ));
        }
        let admin_user = env("DB_ADMIN_USER")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "postgres".into());
        check_name("DB_ADMIN_USER", &admin_user, Name::Role)?;
        let admin_password = secret(env, "DB_ADMIN_PASSWORD")?;
        let odoo_admin_password = secret(env, "ADMIN_PASSWORD")?;
        let master_password = secret(env, "ADMIN_PASSWD")?;

        let odoo_bin_value = env("ODOO_BIN")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "odoo".into());
        // ForceReadyState only writes a row: it never runs Odoo, so it needs none.
        let found = env::find_executable(&odoo_bin_value, env("PATH").as_deref());
        let odoo_bin = match (found, entry) {
            (Ok(path), _) => path,
            (
                Err(_),
                Entry::Tool | Entry::Build | Entry::OneOff | Entry::Restores | Entry::Listing,
            ) => PathBuf::from(&odoo_bin_value),
            (Err(_), Entry::Main) if mode == Mode::ForceReadyState => {
                PathBuf::from(&odoo_bin_value)
            }
            (Err(why), _) => return Err(invalid("ODOO_BIN", &odoo_bin_value, &why)),
        };
        let update = match env("UPDATE") {
            None => UpdateWhat::Changed,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "changed" => UpdateWhat::Changed,
                "all" => UpdateWhat::All,
                _ => return Err(invalid("UPDATE", &v, "changed or all")),
            },
        };
        let addons_path = match env("ADDONS_PATH") {
            Some(v) if !v.trim().is_empty() => Some(env::directories("ADDONS_PATH", &v)?),
            _ => None,
        };
        // Each script only where the mode runs it.
        let steps = Plan::for_mode(mode, list_db).steps;
        let runs_maintenance = steps.contains(&Step::Maintenance);
        let maintenance_script = script(
            env,
            "MAINTENANCE_SCRIPT",
            DEFAULT_MAINTENANCE,
            runs_maintenance,
        )?;
        let pre_init_script = script(
            env,
            "PRE_INIT_SCRIPT",
            DEFAULT_PRE_INIT,
            steps.contains(&Step::Install),
        )?;
        let pre_update_script = script(
            env,
            "PRE_UPDATE_SCRIPT",
            DEFAULT_PRE_UPDATE,
            steps.contains(&Step::Update),
        )?;
        let odoo = Odoo {
            bin: odoo_bin,
            database: db.name.clone().filter(|_| !list_db),
            modules: modules("MODULES", env)?,
            server_wide_modules: modules("SERVER_WIDE_MODULES", env)?,
            demo,
            rc_sets_without_demo: rc.contains_key("without_demo"),
            step_args,
            sslmode: db
                .tls
                .mode_from_env
                .then(|| db.tls.mode.as_str().to_string()),
            db_args: odoo_args,
            master_rc: None,
        };
        Ok(Config {
            mode,
            list_db,
            timeout,
            lease,
            db,
            password,
            admin_user,
            admin_password,
            odoo_admin_password,
            master_password,
            rc_file: odoo_rc.clone(),
            db_wait_timeout,
            odoo,
            maintenance_script,
            pre_init_script,
            pre_update_script,
            supervisor: supervisor(env)?,
            runtime_dir: runtime_dir(env),
            update,
            addons_path,
            checksums_file: env("ADDONS_CHECKSUMS_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            rc_addons_path: rc::value(&rc, "addons_path").cloned(),
            data_dir: match rc::value(&rc, "data_dir") {
                Some(dir) => PathBuf::from(dir),
                None => default_data_dir(env),
            },
            backup: values::backup(env)?,
            restore: values::restore(env, mode, entry == Entry::Restores)?,
            databases: values::choice(env)?,
            leave_out_failed: values::leave_out_failed(env)?,
            rc_dbfilter: rc::value(&rc, "dbfilter").cloned(),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pid1::supervisor::OnExit;
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn cfg(pairs: &[(&str, &str)]) -> Result<supervisor::Settings, ConfigError> {
        let map = map(pairs);
        supervisor(&move |k| map.get(k).cloned())
    }

    /// Every name the settings readers ask the environment for is listed,
    /// and every listed name is asked for: found by asking, not by reading
    /// the source, so that a renamed helper cannot hide a variable.
    #[test]
    fn variables_lists_every_variable_the_readers_ask_for() {
        let asked = RefCell::new(BTreeSet::new());
        let read = |pairs: &[(&str, &str)]| {
            let mut set = map(&[
                ("MODE", "UpdateAndRun"),
                ("DB_NAME", "odoo"),
                ("ODOO_BIN", "/bin/sh"),
                ("HOME", "/nonexistent"),
            ]);
            set.extend(map(pairs));
            let env = |k: &str| {
                asked.borrow_mut().insert(k.to_string());
                set.get(k).cloned()
            };
            let _ = Config::from_env(&env, Entry::Main);
        };
        read(&[]);
        // The trust store is looked for only when asked to verify with it.
        read(&[("DB_SSLMODE", "verify-full"), ("DB_SSLROOTCERT", "system")]);
        // BACKUP_KEEP goes with BACKUP_DIR.
        read(&[("BACKUP_DIR", "/"), ("PATH", "/usr/bin:/bin")]);
        let mut asked = asked.into_inner();
        asked.remove("PATH");
        for name in &asked {
            assert!(
                variables().any(|v| v == name),
                "{name} missing from the settings (config/settings.rs)"
            );
        }
        for name in variables() {
            // The logging variables are read by logging::init, before the rest.
            if ![
                crate::logging::LEVEL_VARIABLE,
                crate::logging::FORMAT_VARIABLE,
            ]
            .contains(&name)
            {
                assert!(asked.contains(name), "{name} is listed but never read");
            }
        }
    }

    #[test]
    fn defaults_are_production_ones() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.stop_timeout, Duration::from_secs(25));
        assert_eq!(c.stop_delay, Duration::ZERO);
        assert_eq!(c.on_exit, OnExit::Exit);
    }

    #[test]
    fn accepts_fractions_and_any_case() {
        let c = cfg(&[
            ("STOP_TIMEOUT", "1.5"),
            ("ON_EXIT", "Wait"),
            ("STOP_DELAY", "2.5"),
        ])
        .unwrap();
        assert_eq!(c.stop_timeout, Duration::from_millis(1500));
        assert_eq!(c.stop_delay, Duration::from_millis(2500));
        assert_eq!(c.on_exit, OnExit::Wait);
    }

    #[test]
    fn refuses_bad_values_naming_variable_and_value() {
        for (var, val) in [
            ("STOP_TIMEOUT", "abc"),
            ("STOP_TIMEOUT", "-1"),
            ("STOP_TIMEOUT", ""),
            ("STOP_TIMEOUT", "inf"),
            ("STOP_TIMEOUT", "0"),
            ("STOP_TIMEOUT", "0.5"),
            ("STOP_DELAY", "-1"),
            ("STOP_DELAY", "soon"),
            ("ON_EXIT", "reboot"),
        ] {
            let err = cfg(&[(var, val)]).unwrap_err();
            let line = err.to_string();
            assert!(line.starts_with(&format!("{var}=\"{val}\"")), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }
}
