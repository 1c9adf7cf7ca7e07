//! A fleet on one server (issue: a fleet of 100 must not starve its own
//! update of connections): 100 pods, each odoo-init as PID 1 of its own
//! namespace with the stand-in Odoo, started at once in `UpdateAndRun`
//! after one module changed, against PostgreSQL's default
//! `max_connections = 100`. One pod updates while 99 wait at the gate:
//! waiting pods hold no connection between their looks, so the update's
//! Odoo gets its connections, and every pod serves. The server's load from
//! the waiting fleet and the cost of a SIGHUP to every pod are measured
//! from the server's own statistics and printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::addons::{installed, job, write};
use common::pg::{Pg, DB};
use common::*;
use std::time::{Duration, Instant};

const PODS: usize = 100;

/// (sessions established, transactions committed) on the database so far.
fn load(pg: &Pg) -> (i64, i64) {
    let mut su = pg.superuser("postgres");
    su.batch_execute("SELECT pg_stat_clear_snapshot()").unwrap();
    let row = su
        .query_one(
            "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = $1",
            &[&DB],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// Connections of odoo-init itself (not Odoo's) open on the server now.
fn init_backends(pg: &Pg) -> i64 {
    pg.backends_of("odoo-init")
}

/// Connections of odoo-init idle for longer than a look takes: held
/// between looks, not in the middle of one.
fn held_backends(pg: &Pg) -> i64 {
    pg.idle_backends_of("odoo-init", Duration::from_secs(2))
}

fn per_second(delta: i64, span: Duration) -> f64 {
    delta as f64 / span.as_secs_f64()
}

#[test]
fn a_hundred_pods_on_default_max_connections_run_one_update_and_all_serve() {
    let mut pg = Pg::init();
    pg.max_connections = 100;
    pg.start_on_a_free_port();
    let scratch = Scratch::new("fleet");
    let dir = common::addons::three(&scratch.path);
    installed(&pg, &dir);
    write(&dir.join("m2/models/main.py"), "# changed\n");
    let mark = "fleet-100";
    let sampler = StepSampler::start(mark);
    let pods: Vec<Run> = (0..PODS)
        .map(|_| {
            job(&pg, "UpdateAndRun", &dir)
                .env("UPDATE", "changed")
                .env("STANDIN_STEP_MS", "20000")
                .env("STANDIN_RUN_EXIT", "")
                .env(StepSampler::VARIABLE, StepSampler::mark(mark))
                .start()
        })
        .collect();
    // The update under way (it takes 20 s): the waiting fleet's load on
    // the server, from the moment all pods run.
    let (sessions, commits) = load(&pg);
    let since = Instant::now();
    let updater = wait_until(Duration::from_secs(120), "a pod to update", || {
        pods.iter().position(|p| p.count(&[" -u "]) == 1)
    });
    assert!(
        !pods[updater].events().iter().any(|e| e.contains("exit 0")),
        "the update ended before the fleet was started: {:?}",
        since.elapsed()
    );
    let (mut most_backends, mut most_held) = (0, 0);
    while !pods[updater].events().iter().any(|e| e.contains("exit 0")) {
        most_backends = most_backends.max(init_backends(&pg));
        most_held = most_held.max(held_backends(&pg));
        std::thread::sleep(Duration::from_millis(200));
    }
    let span = since.elapsed();
    let (sessions_after, commits_after) = load(&pg);
    println!(
        "{} pods waiting, over {:.1}s: {:.1} logins/s, {:.1} commits/s, at most {most_backends} odoo-init connections open at once, {most_held} held idle",
        PODS - 1,
        span.as_secs_f64(),
        per_second(sessions_after - sessions, span),
        per_second(commits_after - commits, span),
    );
    // Waiting pods hold no connection between looks (before: one each, 99
    // held idle); only the owner keeps one, for its heartbeat. How many are
    // open at one instant depends on the machine's speed (a look in flight
    // is a connection too), so it is printed, not asserted.
    assert!(
        most_held <= 1,
        "{most_held} odoo-init connections held idle"
    );
    // Every pod serves; one update ran, one step at a time.
    for pod in &pods {
        wait_until(Duration::from_secs(120), "every pod to serve", || {
            in_run_phase(pod).then_some(())
        });
    }
    let seen = sampler.finish();
    assert_eq!(seen.most, 1, "{seen:?}");
    let updates: usize = pods.iter().map(|p| p.count(&[" -u "])).sum();
    assert_eq!(updates, 1, "exactly one pod ran -u");

    // A SIGHUP to every pod: each looks at the gate once and restarts Odoo.
    let (sessions, commits) = load(&pg);
    let since = Instant::now();
    for pod in &pods {
        pod.signal(libc::SIGHUP);
    }
    for pod in &pods {
        wait_until(Duration::from_secs(120), "every pod to restart", || {
            (starts(&pod.events())
                .iter()
                .filter(|s| s.is_run_phase())
                .count()
                >= 2)
                .then_some(())
        });
    }
    let span = since.elapsed();
    let (sessions_after, commits_after) = load(&pg);
    println!(
        "SIGHUP to {PODS} pods: all restarted in {:.1}s, {} logins, {} commits",
        span.as_secs_f64(),
        sessions_after - sessions,
        commits_after - commits
    );
    for mut pod in pods {
        pod.signal(libc::SIGTERM);
        assert_eq!(pod.wait_exit(LONG), 0, "{}", pod.stderr());
    }
}
