//! The database side of the stand-in, like `odoo-bin -d DB -i M` / `-u M`
//! with `--stop-after-init`: create the database if it is missing, record
//! installed modules in `ir_module_module` (with whether they got demo
//! data), mark updated ones (exactly those `-u` names, or every installed
//! one for `all`). Like Odoo's `base`, it has `ir_config_parameter` and
//! `res_lang` (`en_US` active), where the module checksums and the active
//! languages are, and `res_users` with `admin` (password `admin`, as a new
//! Odoo database has; the stand-in keeps it as text, Odoo hashes it). A module must be built in or on the addons
//! path; one that is not is a warning and is skipped, and the run still
//! exits 0, as Odoo's does.
//!
//! It talks to PostgreSQL through `psql`, i.e. through libpq, which is what
//! Odoo's psycopg2 uses: its `db_*` options first, else libpq's environment
//! (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSFILE`, `PGPASSWORD`, and for TLS
//! `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`, `PGSSLCRL`, `PGCHANNELBINDING`).
//! The TLS mode is Odoo's own: `--db_sslmode`, else `db_sslmode` of the
//! config file, else `prefer`, passed to libpq explicitly as Odoo's
//! `sql_db` does, so that `PGSSLMODE` in its environment changes nothing.
//! Each step records its own connection's `pg_stat_ssl` row in
//! `standin_connection_ssl` (a test aid, not an Odoo table): the database's
//! word on whether that connection was encrypted.
//!
//! Controls: `STANDIN_STEP_MS` (how long the work takes: inside the step's
//! one database session, as Odoo's install and update hold their
//! connection, so that ending the session (fencing, a restart of the
//! server) ends the work unfinished and the step fails, as Odoo's does;
//! with `STANDIN_STEP_SESSION=0` the work holds no session and survives
//! such an outage, as a step that reconnects would), `STANDIN_UPDATE_FAIL=1`
//! (an update fails, exit 1; `half`: after committing part of its work and
//! writing a file to the filestore, `-D`/`data_dir`, as Odoo's would;
//! `STANDIN_UPDATE_FAIL_DB=NAME`: only the update of that database fails), `STANDIN_UPDATE_HANG=1` (an update hangs until
//! SIGTERM/SIGINT, then exits 1).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odoo_init::pid1::signals::Signals;

#[derive(Default)]
pub struct DbOptions {
    pub database: Option<String>,
    pub install: Option<String>,
    pub update: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `-c`/`--config`: the config file, instead of `ODOO_RC`.
    pub config: Option<String>,
    /// `--db_sslmode` (or `db_sslmode` of the config file); `prefer` when neither.
    pub sslmode: Option<String>,
    /// `--addons-path` (or `addons_path` of the config file).
    pub addons_path: Option<String>,
    /// `--without-demo` (any value on the command line, anything but
    /// `False` in the config file): installs load no demo data.
    pub without_demo: Option<String>,
    /// `-D`/`--data-dir` (or `data_dir` of the config file): where the
    /// filestore is; Odoo's default when neither.
    pub data_dir: Option<String>,
}

impl DbOptions {
    /// Odoo's data directory: the option, else `~/.local/share/Odoo` when
    /// the home directory exists, else `/var/lib/odoo` (`tools/config.py`).
    pub fn data_dir(&self) -> std::path::PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.into();
        }
        match std::env::var_os("HOME").map(std::path::PathBuf::from) {
            Some(home) if home.is_dir() => home.join(".local/share/Odoo"),
            _ => "/var/lib/odoo".into(),
        }
    }
}

/// The addons that come with Odoo itself (a few of them): always found,
/// as Odoo's own `addons` directory is always on its path.
const BUILT_IN: &[&str] = &[
    "base",
    "web",
    "mail",
    "contacts",
    "sale",
    "sale_management",
    "crm",
    "account",
    "stock",
    "purchase",
    "project",
    "hr",
    "website",
    "calendar",
    "product",
    "uom",
    "portal",
    "bus",
    "base_setup",
    "auth_signup",
    "point_of_sale",
    "mrp",
];

/// Where Odoo would find `module`: built in, or a directory with a
/// `__manifest__.py` on the addons path.
fn found(opts: &DbOptions, module: &str) -> bool {
    BUILT_IN.contains(&module)
        || opts.addons_path.as_deref().is_some_and(|paths| {
            paths
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .any(|p| {
                    std::path::Path::new(p)
                        .join(module)
                        .join("__manifest__.py")
                        .is_file()
                })
        })
}

pub enum Outcome {
    Done(String),
    Failed(String),
}

/// The Odoo series played (`STANDIN_SERIES`, 15 to 18; 17).
pub fn series() -> u32 {
    crate::env_num("STANDIN_SERIES").map_or(17, |n| n as u32)
}

