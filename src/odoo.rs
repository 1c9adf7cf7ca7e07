//! Odoo's command lines and the environment its processes get. Secrets never
//! go on a command line: Odoo and the maintenance script reach the database
//! through libpq's environment and a 0600 password file.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::supervisor::ChildSpec;

/// Keeps a one-off Odoo run from serving HTTP or running crons.
const ONE_OFF: [&str; 3] = ["--stop-after-init", "--no-http", "--max-cron-threads=0"];
/// Odoo's default server-wide modules; `--load` replaces them, so they stay.
const DEFAULT_LOAD: [&str; 2] = ["base", "web"];

fn os(s: impl Into<OsString>) -> OsString {
    s.into()
}

/// Install `MODULES` + `SERVER_WIDE_MODULES` (`base` when both are empty).
pub fn install(cfg: &Config) -> Vec<OsString> {
    let mut mods: Vec<String> = cfg.modules.clone();
    mods.extend(cfg.server_wide_modules.iter().cloned());
    if mods.is_empty() {
        mods.push("base".into());
    }
    one_off(cfg, "-i", &mods.join(","))
}

/// Update every installed module (`-u all`), or only `MODULES` +
/// `SERVER_WIDE_MODULES` when they are given.
pub fn update(cfg: &Config) -> Vec<OsString> {
    let mut mods: Vec<String> = cfg.modules.clone();
    mods.extend(cfg.server_wide_modules.iter().cloned());
    let list = if mods.is_empty() {
        "all".to_string()
    } else {
        mods.join(",")
    };
    one_off(cfg, "-u", &list)
}

fn one_off(cfg: &Config, flag: &str, modules: &str) -> Vec<OsString> {
    let mut argv = vec![
        os(&cfg.odoo_bin),
        os("-d"),
        os(cfg.db_name()),
        os(flag),
        os(modules),
    ];
    argv.extend(ONE_OFF.iter().map(os));
    argv
}

/// The run phase: `ODOO_BIN [-d DB] [--load=...] [--no-database-list] EXTRA...`.
pub fn run(cfg: &Config, extra: &[OsString]) -> Vec<OsString> {
    let mut argv = vec![os(&cfg.odoo_bin)];
    if !cfg.list_db {
        argv.extend([os("-d"), os(cfg.db_name())]);
    }
    if !cfg.server_wide_modules.is_empty() {
        let mut load: Vec<&str> = DEFAULT_LOAD.to_vec();
        load.extend(
            cfg.server_wide_modules
                .iter()
                .map(String::as_str)
                .filter(|m| !DEFAULT_LOAD.contains(m)),
        );
        argv.push(os(format!("--load={}", load.join(","))));
    }
    if !cfg.list_db {
        argv.push(os("--no-database-list"));
    }
    argv.extend(extra.iter().cloned());
    argv
}

/// The maintenance script; run through `sh` when it is not executable.
pub fn maintenance(script: &Path) -> Vec<OsString> {
    let executable = std::fs::metadata(script).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    if executable {
        vec![os(script)]
    } else {
        vec![os("/bin/sh"), os(script)]
    }
}

/// libpq's environment for every child; passwords only through `passfile`.
pub fn environment(cfg: &Config, passfile: Option<&Path>) -> Vec<(OsString, Option<OsString>)> {
    let mut env = vec![
        (os("PGHOST"), Some(os(&cfg.db.host))),
        (os("PGPORT"), Some(os(cfg.db.port.to_string()))),
        (os("PGUSER"), Some(os(&cfg.db.user))),
        (os("PGDATABASE"), cfg.db.name.as_ref().map(os)),
        (os("PGPASSFILE"), passfile.map(os)),
    ];
    for secret in ["DB_PASSWORD", "DB_ADMIN_PASSWORD", "PGPASSWORD"] {
        env.push((os(secret), None));
    }
    env
}

/// Writes `password` for `user` into a 0600 file in the private runtime directory.
pub fn write_passfile(dir: &Path, user: &str, password: &str) -> std::io::Result<PathBuf> {
    let escape = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
    let path = dir.join("pgpass");
    let tmp = dir.join(format!("pgpass.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    writeln!(f, "*:*:*:{}:{}", escape(user), escape(password))?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The step's command with the children's environment.
pub fn spec(argv: Vec<OsString>, env: &[(OsString, Option<OsString>)]) -> ChildSpec {
    ChildSpec {
        argv,
        env: env.to_vec(),
    }
}
