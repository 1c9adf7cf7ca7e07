//! One-off commands as the official image runs them: `odoo shell` reading
//! its script from standard input, and any other program, each with the
//! deployment's database settings and the password file (never a command
//! line), after one look at the gate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB, PASSWORD, USER};
use common::*;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// `odoo-init ARGS` with the official image's variables and `stdin`.
fn one_off(pg: &Pg, scratch: &Scratch, args: &[&str], stdin: &str, mode: &str) -> Output {
    let secret = scratch.join("password");
    std::fs::write(&secret, format!("{PASSWORD}\n")).unwrap();
    let mut child = Command::new(odoo_init())
        .args(args)
        .env("MODE", mode)
        .env("DB_NAME", DB)
        .env("HOST", "127.0.0.1")
        .env("PORT", pg.port.to_string())
        .env("USER", USER)
        .env("PASSWORD_FILE", &secret)
        .env("ODOO_BIN", standin())
        .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"))
        .env("STANDIN_LOG", scratch.join("events.log"))
        .env_remove("ODOO_RC")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn odoo_shell_and_a_program_run_once_with_the_database_and_the_gate() {
    require("psql", "postgresql-client");
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("oneoff");
    let text = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let err = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // `odoo shell`: the script on standard input, the database reached
    // with the password file as the one-off's own environment gives it.
    let script = "SELECT current_database() || ' as ' || current_user;\n";
    let out = one_off(&pg, &scratch, &["odoo", "shell"], script, "RunOnly");
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert_eq!(text(&out).trim(), format!("{DB} as {USER}"));
    assert!(!err(&out).contains(PASSWORD));

    // Any program: libpq's environment and the password file, no secret.
    let out = one_off(
        &pg,
        &scratch,
        &["sh", "-c", "psql -X -tAc 'SELECT 41 + 1' && env"],
        "",
        "RunOnly",
    );
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let seen = text(&out);
    assert!(seen.starts_with("42\n"), "{seen}");
    assert!(seen.contains("PGPASSFILE="), "{seen}");
    assert!(
        !seen.contains(PASSWORD) && !seen.contains("PASSWORD_FILE="),
        "{seen}"
    );

    // While another pod's step runs: refused, unless forced.
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    let out = one_off(&pg, &scratch, &["odoo", "shell"], script, "RunOnly");
    assert_eq!(out.status.code(), Some(75), "{}", err(&out));
    assert!(err(&out).contains("a step runs"), "{}", err(&out));
    let out = one_off(&pg, &scratch, &["odoo", "shell"], script, "ForceRunOnly");
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert_eq!(text(&out).trim(), format!("{DB} as {USER}"));
}

/// A one-off that needs no database starts at once, whatever the database
/// does (here: nobody listens): Odoo's version and help, `odoo scaffold`,
/// any other program. Odoo's database subcommands still wait for it.
#[test]
fn a_one_off_that_needs_no_database_starts_at_once() {
    let scratch = Scratch::new("no-db-oneoff");
    let port = free_port().to_string();
    let run = |args: &[&str], wait: &str| {
        let started = std::time::Instant::now();
        let out = Command::new(odoo_init())
            .args(args)
            .env("DB_NAME", DB)
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", &port)
            .env("DB_WAIT_TIMEOUT", wait)
            .env("ODOO_BIN", standin())
            .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"))
            .env("STANDIN_LOG", scratch.join("events.log"))
            .env_remove("MODE")
            .env_remove("ODOO_RC")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (out, started.elapsed())
    };
    let dest = path_str(&scratch.path);
    for (args, code) in [
        (vec!["odoo", "--version"], 0),
        (vec!["odoo", "--help"], 0),
        (vec!["odoo", "scaffold", "my_module", dest.as_str()], 0),
        (vec!["sh", "-c", "exit 7"], 7),
    ] {
        // A wait for the database would take the whole DB_WAIT_TIMEOUT.
        let (out, took) = run(&args, "20");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            took < std::time::Duration::from_secs(10),
            "{args:?}: {took:?}"
        );
    }
    assert!(scratch.join("my_module/__manifest__.py").is_file());
    let (out, _) = run(&["odoo", "--version"], "20");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Odoo Server"));
    // `odoo shell` works on the database: it waits for it.
    let (out, took) = run(&["odoo", "shell"], "1");
    assert_eq!(
        out.status.code(),
        Some(69),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took >= std::time::Duration::from_secs(1), "{took:?}");
}
