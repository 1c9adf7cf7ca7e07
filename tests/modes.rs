//! The modes against a real, throwaway PostgreSQL, odoo-init as PID 1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB, PASSWORD, SUPERUSER_PASSWORD, USER};
use common::*;
use std::time::{Duration, Instant};

fn script(scratch: &Scratch) -> String {
    let path = scratch.join("run.sh");
    std::fs::write(&path, "echo maintenance done\n").unwrap();
    path_str(&path)
}

fn run_phase_started(run: &Run) -> Vec<String> {
    run.wait_events("Odoo's run phase", |ev| {
        ev.iter().any(|l| {
            starts(std::slice::from_ref(l))
                .iter()
                .any(Start::is_run_phase)
        })
    })
}

#[test]
fn install_and_run_on_a_fresh_server() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("maint");
    let mut run = pg
        .job("InstallAndRun")
        .env("MODULES", "sale,crm")
        .env("MAINTENANCE_SCRIPT", script(&scratch))
        .start();
    let events = run_phase_started(&run);
    assert!(
        starts(&events).iter().any(|s| s
            .argv
            .starts_with("-d odoo -i sale,crm --stop-after-init --no-http")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|l| l.contains("installed base,sale,crm")),
        "{events:?}"
    );
    assert!(
        starts(&events)
            .iter()
            .any(|s| s.argv == "-d odoo --no-database-list"),
        "{events:?}"
    );
    assert_eq!(
        pg.states(DB).unwrap(),
        ["Creating", "Ready", "Maintenance", "Ready"]
    );
    let mods: Vec<String> = pg
        .superuser(DB)
        .query(
            "SELECT name FROM ir_module_module WHERE state = 'installed' ORDER BY name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(mods, ["base", "crm", "sale"]);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}

#[test]
fn run_only_waits_while_busy_and_proceeds_on_ready() {
    let pg = Pg::start();
    pg.ready_database();
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    let mut run = pg.job("RunOnly").start();
    run.wait_stderr("state 'Updating'");
    assert_eq!(run.starts().len(), 0, "Odoo must not start while busy");
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
        .unwrap();
    run_phase_started(&run);
    assert_eq!(
        pg.states(DB).unwrap(),
        ["Creating", "Ready", "Updating", "Ready"]
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

#[test]
fn a_busy_state_older_than_timeout_is_reset() {
    let pg = Pg::start();
    pg.ready_database();
    pg.superuser(DB)
        .batch_execute(
            "INSERT INTO curq_state_history (state, write_date) VALUES ('Updating', now() - interval '1 hour')",
        )
        .unwrap();
    let mut run = pg.job("RunOnly").env("TIMEOUT", "60").start();
    assert_eq!(run.wait_exit(LONG), 75, "{}", run.stderr());
    assert!(
        run.stderr().contains("longer than TIMEOUT"),
        "{}",
        run.stderr()
    );
    assert_eq!(pg.states(DB).unwrap().last().unwrap(), "Reset");
    assert_eq!(run.starts().len(), 0);
}

#[test]
fn a_wrong_password_fails_at_once() {
    let pg = Pg::start();
    pg.ready_database();
    let started = Instant::now();
    let mut run = pg
        .job("RunOnly")
        .env("DB_PASSWORD", "wrong")
        .env("DB_WAIT_TIMEOUT", "60")
        .start();
    assert_eq!(run.wait_exit(LONG), 69, "{}", run.stderr());
    assert!(started.elapsed() < Duration::from_secs(20));
    let err = run.stderr();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        !err.contains("wrong"),
        "the password must not be logged: {err}"
    );
}

/// `LIST_DB=True` on a server where no database holds an Odoo: nothing
/// to gate, Odoo serves without `-d` (its own database list).
#[test]
fn list_db_with_no_odoo_database_serves_without_d() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, false);
    let mut s = Setup::main_job("RunOnly")
        .env("LIST_DB", "True")
        .env("DB_USER", USER)
        .env("DB_PASSWORD", PASSWORD);
    for (k, v) in pg.host_env() {
        s = s.env(k, v);
    }
    let mut run = s.start();
    let events = run.wait_events("Odoo", |ev| starts(ev).len() == 1);
    assert!(
        starts(&events).iter().any(|s| s.argv.is_empty()),
        "{events:?}"
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

#[test]
fn force_modes_adopt_a_database_without_state_table() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, false);
    pg.database(DB, USER);
    // ForceRunOnly: runs without looking, writes nothing.
    let mut run = pg.job("ForceRunOnly").start();
    run_phase_started(&run);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
    assert_eq!(pg.states(DB), None);
    // ForceUpdateOnly: creates the table, updates.
    let mut run = pg.job("ForceUpdateOnly").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(pg.states(DB).unwrap(), ["Updating", "Ready"]);
    // ForceReadyState: one row, no Odoo.
    let mut run = pg.job("ForceReadyState").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(pg.states(DB).unwrap(), ["Updating", "Ready", "Force Ready"]);
    assert_eq!(run.starts().len(), 0);
}

