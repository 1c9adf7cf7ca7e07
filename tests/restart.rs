//! `odoo-init restart`: new arguments through the private runtime directory.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

fn argv_of_starts(run: &Run) -> Vec<String> {
    run.events()
        .iter()
        .filter_map(|l| l.split_once(" start argv=").map(|(_, a)| a.to_string()))
        .collect()
}

fn wait_starts(run: &Run, n: usize) -> Vec<String> {
    run.wait_events(&format!("{n} starts"), |ev| {
        count_in(ev, &[" start argv="]) >= n
    });
    argv_of_starts(run)
}

#[test]
fn restart_hands_new_arguments_to_the_next_child_and_hup_keeps_them() {
    let mut run = Setup::standin(&["--log-level=info"]).start();
    wait_starts(&run, 1);
    let out = run.restart_cmd(&["--", "--dev=all", "--db-filter", "my filter"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let starts = wait_starts(&run, 2);
    assert_eq!(starts[0], "--log-level=info");
    assert_eq!(starts[1], "--dev=all --db-filter my filter");

    // Plain kill -HUP: the previous arguments again.
    run.signal(libc::SIGHUP);
    assert_eq!(wait_starts(&run, 3)[2], "--dev=all --db-filter my filter");

    // `restart` without `--`: same as HUP; `restart --` alone: no extra arguments.
    assert!(run.restart_cmd(&[]).status.success());
    assert_eq!(wait_starts(&run, 4)[3], "--dev=all --db-filter my filter");
    assert!(run.restart_cmd(&["--"]).status.success());
    assert_eq!(wait_starts(&run, 5)[4], "");
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

#[test]
fn restart_refuses_a_runtime_directory_others_can_write() {
    let mut run = Setup::standin(&[]).start();
    wait_starts(&run, 1);
    std::fs::create_dir_all(&run.runtime_dir).unwrap();
    std::fs::set_permissions(&run.runtime_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run.restart_cmd(&["--", "--dev=all"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("refusing") && err.contains("0777"), "{err}");
    assert!(!run.runtime_dir.join("restart-args").exists());
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
    assert_eq!(
        count_in(&run.events(), &[" start argv="]),
        1,
        "no restart happened"
    );
}

#[test]
fn a_restart_file_others_can_write_is_not_used() {
    let mut run = Setup::standin(&["--log-level=info"]).start();
    wait_starts(&run, 1);
    // Planted by someone else: a group/world-writable file in our directory.
    std::fs::create_dir_all(&run.runtime_dir).unwrap();
    std::fs::set_permissions(&run.runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let planted = run.runtime_dir.join("restart-args");
    std::fs::write(&planted, b"--dev=all\0").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    run.signal(libc::SIGHUP);
    let starts = wait_starts(&run, 2);
    assert_eq!(starts[1], "--log-level=info", "planted arguments ignored");
    let err = run.stderr();
    assert!(
        err.contains("refusing") && err.contains("restart-args"),
        "{err}"
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

#[test]
fn restart_without_a_running_process_fails_clearly() {
    let scratch = Scratch::new("norun");
    let out = std::process::Command::new(odoo_init())
        .args(["restart", "--pid", "999999999", "--", "--dev=all"])
        .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no process with PID 999999999"), "{err}");
}

#[test]
fn restart_signals_only_an_odoo_init() {
    // A process of the same user that is not odoo-init (a shell, systemd on a host).
    let mut bystander = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid = bystander.id() as i32;
    wait_until(LONG, "the bystander to be sleep", || {
        proc_info(pid).filter(|p| p.comm == "sleep")
    });
    let scratch = Scratch::new("restart-other");
    let out = std::process::Command::new(odoo_init())
        .args(["restart", "--pid", &pid.to_string()])
        .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("\"sleep\", not odoo-init"), "{err}");
    // It is alive: SIGHUP would have ended it.
    assert!(matches!(bystander.try_wait(), Ok(None)));
    let _ = bystander.kill();
    let _ = bystander.wait();
}
