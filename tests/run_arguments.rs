//! Guard rails on the run phase's Odoo arguments: what would bypass the
//! state gate is refused before anything starts, and a password on Odoo's
//! command line never reaches the log or the status record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// `odoo-init -- ARGS` in RunOnly against a port nobody listens on.
fn run_only(args: &[&str]) -> std::process::Output {
    run_only_as(&["--"], args)
}

/// `odoo-init FIRST... ARGS` in RunOnly against a port nobody listens on.
fn run_only_as(first: &[&str], args: &[&str]) -> std::process::Output {
    Command::new(odoo_init())
        .args(first)
        .args(args)
        .env("MODE", "RunOnly")
        .env("DB_NAME", "odoo")
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", free_port().to_string())
        .env("DB_WAIT_TIMEOUT", "0.2")
        .env("ODOO_BIN", standin())
        .env("STANDIN_LOG", "/dev/null")
        .env_remove("ODOO_RC")
        .output()
        .unwrap()
}

#[test]
fn what_would_bypass_the_gate_is_refused_before_anything_starts() {
    for (args, says) in [
        (&["-u", "all"][..], "MODE=UpdateAndRun"),
        (&["--update=sale"], "MODE=UpdateAndRun"),
        (&["-i", "crm"], "MODE=InstallAndRun"),
        (&["--init=crm", "--workers", "2"], "MODE=InstallAndRun"),
        (&["--stop-after-init"], "InstallOnly"),
        (&["-d", "other"], "DB_NAME=odoo"),
        (&["--database=other"], "DB_NAME=odoo"),
        // optparse's prefixes and clusters.
        (&["--upd=all"], "MODE=UpdateAndRun"),
        (&["-sustock"], "MODE=UpdateAndRun"),
        (&["--ini=crm"], "MODE=InstallAndRun"),
        (&["--stop"], "InstallOnly"),
        (&["-sdother"], "DB_NAME=odoo"),
    ] {
        let out = run_only(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Odoo's server subcommand is the main job, checked the same way.
    for first in [&["odoo", "server"][..], &["odoo", "server", "--"]] {
        let out = run_only_as(first, &["-u", "all"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{first:?}: {err}");
        assert!(err.contains("MODE=UpdateAndRun"), "{first:?}: {err}");
    }
    // The database the gate watches, and serving options, pass the guard
    // (and then meet the database nobody runs: 69).
    for args in [&["-d", "odoo", "--workers", "2"][..], &["--dev=xml"]] {
        let out = run_only(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(69), "{args:?}: {err}");
    }
}

#[test]
fn a_password_in_odoos_arguments_is_shown_as_secret() {
    let secrets = ["hunter2", "hunter3", "hunter4"];
    let mut setup = Setup::main_job("ForceRunOnly").env("DB_NAME", "odoo");
    setup.args = [
        "--",
        "--db_password=hunter2",
        "-w",
        "hunter3",
        "--smtp-password",
        "hunter4",
    ]
    .map(String::from)
    .to_vec();
    let mut run = setup.start();
    run.wait_events("Odoo", |ev| starts(ev).len() == 1);
    // Odoo got them as given.
    let argv = &run.starts()[0].argv;
    assert!(secrets.iter().all(|s| argv.contains(s)), "{argv}");
    let status = Command::new(odoo_init())
        .args(["status", "--json", "--pid", &run.pid.to_string()])
        .env("ODOO_INIT_RUNTIME_DIR", &run.runtime_dir)
        .output()
        .unwrap();
    let record = String::from_utf8_lossy(&status.stdout);
    assert!(record.contains("<secret>"), "{record}");
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(Duration::from_secs(30)), 0);
    let err = run.stderr();
    for secret in secrets {
        assert!(!err.contains(secret), "{secret} in the log:\n{err}");
        assert!(
            !record.contains(secret),
            "{secret} in the status record:\n{record}"
        );
    }
    assert!(err.contains("DB_PASSWORD_FILE"), "a hint: {err}");
}

/// `list_db = True` in Odoo's config file, with one database behind the
/// gate: overridden (Odoo gets `--no-database-list`), and said once at
/// start, not silently.
#[test]
fn list_db_true_in_the_config_file_is_overridden_and_said() {
    let scratch = Scratch::new("list-db");
    let rc = scratch.join("odoo.conf");
    std::fs::write(&rc, "[options]\nlist_db = True\n").unwrap();
    let out = Command::new(odoo_init())
        .env("MODE", "RunOnly")
        .env("DB_NAME", "odoo")
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", free_port().to_string())
        .env("DB_WAIT_TIMEOUT", "0.2")
        .env("ODOO_BIN", standin())
        .env("ODOO_RC", &rc)
        .env("STANDIN_LOG", "/dev/null")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("list_db = True"))
        .collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(said[0].contains("--no-database-list"), "{err}");
}
