//! Every mode on four kinds of database, asserting the exact states written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, SUPERUSER_PASSWORD};
use common::*;

const USER: &str = "odoo";
const PASSWORD: &str = "odoo-pw";

#[derive(Clone, Copy, Debug)]
enum Setup0 {
    /// No database at all.
    Fresh,
    /// A state table made by odoo-init (all columns), latest `Ready`.
    Ready,
    /// A database without state table (adopted from elsewhere).
    NoTable,
    /// The earlier shell implementation's three-column table, latest `Ready`.
    Legacy,
}

fn prepare(pg: &Pg, db: &str, setup: Setup0) {
    if matches!(setup, Setup0::Fresh) {
        return;
    }
    pg.database(db, USER);
    let mut sql = String::from(
        "CREATE TABLE ir_module_module (name varchar PRIMARY KEY, state varchar NOT NULL, \
         update_count integer NOT NULL DEFAULT 0, write_date timestamptz NOT NULL DEFAULT now()); \
         INSERT INTO ir_module_module (name, state) VALUES ('base', 'installed'); \
         ALTER TABLE ir_module_module OWNER TO odoo;",
    );
    let columns = match setup {
        Setup0::Ready => ", host varchar, pid integer, mode varchar, heartbeat timestamptz",
        _ => "",
    };
    if !matches!(setup, Setup0::NoTable) {
        sql.push_str(&format!(
            "CREATE TABLE curq_state_history (id serial PRIMARY KEY, state varchar NOT NULL, \
             write_date timestamptz NOT NULL DEFAULT now(){columns}); \
             INSERT INTO curq_state_history (state) VALUES ('Creating'), ('Ready'); \
             ALTER TABLE curq_state_history OWNER TO odoo;"
        ));
    }
    pg.superuser(db).batch_execute(&sql).unwrap();
}

/// (exit code, states after, or None: no table / no database)
fn expected(mode: &str, setup: Setup0) -> (i32, Option<Vec<&'static str>>) {
    use Setup0::*;
    let had: Vec<&str> = match setup {
        Ready | Legacy => vec!["Creating", "Ready"],
        Fresh | NoTable => vec![],
    };
    let with = |more: &[&'static str]| {
        let mut v = had.clone();
        v.extend_from_slice(more);
        Some(v)
    };
    let install = ["Creating", "Ready", "Maintenance", "Ready"];
    let update = ["Updating", "Ready", "Maintenance", "Ready"];
    let no_state = if matches!(setup, Ready | Legacy) {
        with(&[])
    } else {
        None
    };
    match (mode, setup) {
        ("InstallOnly" | "InstallAndRun", _) => (0, with(&install)),
        // No database yet: waited for until TIMEOUT. An Odoo without a
        // state table: refused at once, to be adopted (SPEC §5).
        ("RunOnly" | "UpdateOnly" | "UpdateAndRun", Fresh) => (75, None),
        ("RunOnly" | "UpdateOnly" | "UpdateAndRun", NoTable) => (64, None),
        ("RunOnly", _) => (0, with(&[])),
        ("UpdateOnly" | "UpdateAndRun", _) => (0, with(&update)),
        ("ForceRunOnly", _) => (0, no_state),
        ("ForceUpdateOnly", Fresh) => (75, None),
        ("ForceUpdateOnly", _) => (0, with(&["Updating", "Ready"])),
        ("ForceReadyState", Fresh) => (69, None),
        ("ForceReadyState", _) => (0, with(&["Force Ready"])),
        ("Init", Fresh) => (0, with(&install)),
        ("Init", _) => (0, no_state),
        // The backup's rows (the old table's two), Restore's Ready, then
        // the maintenance step; an existing database is left as it is.
        ("Restore", Fresh) => (
            0,
            Some(vec!["Creating", "Ready", "Ready", "Maintenance", "Ready"]),
        ),
        ("Restore", _) => (0, no_state),
        _ => unreachable!("{mode}"),
    }
}

#[test]
fn every_mode_on_every_kind_of_database() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("matrix");
    let script = scratch.join("run.sh");
    std::fs::write(&script, "exit 0\n").unwrap();
    let modes = odoo_init::plan::Mode::ALL.map(|m| m.name());
    // What Restore restores: a database like the old implementation's.
    prepare(&pg, "matrix_source", Setup0::Legacy);
    let backup = scratch.join("source.dump");
    let dump = [
        "--format=custom",
        "--no-owner",
        "--dbname",
        "matrix_source",
        "--file",
    ]
    .map(std::ffi::OsStr::new);
    pg.as_superuser("pg_dump", &[&dump[..], &[backup.as_os_str()]].concat());
    let setups = [
        Setup0::Fresh,
        Setup0::Ready,
        Setup0::NoTable,
        Setup0::Legacy,
    ];
    let mut failures = Vec::new();
    for (m, mode) in modes.iter().enumerate() {
        for (k, setup) in setups.iter().enumerate() {
            let db = format!("db_{m}_{k}");
            prepare(&pg, &db, *setup);
            let mut s = Setup::main_job(mode)
                .env("DB_NAME", &db)
                .env("DB_USER", USER)
                .env("DB_PASSWORD", PASSWORD)
                .env("DB_ADMIN_USER", "postgres")
                .env("DB_ADMIN_PASSWORD", SUPERUSER_PASSWORD)
                .env("MAINTENANCE_SCRIPT", path_str(&script))
                .env("TIMEOUT", "2")
                .env("STANDIN_RUN_EXIT", "0")
                .env("RESTORE_FROM", path_str(&backup))
                .env("PATH", pg.path_with_tools())
                .env("HOME", path_str(&scratch.join("home")));
            for (k, v) in pg.host_env() {
                s = s.env(k, v);
            }
            let mut run = s.start();
            let code = run.wait_exit(LONG);
            let states = pg.states(&db);
            let (want_code, want_states) = expected(mode, *setup);
            let want_states: Option<Vec<String>> =
                want_states.map(|v| v.into_iter().map(String::from).collect());
            if code != want_code || states != want_states {
                failures.push(format!(
                    "{mode} on {setup:?}: exit {code} (want {want_code}), states {states:?} (want {want_states:?})\n{}",
                    run.stderr()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
