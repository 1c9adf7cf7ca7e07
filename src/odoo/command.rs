//! Odoo's command lines and the environment its processes get. Secrets never
//! go on a command line: Odoo and the maintenance script reach the database
//! through libpq's environment and a 0600 password file.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::args;
use crate::db::Db;

/// What Odoo's command lines are made of. No secret: Odoo gets the
/// password through the password file, never from here.
#[derive(Debug, Clone)]
pub(crate) struct Odoo {
    /// `ODOO_BIN`, found.
    pub(crate) bin: PathBuf,
    /// `DB_NAME`; `None` with `LIST_DB=True` (no `-d`).
    pub(crate) database: Option<String>,
    pub(crate) modules: Vec<String>,
    pub(crate) server_wide_modules: Vec<String>,
    /// `DEMO`: let installs load Odoo's demo data.
    pub(crate) demo: bool,
    /// The Odoo config file sets `without_demo` itself (to anything).
    pub(crate) rc_sets_without_demo: bool,
    /// `ODOO_STEP_ARGS`: arguments for the install and update steps only.
    pub(crate) step_args: Vec<String>,
    /// The TLS mode for `--db_sslmode`, when the environment chose it.
    pub(crate) sslmode: Option<String>,
    /// `--db_host=...` and the like: the environment's choices where Odoo's
    /// config file says otherwise (Odoo would read the file's).
    pub(crate) db_args: Vec<String>,
    /// The copy of Odoo's config file with the master password's hash
    /// (`ADMIN_PASSWD`), in the runtime directory: `--config` of the run
    /// phase. Set once it is written.
    pub(crate) master_rc: Option<PathBuf>,
}

/// Keeps a one-off Odoo run from serving HTTP or running crons.
const ONE_OFF: [&str; 3] = ["--stop-after-init", "--no-http", "--max-cron-threads=0"];
/// Odoo's default server-wide modules; `--load` replaces them, so they stay.
const DEFAULT_LOAD: [&str; 2] = ["base", "web"];

fn os(s: impl Into<OsString>) -> OsString {
    s.into()
}

/// The modules an install step asks for: `MODULES` + `SERVER_WIDE_MODULES`
/// (`base` when both are empty).
pub fn to_install(cfg: &Odoo) -> Vec<String> {
    let mut mods: Vec<String> = cfg.modules.clone();
    mods.extend(cfg.server_wide_modules.iter().cloned());
    if mods.is_empty() {
        mods.push("base".into());
    }
    mods
}

/// The modules an update step names: `MODULES` + `SERVER_WIDE_MODULES`;
/// empty for every installed module (`-u all`).
pub fn to_update(cfg: &Odoo) -> Vec<String> {
    let mut mods: Vec<String> = cfg.modules.clone();
    mods.extend(cfg.server_wide_modules.iter().cloned());
    mods
}

/// Install [`to_install`], with the user's arguments that reach the steps
/// (`extra`, see [`args`]) and `ODOO_STEP_ARGS`.
pub fn install(cfg: &Odoo, extra: &[OsString]) -> Vec<OsString> {
    one_off(cfg, &[("-i", to_install(cfg))], extra)
}

/// One Odoo run that installs `install` (the modules of `MODULES` the
/// database lacks) and updates `update` (`None`: [`to_update`], or every
/// installed module; an empty list: none).
pub fn update_and_install(
    cfg: &Odoo,
    extra: &[OsString],
    update: Option<&[String]>,
    install: &[String],
) -> Vec<OsString> {
    let mut parts = Vec::new();
    if !install.is_empty() {
        parts.push(("-i", install.to_vec()));
    }
    match update {
        None if to_update(cfg).is_empty() => parts.push(("-u", vec!["all".to_string()])),
        None => parts.push(("-u", to_update(cfg))),
        Some(list) if !list.is_empty() => parts.push(("-u", list.to_vec())),
        Some(_) => {}
    }
    one_off(cfg, &parts, extra)
}

