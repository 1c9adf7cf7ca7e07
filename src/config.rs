//! Configuration from the environment. Everything is validated before
//! anything is started; an error names the variable, the value and what is
//! accepted, in one line.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::files;
use crate::plan::Mode;

/// What happens when the supervised command exits by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExit {
    /// `odoo-init` exits with the child's status (production).
    Exit,
    /// Stay up; start the child again on SIGHUP (development containers).
    Wait,
    /// Start it again after a capped exponential backoff.
    Restart,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    /// None: the variable is not set at all.
    pub value: Option<String>,
    pub accepted: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(
                f,
                "{}={value:?} is not valid: {}",
                self.variable, self.accepted
            ),
            None => write!(f, "{} is not set: {}", self.variable, self.accepted),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every variable odoo-init itself reads (the `*_FILE` forms of the secrets
/// included); the examples are checked against this list, and a unit test
/// checks it against the code.
pub const VARIABLES: &[&str] = &[
    "MODE",
    "MODULES",
    "SERVER_WIDE_MODULES",
    "LIST_DB",
    "TIMEOUT",
    "STATE_LEASE",
    "DB_NAME",
    "DB_HOST",
    "DB_PORT",
    "DB_USER",
    "DB_PASSWORD",
    "DB_PASSWORD_FILE",
    "DB_ADMIN_USER",
    "DB_ADMIN_PASSWORD",
    "DB_ADMIN_PASSWORD_FILE",
    "DB_WAIT_TIMEOUT",
    "ODOO_BIN",
    "ODOO_RC",
    "MAINTENANCE_SCRIPT",
    "STOP_TIMEOUT",
    "STOP_DELAY",
    "ON_EXIT",
    "DEMO",
    "ODOO_STEP_ARGS",
    "UPDATE",
    "ADDONS_PATH",
    "ODOO_INIT_RUNTIME_DIR",
    "DB_SSLMODE",
    "DB_SSLROOTCERT",
    "DB_SSLCERT",
    "DB_SSLKEY",
    "DB_SSLCRL",
    "DB_CHANNEL_BINDING",
    crate::logging::LEVEL_VARIABLE,
    // libpq's, read as fallbacks
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLCRL",
    "PGCHANNELBINDING",
    // where libpq and OpenSSL look for the TLS files
    "HOME",
    "SSL_CERT_FILE",
];

/// How the environment is read: `std::env::var` in the binary, a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A value that is not valid UTF-8 is read with U+FFFD in place of the bad
/// bytes, so that an error shows what was set instead of calling it unset;
/// a secret read so is refused (`secret`).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// The shortest `STOP_TIMEOUT` (README, Configuration).
pub const MIN_STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// The settings of the supervisor itself (SPEC §3: `STOP_TIMEOUT`, `ON_EXIT`;
/// `STOP_DELAY`).
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorConfig {
    pub stop_timeout: Duration,
    /// How long the first SIGTERM of the run phase waits before it reaches
    /// Odoo (readiness is down meanwhile), so that a load balancer stops
    /// sending requests first.
    pub stop_delay: Duration,
    pub on_exit: OnExit,
}

impl SupervisorConfig {
    pub fn from_env(env: Lookup) -> Result<Self, ConfigError> {
        let stop_timeout = match env("STOP_TIMEOUT") {
            None => Duration::from_secs(25),
            Some(v) => match seconds("STOP_TIMEOUT", &v)? {
                // Sent at once, the second SIGTERM would merge with the first
                // (a signal pending twice is delivered once): Odoo would
                // never see its forced shutdown.
                t if t < MIN_STOP_TIMEOUT => return Err(invalid(
                    "STOP_TIMEOUT",
                    &v,
                    "at least 1 second, so that Odoo gets its second SIGTERM apart from the first",
                )),
                t => t,
            },
        };
        let stop_delay = match env("STOP_DELAY") {
            None => Duration::ZERO,
            Some(v) => seconds("STOP_DELAY", &v)?,
        };
        let on_exit = match env("ON_EXIT") {
            None => OnExit::Exit,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "exit" => OnExit::Exit,
                "wait" => OnExit::Wait,
                "restart" => OnExit::Restart,
                _ => return Err(invalid("ON_EXIT", &v, "one of exit, wait, restart")),
            },
        };
        Ok(SupervisorConfig {
            stop_timeout,
            stop_delay,
            on_exit,
        })
    }
}

