//! `docker run -it`: with a terminal, Ctrl-C reaches Odoo exactly once.

mod common;

use common::*;
use std::io::{Read, Write};
use std::process::Stdio;

#[test]
fn ctrl_c_on_a_terminal_reaches_the_child_once() {
    require("setsid", "util-linux");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = pty.slave;
    let mut setup = Setup::standin(&[]);
    // setsid --ctty makes the pty the controlling terminal, like a container runtime does.
    setup.wrapper = vec!["setsid".into(), "--ctty".into(), "--wait".into()];
    setup.stdio = Some(Box::new(move || {
        let fd = || Stdio::from(slave.try_clone().expect("dup pty"));
        (fd(), fd(), fd())
    }));
    let mut run = setup.start();
    let mut master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone().expect("dup master");
    // The terminal must be read, or odoo-init's log lines would fill it up.
    let screen = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&all).contains("exiting with status") {
                break;
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    run.wait_events("the stand-in", |ev| count_in(ev, &[" start argv="]) == 1);
    master.write_all(b"\x03").expect("type Ctrl-C");
    assert_eq!(run.wait_exit(LONG), 0);
    let events = run.events();
    assert_eq!(count_in(&events, &["signal SIGINT"]), 1, "{events:?}");
    // From the terminal (the kernel, sender 0), not forwarded by odoo-init.
    assert_eq!(
        count_in(&events, &["signal SIGINT from 0"]),
        1,
        "{events:?}"
    );
    let screen = screen.join().expect("reader");
    assert!(!screen.contains("forwarded SIGINT"), "{screen}");
    assert!(screen.contains("exiting with status 0"), "{screen}");
}
