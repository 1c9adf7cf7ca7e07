//! `odoo-init` as PID 1 of a fresh PID namespace, supervising the stand-in Odoo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::*;
use std::time::{Duration, Instant};

fn started(run: &Run, n: usize) -> Vec<String> {
    run.wait_events(&format!("{n} start(s) of the stand-in"), |ev| {
        starts(ev).len() >= n
    })
}

#[test]
fn term_reaches_the_child_exactly_once_and_its_status_is_ours() {
    let mut run = Setup::standin(&[]).start();
    started(&run, 1);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(
        run.count(&["server signal SIGTERM from 1"]),
        1,
        "{:?}",
        run.events()
    );
    assert_eq!(run.count(&["signal SIGTERM"]), 1, "{:?}", run.events());
    assert!(
        run.stderr().contains("exiting with status 0"),
        "{}",
        run.stderr()
    );
}

#[test]
fn every_forwarded_signal_reaches_the_master_from_pid_1_and_never_a_worker() {
    let mut run = Setup::standin(&["--workers", "2"]).start();
    run.wait_events("master and two workers", |ev| {
        count_in(ev, &["worker start"]) >= 2
    });
    let rtmin = libc::SIGRTMIN();
    let rtmax = libc::SIGRTMAX();
    let mut sent = vec![
        (libc::SIGQUIT, "SIGQUIT".to_string()),
        (libc::SIGUSR1, "SIGUSR1".into()),
        (libc::SIGUSR2, "SIGUSR2".into()),
        (libc::SIGWINCH, "SIGWINCH".into()),
        (libc::SIGCONT, "SIGCONT".into()),
        (libc::SIGTSTP, "SIGTSTP".into()),
        (libc::SIGTTIN, "SIGTTIN".into()),
        (libc::SIGTTOU, "SIGTTOU".into()),
        (libc::SIGALRM, "SIGALRM".into()),
        (libc::SIGPIPE, "SIGPIPE".into()),
        (libc::SIGURG, "SIGURG".into()),
        (libc::SIGPWR, "SIGPWR".into()),
        (libc::SIGVTALRM, "SIGVTALRM".into()),
        (libc::SIGXCPU, "SIGXCPU".into()),
    ];
    for n in [0, 1, 7] {
        sent.push((rtmin + n, format!("SIGRTMIN+{n}")));
    }
    sent.push((rtmax, format!("SIGRTMIN+{}", rtmax - rtmin)));
    for (signo, name) in &sent {
        run.signal(*signo);
        // One at a time: the same standard signal twice in flight would merge.
        run.wait_events(&format!("{name} at the master"), |ev| {
            count_in(ev, &["master signal", &format!("{name} from")]) >= 1
        });
        if *signo == libc::SIGTTIN {
            // The worker it asks for starts before TTOU may lower the count again.
            run.wait_events("the worker SIGTTIN added", |ev| {
                count_in(ev, &["worker start"]) >= 3
            });
        }
    }
    let events = run.events();
    for (_, name) in &sent {
        assert_eq!(
            count_in(&events, &["master signal", &format!("{name} from 1")]),
            1,
            "{name} should reach the master once, sent by PID 1: {events:?}"
        );
    }
    assert_eq!(count_in(&events, &["worker signal"]), 0, "{events:?}");
    // SIGTTIN added a worker: the master saw it and acted on it like Odoo.
    assert!(count_in(&events, &["worker start"]) >= 3, "{events:?}");

    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let events = run.events();
    let master = pids_of(&events, "master start")[0].clone();
    // Workers were drained by their master (SIGINT), never signalled by PID 1.
    for line in events.iter().filter(|l| l.contains("worker signal")) {
        assert!(line.ends_with(&format!("SIGINT from {master}")), "{line}");
    }
    assert!(
        count_in(&events, &["worker signal SIGINT"]) >= 3,
        "{events:?}"
    );
}

#[test]
fn the_child_has_a_process_group_of_its_own_in_odoo_inits_session() {
    require("setsid", "util-linux");
    // As a container runtime starts it without a terminal: a session
    // leader with no controlling terminal.
    let mut setup = Setup::standin(&[]);
    setup.inner = vec!["setsid".into()];
    let mut run = setup.start();
    started(&run, 1);
    let (init, child) = run.init_and_child();
    // As `ps -o pid,pgid,sid` would show it: PGID = its PID, SID = odoo-init's.
    assert_eq!(child.pgrp, child.pid, "{child:?}");
    assert_eq!(child.session, init.session, "{child:?} {init:?}");
    assert_eq!(init.session, init.pid, "{init:?}");
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}

