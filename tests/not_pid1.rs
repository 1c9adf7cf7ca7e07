//! `odoo-init` started as an ordinary process: it becomes a child subreaper,
//! reaps its orphans and signals nothing outside its own tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

/// What runs odoo-init as `nobody` inside the test's namespace.
fn as_nobody() -> Vec<String> {
    [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]
    .map(String::from)
    .to_vec()
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
    let mut setup = Setup::main_job("ForceRunOnly")
        .not_pid1()
        .env("DB_NAME", "odoo")
        .env("DB_PASSWORD", "env-secret-4711")
        .env("ODOO_BIN", path_str(&script))
        .env("ODOO_INIT_RUNTIME_DIR", path_str(&out.join("runtime")));
    setup.inner = as_nobody();
    let mut run = setup.start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let result = std::fs::read_to_string(out.join("result")).unwrap_or_default();
    assert_eq!(result, "refused\n65534\n", "{result}");
    let leaked = std::fs::read_to_string(out.join("environ")).unwrap_or_default();
    assert!(!leaked.contains("env-secret-4711"));
}

/// As another user than root (the image's `odoo`, here `nobody`), both
/// the main job and a one-off overwrite the secrets in their own
/// environment block (seen by root, who may read any process's
/// `/proc/PID/environ`), and their child, of the same user, cannot read its
/// parent's at all. Scrubbed before the process becomes non-dumpable: the
/// other order fails as any user but root.
#[test]
fn as_another_user_the_secrets_are_scrubbed_and_hidden_from_the_child() {
    require("setpriv", "util-linux");
    assert!(
        is_root(),
        "this test reads another user's /proc/PID/environ: run it as root"
    );
    for entry in ["main job", "one-off"] {
        let scratch = Scratch::new("scrub");
        let out = scratch.join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let script = scratch.join("odoo");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nif cat /proc/$PPID/environ > {0}/environ 2>/dev/null; then echo read; else echo refused; fi > {0}/result.tmp\nmv {0}/result.tmp {0}/result\nexec sleep 600\n",
                out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut setup = Setup::main_job("RunOnly")
            .not_pid1()
            .env("DB_NAME", "odoo")
            .env("DB_PASSWORD", "env-secret-4711")
            .env("DB_ADMIN_PASSWORD", "admin-secret-0815")
            .env("ODOO_BIN", path_str(&script))
            .env("ODOO_INIT_RUNTIME_DIR", path_str(&out.join("runtime")));
        setup = match entry {
            // No database to look at: the run phase's gate and the
            // one-off's are passed by a Force mode.
            "main job" => setup.env("MODE", "ForceRunOnly"),
            _ => {
                let mut s = setup.env("MODE", "ForceRunOnly");
                s.args = vec![path_str(&script)];
                s
            }
        };
        setup.inner = as_nobody();
        let mut run = setup.start();
        let result = wait_until(LONG, "the child's try", || {
            std::fs::read_to_string(out.join("result")).ok()
        });
        assert_eq!(result, "refused\n", "{entry}: {}", run.stderr());
        let environ = std::fs::read(format!("/proc/{}/environ", run.pid)).unwrap();
        let text = String::from_utf8_lossy(&environ);
        assert!(text.contains("DB_PASSWORD="), "{entry}: {text}");
        assert!(!text.contains("env-secret-4711"), "{entry}: {text}");
        assert!(!text.contains("admin-secret-0815"), "{entry}: {text}");
        assert!(
            !run.stderr().contains("cannot scrub"),
            "{entry}: {}",
            run.stderr()
        );
        run.signal(libc::SIGTERM);
        run.wait_exit(LONG);
    }
}

/// No process could be made for the command (`fork` refused: the process
/// limit): odoo-init's own 71, not the shell's 126 for a command that
/// exists but cannot be executed.
#[test]
fn a_command_without_a_process_is_an_os_error() {
    require("setpriv", "util-linux");
    require("prlimit", "util-linux");
    assert!(
        is_root(),
        "this test runs odoo-init as an unused uid: run it as root"
    );
    // A uid no other process has: odoo-init is its one process, and the
    // limit is one.
    let out = std::process::Command::new("prlimit")
        .args([
            "--nproc=1:1",
            "--",
            "setpriv",
            "--reuid=64999",
            "--regid=64999",
            "--clear-groups",
        ])
        .arg(odoo_init())
        .args(["supervise", "--", "/bin/true"])
        .env("ODOO_INIT_RUNTIME_DIR", "/nonexistent/odoo-init-nproc")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(71), "{err}");
}
