//! Which of the user's Odoo arguments (those after `--`) reach the install
//! and update steps, which are refused, and how a command line is shown.
//! Arguments are read as Odoo's optparse reads them ([`super::optparse`]:
//! prefixes, clusters, values after `=` or in the next argument).
//!
//! The rule for the steps follows Odoo's own option groups
//! (`odoo/tools/config.py`, 15 to 18): an option that says where code,
//! configuration and data are ("Common options": `-c`, `--addons-path`,
//! `--upgrade-path`, `--load`, `--data-dir`...), which database and how to
//! reach it ("Database related options", `--db-filter`), or where the log
//! goes ("Logging Configuration") reaches every Odoo process odoo-init
//! starts; everything else (HTTP, multiprocessing, limits, crons, `--dev`,
//! SMTP, testing...) shapes serving and stays with the run phase, as do
//! arguments that name no option.

use std::ffi::{OsStr, OsString};

use super::optparse::options_of;

/// Options that reach the steps (by their long name).
const STEP_OPTIONS: &[&str] = &[
    // Common options: where code, configuration and data are.
    "--config",
    "--addons-path",
    "--upgrade-path",
    "--pre-upgrade-scripts",
    "--load",
    "--data-dir",
    "--without-demo",
    // Web interface: which databases this Odoo may see.
    "--db-filter",
    // Database related options (not the password: see SECRET_OPTIONS).
    "--db_user",
    "--db_host",
    "--db_port",
    "--db_sslmode",
    "--db_maxconn",
    "--db-template",
    "--pg_path",
    "--db_replica_host",
    "--db_replica_port",
    // Logging Configuration: where the step's log goes.
    "--logfile",
    "--syslog",
    "--log-handler",
    "--log-level",
    "--log-web",
    "--log-sql",
    "--log-request",
    "--log-response",
    "--log-db",
    "--log-db-level",
];

/// Options whose value is a secret: never passed on by odoo-init to a step,
/// shown as `<secret>` wherever a command line is logged or recorded; the
/// steps get the password through the password file (`DB_PASSWORD`).
pub const SECRET_OPTIONS: [&str; 2] = ["--db_password", "--smtp-password"];

/// What a secret's value is shown as.
const HIDDEN: &str = "<secret>";

fn strings(args: &[OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// `argv` (a program and its arguments) as it may be logged or recorded:
/// every value of a secret option, in whatever spelling optparse accepts
/// (`-w X`, `-wX`, `-swX`, `--db_passw=X`, `--smtp-pass X`), replaced by
/// `<secret>`.
pub fn redacted(argv: &[OsString]) -> Vec<String> {
    let mut shown = strings(argv);
    let Some(args) = shown.get(1..) else {
        return shown;
    };
    let secrets: Vec<(usize, usize)> = options_of(args)
        .iter()
        .filter(|t| SECRET_OPTIONS.iter().any(|s| t.is(s)))
        .filter_map(|t| t.value.as_ref().map(|(_, at)| (at.arg + 1, at.at)))
        .collect();
    for (arg, at) in secrets {
        let kept = shown[arg].get(..at).unwrap_or_default().to_string();
        shown[arg] = kept + HIDDEN;
    }
    shown
}

/// Odoo options that do not belong on the run phase's command line, and why.
const NOT_IN_RUN: &[(&str, &str)] = &[
    ("--update", "it would update in every pod at once, outside the state gate: use MODE=UpdateAndRun or UpdateOnly (MODULES narrows it)"),
    ("--init", "it would install in every pod at once, outside the state gate: use MODE=InstallAndRun, InstallOnly or Init with MODULES"),
    ("--stop-after-init", "Odoo would stop instead of serving: use a mode without a run phase (InstallOnly, UpdateOnly)"),
];

/// Why the run phase's Odoo arguments `extra` would bypass the gate, if
/// they would: an install or update of their own, `--stop-after-init`, or
/// `-d`/`--database` naming another database than `database` (the one the
/// gate watches; `None` with `LIST_DB=True`, where there is no gate). An
/// ambiguous prefix counts as each option it may name (Odoo refuses it
/// anyway).
pub fn refused_in_run(extra: &[OsString], database: Option<&str>) -> Option<String> {
    let args = strings(extra);
    let taken = options_of(&args);
    for t in &taken {
        if let Some((name, why)) = NOT_IN_RUN.iter().find(|(name, _)| t.is(name)) {
            return Some(format!(
                "Odoo's {name} (as {:?}) is refused on the run phase's command line: {why}",
                args[t.arg]
            ));
        }
    }
    let database = database?;
    let other = taken
        .iter()
        .filter(|t| t.is("--database"))
        .filter_map(|t| t.value.as_ref().map(|(v, _)| v.as_str()))
        .find(|v| *v != database)?;
    Some(format!(
        "Odoo's -d {other} is refused: the state gate watches DB_NAME={database}, and Odoo would serve another database; set DB_NAME instead"
    ))
}

/// The value of option `long` among Odoo's arguments `args` (no program
/// name), in any spelling optparse accepts; the last one wins.
pub fn value_of<'a>(args: &'a [String], long: &str) -> Option<&'a str> {
    options_of(args)
        .iter()
        .filter(|t| t.options.len() == 1 && t.is(long))
        .filter_map(|t| t.value.as_ref().map(|(_, at)| &args[at.arg][at.at..]))
        .next_back()
}

