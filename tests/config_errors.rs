//! Bad configuration stops odoo-init before it touches the database: one
//! clear line naming the variable and the value, exit 64, no row written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::Pg;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// In a case's environment: remove the variable the base environment sets.
const UNSET: &str = "<unset>";

#[test]
fn bad_configuration_is_refused_before_any_database_contact() {
    let pg = Pg::start();
    pg.role("odoo", "pw", true);
    pg.database("odoo", "odoo");
    pg.superuser("odoo")
        .batch_execute(
            "CREATE TABLE curq_state_history (id serial PRIMARY KEY, state varchar NOT NULL, \
             write_date timestamptz NOT NULL DEFAULT now()); \
             INSERT INTO curq_state_history (state) VALUES ('Ready'); \
             ALTER TABLE curq_state_history OWNER TO odoo",
        )
        .unwrap();
    let scratch = Scratch::new("cfg");
    let not_exec = scratch.join("odoo-bin");
    std::fs::write(&not_exec, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let secret = scratch.join("secret");
    std::fs::write(&secret, "pw\n").unwrap();
    let (ne, sec) = (path_str(&not_exec), path_str(&secret));
    // A password file with a line break left inside (two at the end).
    let two_lines = scratch.join("two-lines");
    std::fs::write(&two_lines, "pw\n\n").unwrap();
    let two_lines = path_str(&two_lines);
    let dir = path_str(&scratch.path);
    // Files that would block or flood a reader: a FIFO nobody writes, 65 KiB.
    let fifo = scratch.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let big = scratch.join("big");
    std::fs::write(&big, vec![b'x'; 65 * 1024]).unwrap();
    let bad_port_rc = scratch.join("odoo.conf");
    std::fs::write(&bad_port_rc, "[options]\ndb_port = abc\n").unwrap();
    let (fifo, big, rc) = (path_str(&fifo), path_str(&big), path_str(&bad_port_rc));
    let rc_port = format!("db_port ({rc})");

    // (variable named in the message, value shown, the environment)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("MODE", "", vec![("MODE", "")]),
        ("MODE", "Run", vec![("MODE", "Run")]),
        ("TIMEOUT", "abc", vec![("TIMEOUT", "abc")]),
        ("TIMEOUT", "-1", vec![("TIMEOUT", "-1")]),
        ("TIMEOUT", "", vec![("TIMEOUT", "")]),
        ("DB_WAIT_TIMEOUT", "-5", vec![("DB_WAIT_TIMEOUT", "-5")]),
        ("STOP_TIMEOUT", "soon", vec![("STOP_TIMEOUT", "soon")]),
        ("ON_EXIT", "never", vec![("ON_EXIT", "never")]),
        ("LIST_DB", "maybe", vec![("LIST_DB", "maybe")]),
        // libpq's host and port lists (Patroni): refused, not retried as a name.
        (
            "DB_HOST",
            "10.0.0.2,10.0.0.1",
            vec![("DB_HOST", "10.0.0.2,10.0.0.1")],
        ),
        ("DB_PORT", "5432,5433", vec![("DB_PORT", "5432,5433")]),
        // libpq's own ways to another server, which odoo-init would not
        // follow while Odoo and the scripts would: refused, never passed on.
        ("PGSERVICE", "prod", vec![("PGSERVICE", "prod")]),
        ("PGSERVICEFILE", &sec, vec![("PGSERVICEFILE", &sec)]),
        ("PGHOSTADDR", "10.0.0.9", vec![("PGHOSTADDR", "10.0.0.9")]),
        // A URI may hold a password: refused without showing it.
        (
            "DB_HOST",
            "<not shown: a URI may hold a password>",
            vec![("DB_HOST", "postgresql://odoo:S1-uri-secret@db/odoo")],
        ),
        (
            "LIST_DB",
            "True",
            vec![("LIST_DB", "True"), ("MODE", "ForceUpdateOnly")],
        ),
        (
            "DB_FILTER",
            "",
            vec![
                ("LIST_DB", "True"),
                ("MODE", "UpdateOnly"),
                ("DB_FILTER", "a"),
                ("DB_NAMES", "a"),
            ],
        ),
        (
            "DB_FILTER",
            "(unclosed",
            vec![
                ("LIST_DB", "True"),
                ("MODE", "UpdateOnly"),
                ("DB_FILTER", "(unclosed"),
            ],
        ),
        ("DB_PASSWORD_FILE", &sec, vec![("DB_PASSWORD_FILE", &sec)]),
        (
            "DB_PASSWORD_FILE",
            "<secret>",
            vec![("DB_PASSWORD", ""), ("DB_PASSWORD_FILE", &two_lines)],
        ),
        (
            "DB_PASSWORD_FILE",
            "/nonexistent/secret",
            vec![
                ("DB_PASSWORD", ""),
                ("DB_PASSWORD_FILE", "/nonexistent/secret"),
            ],
        ),
        (
            "DB_ADMIN_PASSWORD_FILE",
            &dir,
            vec![("DB_ADMIN_PASSWORD_FILE", &dir)],
        ),
        (
            "DB_USER",
            "postgres",
            vec![("DB_USER", "postgres"), ("MODE", "Init")],
        ),
        (
            "ODOO_BIN",
            "/nonexistent/odoo-bin",
            vec![("ODOO_BIN", "/nonexistent/odoo-bin")],
        ),
        ("ODOO_BIN", &ne, vec![("ODOO_BIN", &ne)]),
        (
            "ODOO_BIN",
            "no-such-odoo",
            vec![("ODOO_BIN", "no-such-odoo")],
        ),
        (
            "MAINTENANCE_SCRIPT",
            "/nonexistent/run.sh",
            vec![
                ("MAINTENANCE_SCRIPT", "/nonexistent/run.sh"),
                ("MODE", "UpdateOnly"),
            ],
        ),
        (
            "PRE_UPDATE_SCRIPT",
            "/nonexistent/pre-update.sh",
            vec![
                ("PRE_UPDATE_SCRIPT", "/nonexistent/pre-update.sh"),
                ("MODE", "UpdateOnly"),
            ],
        ),
        (
            "PRE_INIT_SCRIPT",
            "/nonexistent/pre-init.sh",
            vec![
                ("PRE_INIT_SCRIPT", "/nonexistent/pre-init.sh"),
                ("MODE", "InstallOnly"),
            ],
        ),
        ("DB_PORT", "99999", vec![("DB_PORT", "99999")]),
        ("DB_PORT", "abc", vec![("DB_PORT", "abc")]),
        (
            "DB_NAME",
            "odoo\\\"; DROP TABLE curq_state_history; --",
            vec![("DB_NAME", "odoo\"; DROP TABLE curq_state_history; --")],
        ),
        ("DB_NAME", "my db", vec![("DB_NAME", "my db")]),
        // Odoo refuses them (DBNAME_PATTERN): a letter or digit first, two at least.
        ("DB_NAME", "_lead", vec![("DB_NAME", "_lead")]),
        ("DB_NAME", "a", vec![("DB_NAME", "a")]),
        ("DB_NAME", "odöo", vec![("DB_NAME", "odöo")]),
        ("DB_NAME", "", vec![("DB_NAME", "")]),
        ("DB_USER", "o'doo", vec![("DB_USER", "o'doo")]),
        (
            "DB_USER",
            "odoo; DROP ROLE x",
            vec![("DB_USER", "odoo; DROP ROLE x")],
        ),
        (
            "MODULES",
            "sale,--dev=all",
            vec![("MODULES", "sale,--dev=all")],
        ),
        // A lease too short for a beat plus a reconnect would let waiters reset live owners.
        ("STATE_LEASE", "0", vec![("STATE_LEASE", "0")]),
        ("STATE_LEASE", "4.9", vec![("STATE_LEASE", "4.9")]),
        (
            "DB_PASSWORD_FILE",
            &fifo,
            vec![("DB_PASSWORD", ""), ("DB_PASSWORD_FILE", &fifo)],
        ),
        (
            "DB_PASSWORD_FILE",
            &big,
            vec![("DB_PASSWORD", ""), ("DB_PASSWORD_FILE", &big)],
        ),
        ("ODOO_RC", "/dev/zero", vec![("ODOO_RC", "/dev/zero")]),
        ("ODOO_RC", &fifo, vec![("ODOO_RC", &fifo)]),
        // The config file's key is named, not a variable that was never set.
        (&rc_port, "abc", vec![("ODOO_RC", &rc), ("DB_PORT", UNSET)]),
        ("DEMO", "maybe", vec![("DEMO", "maybe")]),
        (
            "ODOO_STEP_ARGS",
            "--log-level 'debug",
            vec![("ODOO_STEP_ARGS", "--log-level 'debug")],
        ),
        // Step command lines are logged: no password on them.
        (
            "ODOO_STEP_ARGS",
            "<secret>",
            vec![("ODOO_STEP_ARGS", "--db_password=hunter2")],
        ),
        // The second SIGTERM must not merge with the first.
        ("STOP_TIMEOUT", "0", vec![("STOP_TIMEOUT", "0")]),
        ("STOP_TIMEOUT", "0.5", vec![("STOP_TIMEOUT", "0.5")]),
        // Deadlines computed from these must not overflow.
        ("STOP_TIMEOUT", "1e19", vec![("STOP_TIMEOUT", "1e19")]),
        ("DB_WAIT_TIMEOUT", "1e19", vec![("DB_WAIT_TIMEOUT", "1e19")]),
        ("TIMEOUT", "31536001", vec![("TIMEOUT", "31536001")]),
        // An unknown level would silence every line, errors included.
        (
            "ODOO_INIT_LOG",
            "verbose",
            vec![("ODOO_INIT_LOG", "verbose")],
        ),
        // A line break would break the children's password file; the value is not shown.
        ("DB_PASSWORD", "<secret>", vec![("DB_PASSWORD", "pw\nx")]),
        (
            "DB_ADMIN_PASSWORD",
            "<secret>",
            vec![("DB_ADMIN_PASSWORD", "a\rb")],
        ),
    ];
    assert!(cases.len() >= 20);
    for (variable, value, env) in &cases {
        let mut cmd = Command::new(odoo_init());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MODE", "UpdateAndRun")
            .env("DB_NAME", "odoo")
            .env("DB_USER", "odoo")
            .env("DB_PASSWORD", "pw")
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", pg.port.to_string())
            .env("ODOO_BIN", standin())
            .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"));
        for (k, v) in env {
            if (k == &"DB_PASSWORD" && v.is_empty()) || *v == UNSET {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let out = cmd.output().expect("run odoo-init");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{variable}={value:?}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(
            errors.len(),
            1,
            "{variable}={value:?}: one clear line: {err}"
        );
        let shown = format!("{variable}=\"{value}\"");
        assert!(errors[0].contains(&shown), "{shown} in {err}");
        assert!(errors[0].contains("is not valid:"), "{err}");
        assert!(!err.contains("S1-uri-secret"), "{err}");
    }
    assert_eq!(pg.states("odoo").unwrap(), ["Ready"], "no row was written");
    let dbs: i64 = pg
        .superuser("postgres")
        .query_one(
            "SELECT count(*) FROM pg_database WHERE NOT datistemplate",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dbs, 2, "no database was created (postgres, odoo)");
}

#[test]
fn values_that_are_not_utf8_are_named_not_dropped() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"Run\xffOnly");
    for (variable, shown) in [
        ("MODE", "MODE=\"Run\u{FFFD}Only\""),
        ("DB_PASSWORD", "DB_PASSWORD=\"<secret>\""),
    ] {
        let out = Command::new(odoo_init())
            .env_clear()
            .env("MODE", "RunOnly")
            .env("DB_NAME", "odoo")
            .env("ODOO_BIN", standin())
            .env(variable, bad)
            .output()
            .expect("run odoo-init");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{variable}: {err}");
        assert!(err.contains(shown), "{shown} in {err}");
    }
}

#[test]
fn an_unset_mode_is_called_unset() {
    let out = Command::new(odoo_init())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run odoo-init");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("MODE is not set: set it to one of"), "{err}");
}

/// A mount over /etc/odoo hides a script the image named: a mode that
/// runs no maintenance never looks for it (RunOnly gets as far as the
/// database nobody runs here: 69; ForceRunOnly, without a gate, as far as
/// Odoo, here /bin/false: 1), one that does says so (64).
#[test]
fn only_a_mode_that_runs_maintenance_looks_for_its_script() {
    for (mode, code) in [("RunOnly", 69), ("ForceRunOnly", 1), ("UpdateOnly", 64)] {
        let out = Command::new(odoo_init())
            .env("MODE", mode)
            .env("MAINTENANCE_SCRIPT", "/nonexistent/run.sh")
            .env("DB_NAME", "odoo")
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", free_port().to_string())
            .env("DB_WAIT_TIMEOUT", "0.2")
            .env("ODOO_BIN", "/bin/false")
            .env_remove("ODOO_RC")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{mode}: {err}");
        assert_eq!(
            err.contains("MAINTENANCE_SCRIPT"),
            mode == "UpdateOnly",
            "{mode}: {err}"
        );
    }
}
