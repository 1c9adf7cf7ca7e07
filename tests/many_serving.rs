//! `LIST_DB=True` serving: `RunOnly` and the `AndRun` modes start Odoo
//! once each chosen database's gate lets it, a failed database left out
//! of Odoo's dbfilter or waited for (`ON_FAILED_DATABASE`); `state --all`
//! and `--database` in a pod's environment. Judged from the databases'
//! rows, the stand-in's arguments and `odoo-init status --json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::many::{over_all, server, update_all, updated};
use common::pg::{Pg, PASSWORD, USER};
use common::*;

/// `RunOnly` over every database `LIST_DB` chooses.
fn serve_all<'a>(pg: &Pg) -> Setup<'a> {
    over_all(pg, "RunOnly").env("TIMEOUT", "600")
}

/// `odoo-init status --json` of `run`; None before its first record.
fn status_json(run: &Run) -> Option<String> {
    let out = std::process::Command::new(odoo_init())
        .args(["status", "--json", "--pid", &run.pid.to_string()])
        .env("ODOO_INIT_RUNTIME_DIR", &run.runtime_dir)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The run phase's arguments, once Odoo runs.
fn served_argv(run: &Run) -> String {
    wait_until(LONG, "Odoo's run phase", || {
        run.starts()
            .into_iter()
            .find(Start::is_run_phase)
            .map(|s| s.argv)
    })
}

/// Waits until `run` waits at a gate for something that `what` names.
fn waits_for(run: &Run, what: &str) -> String {
    wait_until(LONG, &format!("RunOnly to wait for {what}"), || {
        let s = status_json(run)?;
        (s.contains("\"waiting_for\":{") && s.contains(what)).then_some(s)
    })
}

#[test]
fn run_only_serves_once_each_gate_lets_it_and_leaves_a_failed_database_out() {
    let pg = server();
    let mut failing = update_all(&pg)
        .env("STANDIN_UPDATE_FAIL_DB", "shop_b")
        .start();
    assert_eq!(failing.wait_exit(LONG), 65, "{}", failing.stderr());
    // Another pod updates shop_c and is still at it (its lease: 5 s).
    let mut owner = update_all(&pg)
        .env("DB_NAMES", "shop_c")
        .env("STATE_LEASE", "5")
        .env("STANDIN_UPDATE_HANG", "1")
        .start();
    owner.wait_events("the update of shop_c under way", |ev| {
        ev.iter().any(|e| e.contains("update hanging"))
    });

    // No Odoo while shop_c's owner is live, whatever the other databases.
    // Its own dbfilter routes by host name (`%d`).
    let mut serve = serve_all(&pg);
    serve
        .args
        .extend(["--".into(), "--db-filter".into(), "^%d$".into()]);
    let mut serving = serve.start();
    let waiting = waits_for(&serving, "'Updating'");
    assert!(!in_run_phase(&serving), "{waiting}");
    // Its owner is stopped mid-update (the state stays 'Updating', silent):
    // reset after the lease, shop_c is served; shop_b, failed, is left out.
    owner.signal(libc::SIGTERM);
    owner.wait_exit(LONG);
    let argv = served_argv(&serving);
    assert_eq!(pg.states("shop_c").unwrap().last().unwrap(), "Reset");
    // Within the served ones, its own filter goes on routing.
    assert!(
        argv.ends_with("--db-filter ^%d$ --db-filter=^(?=(?:shop_a|shop_c)$)(?:^%d$)"),
        "{argv}"
    );
    assert!(!argv.contains(" -d "), "{argv}");
    let status = wait_until(LONG, "the databases in the status record", || {
        status_json(&serving).filter(|s| s.contains("\"databases\":{"))
    });
    assert!(
        status.contains(r#""databases":{"left_out":["shop_b"],"left_out_more":0,"served":2}"#),
        "{status}"
    );
    serving.signal(libc::SIGTERM);
    serving.wait_exit(LONG);

    // ON_FAILED_DATABASE=wait: the failed database is waited for, until a
    // person mends it; then everything is served, without a filter.
    let mut waiting = serve_all(&pg).env("ON_FAILED_DATABASE", "wait").start();
    let said = waits_for(&waiting, "failed with status");
    assert!(!in_run_phase(&waiting), "{said}");
    let mut mend = pg.job("ForceReadyState").env("DB_NAME", "shop_b").start();
    assert_eq!(mend.wait_exit(LONG), 0, "{}", mend.stderr());
    let argv = served_argv(&waiting);
    assert!(!argv.contains("--db-filter"), "{argv}");
    waiting.signal(libc::SIGTERM);
    waiting.wait_exit(LONG);
}

#[test]
fn state_all_shows_each_chosen_database_and_commands_take_one_by_name() {
    let pg = server();
    let mut failing = update_all(&pg)
        .env("STANDIN_UPDATE_FAIL_DB", "shop_b")
        .start();
    assert_eq!(failing.wait_exit(LONG), 65, "{}", failing.stderr());
    let scratch = Scratch::new("many-tools");
    let backups = scratch.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    // A pod's environment: LIST_DB, no DB_NAME.
    let tool = |args: &[&str]| {
        std::process::Command::new(odoo_init())
            .args(args)
            .env("LIST_DB", "True")
            .env("DB_USER", USER)
            .env("DB_PASSWORD", PASSWORD)
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", pg.port.to_string())
            .env("BACKUP_DIR", &backups)
            .env("PATH", pg.path_with_tools())
            .env("HOME", scratch.join("home"))
            .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"))
            .env_remove("MODE")
            .env_remove("DB_NAME")
            .output()
            .unwrap()
    };
    let out = tool(&["state", "--all"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let states: Vec<(String, String)> = text
        .lines()
        .skip(2)
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() == 4).then(|| (cells[0].to_string(), cells[2].to_string()))
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("shop_a", "Ready"),
        ("shop_b", "Updating"),
        ("shop_c", "Ready"),
    ]
    .iter()
    .map(|(d, s)| (d.to_string(), s.to_string()))
    .collect();
    assert_eq!(states, expected, "{text}");

    // One database of them, by name.
    let out = tool(&["state", "--database", "shop_b", "--limit", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("Updating"), "{text}");
    let out = tool(&["backup", "--database", "shop_a"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Vec<_> = std::fs::read_dir(backups.join("shop_a")).unwrap().collect();
    assert_eq!(made.len(), 1, "one backup of shop_a");
    // adopt and rollback reach the one named: shop_a is adopted already
    // (refused, nothing written), shop_b has no backup to go back to.
    let rows = pg.rows("shop_a").len();
    let out = tool(&["adopt", "--database", "shop_a"]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shop_a is adopted already"),
        "{out:?}"
    );
    assert_eq!(pg.rows("shop_a").len(), rows);
    let out = tool(&["rollback", "--database", "shop_b"]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shop_b"),
        "{out:?}"
    );
    // None named: refused, saying how to name one.
    let out = tool(&["state"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--database NAME"));
}

/// `UpdateAndRun` over the databases: each updated once, a failing one
/// recorded on its row and said, then Odoo serves the others, the failed
/// one left out of its dbfilter.
#[test]
fn update_and_run_updates_each_then_serves_leaving_a_failed_one_out() {
    let pg = server();
    let mut pod = over_all(&pg, "UpdateAndRun")
        .env("UPDATE", "all")
        .env("STANDIN_UPDATE_FAIL_DB", "shop_b")
        .start();
    let argv = served_argv(&pod);
    assert_eq!(updated(&pg), (vec![1, 0, 1], false));
    let failed = pg.rows("shop_b");
    assert_eq!(failed.last().unwrap().4, Some(1), "{failed:?}");
    assert!(argv.ends_with("--db-filter=^(?:shop_a|shop_c)$"), "{argv}");
    pod.signal(libc::SIGTERM);
    assert_eq!(pod.wait_exit(LONG), 0, "{}", pod.stderr());
}
