//! `LIST_DB=True` with `UpdateOnly`: every database the server lists for
//! the role that holds an Odoo gets the update one database would get,
//! behind its own state table; `DB_FILTER` (Odoo's dbfilter) and
//! `DB_NAMES` narrow the choice; a database whose update fails is recorded
//! on its own row, the others are updated, the exit is 65. Judged from
//! each database's own rows and tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::many::{server, update_all, updated, ODOOS};
use common::pg::{Pg, PASSWORD, USER};
use common::*;

#[test]
fn every_listed_odoo_database_is_updated_once() {
    let pg = server();
    let mut run = update_all(&pg).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(updated(&pg), (vec![1, 1, 1], false));
    for db in ODOOS {
        assert_eq!(pg.base_updates(db), 1, "{db}");
    }
}

#[test]
fn db_filter_and_db_names_narrow_the_choice() {
    let pg = server();
    let mut run = update_all(&pg).env("DB_FILTER", "shop_[ac]").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(updated(&pg), (vec![1, 0, 1], false));
    let mut run = update_all(&pg).env("DB_NAMES", "shop_b").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(updated(&pg), (vec![1, 1, 1], false));
    // A name the server does not list for the role: refused before anything.
    let mut run = update_all(&pg).env("DB_NAMES", "shop_b,nowhere").start();
    assert_eq!(run.wait_exit(LONG), 64, "{}", run.stderr());
    assert_eq!(updated(&pg), (vec![1, 1, 1], false));
    // Odoo's %h and %d depend on a request: refused.
    let mut run = update_all(&pg).env("DB_FILTER", "^%d$").start();
    assert_eq!(run.wait_exit(LONG), 64, "{}", run.stderr());
    // A filter that takes none: nothing to do, said; DB_NAME unused, said.
    let mut run = update_all(&pg)
        .env("DB_FILTER", "^nowhere$")
        .env("DB_NAME", "shop_a")
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(updated(&pg), (vec![1, 1, 1], false));
    let said = run.stderr();
    assert!(said.contains("no database chosen"), "{said}");
    assert!(said.contains("DB_NAME=shop_a is not used"), "{said}");
}

#[test]
fn a_failing_database_does_not_stop_the_others() {
    let pg = server();
    let mut run = update_all(&pg)
        .env("STANDIN_UPDATE_FAIL_DB", "shop_b")
        .start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    assert_eq!(updated(&pg), (vec![1, 0, 1], false));
    let failed = pg.rows("shop_b");
    let last = failed.last().unwrap();
    assert_eq!(
        (last.1.as_str(), last.4),
        ("Updating", Some(1)),
        "{failed:?}"
    );
    assert!(
        run.stderr().contains("shop_b (exit 65)"),
        "{}",
        run.stderr()
    );
}

/// Four pods started at once over twenty databases with one module
/// changed: every database updated exactly once (its own rows), and the
/// work shared: more than one pod ran updates (each pod's Odoo side, the
/// stand-in, says which databases it updated), none the same database.
#[test]
fn pods_started_at_once_share_the_databases_and_update_each_once() {
    use common::addons;
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("many-pods");
    let dir = addons::three(&scratch.path);
    let names: Vec<String> = (0..20).map(|i| format!("db_{i:02}")).collect();
    addons::installed_copies(&pg, &dir, "model", &names);
    addons::write(&dir.join("m1/models/main.py"), "# m1, changed\n");
    let mut pods: Vec<Run> = (0..4)
        .map(|_| {
            addons::update_over(&pg, &dir, r"db_\d+$")
                .env("STANDIN_STEP_MS", "300")
                .start()
        })
        .collect();
    for pod in &mut pods {
        assert_eq!(pod.wait_exit(LONG * 2), 0, "{}", pod.stderr());
    }
    for db in &names {
        assert_eq!(pg.updates(db), 1, "{db}: {:?}", pg.states(db));
    }
    // Which databases each pod's Odoo updated.
    let by_pod: Vec<Vec<String>> = pods.iter().map(Run::updated_databases).collect();
    let mut all: Vec<String> = by_pod.concat();
    all.sort();
    assert_eq!(all, names, "each database updated by one pod: {by_pod:?}");
    let working = by_pod.iter().filter(|dbs| !dbs.is_empty()).count();
    assert!(working >= 2, "the pods shared the work: {by_pod:?}");
}

