//! An odd state table never crashes odoo-init: columns of other types, a
//! NULL where a value belongs. Every command that reads the table runs
//! against each, and none ends in a panic (101 for this debug build, 134
//! with the release profile's abort) or a crash (139).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB};
use common::*;

/// Each case: what was done to the `Ready` table of `ready_database`.
const CASES: [(&str, &str); 7] = [
    (
        "id bigint",
        "ALTER TABLE curq_state_history ALTER COLUMN id TYPE bigint",
    ),
    (
        "state integer",
        "DELETE FROM curq_state_history; \
         ALTER TABLE curq_state_history ALTER COLUMN state TYPE integer USING 1",
    ),
    (
        "state NULL",
        "ALTER TABLE curq_state_history ALTER COLUMN state DROP NOT NULL; \
         INSERT INTO curq_state_history (state) VALUES (NULL)",
    ),
    (
        "write_date text",
        "ALTER TABLE curq_state_history ALTER COLUMN write_date TYPE text",
    ),
    (
        "pid text",
        "ALTER TABLE curq_state_history ADD COLUMN pid text",
    ),
    (
        "exit_status text",
        "ALTER TABLE curq_state_history ADD COLUMN exit_status text; \
         INSERT INTO curq_state_history (state, exit_status) VALUES ('Updating', 'abc')",
    ),
    (
        "heartbeat text",
        "ALTER TABLE curq_state_history ADD COLUMN heartbeat text; \
         INSERT INTO curq_state_history (state, heartbeat) VALUES ('Updating', 'soon')",
    ),
];

/// Exit codes odoo-init may end with here: its own, documented ones.
const DOCUMENTED: [i32; 7] = [0, 64, 65, 69, 75, 76, 143];

fn assert_no_crash(case: &str, what: &str, code: i32, stderr: &str) {
    assert!(
        DOCUMENTED.contains(&code) && !stderr.contains("panicked"),
        "{case}: {what} ended with {code}:\n{stderr}"
    );
}

#[test]
fn every_command_survives_an_odd_state_table() {
    for (case, sql) in CASES {
        let pg = Pg::start();
        pg.ready_database();
        pg.superuser(DB).batch_execute(sql).unwrap();

        let out = pg.state_command().output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_no_crash(case, "state", code_of(out.status), &stderr);

        for mode in ["ForceReadyState", "UpdateOnly", "RunOnly"] {
            let mut run = pg.job(mode).env("TIMEOUT", "3").start();
            // RunOnly may reach Odoo: then stop it as a container stop would.
            let what = format!("{case}: {mode} to end or run Odoo");
            wait_until(LONG, &what, || {
                let serving = in_run_phase(&run);
                (!run.alive() || serving).then_some(())
            });
            if run.alive() {
                run.signal(libc::SIGTERM);
            }
            let code = run.wait_exit(LONG);
            assert_no_crash(case, mode, code, &run.stderr());
        }
    }
}

/// The table changed under a running Odoo so that the gate cannot read it:
/// a restart is refused and Odoo runs on (same PID, never stopped); once the
/// table is readable again, the next restart goes through.
#[test]
fn a_restart_that_the_gate_cannot_pass_keeps_odoo_running() {
    let pg = Pg::start();
    pg.ready_database();
    let mut run = pg.job("RunOnly").start();
    run.wait_events("Odoo to start", |ev| starts(ev).len() == 1);
    let (_, odoo) = run.init_and_child();
    pg.superuser(DB)
        .batch_execute("ALTER TABLE curq_state_history ALTER COLUMN write_date TYPE text")
        .unwrap();
    run.signal(libc::SIGHUP);
    run.wait_stderr("restart refused");
    assert!(run.alive(), "{}", run.stderr());
    let (_, still) = run.init_and_child();
    assert_eq!(still.pid, odoo.pid, "the same Odoo runs on");
    assert_eq!(
        run.count(&["signal SIGTERM"]),
        0,
        "never stopped: {:?}",
        run.events()
    );
    assert_eq!(run.starts().len(), 1);

    pg.superuser(DB)
        .batch_execute(
            "ALTER TABLE curq_state_history ALTER COLUMN write_date TYPE timestamptz \
             USING write_date::timestamptz",
        )
        .unwrap();
    run.signal(libc::SIGHUP);
    run.wait_events("the restart", |ev| starts(ev).len() == 2);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}
