//! A fleet started at once on one database, `UpdateAndRun` with nothing
//! changed on a real-size addons tree: how long each pod holds the state
//! table's advisory lock (read from PostgreSQL's statement log, not from
//! odoo-init's), and how long N pods take next to one.

use std::time::{Duration, Instant};

use super::{common, percentile, signal, sorted, spawn_acked, wait_ack};

/// Pods started at once.
const PODS: usize = 20;
/// Rounds of each measurement (medians).
const ROUNDS: usize = 5;

/// Prints the lock-hold times and the N-pod/one-pod ratio, for this build
/// and, with `ODOO_INIT_BEFORE`, an earlier one beside it.
pub(super) fn fleet_costs(pg: &common::pg::Pg, main_job: &[String], update_env: &[(&str, &str)]) {
    // The image's checksums file, written as an image build would, beside
    // the addons (on their file system).
    let addons = update_env
        .iter()
        .find(|(k, _)| *k == "ADDONS_PATH")
        .map(|(_, v)| std::path::PathBuf::from(v))
        .expect("ADDONS_PATH");
    let file = addons.with_file_name("checksums.json");
    let written = std::process::Command::new(&main_job[0])
        .arg("write-checksums")
        .arg(&file)
        .envs(update_env.iter().copied())
        .output()
        .expect("odoo-init write-checksums");
    assert!(written.status.success(), "write-checksums: {written:?}");
    let file = file.display().to_string();
    let mut with_file = update_env.to_vec();
    with_file.push(("ADDONS_CHECKSUMS_FILE", file.as_str()));
    // The floor: pods that do no update work at all (RunOnly, one look).
    let mut run_only: Vec<(&str, &str)> = update_env.to_vec();
    for (k, v) in run_only.iter_mut() {
        if *k == "MODE" {
            *v = "RunOnly";
        }
    }
    let mut builds = vec![
        ("now", main_job.to_vec(), update_env.to_vec()),
        ("now, ADDONS_CHECKSUMS_FILE", main_job.to_vec(), with_file),
        (
            "now, RunOnly (no update step: the floor)",
            main_job.to_vec(),
            run_only,
        ),
    ];
    if let Some(before) = std::env::var_os("ODOO_INIT_BEFORE") {
        let mut argv = main_job.to_vec();
        argv[0] = before.to_string_lossy().into_owned();
        builds.insert(0, ("before", argv, update_env.to_vec()));
    }
    println!();
    println!(
        "| a fleet on one database, UpdateAndRun, nothing changed (ms, median of {ROUNDS}) | build | lock held by one pod alone (PostgreSQL's log), median | lock held, {PODS} pods at once, median / max | one pod | {PODS} pods at once | ratio | target |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, argv, update_env) in &builds {
        eprintln!("fleet ({name}): lock hold times ...");
        let alone = lock_holds(pg, argv, update_env, 1, ROUNDS);
        let crowded = lock_holds(pg, argv, update_env, PODS, 1);
        eprintln!("fleet ({name}): one pod, then {PODS} at once ...");
        let one = sorted(
            (0..ROUNDS)
                .map(|_| pods_at_once(argv, update_env, 1))
                .collect(),
        );
        let many = sorted(
            (0..ROUNDS)
                .map(|_| pods_at_once(argv, update_env, PODS))
                .collect(),
        );
        let (one, many) = (percentile(&one, 0.5), percentile(&many, 0.5));
        // A pod that found nothing changed before the gate takes no lock.
        let alone = match alone.is_empty() {
            true => "not taken".to_string(),
            false => format!("{:.1}", percentile(&alone, 0.5)),
        };
        let crowded = match crowded.last() {
            None => "not taken".to_string(),
            Some(most) => format!("{:.1} / {most:.1}", percentile(&crowded, 0.5)),
        };
        println!(
            "| | {name} | {alone} | {crowded} | {one:.1} | {many:.1} | {:.1}x | lock <= 10 ms, ratio <= 3x |",
            many / one
        );
    }
}

/// Starts `n` pods at once; from the first spawn to the last pod's Odoo running, in ms.
fn pods_at_once(argv: &[String], env: &[(&str, &str)], n: usize) -> f64 {
    let t0 = Instant::now();
    let mut pods: Vec<_> = (0..n).map(|_| spawn_acked(argv, env)).collect();
    for (_, ack) in pods.iter_mut() {
        assert!(
            wait_ack(ack, Duration::from_secs(120)),
            "{argv:?}: a pod did not start Odoo"
        );
    }
    let took = t0.elapsed().as_secs_f64() * 1e3;
    for (child, _) in pods.iter_mut() {
        signal(child.id() as i32, libc::SIGTERM);
    }
    for (mut child, _) in pods {
        let _ = child.wait();
    }
    took
}

/// Each state transaction's hold of the advisory lock, in ms, sorted: from
/// the end of its `pg_advisory_xact_lock` to the end of its `COMMIT` or
/// `ROLLBACK`, by backend, as PostgreSQL logs them, over `rounds` starts of
/// `pods` pods at once.
fn lock_holds(
    pg: &common::pg::Pg,
    argv: &[String],
    env: &[(&str, &str)],
    pods: usize,
    rounds: usize,
) -> Vec<f64> {
    let mut admin = pg.superuser("postgres");
    // One statement a call: ALTER SYSTEM refuses a transaction block.
    for sql in [
        "ALTER SYSTEM SET log_min_duration_statement = 0",
        "ALTER SYSTEM SET log_line_prefix = '%m [%p] '",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).expect("statement log on");
    }
    // A marker line, unique to this call, so that only what follows it is
    // read; asked again until the server logs it (the reload that turns the
    // statement log on reaches this session at its own pace).
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let marker = format!("fleet-marker-{}-{call}", std::process::id());
    common::wait_until(Duration::from_secs(10), "the statement log", || {
        admin
            .batch_execute(&format!("SELECT '{marker}'"))
            .expect("marker");
        pg.log().contains(&marker).then_some(())
    });
    for _ in 0..rounds {
        pods_at_once(argv, env, pods);
    }
    for sql in [
        "ALTER SYSTEM RESET log_min_duration_statement",
        "ALTER SYSTEM RESET log_line_prefix",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).expect("statement log off");
    }
    let log = pg.log();
    let after = log.rfind(&marker).map_or(&log[..], |i| &log[i..]);
    holds_in(after)
}

/// The holds in a statement log with `%m [%p] ` prefixes.
fn holds_in(log: &str) -> Vec<f64> {
    let mut locked: std::collections::HashMap<&str, f64> = Default::default();
    let mut holds = Vec::new();
    for line in log.lines() {
        let mut words = line.split_whitespace();
        let (Some(_date), Some(time), Some(_zone), Some(pid)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Some(at) = seconds(time) else {
            continue;
        };
        if line.contains("pg_advisory_xact_lock") {
            locked.insert(pid, at);
        } else if line.ends_with("statement: COMMIT") || line.ends_with("statement: ROLLBACK") {
            if let Some(since) = locked.remove(pid) {
                holds.push((at - since) * 1e3);
            }
        }
    }
    sorted(holds)
}

/// `HH:MM:SS.mmm` as seconds of the day.
fn seconds(time: &str) -> Option<f64> {
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}