/// Where `odoo-init restart` leaves the pending arguments: a directory only
/// this user can write. `ODOO_INIT_RUNTIME_DIR`, else `/tmp/odoo-init-UID`.
pub fn runtime_dir(env: Lookup) -> PathBuf {
    match env("ODOO_INIT_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(format!("/tmp/odoo-init-{}", nix::unistd::geteuid())),
    }
}

/// The longest duration any variable takes: deadlines computed from it never
/// overflow.
pub const MAX_SECONDS: f64 = 31_536_000.0;

/// The shortest `STATE_LEASE`: the owner beats every quarter of its lease
/// (at least every second) and, when its connection dropped, tries again
/// at most `db::conn::BACKOFF_MAX` (2 s) after the database is back; a waiter
/// needs a whole lease of silence to write `Reset`. 5 s leaves that room.
pub const MIN_LEASE: Duration = Duration::from_secs(5);

/// A number of seconds, fractions allowed (`25`, `0.5`), at most a year.
pub fn seconds(variable: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s <= MAX_SECONDS)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            invalid(
                variable,
                value,
                "a number of seconds from 0 to 31536000 (a year), such as 25 or 0.5",
            )
        })
}

pub fn invalid(variable: &str, value: &str, accepted: &str) -> ConfigError {
    ConfigError {
        variable: variable.to_string(),
        value: Some(value.to_string()),
        accepted: accepted.to_string(),
    }
}

/// Where the Odoo database is, and as whom to connect.
#[derive(Clone)]
pub struct Db {
    pub host: String,
    pub port: u16,
    /// `None` only with `LIST_DB=True`.
    pub name: Option<String>,
    pub user: String,
    pub password: Option<String>,
    /// TLS with libpq's `sslmode` semantics.
    pub tls: crate::db::tls::Settings,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("name", &self.name)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("tls", &self.tls)
            .finish()
    }
}

impl Db {
    /// `DB_*`, then libpq's `PG*`, then `db_*` of the Odoo config file, then
    /// defaults. `need_name`: a database name is required.
    pub fn from_env(
        env: Lookup,
        (rc_path, rc): (Option<&Path>, &HashMap<String, String>),
        need_name: bool,
    ) -> Result<Db, ConfigError> {
        // The value and where it came from: a variable, or a key of the config file.
        let source = |var: &str, pg: &str, key: &str| -> Option<(String, String)> {
            let from_file = || {
                let file = rc_path.map(|p| p.display().to_string()).unwrap_or_default();
                (format!("{key} ({file})"), rc_value(rc, key).cloned())
            };
            [
                (var.to_string(), env(var)),
                (pg.to_string(), env(pg)),
                from_file(),
            ]
            .into_iter()
            .find_map(|(name, v)| v.filter(|v| !v.is_empty()).map(|v| (name, v)))
        };
        let pick = |var: &str, pg: &str, key: &str| source(var, pg, key).map(|(_, v)| v);
        let host = pick("DB_HOST", "PGHOST", "db_host").unwrap_or_else(|| "localhost".into());
        let (port_source, port_value) = source("DB_PORT", "PGPORT", "db_port")
            .unwrap_or_else(|| ("DB_PORT".into(), "5432".into()));
        let port = port_value
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid(&port_source, &port_value, "a TCP port, 1 to 65535"))?;
        let name = pick("DB_NAME", "PGDATABASE", "db_name");
        let user = pick("DB_USER", "PGUSER", "db_user").unwrap_or_else(|| "odoo".into());
        let password = match secret(env, "DB_PASSWORD")? {
            Some(p) => Some(p),
            None => env("PGPASSWORD").or_else(|| rc_value(rc, "db_password").cloned()),
        };
        match &name {
            Some(n) => check_name("DB_NAME", n, DB_NAME_CHARS)?,
            None if need_name => {
                return Err(invalid(
                    "DB_NAME",
                    "",
                    "a database name: the state table lives in one database (or set PGDATABASE, or db_name in the Odoo config)",
                ))
            }
            None => {}
        }
        check_name("DB_USER", &user, ROLE_CHARS)?;
        let tls = crate::db::tls::Settings::from_env(env, rc)?;
        Ok(Db {
            host,
            port,
            name,
            user,
            password,
            tls,
        })
    }
}

/// `ODOO_RC` (default `/etc/odoo/odoo.conf` when it exists) and its `[options]`.
pub fn odoo_rc(env: Lookup) -> Result<(Option<PathBuf>, HashMap<String, String>), ConfigError> {
    let path = match env("ODOO_RC") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => Some(PathBuf::from(DEFAULT_ODOO_RC)).filter(|p| p.exists()),
    };
    let values = match &path {
        Some(p) => read_odoo_rc(p).map_err(|e| {
            invalid(
                "ODOO_RC",
                &p.display().to_string(),
                &format!("a readable Odoo config file ({e})"),
            )
        })?,
        None => HashMap::new(),
    };
    Ok((path, values))
}

