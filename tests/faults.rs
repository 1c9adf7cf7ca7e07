//! The state gate when the database fails under it (issue: never two
//! updaters): PostgreSQL restarted or stopped during an update, an owner
//! frozen past its lease, PgBouncer in transaction pooling under load. The
//! invariant is asserted from outside: the process table and the table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Bouncer, Pg, DB, PASSWORD, USER};
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn states_of(pg: &Pg) -> Vec<String> {
    pg.states(DB).unwrap()
}

/// Freezes (SIGSTOP) or thaws (SIGCONT) odoo-init and everything below it,
/// as a paused container or a stalled node would.
fn freeze(run: &Run, signo: i32) {
    if signo == libc::SIGCONT {
        // Children first: odoo-init, once running, may end them at once
        // (a lost claim stops the step), and a signal to an ended one fails.
        for p in run.procs() {
            send(p.pid, signo);
        }
        send(run.pid, signo);
    } else {
        send(run.pid, signo);
        for p in run.procs() {
            send(p.pid, signo);
        }
    }
}

/// A pod as an orchestrator runs it: started again whenever it exits non-zero.
struct Pod<'a> {
    make: Box<dyn Fn() -> Setup<'a> + 'a>,
    run: Run,
    restarts: u32,
}

impl<'a> Pod<'a> {
    fn new(make: impl Fn() -> Setup<'a> + 'a) -> Pod<'a> {
        let run = make().start();
        Pod {
            make: Box::new(make),
            run,
            restarts: 0,
        }
    }

    /// Starts it again if it exited non-zero; panics if it exited 0 early.
    fn keep_up(&mut self) {
        if !self.run.alive() {
            let code = self.run.wait_exit(LONG);
            assert_ne!(code, 0, "a pod ended early: {}", self.run.stderr());
            self.restarts += 1;
            assert!(
                self.restarts < 20,
                "restarted 20 times: {}",
                self.run.stderr()
            );
            self.run = (self.make)().start();
        }
    }
}

#[test]
fn postgres_restarted_during_an_update_never_lets_two_pods_update() {
    let pg = Pg::start();
    pg.ready_database();
    let mark = "pg-restart";
    let sampler = StepSampler::start(mark);
    // The gate's part: the owner's step holds no connection through the
    // restart (STANDIN_STEP_SESSION=0: a step that reconnects), so that the
    // heartbeat and the waiters are what the restart tests. Odoo's own
    // update fails instead: the next test.
    let job = |step_ms: &str| {
        pg.job("UpdateAndRun")
            .env("STANDIN_STEP_MS", step_ms.to_string())
            .env("STANDIN_STEP_SESSION", "0")
            .env("STATE_LEASE", "5")
            .env(StepSampler::VARIABLE, StepSampler::mark(mark))
    };
    let mut owner = job("20000").start();
    owner.wait_events("the owner's update at work", |ev| {
        count_in(ev, &["working"]) == 1
    });
    let mut pods = vec![Pod::new(|| job("500")), Pod::new(|| job("500"))];
    for pod in &pods {
        pod.run.wait_stderr("'Updating' (row");
    }
    // About 1-2 s into the update, as a failover would.
    pg.restart();
    let back = pg.now();
    // The owner's heartbeat resumes on its row while its update still runs.
    let owner_row = states_of(&pg).len() as i32;
    wait_until(LONG, "the owner's heartbeat after the restart", || {
        let rows = pg.superuser(DB).query_one(
            "SELECT to_char(heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') \
             FROM curq_state_history WHERE id = $1",
            &[&owner_row],
        );
        let beat: Option<String> = rows.ok()?.get(0);
        beat.filter(|b| *b > back)
    });
    assert_eq!(
        owner.count(&["updated all"]),
        0,
        "the update was still running"
    );
    wait_until(Duration::from_secs(120), "every pod running Odoo", || {
        for pod in &mut pods {
            pod.keep_up();
        }
        (in_run_phase(&owner) && pods.iter().all(|p| in_run_phase(&p.run))).then_some(())
    });
    let seen = sampler.finish();
    assert!(
        seen.samples > 100,
        "the process table was sampled ({seen:?})"
    );
    assert_eq!(
        seen.most, 1,
        "at most one update process at any moment: {seen:?}"
    );
    let states = states_of(&pg);
    assert!(!states.contains(&"Reset".to_string()), "{states:?}");
    // Never two busy rows in a row: every claim waited for the Ready before it.
    for pair in states.windows(2) {
        assert!(
            pair.contains(&"Ready".to_string()),
            "busy states overlap: {states:?}"
        );
    }
    assert_eq!(owner.count(&["updated all"]), 1);
    for run in std::iter::once(&mut owner).chain(pods.iter_mut().map(|p| &mut p.run)) {
        run.signal(libc::SIGTERM);
        assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    }
}

