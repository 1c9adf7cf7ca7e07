//! The state gate under concurrency and failure, and secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB, PASSWORD, SUPERUSER_PASSWORD};
use common::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn eight_pods_updating_at_once_take_turns_and_all_end_running() {
    let pg = Pg::start();
    pg.ready_database();
    let mut runs: Vec<Run> = (0..8)
        // Every pod updates (UPDATE=all): eight claims to serialise.
        .map(|_| {
            pg.job("UpdateAndRun")
                .env("UPDATE", "all")
                .env("STANDIN_STEP_MS", "200")
                .start()
        })
        .collect();
    wait_until(Duration::from_secs(120), "all 8 pods running Odoo", || {
        runs.iter().all(in_run_phase).then_some(())
    });
    let states = pg.states(DB).unwrap();
    let mut expected = vec!["Creating".to_string(), "Ready".to_string()];
    for _ in 0..8 {
        expected.extend(["Updating".to_string(), "Ready".to_string()]);
    }
    // Claims happen under the lock and need the latest state to be ready:
    // never two busy rows in a row, every update serialised.
    assert_eq!(states, expected);
    let updates: i32 = pg
        .superuser(DB)
        .query_one(
            "SELECT update_count FROM ir_module_module WHERE name = 'base'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(updates, 8);
    for run in &mut runs {
        run.signal(libc::SIGTERM);
        assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    }
}

#[test]
fn a_killed_updater_is_reset_by_a_waiter_within_the_lease() {
    let pg = Pg::start();
    pg.ready_database();
    let mut updater = pg.hanging_owner();
    let mut waiter = pg
        .job("RunOnly")
        .env("STATE_LEASE", "5")
        .env("TIMEOUT", "600")
        .start();
    waiter.wait_stderr("state 'Updating'");
    // The updater's container dies at once: no chance to write anything.
    let killed = Instant::now();
    updater.signal(libc::SIGKILL);
    updater.wait_exit(LONG);
    assert_eq!(
        waiter.wait_exit(Duration::from_secs(60)),
        75,
        "{}",
        waiter.stderr()
    );
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "{:?}",
        killed.elapsed()
    );
    assert!(waiter.stderr().contains("heartbeat"), "{}", waiter.stderr());
    assert_eq!(
        pg.states(DB).unwrap(),
        ["Creating", "Ready", "Updating", "Reset"]
    );
    // The restarted container then proceeds.
    let mut again = pg.job("RunOnly").start();
    again.wait_events("Odoo", |ev| starts(ev).len() == 1);
    again.signal(libc::SIGTERM);
    assert_eq!(again.wait_exit(LONG), 0);
}

