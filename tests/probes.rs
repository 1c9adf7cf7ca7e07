//! `odoo-init probe startup|ready|live` and `STOP_DELAY`, as Kubernetes and
//! Docker run them: a separate process asking the odoo-init of a PID
//! namespace, judged against the stand-in's real HTTP socket, its event
//! log and the process table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pg::{Pg, DB};
use common::*;

/// `odoo-init probe KIND --pid PID ARGS`, as the user of `run`: exit code and output.
fn probe(run: &Run, kind: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(odoo_init())
        .args(["probe", kind, "--pid", &run.pid.to_string()])
        .args(args)
        .env("ODOO_INIT_RUNTIME_DIR", &run.runtime_dir)
        .env_remove("ODOO_RC")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The phase `status --json` reports, or None while there is no record yet.
fn phase(run: &Run) -> Option<String> {
    let out = Command::new(odoo_init())
        .args(["status", "--json", "--pid", &run.pid.to_string()])
        .env("ODOO_INIT_RUNTIME_DIR", &run.runtime_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let doc = yaml_rust2::YamlLoader::load_from_str(&text).ok()?;
    doc.first()?["phase"].as_str().map(str::to_string)
}

fn wait_phase(run: &Run, want: &str) {
    wait_until(LONG, &format!("phase {want}"), || {
        (phase(run).as_deref() == Some(want)).then_some(())
    });
}

/// The test's own look at the stand-in's HTTP: does `GET /web/health` answer 200?
fn health_answers(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /web/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// Asserts that `kind` passes (0) or fails (1) now.
fn expect(run: &Run, kind: &str, pass: bool, when: &str) {
    let (code, text) = probe(run, kind, &[]);
    assert_eq!(
        code,
        if pass { 0 } else { 1 },
        "probe {kind} {when}: {text}"
    );
}

#[test]
fn ready_is_down_at_the_gate_during_an_update_and_a_restart_and_up_once_odoo_answers() {
    let pg = Pg::start();
    pg.ready_database();
    // Another pod's busy state holds this one at the gate.
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    let port = free_port();
    let mut setup = pg
        .job("UpdateAndRun")
        .env("TIMEOUT", "600")
        .env("STANDIN_STEP_MS", "3000")
        .env("STANDIN_DRAIN_MS", "1500");
    setup.args = vec!["--".into(), "-p".into(), port.to_string()];
    let mut run = setup.start();

    wait_phase(&run, "gate");
    expect(&run, "ready", false, "at the gate");
    expect(&run, "live", true, "at the gate");
    expect(&run, "startup", false, "at the gate");

    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
        .unwrap();
    wait_phase(&run, "update");
    expect(&run, "ready", false, "during the update");
    expect(&run, "live", true, "during the update");
    expect(&run, "startup", false, "during the update");

    // Once the stand-in answers (seen by the test itself), ready follows
    // within a second: the probe asks now, it does not remember.
    wait_until(LONG, "the stand-in to answer HTTP", || {
        health_answers(port).then_some(())
    });
    let answered = Instant::now();
    wait_until(LONG, "probe ready to pass", || {
        (probe(&run, "ready", &[]).0 == 0).then_some(())
    });
    assert!(
        answered.elapsed() < Duration::from_secs(1),
        "ready passed {:?} after Odoo answered",
        answered.elapsed()
    );
    expect(&run, "startup", true, "once running");
    expect(&run, "live", true, "once running");

    // A restart in place: the stand-in drains for 1.5 s meanwhile.
    run.signal(libc::SIGHUP);
    wait_phase(&run, "restarting");
    expect(&run, "ready", false, "during a restart");
    expect(&run, "startup", true, "during a restart (it stays passed)");
    expect(&run, "live", true, "during a restart");
    wait_until(LONG, "ready again after the restart", || {
        (probe(&run, "ready", &[]).0 == 0).then_some(())
    });
    assert_eq!(run.count(&["signal SIGTERM"]), 1, "{:?}", run.events());
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

#[test]
fn ready_asks_json_rpc_where_odoo_has_no_web_addon() {
    let port = free_port();
    let p = port.to_string();
    let run = Setup::standin(&["--http-port", &p, "--workers", "2"])
        .env("STANDIN_NO_WEB", "1")
        .start();
    wait_phase(&run, "running");
    let (code, text) = wait_until(LONG, "ready to pass", || {
        let (code, text) = probe(&run, "ready", &[]);
        (code == 0).then_some((code, text))
    });
    assert_eq!(code, 0);
    assert!(text.contains("JSON-RPC common.version"), "{text}");
    assert!(!health_answers(port), "no /web/health without web");
}

#[test]
fn live_fails_only_when_odoo_stops_answering_for_longer_than_the_grace() {
    let scratch = Scratch::new("stall");
    let stall = scratch.join("stall");
    let port = free_port().to_string();
    let mut run = Setup::standin(&["-p", &port])
        .env("STANDIN_HTTP_STALL", path_str(&stall))
        .start();
    wait_phase(&run, "running");
    wait_until(LONG, "live to pass with Odoo answering", || {
        (probe(&run, "live", &["--grace", "2", "--timeout", "0.5"]).0 == 0).then_some(())
    });

    // Odoo hangs: live goes on passing for the grace, then fails.
    std::fs::write(&stall, "").unwrap();
    let first = probe(&run, "live", &["--grace", "2", "--timeout", "0.5"]);
    let hung = Instant::now();
    assert_eq!(first.0, 0, "within the grace: {}", first.1);
    assert!(first.1.contains("within the grace"), "{}", first.1);
    let (_, text) = wait_until(LONG, "live to fail", || {
        let (code, text) = probe(&run, "live", &["--grace", "2", "--timeout", "0.5"]);
        (code == 1).then_some((code, text))
    });
    assert!(
        hung.elapsed() >= Duration::from_secs(2),
        "failed before the grace ran out: {text}"
    );
    assert!(text.contains("longer than the grace"), "{text}");
    expect(&run, "ready", false, "while Odoo hangs");

    // Odoo answers again: alive at once, and the grace starts over.
    std::fs::remove_file(&stall).unwrap();
    wait_until(LONG, "live to pass again", || {
        (probe(&run, "live", &["--grace", "2", "--timeout", "0.5"]).0 == 0).then_some(())
    });
    assert!(
        !run.instance_dir().join("http-failing").exists(),
        "the failure note goes once Odoo answers"
    );
    // A probe never signals PID 1: the stand-in saw no signal at all.
    assert_eq!(run.count(&["signal"]), 0, "{:?}", run.events());
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

#[test]
fn live_fails_when_odoo_init_is_stuck_in_its_stop_sequence() {
    // A child that ignores SIGTERM keeps odoo-init in its stop sequence for
    // STOP_TIMEOUT + 3 s; odoo-init frozen (SIGSTOP) in it overruns the bound.
    let mut run = Setup::standin(&["--no-http"])
        .env("STANDIN_IGNORE_TERM", "1")
        .env("STOP_TIMEOUT", "1")
        .start();
    wait_phase(&run, "running");
    expect(&run, "live", true, "running without HTTP");
    expect(&run, "ready", true, "running without HTTP (nothing to ask)");
    run.signal(libc::SIGTERM);
    wait_phase(&run, "stopping");
    run.signal(libc::SIGSTOP);
    expect(&run, "live", true, "within the stop sequence's bound");
    // 1 s + 3 s + 2 s bound, 10 s past it: stuck.
    let (_, text) = wait_until(Duration::from_secs(40), "live to fail", || {
        let (code, text) = probe(&run, "live", &[]);
        (code == 1).then_some((code, text))
    });
    assert!(text.contains("stuck: phase stopping"), "{text}");
    run.signal(libc::SIGCONT);
    assert_eq!(run.wait_exit(LONG), 128 + libc::SIGKILL);
}

#[test]
fn stop_delay_takes_readiness_down_first_and_signals_odoo_after_it() {
    let port = free_port().to_string();
    let mut run = Setup::standin(&["-p", &port])
        .env("STOP_DELAY", "3")
        .start();
    wait_until(LONG, "ready", || {
        (probe(&run, "ready", &[]).0 == 0).then_some(())
    });
    let sent = Instant::now();
    run.signal(libc::SIGTERM);
    // Readiness is down at once, while Odoo has not been signalled yet.
    wait_until(LONG, "ready to fail", || {
        (probe(&run, "ready", &[]).0 == 1).then_some(())
    });
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "readiness went down only after the delay"
    );
    assert_eq!(run.count(&["signal SIGTERM"]), 0, "{:?}", run.events());
    expect(&run, "live", true, "during the delay");
    run.wait_events("SIGTERM to reach the stand-in", |ev| {
        count_in(ev, &["signal SIGTERM"]) == 1
    });
    assert!(
        sent.elapsed() >= Duration::from_secs(3),
        "SIGTERM reached Odoo before STOP_DELAY"
    );
    assert_eq!(run.wait_exit(LONG), 0);
    assert_eq!(run.count(&["signal"]), 1, "{:?}", run.events());
}

#[test]
fn a_second_sigterm_or_a_sigint_skips_the_rest_of_the_stop_delay() {
    for second in [libc::SIGTERM, libc::SIGINT] {
        // A delay far longer than the test waits: only the skip can end it.
        let mut run = Setup::standin(&["--no-http"])
            .env("STOP_DELAY", "600")
            .start();
        wait_phase(&run, "running");
        run.signal(libc::SIGTERM);
        wait_phase(&run, "stopping");
        run.signal(second);
        run.wait_events("SIGTERM to reach the stand-in", |ev| {
            count_in(ev, &["signal SIGTERM"]) == 1
        });
        assert_eq!(run.wait_exit(LONG), 0);
        // Exactly the delayed SIGTERM: not a second one (Odoo's forced
        // shutdown), not the SIGINT.
        let events = run.events();
        assert_eq!(count_in(&events, &["signal"]), 1, "{events:?}");
        assert_eq!(count_in(&events, &["forced shutdown"]), 0, "{events:?}");
    }
}

#[test]
fn probes_refuse_bad_arguments_and_fail_without_an_odoo_init() {
    let out = Command::new(odoo_init())
        .args(["probe", "healthy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = Command::new(odoo_init())
        .args(["probe", "ready", "--timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    // This test process is no odoo-init: failed (1), with one line.
    let out = Command::new(odoo_init())
        .args(["probe", "live", "--pid", &std::process::id().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not odoo-init"), "{err}");
}
