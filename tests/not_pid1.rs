//! `odoo-init` started as an ordinary process: it becomes a child subreaper,
//! reaps its orphans and signals nothing outside its own tree.

mod common;

use common::*;

#[test]
fn as_a_subreaper_it_reaps_orphans_and_leaves_others_alone() {
    // A bystander outside odoo-init's tree, e.g. the shell that started it.
    let mut bystander = Setup::standin(&[]).not_pid1().start();
    bystander.wait_events("bystander start", |ev| count_in(ev, &[" start argv="]) == 1);

    let mut run = Setup::standin(&["--workers", "1"])
        .not_pid1()
        .env("STANDIN_ORPHANS", "200")
        .env("STANDIN_LINGER_MS", "0")
        .start();
    run.wait_events("200 orphans", |ev| count_in(ev, &["left 200 orphans"]) == 1);
    run.wait_stderr("child subreaper");
    wait_until(LONG, "orphans reaped by odoo-init", || {
        run.zombies().is_empty().then_some(())
    });
    // The lingering orphan was re-parented to odoo-init, not to the real init.
    let linger = run.procs();
    assert!(
        linger.iter().all(|p| p.comm == "standin-odoo"),
        "{linger:?}"
    );
    assert_eq!(
        linger.len(),
        3,
        "master, worker, lingering orphan: {linger:?}"
    );

    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    // Not PID 1: no SIGTERM to "everything left"; the orphan it did not start is untouched.
    assert!(
        !run.stderr().contains("every process left"),
        "{}",
        run.stderr()
    );
    assert_eq!(count_in(&run.events(), &["linger got SIGTERM"]), 0);
    assert_eq!(bystander.count(&["signal"]), 0, "{:?}", bystander.events());
    assert!(bystander.alive());
    // The lingering orphan now belongs to the real init; end it by its PID.
    let linger_pid: i32 = pids_of(&run.events(), "linger start")[0].parse().unwrap();
    assert!(
        proc_info(linger_pid).is_some(),
        "the orphan was left running"
    );
    send(linger_pid, libc::SIGKILL);
    bystander.signal(libc::SIGTERM);
    assert_eq!(bystander.wait_exit(LONG), 0);
}