#[test]
fn a_child_that_ignores_term_gets_a_second_term_then_sigkill() {
    let mut run = Setup::standin(&[])
        .env("STANDIN_IGNORE_TERM", "1")
        .env("STOP_TIMEOUT", "1")
        .start();
    started(&run, 1);
    let sent = Instant::now();
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 128 + libc::SIGKILL, "{}", run.stderr());
    let took = sent.elapsed();
    assert_eq!(
        run.count(&["signal SIGTERM from 1"]),
        2,
        "{:?}",
        run.events()
    );
    let err = run.stderr();
    assert!(err.contains("second SIGTERM"), "{err}");
    assert!(err.contains("SIGKILL"), "{err}");
    // 1 s STOP_TIMEOUT + 3 s before SIGKILL; generous upper bound for a loaded machine.
    assert!(took >= Duration::from_millis(3900), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_slow_leftover_is_waited_for_and_odoo_init_exits_when_it_is_gone() {
    let mut run = Setup::standin(&[])
        .env("STANDIN_LINGER_MS", "300")
        .env("STANDIN_DRAIN_MS", "0")
        .env("STOP_TIMEOUT", "20")
        .start();
    run.wait_events("the lingering orphan", |ev| {
        count_in(ev, &["linger start"]) == 1
    });
    let sent = Instant::now();
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let took = sent.elapsed();
    let events = run.events();
    assert_eq!(count_in(&events, &["linger got SIGTERM"]), 1, "{events:?}");
    assert_eq!(count_in(&events, &["linger exit"]), 1, "{events:?}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // Far below STOP_TIMEOUT (20 s): it exited because nothing was left.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn five_thousand_orphans_are_reaped() {
    let mut run = Setup::standin(&["--workers", "1"])
        .env("STANDIN_ORPHANS", "5000")
        .start();
    run.wait_events("5000 orphans", |ev| {
        count_in(ev, &["left 5000 orphans"]) == 1
    });
    wait_until(LONG, "no zombie left in the namespace", || {
        run.zombies().is_empty().then_some(())
    });
    // Only the stand-in's master and worker are left.
    let left = run.procs();
    assert!(left.len() <= 2, "{left:?}");
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}

#[test]
fn exit_codes_are_passed_through() {
    for code in [0, 1, 2, 3, 42, 99, 126, 127, 128, 200, 254, 255] {
        let mut run = Setup::standin(&[]).env("STANDIN_EXIT", code).start();
        assert_eq!(run.wait_exit(LONG), code, "{}", run.stderr());
    }
    for signo in [libc::SIGINT, libc::SIGKILL, libc::SIGUSR1, libc::SIGTERM] {
        let mut run = Setup::standin(&[]).env("STANDIN_KILL_SELF", signo).start();
        assert_eq!(run.wait_exit(LONG), 128 + signo, "{}", run.stderr());
    }
}

#[test]
fn missing_command_is_127_and_unexecutable_is_126() {
    let mut run = Setup::command(&["/nonexistent/odoo-bin"]).start();
    assert_eq!(run.wait_exit(LONG), 127);
    assert!(
        run.stderr().contains("cannot start /nonexistent/odoo-bin"),
        "{}",
        run.stderr()
    );

    let scratch = Scratch::new("noexec");
    let file = scratch.join("odoo-bin");
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    let mut run = Setup::command(&[&path_str(&file)]).start();
    assert_eq!(run.wait_exit(LONG), 126);
}

#[test]
fn the_child_starts_with_an_empty_mask_and_default_dispositions() {
    require("grep", "grep");
    let mut run = Setup::command(&["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let out = run.stdout();
    assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
    let ignored = out
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .expect(&out);
    // Signals 32 and 33 belong to the C library (thread cancel, setxid);
    // glibc refuses to change them and programs built on it set them up themselves.
    let glibc_internal = (1u64 << 31) | (1u64 << 32);
    assert_eq!(ignored & !glibc_internal, 0, "{out}");
}

#[test]
fn hup_restarts_the_child_in_place() {
    let mut run = Setup::standin(&[]).start();
    let first = starts(&started(&run, 1))
        .into_iter()
        .map(|s| s.pid)
        .collect::<Vec<_>>();
    let before: Vec<i32> = run.procs().iter().map(|p| p.pid).collect();
    run.signal(libc::SIGHUP);
    let events = started(&run, 2);
    let pids = starts(&events)
        .into_iter()
        .map(|s| s.pid)
        .collect::<Vec<_>>();
    assert_ne!(pids[1], first[0], "the new child has a new PID");
    assert_eq!(
        count_in(&events, &[&format!("{} server exit 0", first[0])]),
        1,
        "{events:?}"
    );
    assert_eq!(
        count_in(&events, &["signal SIGTERM from 1"]),
        1,
        "{events:?}"
    );
    assert!(run.alive(), "PID 1 survived the restart");
    let after = run.procs();
    assert_eq!(after.len(), 1, "exactly one child: {after:?}");
    assert!(
        !before.contains(&after[0].pid),
        "old child gone: {before:?} {after:?}"
    );
    assert!(run.zombies().is_empty());
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

/// odoo-init has taken every HUP sent and finished every restart it began.
fn settled(run: &Run) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", run.pid)).ok()?;
    let pending = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let hup = 1u64 << (libc::SIGHUP - 1);
    if (pending("ShdPnd:") | pending("SigPnd:")) & hup != 0 {
        return None;
    }
    let err = run.stderr();
    let restarts = err.matches("SIGHUP: restarting").count();
    let starts = err.matches("started PID").count();
    let live: Vec<Proc> = run.procs().into_iter().filter(|p| p.state != 'Z').collect();
    (starts == restarts + 1 && live.len() == 1).then_some(restarts)
}

#[test]
fn a_burst_of_hups_ends_with_exactly_one_child() {
    let mut run = Setup::standin(&[]).start();
    started(&run, 1);
    for _ in 0..20 {
        run.signal(libc::SIGHUP);
    }
    run.wait_events("a restart", |ev| starts(ev).len() >= 2);
    let restarts = wait_until(LONG, "the HUP burst to settle", || settled(&run));
    assert!(
        (1..20).contains(&restarts),
        "HUPs coalesced: {restarts} restarts"
    );
    assert_eq!(run.procs().len(), 1, "{:?}", run.procs());
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
    let events = run.events();
    assert_eq!(
        starts(&events).len(),
        count_in(&events, &["server exit"]),
        "every child started was stopped: {events:?}"
    );
}

#[test]
fn on_exit_wait_stays_up_and_starts_again_on_hup() {
    let mut run = Setup::standin(&[])
        .env("STANDIN_EXIT", 3)
        .env("ON_EXIT", "wait")
        .start();
    run.wait_events("the child's exit", |ev| count_in(ev, &["exit 3"]) == 1);
    run.wait_stderr("ON_EXIT=wait");
    assert!(run.alive());
    run.signal(libc::SIGHUP);
    run.wait_events("a second start", |ev| count_in(ev, &["exit 3"]) == 2);
    wait_until(LONG, "odoo-init waiting again", || {
        (run.stderr().matches("ON_EXIT=wait").count() == 2).then_some(())
    });
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}

#[test]
fn on_exit_restart_backs_off() {
    let mut run = Setup::standin(&[])
        .env("STANDIN_EXIT", 3)
        .env("ON_EXIT", "restart")
        .start();
    run.wait_events("three starts", |ev| count_in(ev, &["exit 3"]) >= 3);
    // Now in the third backoff, with no child: SIGTERM ends the wait.
    run.wait_stderr("starting again in 4s");
    let err = run.stderr();
    let first = err.find("starting again in 1s").expect(&err);
    let second = err.find("starting again in 2s").expect(&err);
    assert!(first < second, "{err}");
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}

#[test]
fn a_master_that_died_by_itself_leaves_no_workers_behind_for_the_next_start() {
    let mut run = Setup::standin(&["--workers", "2"])
        .env("ON_EXIT", "restart")
        .start();
    run.wait_events("master and two workers", |ev| {
        count_in(ev, &["worker start"]) >= 2
    });
    let master = run
        .procs()
        .into_iter()
        .find(|p| p.ppid == run.pid)
        .expect("the master");
    let workers: Vec<i32> = run
        .procs()
        .iter()
        .filter(|p| p.ppid == master.pid)
        .map(|p| p.pid)
        .collect();
    assert_eq!(workers.len(), 2, "{:?}", run.procs());
    // The master crashes (kill -9): its workers would keep Odoo's port.
    send(master.pid, libc::SIGKILL);
    run.wait_events("a new master", |ev| count_in(ev, &["master start"]) == 2);
    for pid in &workers {
        assert!(
            proc_info(*pid).is_none(),
            "old worker {pid} still there when the new master started: {:?}",
            run.procs()
        );
    }
    assert!(
        run.stderr().contains("what is left of process group"),
        "{}",
        run.stderr()
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}

/// The passwords are scrubbed from PID 1's own environment block once
/// read: a process allowed to read `/proc/1/environ` (this test, as root or
/// as the same user with the namespace's root) finds the names, not the
/// values. The children never get them at all.
#[test]
fn passwords_are_scrubbed_from_pid1s_environment() {
    let mut run = Setup::main_job("ForceRunOnly")
        .env("DB_NAME", "odoo")
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PASSWORD", "hunter2-in-environ")
        .start();
    wait_until(LONG, "Odoo to serve", || in_run_phase(&run).then_some(()));
    let environ = std::fs::read(format!("/proc/{}/environ", run.pid)).unwrap();
    let text = String::from_utf8_lossy(&environ);
    assert!(text.contains("DB_PASSWORD="), "{text}");
    assert!(!text.contains("hunter2-in-environ"), "{text}");
    let (_, child) = run.init_and_child();
    let child_env = std::fs::read(format!("/proc/{}/environ", child.pid)).unwrap();
    assert!(!String::from_utf8_lossy(&child_env).contains("hunter2"));
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}
