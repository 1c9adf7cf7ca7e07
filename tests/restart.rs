//! `odoo-init restart`: new arguments through the private runtime directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::*;
use std::os::unix::fs::PermissionsExt;

fn argv_of_starts(run: &Run) -> Vec<String> {
    run.starts().into_iter().map(|s| s.argv).collect()
}

fn wait_starts(run: &Run, n: usize) -> Vec<String> {
    run.wait_events(&format!("{n} starts"), |ev| starts(ev).len() >= n);
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
    assert!(!run.instance_dir().join("restart-args").exists());
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
    assert_eq!(run.starts().len(), 1, "no restart happened");
}

#[test]
fn a_restart_file_others_can_write_is_not_used() {
    let mut run = Setup::standin(&["--log-level=info"]).start();
    wait_starts(&run, 1);
    // Planted by someone else: a group/world-writable file in its directory.
    let planted = run.instance_dir().join("restart-args");
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

/// A FIFO, an oversized file and arguments the kernel refuses (E2BIG): PID 1
/// neither hangs nor exits; it restarts with the previous arguments.
#[test]
fn a_hostile_restart_file_leaves_pid_1_running_with_the_previous_arguments() {
    require("prlimit", "util-linux");
    // 100 KiB of environment: with a 64 KiB argument on top, more than the
    // kernel takes for one exec under a 256 KiB stack limit (ARG_MAX floor 128 KiB).
    let padding = "x".repeat(100 * 1024);
    let mut setup = Setup::standin(&["--log-level=info"]).env("PADDING", &padding);
    setup.inner = vec!["prlimit".into(), "--stack=262144".into(), "--".into()];
    let mut run = setup.start();
    wait_starts(&run, 1);
    let dir = run.instance_dir();
    let pending = dir.join("restart-args");

    // A FIFO: opened without blocking, refused as not a regular file.
    nix::unistd::mkfifo(&pending, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    run.signal(libc::SIGHUP);
    assert_eq!(wait_starts(&run, 2)[1], "--log-level=info");
    assert!(
        run.stderr().contains("not a regular file"),
        "{}",
        run.stderr()
    );
    assert!(!pending.exists(), "a refused file is removed");

    // Larger than 64 KiB: refused, not cut.
    std::fs::write(&pending, vec![b'x'; 64 * 1024 + 1]).unwrap();
    std::fs::set_permissions(&pending, std::fs::Permissions::from_mode(0o600)).unwrap();
    run.signal(libc::SIGHUP);
    assert_eq!(wait_starts(&run, 3)[2], "--log-level=info");
    assert!(
        run.stderr().contains("larger than 64 KiB"),
        "{}",
        run.stderr()
    );

    // `odoo-init restart` itself refuses more than 64 KiB and signals nothing.
    let huge = "y".repeat(64 * 1024 + 1);
    let out = run.restart_cmd(&["--", &huge]);
    assert_eq!(out.status.code(), Some(77));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 64 KiB"));

    // Within the cap, but too long for exec with this environment: E2BIG.
    let long = "z".repeat(60 * 1024);
    let out = run.restart_cmd(&["--", &long]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run.wait_stderr("too long for the kernel");
    assert_eq!(wait_starts(&run, 4)[3], "--log-level=info");
    assert!(run.alive(), "PID 1 is still there");

    // And it still honours SIGTERM at once.
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
    assert_eq!(run.starts().len(), 4, "{:?}", run.events());
}

/// Two odoo-init of one user with one runtime directory (a host, not a
/// container): each has its own files, each removes them at exit.
#[test]
fn two_odoo_init_of_one_user_keep_their_files_apart() {
    let scratch = Scratch::new("two");
    let shared = scratch.join("rt");
    let start = |password: &str| {
        let mut setup = Setup::main_job("ForceRunOnly")
            .env("DB_NAME", "odoo")
            .env("DB_PASSWORD", password)
            .env("ODOO_INIT_RUNTIME_DIR", shared.display())
            .not_pid1();
        setup.args = vec![];
        setup.start()
    };
    let mut a = start("secret-a");
    let mut b = start("secret-b");
    for (run, password) in [(&a, "secret-a"), (&b, "secret-b")] {
        run.wait_events("Odoo to start", |ev| starts(ev).len() == 1);
        // What the child really got, read from outside: its PGPASSFILE.
        let child = run.procs().into_iter().next().expect("the child");
        let environ = std::fs::read(format!("/proc/{}/environ", child.pid)).unwrap();
        let passfile = environ
            .split(|&b| b == 0)
            .find_map(|v| v.strip_prefix(b"PGPASSFILE="))
            .map(|v| std::path::PathBuf::from(String::from_utf8_lossy(v).into_owned()))
            .expect("PGPASSFILE in the child's environment");
        assert!(passfile.starts_with(&shared), "{passfile:?}");
        let line = std::fs::read_to_string(&passfile).unwrap();
        assert_eq!(line, format!("*:*:*:odoo:{password}\n"));
        let mode = std::fs::metadata(&passfile).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    a.signal(libc::SIGTERM);
    b.signal(libc::SIGTERM);
    assert_eq!(a.wait_exit(LONG), 0);
    assert_eq!(b.wait_exit(LONG), 0);
    let left: Vec<_> = std::fs::read_dir(&shared).unwrap().collect();
    assert!(left.is_empty(), "removed at exit: {left:?}");
}

/// A runtime directory someone else made (here: open to all) stops only
/// what needs it: without a password Odoo still runs; with one, one line
/// names the variable to set, exit 64.
#[test]
fn a_foreign_runtime_directory_stops_only_what_needs_it() {
    let scratch = Scratch::new("foreign-rt");
    let foreign = scratch.join("rt");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o777)).unwrap();
    let job = || {
        Setup::main_job("ForceRunOnly")
            .env("DB_NAME", "odoo")
            .env("ODOO_INIT_RUNTIME_DIR", foreign.display())
    };
    let mut run = job().start();
    run.wait_events("Odoo to start", |ev| starts(ev).len() == 1);
    assert!(
        run.stderr().contains("cannot pass arguments"),
        "{}",
        run.stderr()
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);

    let mut run = job().env("DB_PASSWORD", "pw").start();
    assert_eq!(run.wait_exit(LONG), 64, "{}", run.stderr());
    let err = run.stderr();
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("ODOO_INIT_RUNTIME_DIR") && errors[0].contains("0777"),
        "{err}"
    );
    assert!(run.events().is_empty(), "nothing started");
}

/// Two odoo-init, each PID 1 of its own namespace (both PID 1; started back
/// to back, often in the same clock tick), sharing one runtime directory
/// (a shared `/tmp` volume): each has a directory of its own with its own
/// password file, and `restart --pid` from outside finds each one's.
#[test]
fn two_pid1s_sharing_a_runtime_directory_never_share_a_file() {
    let scratch = Scratch::new("shared");
    let shared = path_str(&scratch.join("runtime"));
    let pod = || {
        Setup::main_job("ForceRunOnly")
            .env("DB_NAME", "odoo")
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PASSWORD", "secret")
            .env("ODOO_INIT_RUNTIME_DIR", shared.clone())
            .start()
    };
    let (mut a, mut b) = (pod(), pod());
    for run in [&a, &b] {
        wait_until(LONG, "both to serve", || in_run_phase(run).then_some(()));
    }
    let dirs: Vec<std::path::PathBuf> = std::fs::read_dir(scratch.join("runtime"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    for dir in &dirs {
        assert!(dir.join("pgpass").is_file(), "{dir:?}");
    }
    for run in [&a, &b] {
        let out = run.restart_cmd(&["--", "--log-level=debug"]);
        assert!(out.status.success(), "{out:?}");
    }
    for run in [&mut a, &mut b] {
        run.signal(libc::SIGTERM);
        assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    }
}

/// A tmp cleaner removes the runtime directory under a running pod: the
/// next status write makes it again (private), and the restarted Odoo's
/// `PGPASSFILE` finds its password file there again.
#[test]
fn a_removed_runtime_directory_is_made_again() {
    let pg = common::pg::Pg::start();
    pg.ready_database();
    let mut run = pg.job("RunOnly").start();
    wait_until(LONG, "Odoo to serve", || in_run_phase(&run).then_some(()));
    let dir = run.instance_dir();
    // As a tmp cleaner does it; odoo-init may be writing its status record
    // at that moment (then a file appears in the middle of the removal):
    // removed again until it is gone.
    wait_until(LONG, "the runtime directory removed", || {
        std::fs::remove_dir_all(&run.runtime_dir).ok()
    });
    run.signal(libc::SIGHUP);
    wait_until(LONG, "the restart", || {
        let runs = starts(&run.events())
            .iter()
            .filter(|s| s.is_run_phase())
            .count();
        (runs >= 2).then_some(())
    });
    for file in ["pgpass", "status"] {
        assert!(dir.join(file).is_file(), "{file}: {}", run.stderr());
    }
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}