/// Everything the main job (`odoo-init` with `MODE`) needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub modules: Vec<String>,
    pub server_wide_modules: Vec<String>,
    pub list_db: bool,
    /// How long a busy state may last before a waiting pod writes `Reset`.
    pub timeout: Duration,
    /// How long an owner's heartbeat may be silent before it counts as dead.
    pub lease: Duration,
    pub db: Db,
    pub admin_user: String,
    pub admin_password: Option<String>,
    pub db_wait_timeout: Duration,
    pub odoo_bin: PathBuf,
    pub odoo_rc: Option<PathBuf>,
    /// `None`: the default script is absent, the step is skipped.
    pub maintenance_script: Option<PathBuf>,
    pub supervisor: SupervisorConfig,
    pub runtime_dir: PathBuf,
    /// `DEMO`: let installs load Odoo's demo data.
    pub demo: bool,
    /// The Odoo config file sets `without_demo` itself (to anything).
    pub rc_sets_without_demo: bool,
    /// `ODOO_STEP_ARGS`: arguments for the install and update steps only.
    pub step_args: Vec<String>,
    /// `UPDATE`: what an update step updates.
    pub update: UpdateWhat,
    /// `ADDONS_PATH`: the directories whose addons are checksummed, instead
    /// of Odoo's own and its configured ones (`odoo::addons::discover`).
    pub addons_path: Option<Vec<PathBuf>>,
    /// `addons_path` of the Odoo config file, as written.
    pub rc_addons_path: Option<String>,
}

/// `UPDATE`: what an update step updates (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateWhat {
    /// The installed modules whose checksum differs from the stored one.
    Changed,
    /// Every installed module (or `MODULES`), as before checksums.
    All,
}

/// A comma-separated list of directories (`ADDONS_PATH`, Odoo's
/// `addons_path`), each one that can be listed; empty entries skipped.
pub fn directories(variable: &str, value: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let dirs: Vec<PathBuf> = value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    for dir in &dirs {
        if let Err(e) = std::fs::read_dir(dir) {
            return Err(invalid(
                variable,
                value,
                &format!(
                    "comma-separated readable directories ({}: {e})",
                    dir.display()
                ),
            ));
        }
    }
    Ok(dirs)
}

const DEFAULT_ODOO_RC: &str = "/etc/odoo/odoo.conf";
const DEFAULT_MAINTENANCE: &str = "/etc/odoo/run.sh";