/// Odoo's one-off run: `-d DB`, each `(flag, modules)`, the arguments for
/// the steps, `--stop-after-init` and the like. Where it installs, without
/// demo data unless `DEMO=True`, or the config file or those arguments
/// decide it themselves (Odoo 15 to 18 load it by default;
/// `--without-demo=all` is the spelling all of them accept).
fn one_off(cfg: &Odoo, parts: &[(&str, Vec<String>)], extra: &[OsString]) -> Vec<OsString> {
    let mut argv = vec![
        os(&cfg.bin),
        os("-d"),
        os(cfg.database.as_deref().unwrap_or("")),
    ];
    for (flag, modules) in parts {
        argv.extend([os(*flag), os(modules.join(","))]);
    }
    argv.extend(sslmode(cfg));
    argv.extend(cfg.db_args.iter().map(os));
    let step_args = args::for_steps(extra);
    let installs = parts.iter().any(|(flag, _)| *flag == "-i");
    let decided = cfg.demo
        || cfg.rc_sets_without_demo
        || args::sets_without_demo(step_args.iter().map(|a| a.as_os_str()))
        || args::sets_without_demo(cfg.step_args.iter().map(OsStr::new));
    argv.extend(step_args);
    argv.extend(cfg.step_args.iter().map(os));
    argv.extend(ONE_OFF.iter().map(os));
    if installs && !decided {
        argv.push(os("--without-demo=all"));
    }
    argv
}

/// Odoo's own neutralize (16+) of the database `db` (a restored copy not
/// yet in place): `ODOO_BIN neutralize -d DB`, with the database options
/// and the arguments for the steps, as the steps have them.
pub fn neutralize(cfg: &Odoo, db: &str, extra: &[OsString]) -> Vec<OsString> {
    let mut argv = vec![os(&cfg.bin), os("neutralize"), os("-d"), os(db)];
    argv.extend(sslmode(cfg));
    argv.extend(cfg.db_args.iter().map(os));
    argv.extend(args::for_steps(extra));
    argv.extend(cfg.step_args.iter().map(os));
    argv
}

