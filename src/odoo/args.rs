//! Which of the user's Odoo arguments (those after `--`) reach the install
//! and update steps. The rule follows Odoo's own option groups
//! (`odoo/tools/config.py`, 15 to 18): an option that says where code,
//! configuration and data are ("Common options": `-c`, `--addons-path`,
//! `--upgrade-path`, `--load`, `--data-dir`...), which database and how to
//! reach it ("Database related options", `--db-filter`), or where the log
//! goes ("Logging Configuration") reaches every Odoo process odoo-init
//! starts; everything else (HTTP, multiprocessing, limits, crons, `--dev`,
//! SMTP, testing...) shapes serving and stays with the run phase, as do
//! arguments this table does not know. Options are matched by their full
//! name, as `--name=value`, `--name value`, `-xVALUE` or `-x VALUE`.

use std::ffi::{OsStr, OsString};

/// Options that reach the steps, and whether each takes a value.
const STEP_OPTIONS: &[(&str, bool)] = &[
    // Common options: where code, configuration and data are.
    ("-c", true),
    ("--config", true),
    ("--addons-path", true),
    ("--upgrade-path", true),
    ("--pre-upgrade-scripts", true),
    ("--load", true),
    ("-D", true),
    ("--data-dir", true),
    ("--without-demo", true),
    // Web interface: which databases this Odoo may see.
    ("--db-filter", true),
    // Database related options (not the password: see SECRET_OPTIONS).
    ("-r", true),
    ("--db_user", true),
    ("--db_host", true),
    ("--db_port", true),
    ("--db_sslmode", true),
    ("--db_maxconn", true),
    ("--db-template", true),
    ("--pg_path", true),
    ("--db_replica_host", true),
    ("--db_replica_port", true),
    // Logging Configuration: where the step's log goes.
    ("--logfile", true),
    ("--syslog", false),
    ("--log-handler", true),
    ("--log-level", true),
    ("--log-web", false),
    ("--log-sql", false),
    ("--log-request", false),
    ("--log-response", false),
    ("--log-db", true),
    ("--log-db-level", true),
];

/// Options whose value is a secret: never passed on by odoo-init to a step,
/// shown as `<secret>` wherever a command line is logged or recorded; the
/// steps get the password through the password file (`DB_PASSWORD`).
pub const SECRET_OPTIONS: [&str; 3] = ["-w", "--db_password", "--smtp-password"];

/// What a secret's value is shown as.
const HIDDEN: &str = "<secret>";

/// `argv` as it may be logged or recorded: every secret option's value
/// replaced by `<secret>` (`-w X`, `--db_password=X`, `-wX`).
pub(crate) fn redacted(argv: &[OsString]) -> Vec<String> {
    let table: Vec<(&str, bool)> = SECRET_OPTIONS.iter().map(|&n| (n, true)).collect();
    let mut shown = Vec::with_capacity(argv.len());
    let mut args = argv.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        match option_of(&arg, &table) {
            Some((name, _, true)) => {
                let joiner = if name.starts_with("--") { "=" } else { "" };
                shown.push(format!("{name}{joiner}{HIDDEN}"));
            }
            Some((name, _, false)) => {
                shown.push(name.to_string());
                if args.next().is_some() {
                    shown.push(HIDDEN.to_string());
                }
            }
            None => shown.push(arg),
        }
    }
    shown
}

/// Odoo options that do not belong on the run phase's command line, and why.
const NOT_IN_RUN: &[(&str, bool, &str)] = &[
    ("-u", true, "it would update in every pod at once, outside the state gate: use MODE=UpdateAndRun or UpdateOnly (MODULES narrows it)"),
    ("--update", true, "it would update in every pod at once, outside the state gate: use MODE=UpdateAndRun or UpdateOnly (MODULES narrows it)"),
    ("-i", true, "it would install in every pod at once, outside the state gate: use MODE=InstallAndRun, InstallOnly or Init with MODULES"),
    ("--init", true, "it would install in every pod at once, outside the state gate: use MODE=InstallAndRun, InstallOnly or Init with MODULES"),
    ("--stop-after-init", false, "Odoo would stop instead of serving: use a mode without a run phase (InstallOnly, UpdateOnly)"),
];

/// Why the run phase's Odoo arguments `extra` would bypass the gate, if
/// they would: an install or update of their own, `--stop-after-init`, or
/// `-d`/`--database` naming another database than `database` (the one the
/// gate watches; `None` with `LIST_DB=True`, where there is no gate).
pub(crate) fn refused_in_run(extra: &[OsString], database: Option<&str>) -> Option<String> {
    let table: Vec<(&str, bool)> = NOT_IN_RUN.iter().map(|&(n, v, _)| (n, v)).collect();
    let args: Vec<String> = extra
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    for arg in &args {
        if let Some((name, _, _)) = option_of(arg, &table) {
            let why = NOT_IN_RUN
                .iter()
                .find(|(n, _, _)| *n == name)
                .map_or("", |t| t.2);
            return Some(format!(
                "Odoo's {name} is refused on the run phase's command line: {why}"
            ));
        }
    }
    let database = database?;
    match value_of(&args, "--database", Some("-d")) {
        Some(other) if other != database => Some(format!(
            "Odoo's -d {other} is refused: the state gate watches DB_NAME={database}, and Odoo would serve another database; set DB_NAME instead"
        )),
        _ => None,
    }
}