impl Config {
    /// Reads and validates everything, touching nothing but files it reads.
    pub fn from_env(env: Lookup) -> Result<Config, ConfigError> {
        let Some(mode_value) = env("MODE") else {
            return Err(ConfigError {
                variable: "MODE".into(),
                value: None,
                accepted: format!("set it to one of {}", Mode::names()),
            });
        };
        let mode = Mode::parse(&mode_value)
            .ok_or_else(|| invalid("MODE", &mode_value, &format!("one of {}", Mode::names())))?;
        let list_db = match env("LIST_DB") {
            None => false,
            Some(v) => boolean("LIST_DB", &v)?,
        };
        if list_db && !mode.allows_list_db() {
            return Err(invalid(
                "LIST_DB",
                "True",
                &format!("False with MODE={mode}: only RunOnly (and Init, which then does nothing) work without one database"),
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
        let (odoo_rc, rc) = odoo_rc(env)?;
        let db = Db::from_env(env, (odoo_rc.as_deref(), &rc), !list_db)?;
        if db.user == "postgres" {
            return Err(invalid(
                "DB_USER",
                &db.user,
                "a role other than postgres: Odoo refuses to run as the superuser; Init creates the role for you",
            ));
        }
        let admin_user = env("DB_ADMIN_USER")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "postgres".into());
        check_name("DB_ADMIN_USER", &admin_user, ROLE_CHARS)?;
        let admin_password = secret(env, "DB_ADMIN_PASSWORD")?;

        let odoo_bin_value = env("ODOO_BIN")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "odoo".into());
        // ForceReadyState only writes a row: it never runs Odoo, so it needs none.
        let odoo_bin = if mode == Mode::ForceReadyState {
            PathBuf::from(&odoo_bin_value)
        } else {
            find_executable(&odoo_bin_value, env("PATH").as_deref())
                .map_err(|why| invalid("ODOO_BIN", &odoo_bin_value, &why))?
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
            Some(v) if !v.trim().is_empty() => Some(directories("ADDONS_PATH", &v)?),
            _ => None,
        };
        let maintenance_script = match env("MAINTENANCE_SCRIPT") {
            Some(path) if !path.is_empty() => {
                let p = PathBuf::from(&path);
                if !p.is_file() {
                    return Err(invalid(
                        "MAINTENANCE_SCRIPT",
                        &path,
                        "an existing script file",
                    ));
                }
                Some(p)
            }
            _ => Some(PathBuf::from(DEFAULT_MAINTENANCE)).filter(|p| p.is_file()),
        };
        Ok(Config {
            mode,
            modules: modules("MODULES", env)?,
            server_wide_modules: modules("SERVER_WIDE_MODULES", env)?,
            list_db,
            timeout,
            lease,
            db,
            admin_user,
            admin_password,
            db_wait_timeout,
            odoo_bin,
            odoo_rc,
            maintenance_script,
            supervisor: SupervisorConfig::from_env(env)?,
            runtime_dir: runtime_dir(env),
            demo,
            rc_sets_without_demo: rc.contains_key("without_demo"),
            step_args,
            update,
            addons_path,
            rc_addons_path: rc_value(&rc, "addons_path").cloned(),
        })
    }

    /// The database name; callers only ask when `LIST_DB` is off.
    pub fn db_name(&self) -> &str {
        self.db.name.as_deref().unwrap_or("")
    }
}

/// Odoo's own rule for database names (`odoo/service/db.py`).
const DB_NAME_CHARS: &str = "letters, digits, _ . - (not first), at most 63 bytes";
const ROLE_CHARS: &str = "letters, digits, _ . - @ (not first), at most 63 bytes";

fn check_name(variable: &str, value: &str, rule: &str) -> Result<(), ConfigError> {
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let extra: &[char] = if rule == ROLE_CHARS {
        &['_', '.', '-', '@']
    } else {
        &['_', '.', '-']
    };
    let rest_ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c));
    if first_ok && rest_ok && value.len() <= 63 {
        Ok(())
    } else {
        Err(invalid(variable, value, rule))
    }
}

fn modules(variable: &str, env: Lookup) -> Result<Vec<String>, ConfigError> {
    let value = env(variable).unwrap_or_default();
    let list: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
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

fn boolean(variable: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(
            variable,
            value,
            "True or False (also 1/0, yes/no, any case)",
        )),
    }
}

/// `ODOO_STEP_ARGS`: words as a shell splits them (blanks separate; single
/// quotes keep everything; double quotes keep all but `\"` and `\\`; a
/// backslash outside quotes keeps the next character), nothing expanded.
/// A secret option is refused: step command lines are logged.
fn step_args(value: &str) -> Result<Vec<String>, ConfigError> {
    let words = shell_words(value).ok_or_else(|| {
        invalid(
            "ODOO_STEP_ARGS",
            value,
            "Odoo arguments as a shell would split them (a quote is not closed)",
        )
    })?;
    if let Some(option) = crate::odoo::args::secret_in(words.iter().map(String::as_str)) {
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

/// Splits like a POSIX shell without expansions; `None` for an unclosed quote.
fn shell_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => w.push(c),
                            c => {
                                w.push('\\');
                                w.push(c);
                            }
                        },
                        c => w.push(c),
                    }
                }
            }
            '\\' => {
                let next = chars.next()?;
                word.get_or_insert_with(String::new).push(next);
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

fn seconds_or(variable: &str, env: Lookup, default: f64) -> Result<Duration, ConfigError> {
    match env(variable) {
        None => Ok(Duration::from_secs_f64(default)),
        Some(v) => seconds(variable, &v),
    }
}

/// The most a secret's `*_FILE` may hold (README, Secrets).
const SECRET_FILE_MAX: usize = 64 * 1024;
/// The most an Odoo config file may hold (README, Configuration).
const ODOO_RC_MAX: usize = 1024 * 1024;

/// `NAME` or `NAME_FILE` (content, one trailing newline stripped), never both.
/// A line break inside would break the password file children read: refused.
fn secret(env: Lookup, name: &str) -> Result<Option<String>, ConfigError> {
    let value = read_secret(env, name)?;
    if value.as_deref().is_some_and(|v| v.contains('\u{FFFD}')) {
        return Err(invalid(
            name,
            "<secret>",
            "valid UTF-8 text (PostgreSQL passwords are sent as UTF-8)",
        ));
    }
    if value.as_deref().is_some_and(|v| v.contains(['\n', '\r'])) {
        // The value itself is never shown.
        return Err(invalid(
            name,
            "<secret>",
            "a password without line breaks (a newline or carriage return inside cannot be passed to Odoo through its password file)",
        ));
    }
    Ok(value)
}

fn read_secret(env: Lookup, name: &str) -> Result<Option<String>, ConfigError> {
    let file_var = format!("{name}_FILE");
    match (env(name), env(&file_var)) {
        (Some(_), Some(path)) => Err(invalid(
            &file_var,
            &path,
            &format!("unset when {name} is set: give the secret one way only"),
        )),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => {
            let content = files::read_text(Path::new(&path), SECRET_FILE_MAX).map_err(|e| {
                invalid(
                    &file_var,
                    &path,
                    &format!("a readable file holding the secret ({e})"),
                )
            })?;
            let value = content.strip_suffix('\n').unwrap_or(&content);
            Ok(Some(value.strip_suffix('\r').unwrap_or(value).to_string()))
        }
        (None, None) => Ok(None),
    }
}

/// A value of the config file's `[options]`; `False` is how Odoo writes an
/// unset one.
pub fn rc_value<'a>(rc: &'a HashMap<String, String>, key: &str) -> Option<&'a String> {
    rc.get(key).filter(|v| v.as_str() != "False")
}