/// The options of `extra` that reach the steps, in their order, each with
/// its value: as written where its argument holds it alone, spelled out
/// (`--config=/x` for the `c` of `-sc /x`) where it shares a cluster.
pub fn for_steps(extra: &[OsString]) -> Vec<OsString> {
    let args = strings(extra);
    let mut picked = Vec::new();
    for t in options_of(&args) {
        let [option] = t.options[..] else {
            continue;
        };
        if !STEP_OPTIONS.contains(&option.long) || t.missing_value {
            continue;
        }
        let arg = &args[t.arg];
        let alone = arg.starts_with("--") || arg[1..].chars().next() == option.short;
        match (&t.value, alone) {
            (Some((v, _)), false) => picked.push(format!("{}={v}", option.long).into()),
            (None, false) => picked.push(option.long.into()),
            (value, true) => {
                picked.push(extra[t.arg].clone());
                if let Some((_, at)) = value.as_ref().filter(|(_, at)| at.arg != t.arg) {
                    picked.push(extra[at.arg].clone());
                }
            }
        }
    }
    picked
}

/// The first secret option of `args` (its long name: what is written may
/// hold the secret itself, `-wSECRET`), if any.
pub fn secret_in<'a>(args: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let args: Vec<String> = args.into_iter().map(str::to_string).collect();
    options_of(&args)
        .iter()
        .find_map(|t| SECRET_OPTIONS.iter().find(|s| t.is(s)).copied())
}

/// `args` say themselves whether to load demo data (`--without-demo`).
pub fn sets_without_demo<'a>(args: impl IntoIterator<Item = &'a OsStr>) -> bool {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    options_of(&args)
        .iter()
        .any(|t| t.options.len() == 1 && t.is("--without-demo"))
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
                // optparse's unambiguous prefix of --addons-path.
                "--addons",
                "/abbreviated",
                "--db_host=db",
            ])
        );
        // A cluster's step option spelled out on its own.
        assert_eq!(
            for_steps(&os(&["-sc", "/etc/odoo/x.conf", "-sD/data"])),
            os(&["--config=/etc/odoo/x.conf", "--data-dir=/data"])
        );
    }

    #[test]
    fn secrets_and_demo_are_recognised_in_every_spelling() {
        assert_eq!(
            secret_in(["--log-level=info", "-wpw"]),
            Some("--db_password")
        );
        assert_eq!(secret_in(["--smtp-pass", "x"]), Some("--smtp-password"));
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
            "--db_passw=S1",
            "--smtp-pass",
            "S2",
            "-swS3",
        ]);
        let shown = redacted(&argv).join(" ");
        assert_eq!(
            shown,
            "odoo -w <secret> --db_password=<secret> -w<secret> --smtp-password <secret> --workers 2 \
             --db_passw=<secret> --smtp-pass <secret> -sw<secret>"
        );
        for secret in ["S1", "S2", "S3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
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
            // optparse's prefixes and clusters: tests/odoo_args.rs has
            // more, checked against Python's optparse.
            &["--upd=all"],
            &["-sustock"],
        ] {
            assert!(refused_in_run(&os(bad), Some("odoo")).is_some(), "{bad:?}");
        }
        for good in [
            &["--workers", "2"][..],
            &["-d", "odoo"],
            &["--database=odoo", "--dev=xml"],
            &["--db-filter=^odoo$", "--upgrade-path=/x"],
            // A value, whatever it looks like.
            &["--logfile", "-u"],
            &["--", "-u", "all"],
        ] {
            assert_eq!(refused_in_run(&os(good), Some("odoo")), None, "{good:?}");
        }
        // LIST_DB=True: no one database.
        assert_eq!(refused_in_run(&os(&["-d", "any"]), None), None);
        assert!(refused_in_run(&os(&["-u", "all"]), None).is_some());
    }
}