/// Runs `-i`/`-u` against the database; what to log and how to exit.
pub fn run(opts: &DbOptions, signals: &Signals) -> Outcome {
    let Some(db) = &opts.database else {
        return Outcome::Failed("no database given (-d)".into());
    };
    let exists = match psql(
        opts,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            lit(db)
        ),
    ) {
        Ok(out) => out.trim() == "1",
        Err(e) => return Outcome::Failed(format!("psycopg2.OperationalError: {e}")),
    };
    if !exists {
        if opts.install.is_none() {
            return Outcome::Failed(format!(
                "psycopg2.OperationalError: database \"{db}\" does not exist"
            ));
        }
        let create = format!(
            "CREATE DATABASE {} ENCODING 'unicode' LC_COLLATE 'C' TEMPLATE template0",
            ident(db)
        );
        if let Err(e) = psql(opts, "postgres", &create) {
            return Outcome::Failed(format!("creating database {db}: {e}"));
        }
    }
    let mut sql = String::from(
        "CREATE TABLE IF NOT EXISTS ir_module_module (name varchar PRIMARY KEY, \
         state varchar NOT NULL, update_count integer NOT NULL DEFAULT 0, \
         write_date timestamptz NOT NULL DEFAULT now());\n\
         ALTER TABLE ir_module_module ADD COLUMN IF NOT EXISTS demo boolean NOT NULL DEFAULT false;\n\
         ALTER TABLE ir_module_module ADD COLUMN IF NOT EXISTS latest_version varchar;\n\
         CREATE TABLE IF NOT EXISTS ir_config_parameter (id serial PRIMARY KEY, \
         key varchar NOT NULL UNIQUE, value text NOT NULL, create_uid integer, \
         create_date timestamp, write_uid integer, write_date timestamp);\n\
         CREATE TABLE IF NOT EXISTS res_lang (id serial PRIMARY KEY, code varchar NOT NULL UNIQUE, \
         active boolean);\n\
         CREATE TABLE IF NOT EXISTS res_users (id serial PRIMARY KEY, login varchar NOT NULL UNIQUE, \
         password varchar);\n\
         INSERT INTO res_users (id, login, password) VALUES (1, '__system__', NULL), (2, 'admin', 'admin') \
         ON CONFLICT (id) DO NOTHING;\n\
         INSERT INTO res_lang (code, active) VALUES ('en_US', true) ON CONFLICT (code) DO NOTHING;\n\
         CREATE TABLE IF NOT EXISTS standin_connection_ssl (at timestamptz NOT NULL DEFAULT now(), \
         ssl boolean NOT NULL, version text);\n\
         INSERT INTO standin_connection_ssl (ssl, version) \
         SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n",
    );
    let mut done = Vec::new();
    if let Some(list) = &opts.install {
        let mut mods: Vec<&str> = list.split(',').filter(|m| !m.is_empty()).collect();
        if !mods.contains(&"base") {
            mods.insert(0, "base");
        }
        // Like Odoo: a name on no addons path is a warning, and the rest goes on.
        let (known, unknown): (Vec<&str>, Vec<&str>) =
            mods.into_iter().partition(|m| found(opts, m));
        if !unknown.is_empty() {
            let warning = format!("invalid module names, ignored: {}", unknown.join(", "));
            eprintln!("WARNING {db} odoo.modules.loading: {warning}");
            crate::event("server", &warning);
        }
        // Odoo 15-18: demo data for the modules installed, unless without_demo.
        let demo = opts.without_demo.is_none();
        let series = series();
        for m in &known {
            sql.push_str(&format!(
                "INSERT INTO ir_module_module (name, state, demo, latest_version) \
                 VALUES ({}, 'installed', {demo}, '{series}.0.1.0') \
                 ON CONFLICT (name) DO UPDATE SET state = 'installed', write_date = now(), \
                 latest_version = excluded.latest_version;\n",
                lit(m)
            ));
        }
        done.push(format!(
            "installed {} (demo {})",
            known.join(","),
            if demo { "on" } else { "off" }
        ));
    }
    if let Some(list) = &opts.update {
        // One database of many fails (STANDIN_UPDATE_FAIL_DB=NAME).
        if std::env::var("STANDIN_UPDATE_FAIL_DB").is_ok_and(|d| &d == db) {
            return Outcome::Failed(format!("update of {db} failed (STANDIN_UPDATE_FAIL_DB)"));
        }
        match std::env::var("STANDIN_UPDATE_FAIL").as_deref() {
            Ok("1") => return Outcome::Failed("update failed (STANDIN_UPDATE_FAIL)".into()),
            // As Odoo's update, which commits module by module: what was
            // done before the failure stays, in the database and the files.
            Ok("half") => return half_done(opts, db),
            _ => {}
        }
        if std::env::var("STANDIN_UPDATE_HANG").is_ok_and(|v| v == "1") {
            crate::event("server", "update hanging");
            while let Some(sig) = signals.wait(None) {
                crate::log_signal("server", &sig);
                if matches!(sig.signo, libc::SIGTERM | libc::SIGINT) {
                    return Outcome::Failed("update interrupted".into());
                }
            }
        }
        let filter = if list == "all" {
            String::new()
        } else {
            let names: Vec<String> = list.split(',').map(lit).collect();
            format!(" AND name IN ({})", names.join(", "))
        };
        sql.push_str(&format!(
            "UPDATE ir_module_module SET update_count = update_count + 1, write_date = now() \
             WHERE state = 'installed'{filter};\n"
        ));
        done.push(format!("updated {list}"));
    }
    // The work itself takes a while; signals still end it like Odoo's. Said
    // once the database was reached, so that a test can disturb the database
    // during the work and not before it (where real Odoo fails to start too).
    crate::event("server", "working");
    let ms = crate::env_num("STANDIN_STEP_MS").unwrap_or(0);
    if std::env::var("STANDIN_STEP_SESSION").as_deref() != Ok("0") {
        // As Odoo's update: the work inside the step's one session, so that
        // ending that session (fencing, a restart) ends the work unfinished.
        let script = format!("SELECT pg_sleep({});\n{sql}", ms as f64 / 1000.0);
        return match in_session(opts, db, &script, signals) {
            Ok(()) => Outcome::Done(done.join("; ")),
            Err(e) => Outcome::Failed(e),
        };
    }
    let until = Instant::now() + Duration::from_millis(ms);
    while let Some(sig) = signals.wait(Some(until)) {
        crate::log_signal("server", &sig);
        if matches!(sig.signo, libc::SIGTERM | libc::SIGINT) {
            return Outcome::Failed("interrupted".into());
        }
    }
    match psql(opts, db, &sql) {
        Ok(_) => Outcome::Done(done.join("; ")),
        Err(e) => Outcome::Failed(e),
    }
}