#[test]
fn force_ready_state_creates_the_table() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, false);
    pg.database(DB, USER);
    // It never runs Odoo, so an image without it (a job container) will do.
    let mut run = pg
        .job("ForceReadyState")
        .env("ODOO_BIN", "/nonexistent/odoo")
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(pg.states(DB).unwrap(), ["Force Ready"]);
}

#[test]
fn state_without_a_database_name_says_what_it_needs() {
    let out = std::process::Command::new(odoo_init())
        .arg("state")
        .env_clear()
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("DB_NAME"), "{err}");
    assert!(!err.contains("this mode"), "{err}");
}

#[test]
fn update_only_works_on_a_legacy_three_column_table() {
    let pg = Pg::start();
    pg.ready_database();
    let mut run = pg.job("UpdateOnly").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(
        pg.states(DB).unwrap(),
        ["Creating", "Ready", "Updating", "Ready"]
    );
    let events = run.events();
    assert!(
        events
            .iter()
            .any(|l| l.contains("-u all --stop-after-init")),
        "{events:?}"
    );
}

#[test]
fn init_creates_role_and_database_then_installs_and_a_second_init_does_nothing() {
    let pg = Pg::start();
    let admin = |s: Setup<'static>| {
        s.env("DB_ADMIN_USER", "postgres")
            .env("DB_ADMIN_PASSWORD", SUPERUSER_PASSWORD)
    };
    let mut run = admin(pg.job("Init")).env("MODULES", "sale").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(pg.states(DB).unwrap(), ["Creating", "Ready"]);
    let mut c = pg.superuser("postgres");
    let role = c
        .query_one(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, \
             (SELECT rolpassword FROM pg_authid WHERE rolname = 'odoo') \
             FROM pg_roles WHERE rolname = 'odoo'",
            &[],
        )
        .unwrap();
    assert!(role.get::<_, bool>(0) && !role.get::<_, bool>(1));
    assert!(!role.get::<_, bool>(2) && !role.get::<_, bool>(3));
    assert!(role.get::<_, String>(4).starts_with("SCRAM-SHA-256$"));
    let owner: String = c
        .query_one(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'odoo'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, USER);
    // Again: the database exists, exit 0 at once, nothing written.
    let mut again = admin(pg.job("Init")).start();
    assert_eq!(again.wait_exit(LONG), 0, "{}", again.stderr());
    assert!(again.stderr().contains("exists; nothing to do"));
    assert_eq!(pg.states(DB).unwrap(), ["Creating", "Ready"]);
}

#[test]
fn a_failed_update_leaves_its_busy_state_and_exits_65() {
    let pg = Pg::start();
    pg.ready_database();
    let mut run = pg
        .job("UpdateAndRun")
        .env("STANDIN_UPDATE_FAIL", "1")
        .start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    assert_eq!(pg.states(DB).unwrap(), ["Creating", "Ready", "Updating"]);
    assert!(
        run.stderr().contains("the state stays 'Updating'"),
        "{}",
        run.stderr()
    );
    assert!(
        !run.events()
            .iter()
            .any(|l| l.contains("--no-database-list")),
        "Odoo must not run"
    );
}