/// How one argument names an option: the option and whether its value is
/// attached (`--name=value`, `-xVALUE`).
fn option_of<'t>(arg: &str, table: &[(&'t str, bool)]) -> Option<(&'t str, bool, bool)> {
    table.iter().find_map(|&(name, takes_value)| {
        if arg == name {
            return Some((name, takes_value, false));
        }
        let attached = if name.starts_with("--") {
            arg.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('='))
        } else {
            takes_value && arg.len() > name.len() && arg.starts_with(name)
        };
        attached.then_some((name, takes_value, true))
    })
}

/// The value of option `long` (or `short`) among Odoo's arguments `args`
/// (no program name), as optparse reads it: `--long V`, `--long=V`,
/// `-s V`, `-sV`; the last one wins.
pub fn value_of<'a>(args: &'a [String], long: &str, short: Option<&str>) -> Option<&'a str> {
    let mut found = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == long || Some(arg.as_str()) == short {
            found = iter.next().map(String::as_str);
        } else if let Some(v) = arg.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
            found = Some(v);
        } else if let Some(v) = short
            .and_then(|s| arg.strip_prefix(s))
            .filter(|v| !v.is_empty())
        {
            found = Some(v);
        }
    }
    found
}

/// The arguments of `extra` that reach the steps, in their order, each
/// with its value.
pub fn for_steps(extra: &[OsString]) -> Vec<OsString> {
    let mut picked = Vec::new();
    let mut args = extra.iter();
    while let Some(arg) = args.next() {
        let Some((_, takes_value, attached)) =
            arg.to_str().and_then(|a| option_of(a, STEP_OPTIONS))
        else {
            continue;
        };
        picked.push(arg.clone());
        if takes_value && !attached {
            if let Some(value) = args.next() {
                picked.push(value.clone());
            }
        }
    }
    picked
}

/// The first option of `args` that carries a secret, if any.
pub fn secret_in<'a>(args: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let table: Vec<(&'static str, bool)> = SECRET_OPTIONS.iter().map(|&n| (n, true)).collect();
    args.into_iter()
        .find_map(|a| option_of(a, &table).map(|(name, _, _)| name))
}

/// `args` say themselves whether to load demo data (`--without-demo`).
pub fn sets_without_demo<'a>(args: impl IntoIterator<Item = &'a OsStr>) -> bool {
    args.into_iter().any(|a| {
        a.to_str()
            .and_then(|a| option_of(a, STEP_OPTIONS))
            .is_some_and(|(name, _, _)| name == "--without-demo")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn locating_options_reach_the_steps_serving_ones_do_not() {
        let extra = os(&[
            "--addons-path",
            "/mnt/extra-addons,/opt/more",
            "--workers",
            "2",
            "-c/etc/odoo/prod.conf",
            "--data-dir=/var/lib/odoo",
            "--proxy-mode",
            "--log-level",
            "debug",
            "--http-port=8080",
            "-D",
            "/data",
            "--addons",
            "/abbreviated",
            "--db_host=db",
            "-w",
            "secret",
        ]);
        assert_eq!(
            for_steps(&extra),
            os(&[
                "--addons-path",
                "/mnt/extra-addons,/opt/more",
                "-c/etc/odoo/prod.conf",
                "--data-dir=/var/lib/odoo",
                "--log-level",
                "debug",
                "-D",
                "/data",
                "--db_host=db",
            ])
        );
    }

    #[test]
    fn secrets_and_demo_are_recognised_in_every_spelling() {
        assert_eq!(secret_in(["--log-level=info", "-wpw"]), Some("-w"));
        assert_eq!(secret_in(["--db_password=x"]), Some("--db_password"));
        assert_eq!(secret_in(["--db_password_file"]), None);
        assert!(sets_without_demo(
            os(&["--without-demo=all"]).iter().map(|a| a.as_os_str())
        ));
        assert!(!sets_without_demo(
            os(&["--workers", "2"]).iter().map(|a| a.as_os_str())
        ));
    }

    #[test]
    fn secrets_are_shown_as_secret_in_every_spelling() {
        let argv = os(&[
            "odoo",
            "-w",
            "a",
            "--db_password=b",
            "-wc",
            "--smtp-password",
            "d",
            "--workers",
            "2",
        ]);
        let shown = redacted(&argv).join(" ");
        assert_eq!(
            shown,
            "odoo -w <secret> --db_password=<secret> -w<secret> --smtp-password <secret> --workers 2"
        );
        for secret in ["a", "b", "c", "d"] {
            assert!(
                !shown
                    .split(' ')
                    .any(|w| w.ends_with(secret) && w.len() <= 2),
                "{shown}"
            );
        }
    }

    #[test]
    fn what_would_bypass_the_gate_is_refused_on_the_run_phases_command_line() {
        for bad in [
            &["-u", "all"][..],
            &["-usale"],
            &["--update=sale"],
            &["--update", "sale"],
            &["-i", "crm"],
            &["--init=crm"],
            &["--workers", "2", "--stop-after-init"],
            &["-d", "other"],
            &["--database=other"],
            &["-dother"],
        ] {
            assert!(refused_in_run(&os(bad), Some("odoo")).is_some(), "{bad:?}");
        }
        for good in [
            &["--workers", "2"][..],
            &["-d", "odoo"],
            &["--database=odoo", "--dev=xml"],
            &["--db-filter=^odoo$", "--upgrade-path=/x"],
        ] {
            assert_eq!(refused_in_run(&os(good), Some("odoo")), None, "{good:?}");
        }
        // LIST_DB=True: no gate, no one database.
        assert_eq!(refused_in_run(&os(&["-d", "any"]), None), None);
        assert!(refused_in_run(&os(&["-u", "all"]), None).is_some());
    }
}