/// An update that fails halfway: `base` updated and a table made (both
/// committed), an attachment written to the filestore, then the failure.
fn half_done(opts: &DbOptions, db: &str) -> Outcome {
    let sql = "CREATE TABLE standin_half_done (at timestamptz NOT NULL DEFAULT now());\n\
        INSERT INTO standin_half_done DEFAULT VALUES;\n\
        UPDATE ir_module_module SET update_count = update_count + 1, write_date = now() \
        WHERE name = 'base';\n";
    if let Err(e) = psql(opts, db, sql) {
        return Outcome::Failed(e);
    }
    let file = opts
        .data_dir()
        .join("filestore")
        .join(db)
        .join("standin/half-done");
    let written = file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&file, "written by the update that failed\n"));
    if let Err(e) = written {
        return Outcome::Failed(format!("writing {}: {e}", file.display()));
    }
    Outcome::Failed("update failed halfway (STANDIN_UPDATE_FAIL=half)".into())
}

/// The `application_name` Odoo (16 to 18, `odoo/sql_db.py`) gives its
/// connections: `ODOO_PGAPPNAME` with `{pid}` replaced, cut at 63
/// characters, else `odoo-PID`; explicitly, so libpq's `PGAPPNAME` of the
/// environment does not reach them.
fn application_name() -> String {
    let pid = std::process::id().to_string();
    match std::env::var("ODOO_PGAPPNAME") {
        Ok(name) => name.replace("{pid}", &pid).chars().take(63).collect(),
        Err(_) => format!("odoo-{pid}"),
    }
}

/// Runs `sql` in one psql session while signals are taken: SIGTERM/SIGINT
/// end it (the session with it), as they end Odoo's work.
fn in_session(opts: &DbOptions, db: &str, sql: &str, signals: &Signals) -> Result<(), String> {
    let mut child = psql_start(opts, db, sql)?;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return psql_finish(child).map(|_| ());
        }
        if let Some(sig) = signals.wait(Some(Instant::now() + Duration::from_millis(50))) {
            crate::log_signal("server", &sig);
            if matches!(sig.signo, libc::SIGTERM | libc::SIGINT) {
                let _ = child.kill();
                let _ = child.wait();
                return Err("interrupted".into());
            }
        }
    }
}

/// Runs SQL through psql (stdin, so nothing of it is on a command line).
pub fn psql(opts: &DbOptions, dbname: &str, sql: &str) -> Result<String, String> {
    psql_finish(psql_start(opts, dbname, sql)?)
}

fn psql_start(opts: &DbOptions, dbname: &str, sql: &str) -> Result<std::process::Child, String> {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-t",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        dbname,
        "-f",
        "-",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (var, value) in [
        ("PGHOST", &opts.host),
        ("PGPORT", &opts.port),
        ("PGUSER", &opts.user),
        ("PGPASSWORD", &opts.password),
    ] {
        if let Some(v) = value {
            cmd.env(var, v);
        }
    }
    cmd.env("PGSSLMODE", opts.sslmode.as_deref().unwrap_or("prefer"));
    cmd.env("PGAPPNAME", application_name());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run psql: {e} (apt-get install postgresql-client)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(sql.as_bytes());
    }
    Ok(child)
}

fn psql_finish(child: std::process::Child) -> Result<String, String> {
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
