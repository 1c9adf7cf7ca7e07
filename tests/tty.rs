//! `docker run -it`: with a terminal, Ctrl-C reaches Odoo exactly once.
//! As in a container, odoo-init is PID 1 and leader of the terminal's
//! session (`setsid --ctty` inside the namespace execs it, as runc does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::*;
use std::fs::File;
use std::io::Write;
use std::process::Stdio;
use std::thread::JoinHandle;

/// Starts `setup` on a fresh pseudo-terminal, through `wrapper` (run after
/// the terminal is made the controlling one); the master to type into, and a
/// reader that collects the screen until odoo-init says it exits.
fn on_terminal(mut setup: Setup<'static>, wrapper: &[&str]) -> (Run, File, JoinHandle<String>) {
    require("setsid", "util-linux");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = pty.slave;
    setup.inner = vec!["setsid".into(), "--ctty".into()];
    setup.inner.extend(wrapper.iter().map(|w| w.to_string()));
    setup.stdio = Some(Box::new(move || {
        let fd = || Stdio::from(slave.try_clone().expect("dup pty"));
        (fd(), fd(), fd())
    }));
    let run = setup.start();
    let master = File::from(pty.master);
    let screen = screen_of(&master);
    (run, master, screen)
}

/// Types Ctrl-C once the stand-in runs under `wrapper` on a terminal;
/// checks that it reached the child exactly once, sent by `sender` (0: the
/// kernel, 1: odoo-init); returns the screen.
fn ctrl_c_reaches_the_child_once(wrapper: &[&str], sender: &str) -> String {
    let (mut run, mut master, screen) = on_terminal(Setup::standin(&[]), wrapper);
    run.wait_events("the stand-in", |ev| starts(ev).len() == 1);
    // In odoo-init's session (the terminal's), in a process group of its own.
    let (init, child) = run.init_and_child();
    assert_eq!(child.session, init.session, "{child:?} {init:?}");
    assert_eq!(child.pgrp, child.pid, "{child:?}");
    master.write_all(b"\x03").expect("type Ctrl-C");
    assert_eq!(run.wait_exit(LONG), 0);
    let events = run.events();
    assert_eq!(count_in(&events, &["signal SIGINT"]), 1, "{events:?}");
    let from = format!("signal SIGINT from {sender}");
    assert_eq!(count_in(&events, &[&from]), 1, "{events:?}");
    let screen = screen.join().expect("reader");
    assert!(screen.contains("exiting with status 0"), "{screen}");
    screen
}

#[test]
fn ctrl_c_on_a_terminal_reaches_the_child_once() {
    // From the terminal (the kernel), not forwarded by odoo-init.
    let screen = ctrl_c_reaches_the_child_once(&[], "0");
    assert!(!screen.contains("forwarded SIGINT"), "{screen}");
}

#[test]
fn with_stdin_redirected_on_a_terminal_ctrl_c_is_forwarded_once() {
    // `odoo-init < /dev/null` typed in a terminal: the terminal is still
    // odoo-init's, but not its standard input. odoo-init's group is the
    // foreground: it gets Ctrl-C and passes it on once.
    let redirect = ["sh", "-c", "exec \"$@\" < /dev/null", "sh"];
    let screen = ctrl_c_reaches_the_child_once(&redirect, "1");
    assert!(screen.contains("forwarded SIGINT"), "{screen}");
}

#[test]
fn with_on_exit_wait_a_second_ctrl_c_stops_odoo_init() {
    let (mut run, mut master, screen) =
        on_terminal(Setup::standin(&[]).env("ON_EXIT", "wait"), &[]);
    run.wait_events("the stand-in", |ev| starts(ev).len() == 1);
    master.write_all(b"\x03").expect("type Ctrl-C");
    run.wait_events("Odoo's exit", |ev| count_in(ev, &["server exit 0"]) == 1);
    // odoo-init has taken the terminal back once it says it waits.
    wait_until(LONG, "odoo-init waiting", || {
        std::fs::read_to_string(format!("/proc/{}/stat", run.pid))
            .ok()
            .filter(|_| run.alive())
            .and_then(|_| {
                let fg = nix::unistd::tcgetpgrp(&master).ok()?;
                let own = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(run.pid))).ok()?;
                (fg == own).then_some(())
            })
    });
    master.write_all(b"\x03").expect("type Ctrl-C again");
    assert_eq!(run.wait_exit(LONG), 0);
    let screen = screen.join().expect("reader");
    assert!(screen.contains("SIGINT: stopping"), "{screen}");
    assert_eq!(run.count(&["signal SIGINT"]), 1, "{:?}", run.events());
}