#[test]
fn an_update_interrupted_by_sigterm_leaves_its_busy_state() {
    let pg = Pg::start();
    pg.ready_database();
    let mut run = pg.job("UpdateOnly").env("STANDIN_UPDATE_HANG", "1").start();
    run.wait_events("the update", |ev| count_in(ev, &["update hanging"]) == 1);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    assert_eq!(
        run.count(&["signal SIGTERM from 1"]),
        1,
        "{:?}",
        run.events()
    );
    assert_eq!(pg.states(DB).unwrap(), ["Creating", "Ready", "Updating"]);
    assert!(run.stderr().contains("interrupted"), "{}", run.stderr());
}

/// What `odoo-init state ARGS` prints; it must succeed.
fn state_output(pg: &Pg, args: &[&str]) -> String {
    let out = pg.state_command().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn state_prints_the_history_like_psql() {
    let pg = Pg::start();
    pg.ready_database();
    let text = state_output(&pg, &["--limit", "1"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with(" id |"), "{text}");
    assert!(lines[2].starts_with("  2 | Ready "), "newest last: {text}");
    assert!(lines[2].ends_with("+00"), "UTC timestamps: {text}");
    assert_eq!(lines[3], "(1 row)");
}

#[test]
fn state_into_a_closed_pipe_ends_quietly() {
    let pg = Pg::start();
    pg.ready_database();
    // `odoo-init state | head -0`: the reader is gone before anything is written.
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    drop(read_end);
    let out = pg
        .state_command()
        .stdout(std::process::Stdio::from(write_end))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "no panic (134): {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `state`'s columns on a table with every optional column: the row, who
/// wrote it, the backup made before its update.
const WHO_WROTE: [&str; 9] = [
    "id",
    "state",
    "write_date",
    "host",
    "pid",
    "mode",
    "heartbeat",
    "exit_status",
    "backup",
];

/// The column names of `state`'s table.
fn header(text: &str) -> Vec<String> {
    let first = text.lines().next().unwrap_or_default();
    first.split('|').map(|c| c.trim().to_string()).collect()
}

/// A table an earlier version extended (the columns of its time, no
/// backup's size yet): `state` shows what it has before this version
/// writes a row, which adds the rest.
#[test]
fn state_shows_the_columns_an_earlier_version_added() {
    let pg = Pg::start();
    pg.ready_database();
    pg.superuser(DB)
        .batch_execute(
            "ALTER TABLE curq_state_history ADD COLUMN host varchar, ADD COLUMN pid integer, \
             ADD COLUMN mode varchar, ADD COLUMN heartbeat timestamptz, \
             ADD COLUMN lease_seconds double precision, ADD COLUMN exit_status integer, \
             ADD COLUMN backup text, ADD COLUMN code text, ADD COLUMN refused_code text",
        )
        .unwrap();
    let text = state_output(&pg, &[]);
    assert_eq!(header(&text), WHO_WROTE[..8], "{text}");
    let mut run = pg.job("UpdateOnly").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let text = state_output(&pg, &[]);
    assert_eq!(header(&text), WHO_WROTE, "{text}");
}

/// Rows odoo-init wrote say who wrote them: `state` shows the optional
/// columns (host, pid, mode, heartbeat, exit_status, backup) when the table
/// has them.
#[test]
fn state_shows_who_wrote_each_row() {
    let pg = Pg::start();
    pg.ready_database();
    let mut run = pg.job("UpdateOnly").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let text = state_output(&pg, &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(header(&text), WHO_WROTE, "{text}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let updating = lines
        .iter()
        .find(|l| l.contains("| Updating "))
        .expect(&text);
    let cells: Vec<&str> = updating.split('|').map(str::trim).collect();
    assert_eq!(cells[3], host.trim(), "{text}");
    assert!(cells[4].parse::<u32>().is_ok(), "{text}");
    assert_eq!(cells[5], "UpdateOnly", "{text}");
    assert!(cells[6].ends_with("+00"), "{text}");
}