/// An `UpdateOnly` owner (`STATE_LEASE=5`) whose update works for
/// `step_ms`, inside its database session or not (`STANDIN_STEP_SESSION`),
/// once the work has begun.
fn owner_at_work(pg: &Pg, step_ms: &str, session: &str) -> Run {
    let owner = pg
        .job("UpdateOnly")
        .env("STANDIN_STEP_MS", step_ms)
        .env("STANDIN_STEP_SESSION", session)
        .env("STATE_LEASE", "5")
        .start();
    owner.wait_events("the update at work", |ev| count_in(ev, &["working"]) == 1);
    owner
}

#[test]
fn postgres_restarted_during_odoos_update_fails_the_step_and_nobody_else_updates() {
    let pg = Pg::start();
    pg.ready_database();
    // Odoo's update works inside its database session (the stand-in's
    // default): a restart of the server ends it unfinished.
    let mut owner = owner_at_work(&pg, "20000", "1");
    let mut waiter = pg.job("UpdateAndRun").env("STATE_LEASE", "5").start();
    waiter.wait_stderr("'Updating' (row");
    pg.restart();
    // The step failed: the owner records it on its row (the database is
    // back) and exits 65; no Ready, no Reset, and the waiter does not
    // update in its place: a half-done update waits for a person.
    assert_eq!(owner.wait_exit(LONG), 65, "{}", owner.stderr());
    let rows = pg.rows(DB);
    let states: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(states, ["Creating", "Ready", "Updating"], "{rows:?}");
    assert!(rows[2].4.is_some(), "the failure is on the row: {rows:?}");
    waiter.wait_stderr("failed with status");
    assert_eq!(waiter.count(&[" -u "]), 0, "{:?}", waiter.events());
    assert!(!in_run_phase(&waiter), "{:?}", waiter.events());
    waiter.signal(libc::SIGTERM);
    waiter.wait_exit(LONG);
    assert_eq!(pg.states(DB).unwrap().len(), 3, "nothing written since");
}

#[test]
fn postgres_stopped_longer_than_the_lease_does_not_reset_a_live_owner() {
    let pg = Pg::start();
    pg.ready_database();
    // A step that holds no connection through the outage (see above).
    let mut owner = owner_at_work(&pg, "15000", "0");
    let mut waiter = pg.job("RunOnly").env("STATE_LEASE", "5").start();
    waiter.wait_stderr("'Updating' (row");
    pg.stop();
    // The fault itself: the database stays away longer than the lease (5 s),
    // and both pods have seen it (the owner's beat failed, the waiter lost
    // its connection) before it comes back.
    let down = std::time::Instant::now();
    wait_until(
        Duration::from_secs(60),
        "an outage past the lease, seen by both",
        || {
            let waiter_saw = ["database connection lost", "waiting for PostgreSQL"]
                .iter()
                .any(|said| waiter.stderr().contains(said));
            let seen = owner.stderr().contains("heartbeat on state") && waiter_saw;
            (seen && down.elapsed() > Duration::from_secs(8)).then_some(())
        },
    );
    pg.start_again();
    assert_eq!(
        owner.wait_exit(Duration::from_secs(60)),
        0,
        "{}",
        owner.stderr()
    );
    waiter.wait_events("Odoo", |ev| starts(ev).len() == 1);
    assert_eq!(
        states_of(&pg),
        ["Creating", "Ready", "Updating", "Ready"],
        "no Reset of a live owner"
    );
    assert!(
        owner.stderr().contains("heartbeat on state"),
        "{}",
        owner.stderr()
    );
    waiter.signal(libc::SIGTERM);
    assert_eq!(waiter.wait_exit(LONG), 0, "{}", waiter.stderr());
}