/// A pod killed in the middle of a database: another pod finishes the
/// others, then waits at that database's gate as one database's pods
/// wait, resets the silent owner after its lease, and updates it.
#[test]
fn a_pod_killed_mid_database_is_reset_and_another_pod_finishes_it() {
    let pg = server();
    // The first pod's update hangs: it holds the first database it takes.
    let first = update_all(&pg)
        .env("STANDIN_UPDATE_HANG", "1")
        .env("STATE_LEASE", "5")
        .start();
    first.wait_events("the first pod's update to hang", |ev| {
        count_in(ev, &["update hanging"]) == 1
    });
    let held = ODOOS
        .iter()
        .find(|db| pg.states(db).unwrap().last().map(String::as_str) == Some("Updating"))
        .unwrap()
        .to_string();
    let mut second = update_all(&pg).env("STATE_LEASE", "5").start();
    // The others are done while the first pod still holds its database.
    wait_until(LONG, "the other databases updated", || {
        let (counts, _) = updated(&pg);
        (counts.iter().sum::<usize>() == 2).then_some(())
    });
    send(first.pid, libc::SIGKILL);
    assert_eq!(second.wait_exit(LONG * 2), 0, "{}", second.stderr());
    assert_eq!(updated(&pg), (vec![1, 1, 1], false));
    let states = pg.states(&held).unwrap();
    let tail: Vec<&str> = states[states.len() - 4..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        ["Updating", "Reset", "Updating", "Ready"],
        "{held}: {states:?}"
    );
}

/// With nothing changed, an update over the databases takes no lock: the
/// gate's advisory lock held by another session in every database (as a
/// claiming pod holds it) does not hold the pod up, and nothing is written.
#[test]
fn nothing_changed_costs_a_look_without_the_lock() {
    use common::addons;
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("many-unlocked");
    let dir = addons::three(&scratch.path);
    let names: Vec<String> = (0..3).map(|i| format!("tenant_{i}")).collect();
    addons::installed_copies(&pg, &dir, "model", &names);
    let rows: Vec<usize> = names.iter().map(|db| pg.rows(db).len()).collect();
    // The advisory lock odoo-init's claims take (src/db/state.rs, LOCK_KEY).
    let holders: Vec<_> = names
        .iter()
        .map(|db| {
            let mut c = pg.superuser(db);
            c.batch_execute("SELECT pg_advisory_lock(1668641393)")
                .unwrap();
            c
        })
        .collect();
    let mut pod = addons::update_over(&pg, &dir, "tenant_").start();
    assert_eq!(pod.wait_exit(LONG), 0, "{}", pod.stderr());
    assert!(pod.starts().is_empty(), "no Odoo: {:?}", pod.starts());
    let after: Vec<usize> = names.iter().map(|db| pg.rows(db).len()).collect();
    assert_eq!(after, rows, "nothing written");
    // Changed: the claim waits for the lock (the look alone did not).
    addons::write(&dir.join("m1/models/main.py"), "# m1, changed\n");
    let mut changed = addons::update_over(&pg, &dir, "tenant_").start();
    wait_until(LONG, "the claim to wait for the lock", || {
        (pg.lock_waits("advisory") > 0).then_some(())
    });
    drop(holders);
    assert_eq!(changed.wait_exit(LONG), 0, "{}", changed.stderr());
    for db in &names {
        assert_eq!(pg.updates(db), 1, "{db}");
    }
}
