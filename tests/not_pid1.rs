//! `odoo-init` started as an ordinary process: it becomes a child subreaper,
//! reaps its orphans and signals nothing outside its own tree.

use odoo_init_testkit as common;

use common::*;

#[test]
fn as_a_subreaper_it_reaps_orphans_and_leaves_others_alone() {
    // A bystander outside odoo-init's tree, e.g. the shell that started it.
    let mut bystander = Setup::standin(&[]).not_pid1().start();
    bystander.wait_events("bystander start", |ev| starts(ev).len() == 1);

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

#[test]
fn a_child_of_the_same_user_cannot_read_odoo_inits_environment() {
    require("setpriv", "util-linux");
    let scratch = Scratch::new("dumpable");
    let out = scratch.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let script = scratch.join("odoo");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif cat /proc/$PPID/environ > {0}/environ 2>{0}/error; then echo read; else echo refused; fi > {0}/result\nid -u >> {0}/result\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Not root: root may read any process's environment. `nobody` runs
    // odoo-init and its child alike.
    let mut setup = Setup::main_job("RunOnly")
        .not_pid1()
        .env("LIST_DB", "True")
        .env("DB_PASSWORD", "env-secret-4711")
        .env("ODOO_BIN", path_str(&script))
        .env("ODOO_INIT_RUNTIME_DIR", path_str(&out.join("runtime")));
    setup.inner = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]
    .map(String::from)
    .to_vec();
    let mut run = setup.start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let result = std::fs::read_to_string(out.join("result")).unwrap_or_default();
    assert_eq!(result, "refused\n65534\n", "{result}");
    let leaked = std::fs::read_to_string(out.join("environ")).unwrap_or_default();
    assert!(!leaked.contains("env-secret-4711"));
}