#[test]
fn postgres_started_late_is_waited_for() {
    let pg = Pg::start();
    pg.ready_database();
    pg.stop();
    let mut run = pg.job("RunOnly").env("DB_WAIT_TIMEOUT", "60").start();
    run.wait_stderr("waiting for PostgreSQL");
    pg.start_again();
    run.wait_events("Odoo", |ev| starts(ev).len() == 1);
    assert!(
        run.stderr().contains("PostgreSQL is up"),
        "{}",
        run.stderr()
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

#[test]
fn postgres_that_never_comes_is_a_clear_failure() {
    let pg = Pg::start();
    pg.ready_database();
    pg.stop();
    let started = Instant::now();
    let mut run = pg.job("RunOnly").env("DB_WAIT_TIMEOUT", "3").start();
    assert_eq!(run.wait_exit(LONG), 69, "{}", run.stderr());
    // It tries until the deadline, not until the next pause would pass it.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(run.stderr().contains("DB_WAIT_TIMEOUT"), "{}", run.stderr());
    // Which failure: refused, not just "error connecting to server".
    assert!(run.stderr().contains("refused"), "{}", run.stderr());
}

#[test]
fn a_server_that_asks_for_a_password_we_lack_fails_at_once() {
    let pg = Pg::start();
    pg.ready_database();
    let mut run = Setup::main_job("RunOnly")
        .env("DB_NAME", DB)
        .env("DB_USER", common::pg::USER)
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", pg.port)
        .env("DB_WAIT_TIMEOUT", "120")
        .start();
    // Well before DB_WAIT_TIMEOUT: retrying cannot help.
    assert_eq!(run.wait_exit(LONG), 69, "{}", run.stderr());
    assert!(run.stderr().contains("set DB_PASSWORD"), "{}", run.stderr());
}

#[test]
fn two_inits_at_once_both_succeed_and_one_installs() {
    let pg = Pg::start();
    let init = || {
        pg.job("Init")
            .env("DB_ADMIN_USER", "postgres")
            .env("DB_ADMIN_PASSWORD", SUPERUSER_PASSWORD)
    };
    let (mut a, mut b) = (init().start(), init().start());
    assert_eq!(a.wait_exit(LONG), 0, "{}", a.stderr());
    assert_eq!(b.wait_exit(LONG), 0, "{}", b.stderr());
    assert_eq!(pg.states(DB).unwrap(), ["Creating", "Ready"]);
    let installs = [&a, &b]
        .iter()
        .filter(|r| r.count(&["installed base"]) == 1)
        .count();
    assert_eq!(installs, 1);
}

/// Every process's command line, sampled until `stop`.
fn sample_cmdlines(stop: Arc<AtomicBool>, seen: Arc<Mutex<BTreeSet<String>>>) {
    while !stop.load(Ordering::SeqCst) {
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
                let line = String::from_utf8_lossy(&raw).replace('\0', " ");
                if !line.is_empty() {
                    seen.lock().unwrap().insert(line);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn no_secret_in_any_command_line_or_log() {
    let pg = Pg::start();
    let scratch = Scratch::new("secrets");
    let script = scratch.join("run.sh");
    std::fs::write(
        &script,
        "sleep 1\npsql -X -tAc 'SELECT 1' >/dev/null || exit 3\n\
         env | grep -q '_PASSWORD' && exit 4\nexit 0\n",
    )
    .unwrap();
    let admin_secret = scratch.join("admin");
    std::fs::write(&admin_secret, format!("{SUPERUSER_PASSWORD}\n")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let sampler = {
        let (stop, seen) = (stop.clone(), seen.clone());
        std::thread::spawn(move || sample_cmdlines(stop, seen))
    };
    // Init (admin secret from a file), install, maintenance; then update and run.
    // At debug level, where the PostgreSQL client would log CREATE ROLE with its verifier.
    let mut init = pg
        .job("Init")
        .env("ODOO_INIT_LOG", "debug")
        .env("DB_ADMIN_USER", "postgres")
        .env("DB_ADMIN_PASSWORD_FILE", path_str(&admin_secret))
        .env("MAINTENANCE_SCRIPT", path_str(&script))
        .env("STANDIN_STEP_MS", "500")
        .start();
    assert_eq!(init.wait_exit(LONG), 0, "{}", init.stderr());
    // An update even right after the install (UPDATE=all): every kind of step.
    let mut run = pg
        .job("UpdateAndRun")
        .env("UPDATE", "all")
        .env("MAINTENANCE_SCRIPT", path_str(&script))
        .env("STANDIN_STEP_MS", "500")
        .start();
    run.wait_events("Odoo", |ev| {
        starts(ev)
            .iter()
            .any(|s| s.argv == "-d odoo --no-database-list")
    });
    wait_until(LONG, "the run phase seen by the sampler", || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("standin-odoo -d odoo --no-database-list"))
            .then_some(())
    });
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();

    let seen = seen.lock().unwrap();
    for phase in [
        "-i base --stop-after-init",
        "-u all --stop-after-init",
        "run.sh",
        "--no-database-list",
    ] {
        assert!(
            seen.iter().any(|l| l.contains(phase)),
            "the sampler saw no {phase:?}"
        );
    }
    for secret in [PASSWORD, SUPERUSER_PASSWORD] {
        assert!(
            !seen.iter().any(|l| l.contains(secret)),
            "{secret} in a command line"
        );
        for r in [&init, &run] {
            assert!(!r.stderr().contains(secret), "{secret} in a log");
        }
    }
    for r in [&init, &run] {
        assert!(
            !r.stderr().contains("SCRAM-SHA-256$"),
            "a verifier in a log"
        );
    }
    // The maintenance script reached the database through libpq's environment.
    assert_eq!(
        pg.states(DB).unwrap(),
        [
            "Creating",
            "Ready",
            "Maintenance",
            "Ready",
            "Updating",
            "Ready",
            "Maintenance",
            "Ready"
        ]
    );
}

#[test]
fn a_restart_while_odoo_runs_makes_its_connection_again() {
    let pg = Pg::start();
    pg.ready_database();
    let mut run = pg.job("RunOnly").start();
    run.wait_events("Odoo", |ev| starts(ev).len() == 1);
    let ours = || pg.backends_of("odoo-init");
    wait_until(LONG, "no connection held while Odoo runs", || {
        (ours() == 0).then_some(())
    });
    // The restart looks at the gate again: on a connection made for it.
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    run.signal(libc::SIGHUP);
    run.wait_stderr("'Updating' (row");
    assert_eq!(
        starts(&run.events()).len(),
        1,
        "no Odoo while the gate is closed"
    );
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
        .unwrap();
    run.wait_events("Odoo again", |ev| starts(ev).len() == 2);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

/// `odoo-init restart -- ARGS` while the pod waits at the gate: not lost,
/// the arguments apply to the first start once the gate opens.
#[test]
fn a_restart_asked_at_the_gate_applies_to_the_first_start() {
    let pg = Pg::start();
    pg.ready_database();
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    let mut waiter = pg.job("RunOnly").env("TIMEOUT", "600").start();
    waiter.wait_stderr("state 'Updating'");
    let out = waiter.restart_cmd(&["--", "--log-level=debug"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    waiter.wait_stderr("SIGHUP while waiting to start");
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
        .unwrap();
    let events = waiter.wait_events("Odoo to start", |ev| starts(ev).len() == 1);
    let start = &starts(&events)[0];
    assert!(start.argv.ends_with(" --log-level=debug"), "{start:?}");
    waiter.signal(libc::SIGTERM);
    assert_eq!(waiter.wait_exit(LONG), 0);
    assert_eq!(waiter.starts().len(), 1, "one start only");
}

/// Waiting and serving hold no connection: the server's slots are left to
/// the Odoo that updates or serves. Counted on the server's side.
#[test]
fn a_pod_holds_no_connection_while_it_waits_or_serves() {
    let pg = Pg::start();
    pg.ready_database();
    let ours = || pg.backends_of("odoo-init");
    // Waiting: another pod's step holds the gate; between its looks the
    // waiter has no connection (sampled a few times while it waits).
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    let mut run = pg.job("RunOnly").env("TIMEOUT", "600").start();
    run.wait_stderr("'Updating' (row");
    wait_until(
        LONG,
        "the waiter between two looks, holding nothing",
        || (ours() == 0).then_some(()),
    );
    // Serving: once Odoo runs, none.
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
        .unwrap();
    run.wait_events("Odoo", |ev| starts(ev).len() == 1);
    wait_until(LONG, "no connection held while Odoo serves", || {
        (ours() == 0).then_some(())
    });
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}