/// `[options]` of an Odoo config file, every key it sets (`False` included:
/// see [`rc_value`]).
pub fn read_odoo_rc(path: &Path) -> std::io::Result<HashMap<String, String>> {
    let text = files::read_text(path, ODOO_RC_MAX)?;
    let mut in_options = false;
    let mut values = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_options = line == "[options]";
        } else if let (true, Some((k, v))) = (in_options, line.split_once('=')) {
            let v = v.trim();
            if !line.starts_with(['#', ';']) {
                values.insert(k.trim().to_string(), v.to_string());
            }
        }
    }
    Ok(values)
}

/// Like the shell: a name with a slash is a path, otherwise it is looked up on PATH.
pub fn find_executable(name: &str, path_var: Option<&str>) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![PathBuf::from(name)]
    } else {
        std::env::split_paths(path_var.unwrap_or("/usr/local/bin:/usr/bin:/bin"))
            .map(|d| d.join(name))
            .collect()
    };
    let mut not_executable = None;
    for c in candidates {
        if let Ok(meta) = std::fs::metadata(&c) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(c);
            }
            not_executable = Some(c);
        }
    }
    Err(match not_executable {
        Some(p) => format!("an executable file ({} is not executable)", p.display()),
        None if name.contains('/') => "the path of the Odoo executable (no such file)".into(),
        None => "the Odoo executable, a path or a name found on PATH (not found)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<SupervisorConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SupervisorConfig::from_env(&move |k| map.get(k).cloned())
    }

    #[test]
    fn variables_lists_every_variable_the_code_reads() {
        let source = [include_str!("config.rs"), include_str!("db/tls.rs")].concat();
        let mut read = Vec::new();
        for opener in ["env(\"", "secret(env, \"", "seconds_or(\"", "modules(\""] {
            for part in source.split(opener).skip(1) {
                if let Some(name) = part.split('"').next() {
                    read.push(name.to_string());
                }
            }
        }
        // pick(A, B, key) and pick(env, A, B): the libpq fallback B is the second string.
        for opener in ["pick(\"", "pick(env, \""] {
            for part in source.split(opener).skip(1) {
                read.extend(part.split('"').step_by(2).take(2).map(str::to_string));
            }
        }
        read.retain(|n| {
            n.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !n.is_empty() && n != "PATH"
        });
        assert!(read.len() > 15, "{read:?}");
        for name in read {
            assert!(
                VARIABLES.contains(&name.as_str()),
                "{name} missing from VARIABLES"
            );
        }
    }

    #[test]
    fn step_arguments_split_like_a_shell() {
        let words = |t: &str| shell_words(t);
        assert_eq!(
            words(r#"--log-level=debug  --addons-path '/a b,/c' "x \"y\"" a\ b"#),
            Some(vec![
                "--log-level=debug".to_string(),
                "--addons-path".into(),
                "/a b,/c".into(),
                "x \"y\"".into(),
                "a b".into(),
            ])
        );
        assert_eq!(words(""), Some(vec![]));
        assert_eq!(words("''"), Some(vec![String::new()]));
        assert_eq!(words("'open"), None);
        assert_eq!(words("\"open"), None);
        assert_eq!(words("end\\"), None);
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