#[test]
fn an_owner_frozen_past_its_lease_loses_its_claim_and_stops_its_step() {
    let pg = Pg::start();
    pg.ready_database();
    let mut owner = pg.hanging_owner();
    freeze(&owner, libc::SIGSTOP);
    let mut waiter = pg.job("RunOnly").env("STATE_LEASE", "5").start();
    assert_eq!(
        waiter.wait_exit(Duration::from_secs(60)),
        75,
        "{}",
        waiter.stderr()
    );
    // The orchestrator restarts the waiter's pod as an updater: it claims.
    let mut next = pg.job("UpdateOnly").env("STATE_LEASE", "5").start();
    assert_eq!(next.wait_exit(LONG), 0, "{}", next.stderr());
    freeze(&owner, libc::SIGCONT);
    assert_eq!(
        owner.wait_exit(Duration::from_secs(60)),
        76,
        "{}",
        owner.stderr()
    );
    // Its step got SIGTERM and ended; it wrote nothing after the others.
    assert_eq!(owner.count(&["signal SIGTERM"]), 1, "{:?}", owner.events());
    assert_eq!(
        states_of(&pg),
        ["Creating", "Ready", "Updating", "Reset", "Updating", "Ready"]
    );
}

#[test]
fn a_failed_step_is_waited_for_until_timeout_not_reset_after_the_lease() {
    let pg = Pg::start();
    pg.ready_database();
    let mut failing = pg
        .job("UpdateOnly")
        .env("STANDIN_UPDATE_FAIL", "1")
        .env("STATE_LEASE", "5")
        .start();
    assert_eq!(failing.wait_exit(LONG), 65, "{}", failing.stderr());
    let rows = pg.rows(DB);
    assert_eq!(rows[2].1, "Updating");
    assert_eq!(
        rows[2].4,
        Some(1),
        "the failure and its status are on the row"
    );
    let mut waiter = pg
        .job("RunOnly")
        .env("STATE_LEASE", "5")
        .env("TIMEOUT", "12")
        .start();
    waiter.wait_stderr("failed with status 1");
    assert!(
        waiter.stderr().contains("ForceUpdateOnly"),
        "{}",
        waiter.stderr()
    );
    assert_eq!(
        waiter.wait_exit(Duration::from_secs(60)),
        75,
        "{}",
        waiter.stderr()
    );
    // The Reset came after TIMEOUT (12 s), not after the lease (5 s): by the database's clock.
    let age: f64 = pg
        .superuser(DB)
        .query_one(
            "SELECT extract(epoch FROM max(write_date) - min(write_date) \
             FILTER (WHERE state = 'Updating'))::float8 FROM curq_state_history \
             WHERE id >= 3",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(age >= 12.0, "Reset {age:.1}s after the failure");
    assert_eq!(states_of(&pg), ["Creating", "Ready", "Updating", "Reset"]);
}

#[test]
fn a_waiter_judges_the_owner_by_the_owners_lease_not_its_own() {
    let pg = Pg::start();
    pg.ready_database();
    // The owner beats every 7.5 s (a quarter of 30); the waiter's own lease is 5 s.
    let mut owner = pg
        .job("UpdateOnly")
        .env("STANDIN_STEP_MS", "9000")
        .env("STATE_LEASE", "30")
        .start();
    owner.wait_events("the update", |ev| count_in(ev, &["-u all"]) == 1);
    let mut waiter = pg.job("RunOnly").env("STATE_LEASE", "5").start();
    assert_eq!(owner.wait_exit(LONG), 0, "{}", owner.stderr());
    waiter.wait_events("Odoo", |ev| starts(ev).len() == 1);
    assert_eq!(states_of(&pg), ["Creating", "Ready", "Updating", "Ready"]);
    waiter.signal(libc::SIGTERM);
    assert_eq!(waiter.wait_exit(LONG), 0, "{}", waiter.stderr());
}

/// `pgbench -S` through the pooler on the same pool as the pods, until dropped.
struct Load(std::process::Child);

impl Load {
    fn start(pg: &Pg, bouncer: &Bouncer) -> Load {
        let out = Command::new(pg.tool("pgbench"))
            .args(["-i", "-q", "-s", "1", "-h", "127.0.0.1", "-U", USER, DB])
            .arg("-p")
            .arg(pg.port.to_string())
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("pgbench -i (apt-get install postgresql-contrib)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let child = Command::new(pg.tool("pgbench"))
            .args([
                "-S",
                "-n",
                "-c",
                "4",
                "-j",
                "1",
                "-T",
                "300",
                "-h",
                "127.0.0.1",
            ])
            .args(["-U", USER, "-p", &bouncer.port.to_string(), DB])
            .env("PGPASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbench");
        Load(child)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn six_pods_through_pgbouncer_under_load_update_one_at_a_time() {
    let pg = Pg::start();
    pg.ready_database();
    let bouncer = Bouncer::start(&pg, 2);
    let load = Load::start(&pg, &bouncer);
    let mark = "pgbouncer";
    let sampler = StepSampler::start(mark);
    let mut runs: Vec<Run> = (0..6)
        .map(|_| {
            // Every pod updates (as before checksums): six claims to serialise.
            bouncer
                .job("UpdateAndRun")
                .env("UPDATE", "all")
                .env("STANDIN_STEP_MS", "2000")
                .env("STATE_LEASE", "5")
                .env(StepSampler::VARIABLE, StepSampler::mark(mark))
                .start()
        })
        .collect();
    wait_until(Duration::from_secs(180), "all 6 pods running Odoo", || {
        runs.iter().all(in_run_phase).then_some(())
    });
    let seen = sampler.finish();
    drop(load);
    assert_eq!(
        seen.most, 1,
        "at most one update process at any moment: {seen:?}"
    );
    let rows = pg.rows(DB);
    let states: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let mut expected = vec!["Creating", "Ready"];
    for _ in 0..6 {
        expected.extend(["Updating", "Ready"]);
    }
    assert_eq!(states, expected, "every update serialised");
    for (id, state, written, beat, _) in &rows[2..] {
        if state == "Updating" {
            let beat = beat.as_deref().unwrap_or("");
            assert!(
                beat > written.as_str(),
                "row {id}: the heartbeat moved ({written} -> {beat})"
            );
        }
    }
    for run in &mut runs {
        run.signal(libc::SIGTERM);
        assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
        let stderr = run.stderr();
        let bad: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .collect();
        assert!(
            bad.is_empty(),
            "no error or warning line: {bad:?}\n{stderr}"
        );
    }
}

#[test]
fn a_pod_at_the_gate_survives_postgres_and_pgbouncer_restarts() {
    let pg = Pg::start();
    pg.ready_database();
    // Another pod's update, alive for the next hour as far as its row says.
    pg.superuser(DB)
        .batch_execute(
            "ALTER TABLE curq_state_history ADD COLUMN heartbeat timestamptz, \
             ADD COLUMN lease_seconds float8, ADD COLUMN host varchar, ADD COLUMN pid integer; \
             INSERT INTO curq_state_history (state, heartbeat, lease_seconds, host, pid) \
             VALUES ('Updating', now(), 3600, 'other-pod', 7)",
        )
        .unwrap();
    let mut bouncer = Bouncer::start(&pg, 2);
    let mut waiter = bouncer.job("RunOnly").env("STATE_LEASE", "5").start();
    waiter.wait_stderr("'Updating' (row 3");
    pg.restart();
    bouncer.restart();
    // The waiter holds no connection between its looks: it is seen looking
    // again after the restarts on the server's side (its transactions on
    // the database), whether a look met the restart or not.
    let commits = || -> i64 {
        pg.superuser("postgres")
            .query_one(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
                &[&DB],
            )
            .unwrap()
            .get(0)
    };
    let before = commits();
    wait_until(LONG, "the waiter looking again after the restarts", || {
        (commits() >= before + 2).then_some(())
    });
    assert!(waiter.alive(), "{}", waiter.stderr());
    // The other pod finishes; the waiter goes on.
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
        .unwrap();
    waiter.wait_events("Odoo", |ev| starts(ev).len() == 1);
    waiter.signal(libc::SIGTERM);
    assert_eq!(waiter.wait_exit(LONG), 0, "{}", waiter.stderr());
}

#[test]
fn an_install_through_pgbouncer_creates_the_missing_database() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let bouncer = Bouncer::start(&pg, 2);
    let mut run = bouncer
        .job("InstallOnly")
        .env("DB_WAIT_TIMEOUT", "20")
        .start();
    assert_eq!(
        run.wait_exit(LONG),
        0,
        "{}\n{}",
        run.stderr(),
        bouncer.log()
    );
    assert!(
        run.stderr().contains("created database odoo"),
        "{}",
        run.stderr()
    );
    assert_eq!(states_of(&pg), ["Creating", "Ready"]);
}

/// Another session holds the gate's advisory lock, or the state table: a
/// SIGTERM meanwhile ends the pod with 143 (as at the gate), nothing is
/// claimed after it, and it does not wait for the lock to be released.
#[test]
fn sigterm_is_honoured_while_a_lock_blocks_the_gate() {
    let pg = Pg::start();
    pg.ready_database();
    let mut holder = pg.superuser(DB);
    // The advisory lock odoo-init's claims take (src/db/state.rs, LOCK_KEY).
    holder
        .batch_execute("SELECT pg_advisory_lock(1668641393)")
        .unwrap();
    let mut updater = pg.job("UpdateOnly").start();
    wait_until(LONG, "the updater to wait for the advisory lock", || {
        (pg.lock_waits("advisory") > 0).then_some(())
    });
    // TERM is pending before the lock is free: the claim that then gets
    // through must not be committed.
    updater.signal(libc::SIGTERM);
    holder
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .unwrap();
    assert_eq!(updater.wait_exit(LONG), 143, "{}", updater.stderr());
    assert_eq!(states_of(&pg), ["Creating", "Ready"], "nothing claimed");
    assert!(updater.events().is_empty(), "no update started");

    // The table itself locked, and kept locked until the pod is gone.
    holder
        .batch_execute("BEGIN; LOCK TABLE curq_state_history IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let mut runner = pg.job("RunOnly").start();
    // It says what holds it up once its statement's lock_timeout ends it...
    runner.wait_stderr("locked by another session");
    wait_until(LONG, "the pod to wait for the table lock again", || {
        (pg.lock_waits("relation") > 0).then_some(())
    });
    // ...and a SIGTERM during the next wait ends it at once, the lock
    // still held (the client gives up the statement and its connection).
    runner.signal(libc::SIGTERM);
    assert_eq!(runner.wait_exit(LONG), 143, "{}", runner.stderr());
    assert!(runner.events().is_empty(), "Odoo never started");
    holder.batch_execute("ROLLBACK").unwrap();
}
