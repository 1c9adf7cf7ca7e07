//! `odoo-init status`: what the running odoo-init is doing, asked from
//! outside, phase by phase, as a `docker exec` would (judged against the
//! process table and the database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB};
use common::*;
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

/// `odoo-init status ARGS --pid PID` of `run`, as its user.
fn status_cmd(run: &Run, args: &[&str]) -> std::process::Output {
    Command::new(odoo_init())
        .arg("status")
        .args(args)
        .args(["--pid", &run.pid.to_string()])
        .env("ODOO_INIT_RUNTIME_DIR", &run.runtime_dir)
        .output()
        .unwrap()
}

/// The record as `status --json` gives it (JSON is YAML); None while there
/// is none yet (odoo-init makes its directory, then writes its first record).
fn try_status(run: &Run) -> Option<Yaml> {
    let out = status_cmd(run, &["--json"]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("No such file") || err.contains("has no directory"),
            "{err}"
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(YamlLoader::load_from_str(&text).unwrap().remove(0))
}

/// Waits until the record says `phase`; returns it.
fn wait_phase(run: &Run, phase: &str) -> Yaml {
    wait_until(LONG, &format!("phase {phase}"), || {
        let s = try_status(run)?;
        (s["phase"].as_str() == Some(phase)).then_some(s)
    })
}

#[test]
fn each_phase_of_an_update_and_run_is_reported() {
    let pg = Pg::start();
    pg.ready_database();
    // Another pod's busy state: this one waits at the gate first.
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    let mut run = pg
        .job("UpdateAndRun")
        .env("TIMEOUT", "600")
        .env("STANDIN_STEP_MS", "3000")
        .env("STANDIN_DRAIN_MS", "1500")
        .start();
    let gate = wait_until(LONG, "the gate to say what it waits for", || {
        let s = try_status(&run)?;
        (!s["waiting_for"].is_null()).then_some(s)
    });
    assert_eq!(gate["phase"].as_str(), Some("gate"));
    assert!(
        gate["waiting_for"]["what"]
            .as_str()
            .is_some_and(|w| w.contains("'Updating'")),
        "{gate:?}"
    );
    assert_eq!(gate["mode"].as_str(), Some("UpdateAndRun"));
    assert_eq!(gate["database"].as_str(), Some(DB));
    assert!(gate["child"].is_null());

    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
        .unwrap();
    let update = wait_until(LONG, "the update to run", || {
        let s = try_status(&run)?;
        (s["phase"].as_str() == Some("update") && !s["child"].is_null()).then_some(s)
    });
    let row = pg.rows(DB).last().unwrap().0;
    assert_eq!(
        update["owns"].as_str(),
        Some(format!("Updating, row {row}").as_str())
    );
    let child = update["child"]["pid"].as_i64().unwrap();
    assert!(
        run.procs()
            .iter()
            .any(|p| i64::from(ns_pid(p.pid)) == child),
        "the update's PID is a real child"
    );
    assert!(update["child"]["argv"]
        .as_vec()
        .unwrap()
        .iter()
        .any(|a| a.as_str() == Some("-u")));
    assert!(update["first_running_age_seconds"].is_null());

    let running = wait_phase(&run, "running");
    assert!(running["owns"].is_null(), "Ready written: {running:?}");
    assert_eq!(
        running["last_exit"]["status"].as_i64(),
        Some(0),
        "the update"
    );
    let (_, odoo) = run.init_and_child();
    assert_eq!(
        running["child"]["pid"].as_i64(),
        Some(i64::from(ns_pid(odoo.pid)))
    );
    // A number (JSON has no integers of its own; 0 reads back as one).
    let first = &running["first_running_age_seconds"];
    assert!(
        first.as_f64().is_some() || first.as_i64().is_some(),
        "{first:?}"
    );
    assert_eq!(running["restarts"].as_i64(), Some(0));

    // A restart in place: Odoo takes 1.5 s to drain, seen as `restarting`.
    run.signal(libc::SIGHUP);
    let restarting = wait_phase(&run, "restarting");
    assert_eq!(restarting["restarts"].as_i64(), Some(1));
    let again = wait_phase(&run, "running");
    let (_, new_odoo) = run.init_and_child();
    assert_eq!(
        again["child"]["pid"].as_i64(),
        Some(i64::from(ns_pid(new_odoo.pid)))
    );
    assert_ne!(new_odoo.pid, odoo.pid);

    // The readable form says the same.
    let out = status_cmd(&run, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("phase      running for"), "{text}");
    assert!(text.contains("restarts   1"), "{text}");
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
    assert!(
        std::fs::read_dir(&run.runtime_dir)
            .unwrap()
            .next()
            .is_none(),
        "the record goes with the process"
    );
}

#[test]
fn a_crashed_odoo_under_on_exit_wait_is_stopped_waiting() {
    let mut run = Setup::standin(&[])
        .env("ON_EXIT", "wait")
        .env("STANDIN_RUN_EXIT", "3")
        .start();
    let waiting = wait_phase(&run, "stopped-waiting");
    assert_eq!(waiting["last_exit"]["status"].as_i64(), Some(3));
    assert!(waiting["child"].is_null());
    assert_eq!(waiting["mode"].as_str(), Some("supervise"));
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

#[test]
fn status_is_refused_for_another_user_a_forged_record_and_a_non_odoo_init() {
    let mut run = Setup::standin(&[]).start();
    wait_phase(&run, "running");

    // Another user: refused before anything is read.
    require("setpriv", "util-linux");
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(odoo_init())
        .args(["status", "--pid", &run.pid.to_string()])
        .env("ODOO_INIT_RUNTIME_DIR", &run.runtime_dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("runs as uid"), "{err}");

    // A torn or forged record: refused, not guessed at.
    let record = run.instance_dir().join("status");
    let text = std::fs::read_to_string(&record).unwrap();
    for bad in [
        text.replace("\nend\n", "\n"),
        text.replace("phase running", "phase dancing"),
        "odoo-init-status 1\nphase running\nend\n".to_string(),
    ] {
        std::fs::write(&record, &bad).unwrap();
        let out = status_cmd(&run, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(77), "{bad}\n{err}");
        assert!(err.contains("status record is refused"), "{err}");
    }

    // A process that is not an odoo-init.
    let out = Command::new(odoo_init())
        .args(["status", "--pid", &std::process::id().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77));
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

/// Every phase `status --json` reports while a run lasts, consecutive
/// repeats folded. The gate is held by a busy row until the record says
/// `gate`; a run phase is stopped with SIGTERM once it says `running`.
fn phases_of(pg: &Pg, mut run: Run) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut released = false;
    let mut stopped = false;
    let until = std::time::Instant::now() + LONG;
    while run.alive() {
        assert!(std::time::Instant::now() < until, "phases so far: {seen:?}");
        let Some(s) = try_status_quiet(&run) else {
            continue;
        };
        let phase = s["phase"].as_str().unwrap_or("?").to_string();
        if seen.last() != Some(&phase) {
            seen.push(phase.clone());
        }
        if phase == "gate" && !released {
            released = true;
            pg.superuser(DB)
                .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
                .unwrap();
        }
        if phase == "running" && !stopped {
            stopped = true;
            run.signal(libc::SIGTERM);
        }
    }
    seen
}

/// As [`try_status`], also quiet once odoo-init is gone.
fn try_status_quiet(run: &Run) -> Option<Yaml> {
    let out = status_cmd(run, &["--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| YamlLoader::load_from_str(&text).ok()?.into_iter().next())
        .flatten()
}

#[test]
fn every_mode_reports_its_phases_in_order() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("phases");
    let script = scratch.join("run.sh");
    // The maintenance step's work takes a second, as the steps' own (STANDIN_STEP_MS).
    std::fs::write(&script, "sleep 1\n").unwrap();
    // (mode, the phases in order, those short enough to be missed by
    // polling). Each step claims its busy state at the gate: a short
    // `gate` between steps.
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "InstallOnly",
            &[
                "starting",
                "gate",
                "install",
                "gate",
                "maintenance",
                "stopping",
            ],
            &["starting", "stopping"],
        ),
        (
            "UpdateOnly",
            &[
                "starting",
                "gate",
                "update",
                "gate",
                "maintenance",
                "stopping",
            ],
            &["starting", "stopping"],
        ),
        (
            "InstallAndRun",
            &[
                "starting",
                "gate",
                "install",
                "gate",
                "maintenance",
                "gate",
                "running",
                "stopping",
            ],
            &["starting", "stopping"],
        ),
        (
            "RunOnly",
            &["starting", "gate", "running", "stopping"],
            &["starting", "stopping"],
        ),
        (
            "ForceUpdateOnly",
            &["starting", "gate", "update", "stopping"],
            &["starting", "gate", "stopping"],
        ),
        (
            "ForceRunOnly",
            &["starting", "gate", "running", "stopping"],
            &["starting", "gate", "stopping"],
        ),
    ];
    let mut failures = Vec::new();
    for (mode, order, missable) in cases {
        // Another pod's busy state first: the gate waits until released.
        pg.superuser(DB)
            .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
            .unwrap();
        // UPDATE=all: an update step also after an earlier case stored checksums.
        let run = pg
            .job(mode)
            .env("UPDATE", "all")
            .env("TIMEOUT", "600")
            .env("STANDIN_STEP_MS", "1000")
            .env("MAINTENANCE_SCRIPT", path_str(&script))
            .start();
        let seen = phases_of(&pg, run);
        // In order (a subsequence of `order`), nothing missing but the short ones.
        let mut rest = order.iter();
        let in_order = seen.iter().all(|p| rest.any(|o| o == p));
        let missing: Vec<&&str> = order
            .iter()
            .filter(|o| !missable.contains(o) && !seen.iter().any(|p| p == *o))
            .collect();
        if !in_order || !missing.is_empty() {
            failures.push(format!("{mode}: saw {seen:?}, want {order:?}"));
        }
        // Force modes leave the busy row; the next case starts from Ready.
        pg.superuser(DB)
            .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
            .unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// F8: the largest restart arguments `odoo-init restart` takes (64 KiB of
/// short ones) still give a record that `status` and the probes read: the
/// record counts what it leaves out instead of outgrowing its read limit.
#[test]
fn the_largest_restart_arguments_leave_a_readable_status() {
    let mut run = Setup::standin(&["--log-level=info"]).start();
    run.wait_events("the first start", |ev| !starts(ev).is_empty());
    // Nearly 64 KiB of short arguments (odoo-init restart refuses more).
    let many: Vec<&str> = std::iter::once("--")
        .chain(std::iter::repeat_n("--dev=x", 8000))
        .collect();
    let out = run.restart_cmd(&many);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run.wait_events("the restart", |ev| starts(ev).len() >= 2);
    // Read (exit 0) at every moment; once the new child is recorded, with
    // the count of what was left out.
    wait_until(LONG, "the record of the new child", || {
        let out = status_cmd(&run, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = String::from_utf8_lossy(&out.stdout).into_owned();
        shown.contains("more arguments not recorded").then_some(())
    });
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0);
}

/// A state row another writer filled with 200,000 characters: the waiting
/// pod's record stays small and readable, `status` and `probe live` work.
#[test]
fn a_huge_state_value_leaves_a_small_readable_status() {
    let pg = Pg::start();
    pg.ready_database();
    pg.superuser(DB)
        .batch_execute(
            "INSERT INTO curq_state_history (state) VALUES ('Updating' || repeat('x', 200000))",
        )
        .unwrap();
    let mut run = pg.job("RunOnly").env("TIMEOUT", "600").start();
    let gate = wait_until(LONG, "the gate to say what it waits for", || {
        let s = try_status(&run)?;
        (!s["waiting_for"].is_null()).then_some(s)
    });
    let what = gate["waiting_for"]["what"].as_str().unwrap_or_default();
    assert!(what.contains("Updating"), "{what}");
    assert!(what.len() < 1000, "{} characters", what.len());
    let record = std::fs::read_dir(&run.runtime_dir)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path().join("status")))
        .find(|p| p.is_file())
        .expect("the status record");
    let size = std::fs::metadata(&record).unwrap().len();
    assert!(size < 8 * 1024, "{size} bytes");
    let live = Command::new(odoo_init())
        .args(["probe", "live", "--pid", &run.pid.to_string()])
        .env("ODOO_INIT_RUNTIME_DIR", &run.runtime_dir)
        .output()
        .unwrap();
    assert_eq!(
        live.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    run.signal(libc::SIGTERM);
    run.wait_exit(LONG);
}