/// The run phase: `ODOO_BIN [-d DB] [--load=...] [--no-database-list] EXTRA...`.
pub fn run(cfg: &Odoo, extra: &[OsString]) -> Vec<OsString> {
    let mut argv = vec![os(&cfg.bin)];
    if let Some(rc) = &cfg.master_rc {
        argv.push(os(format!("--config={}", rc.display())));
    }
    if let Some(database) = &cfg.database {
        argv.extend([os("-d"), os(database)]);
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
    if cfg.database.is_some() {
        argv.push(os("--no-database-list"));
    }
    argv.extend(sslmode(cfg));
    argv.extend(cfg.db_args.iter().map(os));
    argv.extend(extra.iter().cloned());
    argv
}

/// `--db_sslmode=MODE` when `DB_SSLMODE` or `PGSSLMODE` chose it: Odoo
/// hands libpq its own `db_sslmode` (default `prefer`) on every connection,
/// so libpq's `PGSSLMODE` alone would not reach it. A mode from Odoo's
/// config file reaches it there. The user's own `--db_sslmode` comes later
/// and wins, as Odoo takes the last.
fn sslmode(cfg: &Odoo) -> Option<OsString> {
    cfg.sslmode
        .as_ref()
        .map(|mode| os(format!("--db_sslmode={mode}")))
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

/// The variables whose values are secrets (the others of [`SECRETS`] name
/// files): scrubbed from PID 1's own environment block once read.
pub(crate) const SECRET_VALUES: [&str; 6] = [
    "DB_PASSWORD",
    "DB_ADMIN_PASSWORD",
    "PGPASSWORD",
    "PASSWORD",
    "ADMIN_PASSWORD",
    "ADMIN_PASSWD",
];

/// Removed from every child's environment: the secrets, and where they came
/// from; a child has no business with either.
const SECRETS: [&str; 11] = [
    "DB_PASSWORD",
    "DB_PASSWORD_FILE",
    "DB_ADMIN_PASSWORD",
    "DB_ADMIN_PASSWORD_FILE",
    "PGPASSWORD",
    // Odoo's administrator (its `admin` user)
    "ADMIN_PASSWORD",
    "ADMIN_PASSWORD_FILE",
    // Odoo's master password (`admin_passwd`)
    "ADMIN_PASSWD",
    "ADMIN_PASSWD_FILE",
    // the official image's names
    "PASSWORD",
    "PASSWORD_FILE",
];

/// libpq's environment for every child; passwords only through `passfile`.
pub(crate) fn environment(db: &Db, passfile: Option<&Path>) -> Vec<(OsString, Option<OsString>)> {
    let mut env = vec![
        (os("PGHOST"), Some(os(&db.host))),
        (os("PGPORT"), Some(os(db.port.to_string()))),
        (os("PGUSER"), Some(os(&db.user))),
        (os("PGDATABASE"), db.name.as_ref().map(os)),
    ];
    // Without a password of ours, a PGPASSFILE of the user's own stays as it is.
    if let Some(path) = passfile {
        env.push((os("PGPASSFILE"), Some(os(path))));
    }
    // TLS as odoo-init's own connections have it: the mode for the
    // maintenance script (Odoo gets `--db_sslmode`), the files for both
    // (Odoo has no options for them; its libpq reads these). Files libpq
    // finds by itself (~/.postgresql) are not named.
    let tls = &db.tls;
    env.push((os("PGSSLMODE"), Some(os(tls.mode.as_str()))));
    for (name, value) in [
        ("PGSSLROOTCERT", &tls.files.root_cert),
        ("PGSSLCERT", &tls.files.cert),
        ("PGSSLKEY", &tls.files.key),
        ("PGSSLCRL", &tls.files.crl),
    ] {
        if let Some(v) = value {
            env.push((os(name), Some(os(v))));
        }
    }
    if let Some(binding) = tls.channel_binding_set() {
        env.push((os("PGCHANNELBINDING"), Some(os(binding))));
    }
    for secret in SECRETS {
        env.push((os(secret), None));
    }
    env
}

/// The environment of a claimed step: its database sessions carry `tag` as
/// their `application_name`: Odoo's through `ODOO_PGAPPNAME` (`{pid}`
/// replaced by Odoo), those of libpq clients such as `psql` in a
/// maintenance script through `PGAPPNAME`.
pub(crate) fn tagged(
    mut env: Vec<(OsString, Option<OsString>)>,
    tag: &str,
) -> Vec<(OsString, Option<OsString>)> {
    env.push((os("ODOO_PGAPPNAME"), Some(os(format!("{tag}-{{pid}}")))));
    env.push((os("PGAPPNAME"), Some(os(tag))));
    env
}

/// The password file's one line (libpq's `.pgpass` format): any host, port
/// and database, this user and password, with `\\` and `:` escaped.
pub fn passfile_line(user: &str, password: &str) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
    format!("*:*:*:{}:{}\n", escape(user), escape(password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut map: HashMap<String, String> = [
            ("MODE", "UpdateAndRun"),
            ("DB_NAME", "odoo"),
            ("ODOO_BIN", "/bin/sh"),
            // No ~/.postgresql of this machine's.
            ("HOME", "/nonexistent"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        map.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_env(&move |k| map.get(k).cloned(), crate::config::Entry::Main).unwrap()
    }

    fn value<'a>(
        env: &'a [(OsString, Option<OsString>)],
        name: &str,
    ) -> Option<&'a Option<OsString>> {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    #[test]
    fn a_claimed_steps_sessions_carry_its_tag() {
        let env = tagged(Vec::new(), "odoo-init-claim-7");
        assert_eq!(
            value(&env, "PGAPPNAME"),
            Some(&Some(os("odoo-init-claim-7")))
        );
        assert_eq!(
            value(&env, "ODOO_PGAPPNAME"),
            Some(&Some(os("odoo-init-claim-7-{pid}")))
        );
    }

    #[test]
    fn secrets_are_removed_and_the_password_file_is_only_ours_when_we_have_one() {
        let cfg = config(&[("DB_PASSWORD", "pw")]);
        let env = environment(&cfg.db, Some(Path::new("/run/x/pgpass")));
        assert_eq!(value(&env, "PGPASSFILE"), Some(&Some(os("/run/x/pgpass"))));
        for secret in SECRETS {
            assert_eq!(value(&env, secret), Some(&None), "{secret} removed");
        }
        let env = environment(&config(&[]).db, None);
        assert_eq!(value(&env, "PGPASSFILE"), None, "left as the user set it");
    }

    #[test]
    fn the_tls_mode_reaches_odoo_only_when_the_environment_chose_it() {
        let has = |v: &[OsString], arg: &str| v.iter().any(|a| a == arg);
        for var in ["DB_SSLMODE", "PGSSLMODE"] {
            let cfg = config(&[(var, "require"), ("DB_CHANNEL_BINDING", "require")]);
            assert!(has(&run(&cfg.odoo, &[]), "--db_sslmode=require"), "{var}");
            assert!(
                has(
                    &update_and_install(&cfg.odoo, &[], None, &[]),
                    "--db_sslmode=require"
                ),
                "{var}"
            );
            let env = environment(&cfg.db, None);
            assert_eq!(value(&env, "PGSSLMODE"), Some(&Some(os("require"))));
            assert_eq!(value(&env, "PGCHANNELBINDING"), Some(&Some(os("require"))));
        }
        // The default: Odoo keeps its own db_sslmode (prefer, or its config file's).
        let cfg = config(&[]);
        assert!(!run(&cfg.odoo, &[])
            .iter()
            .any(|a| a.to_string_lossy().contains("sslmode")));
        assert_eq!(
            value(&environment(&cfg.db, None), "PGSSLMODE"),
            Some(&Some(os("prefer")))
        );
        assert_eq!(value(&environment(&cfg.db, None), "PGSSLROOTCERT"), None);
    }

    #[test]
    fn command_lines_follow_the_spec() {
        let cfg = config(&[
            ("MODULES", "sale,crm"),
            ("SERVER_WIDE_MODULES", "queue_job"),
        ]);
        let line = |v: Vec<OsString>| {
            v.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let extra = [os("--addons-path"), os("/mnt/a"), os("--workers"), os("2")];
        assert_eq!(
            line(install(&cfg.odoo, &extra)),
            "/bin/sh -d odoo -i sale,crm,queue_job --addons-path /mnt/a --stop-after-init --no-http --max-cron-threads=0 --without-demo=all"
        );
        assert_eq!(
            line(update_and_install(&config(&[("ODOO_STEP_ARGS", "--log-level=debug")]).odoo, &extra, None, &[])),
            "/bin/sh -d odoo -u all --addons-path /mnt/a --log-level=debug --stop-after-init --no-http --max-cron-threads=0"
        );
        let demo = config(&[("DEMO", "yes")]);
        assert!(!line(install(&demo.odoo, &[])).contains("--without-demo"));
        let own = [os("--without-demo=sale")];
        assert!(!line(install(&cfg.odoo, &own)).contains("--without-demo=all"));
        assert_eq!(
            line(run(&cfg.odoo, &[os("--workers"), os("2")])),
            "/bin/sh -d odoo --load=base,web,queue_job --no-database-list --workers 2"
        );
        let list = config(&[("MODE", "RunOnly"), ("LIST_DB", "True")]);
        assert_eq!(line(run(&list.odoo, &[])), "/bin/sh");
    }
}
