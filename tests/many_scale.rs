//! `LIST_DB` at scale: 200 databases on one PostgreSQL and 10 pods started
//! at once with one module changed: every database updated exactly once
//! (its own rows), by one pod, the work spread over the pods; then 10 pods
//! again with nothing changed: no row written anywhere and no Odoo started
//! (each database costs one look). Judged from the databases' rows and the
//! stand-in's event logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::addons;
use common::pg::{Pg, USER};
use common::*;
use std::time::Duration;

const DATABASES: usize = 200;
const PODS: usize = 10;
/// Bound of a round: every database's update on a loaded 2-core machine.
const ROUND: Duration = Duration::from_secs(900);

#[test]
fn ten_pods_update_two_hundred_databases_each_once() {
    let pg = Pg::start();
    pg.role(USER, common::pg::PASSWORD, true);
    let scratch = Scratch::new("many-scale");
    let dir = addons::three(&scratch.path);
    let names: Vec<String> = (0..DATABASES).map(|i| format!("tenant_{i:03}")).collect();
    addons::installed_copies(&pg, &dir, "tenant_model", &names);
    let pods = || -> Vec<Run> {
        (0..PODS)
            .map(|_| addons::update_over(&pg, &dir, r"tenant_\d+$").start())
            .collect()
    };

    addons::write(&dir.join("m1/models/main.py"), "# m1, changed\n");
    let mut round = pods();
    // While they work: the connections to PostgreSQL each pod's processes
    // hold, sampled from outside (the most seen, per pod).
    let roots: Vec<i32> = round.iter().map(|r| r.pid).collect();
    let port = pg.port;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut most = vec![0; roots.len()];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for (m, root) in most.iter_mut().zip(&roots) {
                    *m = (*m).max(connections_to(port, *root));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            most
        })
    };
    for pod in &mut round {
        assert_eq!(pod.wait_exit(ROUND), 0, "{}", pod.stderr());
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().unwrap();
    eprintln!("connections to PostgreSQL per pod, most seen: {most:?}");
    // One database's pod during its update: its look or claim's session,
    // the owner's heartbeat, Odoo's own (the stand-in's one).
    assert!(
        most.iter().all(|&m| m <= 3),
        "connections per pod: {most:?}"
    );
    assert!(most.iter().any(|&m| m >= 1), "sampled: {most:?}");
    for db in &names {
        assert_eq!(pg.updates(db), 1, "{db}: {:?}", pg.states(db));
    }
    assert_eq!(pg.updates("tenant_model"), 0, "not chosen");
    let by_pod: Vec<Vec<String>> = round.iter().map(Run::updated_databases).collect();
    let mut all: Vec<String> = by_pod.concat();
    all.sort();
    assert_eq!(all, names, "each database by exactly one pod");
    let working = by_pod.iter().filter(|d| !d.is_empty()).count();
    assert!(
        working >= PODS / 2,
        "the work spread over the pods: {:?}",
        by_pod.iter().map(Vec::len).collect::<Vec<_>>()
    );

    // Nothing changed: one look per database, nothing written, no Odoo.
    let rows: Vec<usize> = names.iter().map(|db| pg.rows(db).len()).collect();
    let mut again = pods();
    for pod in &mut again {
        assert_eq!(pod.wait_exit(ROUND), 0, "{}", pod.stderr());
        assert!(pod.starts().is_empty(), "{:?}", pod.starts());
    }
    let after: Vec<usize> = names.iter().map(|db| pg.rows(db).len()).collect();
    assert_eq!(after, rows, "no row written");
}
