//! odoo-init next to the established inits, each really PID 1 of its own PID
//! namespace, supervising the same stand-in Odoo. Run: `bash scripts/bench.sh`.
//!
//! The stand-in writes a byte to an inherited pipe on each signal it gets, so
//! the receiving end is the same for every init.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};

use odoo_init_testkit as common;
#[path = "inits/backups.rs"]
mod backups;
#[path = "inits/fleet.rs"]
mod fleet;
#[path = "inits/many.rs"]
mod many;

const SIGNALS: usize = 600;
const ORPHANS: &str = "5000";
const IDLE: Duration = Duration::from_secs(3);
const ROUNDS: usize = 15;
/// Latency is measured in this many batches per init, the inits taking turns.
const BATCHES: usize = 20;

struct Init {
    name: &'static str,
    binary: Option<PathBuf>,
    prefix: Vec<String>,
}

#[derive(Default, Clone)]
struct Results {
    p50_us: f64,
    /// The median latency of each batch, in the order they ran.
    p50_batches: Vec<f64>,
    p99_us: f64,
    lost: f64,
    reap_ms: f64,
    reap_cpu_ms: f64,
    /// User-space instructions per reaped zombie (callgrind); NaN without valgrind.
    reap_instructions: f64,
    term_ms: f64,
    wakeups: f64,
    rss_kb: f64,
    anon_kb: f64,
    size_kb: f64,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("inits: a benchmark; run it with `bash scripts/bench.sh`");
        return;
    }
    let odoo_init = PathBuf::from(env!("CARGO_BIN_EXE_odoo-init"));
    let standin = odoo_init
        .parent()
        .map(|d| d.join("examples/standin-odoo"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| {
            eprintln!("build the stand-in first: cargo build --release --example standin-odoo");
            std::process::exit(1);
        });
    // `cargo bench --bench inits -- own`: odoo-init's own costs only;
    // `-- backups`: the backups' and restores' figures only.
    if std::env::args().any(|a| a == "own") {
        own_costs(&odoo_init, &standin);
        return;
    }
    if std::env::args().any(|a| a == "backups") {
        backups::backup_costs(&odoo_init, &standin);
        return;
    }
    // `-- many`: LIST_DB's scaling over the pods.
    if std::env::args().any(|a| a == "many") {
        many::scaling();
        return;
    }
    let inits = [
        Init {
            name: "odoo-init",
            binary: Some(odoo_init.clone()),
            prefix: vec![
                odoo_init.display().to_string(),
                "supervise".into(),
                "--".into(),
            ],
        },
        found("tini", &["--"]),
        found("dumb-init", &[]),
        found("catatonit", &["--"]),
        // dumb-init signals the child's process group by default; odoo-init
        // must not (SPEC §6: Odoo's prefork master drains its workers). With
        // --single-child it signals the PID, like odoo-init, tini and catatonit.
        Init {
            name: "dumb-init -c",
            ..found("dumb-init", &["--single-child"])
        },
    ];
    // All inits run at once for forwarding, idle and memory, taking turns in
    // small batches, so that the machine's ups and downs hit them alike.
    eprintln!("forwarding, idle and memory, all inits side by side ...");
    let mut shared = side_by_side(&inits, &standin);
    // Deterministic, unlike the timings: the init's own user-space work per
    // reaped zombie, counted by callgrind (the kernel's part is not counted).
    for (init, r) in inits.iter().zip(shared.iter_mut()) {
        if let Some(r) = r {
            eprintln!("counting instructions of {} under callgrind ...", init.name);
            r.reap_instructions = reap_instructions(init, &standin);
        }
    }
    // Reaping and stopping need fresh containers: rounds that interleave the
    // inits; each metric is the median over the rounds.
    let pinned = Pinned::split();
    let container_cpu = pinned.as_ref().map(|p| p.container);
    match container_cpu {
        Some(cpu) => {
            eprintln!("reaping and stopping: containers on CPU {cpu}, the benchmark on another")
        }
        None => eprintln!("reaping and stopping: one CPU only, nothing pinned (noisier figures)"),
    }
    let mut runs: Vec<Vec<Results>> = vec![Vec::new(); inits.len()];
    for round in 1..=ROUNDS {
        // Each round begins with another init: the one after a container's
        // teardown must not always be the same.
        for i in (0..inits.len()).map(|k| (k + round) % inits.len()) {
            let init = &inits[i];
            if let (Some(binary), Some(base)) = (&init.binary, &shared[i]) {
                eprintln!("round {round}/{ROUNDS}: {} ...", init.name);
                runs[i].push(measure(init, binary, &standin, container_cpu, base.clone()));
            }
        }
    }
    drop(pinned);
    let rows: Vec<(&str, Option<Vec<Results>>)> = inits
        .iter()
        .zip(runs)
        .map(|(init, r)| (init.name, init.binary.as_ref().map(|_| r)))
        .collect();
    print_table(&rows);
    print_spread(&rows, "forward latency p50", "batches", |runs| {
        runs.first()
            .map(|r| r.p50_batches.clone())
            .unwrap_or_default()
    });
    print_spread(&rows, "reap 5000 zombies", "rounds", |runs| {
        runs.iter().map(|r| r.reap_ms).collect()
    });
    own_costs(&odoo_init, &standin);
    backups::backup_costs(&odoo_init, &standin);
    many::scaling();
}

const RUNS: usize = 25;

/// odoo-init's own costs with the state gate on a local PostgreSQL (RunOnly,
/// state Ready), each next to the same measurement without database
/// (`supervise`): the difference is the gate's.
fn own_costs(odoo_init: &Path, standin: &Path) {
    eprintln!("starting a throwaway PostgreSQL ...");
    let pg = common::pg::Pg::start();
    ready_for_run_only(&pg);
    let port = pg.port.to_string();
    let run_only: Vec<(&str, &str)> = vec![
        ("MODE", "RunOnly"),
        ("DB_NAME", "odoo"),
        ("DB_USER", "odoo"),
        ("DB_PASSWORD", "bench-pw"),
        ("DB_HOST", "127.0.0.1"),
        ("DB_PORT", &port),
    ];
    let odoo = standin.display().to_string();
    let init = odoo_init.display().to_string();
    // The stand-in serves no HTTP here: the figures are odoo-init's own.
    let no_http = "--no-http".to_string();
    let supervise = vec![
        init.clone(),
        "supervise".into(),
        "--".into(),
        odoo.clone(),
        no_http.clone(),
    ];
    let main_job = vec![init, "--".into(), no_http];
    let odoo_bin = [("ODOO_BIN", odoo.as_str())];
    let mut env = run_only.clone();
    env.extend(odoo_bin);

    let start_base = start_times(&supervise, &[]);
    let start_gate = start_times(&main_job, &env);
    let restart_base = restart_times(&supervise, &[]);
    let restart_gate = restart_times(&main_job, &env);
    let med = |v: &[f64]| percentile(v, 0.5);
    println!();
    println!("| odoo-init's own cost, median of {RUNS} (ms) | no database (supervise) | RunOnly, state Ready | the gate's share | target |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| start of odoo-init to Odoo running | {:.2} | {:.2} | {:.2} | 10 |",
        med(&start_base),
        med(&start_gate),
        med(&start_gate) - med(&start_base)
    );
    println!(
        "| old Odoo gone to new Odoo running (restart) | {:.2} | {:.2} | {:.2} | 5 |",
        med(&restart_base),
        med(&restart_gate),
        med(&restart_gate) - med(&restart_base)
    );
    tls_costs(&main_job, &env, &start_gate);
    checksum_costs(&pg, &main_job, &env);
}

/// The role `odoo` (password `bench-pw`), its database and a state table at `Ready`.
fn ready_for_run_only(pg: &common::pg::Pg) {
    pg.role("odoo", "bench-pw", false);
    pg.database("odoo", "odoo");
    pg.superuser("odoo")
        .batch_execute(
            "CREATE TABLE curq_state_history (id serial PRIMARY KEY, state varchar NOT NULL, \
             write_date timestamptz NOT NULL DEFAULT now(), host varchar, pid integer, \
             mode varchar, heartbeat timestamptz); \
             INSERT INTO curq_state_history (state) VALUES ('Ready'); \
             ALTER TABLE curq_state_history OWNER TO odoo",
        )
        .expect("state table");
}

/// The same RunOnly start against a TLS-only cluster with `verify-full`
/// (certificates made by openssl, SCRAM with channel binding as the
/// server offers it), beside the plain one measured before; and VmRSS
/// while Odoo runs, each way.
fn tls_costs(main_job: &[String], plain_env: &[(&str, &str)], start_plain: &[f64]) {
    eprintln!("starting a throwaway PostgreSQL with TLS ...");
    let certs = common::tls::Certs::make();
    let pg = common::tls::tls_only(&certs);
    ready_for_run_only(&pg);
    let port = pg.port.to_string();
    let ca = certs.path("ca.crt").display().to_string();
    let home = certs.dir().display().to_string();
    let mut env: Vec<(&str, &str)> = plain_env
        .iter()
        .filter(|(k, _)| *k != "DB_PORT")
        .copied()
        .collect();
    env.extend([
        ("DB_PORT", port.as_str()),
        ("DB_SSLMODE", "verify-full"),
        ("DB_SSLROOTCERT", ca.as_str()),
        ("HOME", home.as_str()),
    ]);
    let start_tls = start_times(main_job, &env);
    let med = |v: &[f64]| percentile(v, 0.5);
    println!();
    println!("| TLS to PostgreSQL, median of {RUNS} | plain server (default prefer) | TLS-only server, verify-full | TLS's share | target |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| start of odoo-init to Odoo running (ms) | {:.2} | {:.2} | {:.2} | 10 |",
        med(start_plain),
        med(&start_tls),
        med(&start_tls) - med(start_plain)
    );
    let rss_plain = rss_while_running(main_job, plain_env);
    let rss_tls = rss_while_running(main_job, &env);
    println!(
        "| odoo-init's VmRSS while Odoo runs (kB) | {rss_plain:.0} | {rss_tls:.0} | {:.0} | - |",
        rss_tls - rss_plain
    );
    // ODOO_INIT_BEFORE: an earlier build, measured the same way beside this one.
    if let Some(before) = std::env::var_os("ODOO_INIT_BEFORE") {
        let before = before.to_string_lossy().into_owned();
        let now = &main_job[0];
        let with = |binary: &str, argv: &[String]| {
            let mut argv = argv.to_vec();
            argv[0] = binary.to_string();
            argv
        };
        let size =
            |binary: &str| fs::metadata(binary).map_or(f64::NAN, |m| m.len() as f64 / 1024.0);
        println!();
        println!("| before (ODOO_INIT_BEFORE) and now | before | now | ratio |");
        println!("|---|---:|---:|---:|");
        let row =
            |what: &str, b: f64, n: f64| println!("| {what} | {b:.0} | {n:.0} | {:.2}x |", n / b);
        row("binary size (kB)", size(&before), size(now));
        let plain = |binary: &str| rss_while_running(&with(binary, main_job), plain_env);
        row(
            "VmRSS, RunOnly on a plain server (kB)",
            plain(&before),
            plain(now),
        );
        let supervise = |binary: &str| {
            let argv = [
                binary.to_string(),
                "supervise".into(),
                "--".into(),
                plain_env_odoo(plain_env),
                "--no-http".into(),
            ];
            rss_while_running(&argv, &[])
        };
        row("VmRSS, supervise (kB)", supervise(&before), supervise(now));
    }
}

/// The stand-in, as `ODOO_BIN` of `env` names it.
fn plain_env_odoo(env: &[(&str, &str)]) -> String {
    env.iter()
        .find(|(k, _)| *k == "ODOO_BIN")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// VmRSS of the spawned odoo-init once Odoo runs.
fn rss_while_running(argv: &[String], env: &[(&str, &str)]) -> f64 {
    let (mut child, mut ack) = spawn_acked(argv, env);
    assert!(
        wait_ack(&mut ack, Duration::from_secs(10)),
        "{argv:?} did not start Odoo"
    );
    let rss = steady_kb(child.id() as i32, "VmRSS:");
    signal(child.id() as i32, libc::SIGTERM);
    let _ = child.wait();
    rss
}

/// A `/proc/PID/status` figure once it has settled: the same in two reads
/// 200 ms apart (PID 1 gives back its start-up pages right after the
/// child starts), or the last read after 3 s.
fn steady_kb(pid: i32, field: &str) -> f64 {
    let until = Instant::now() + Duration::from_secs(3);
    let mut last = status_kb(pid, field);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = status_kb(pid, field);
        if now == last || Instant::now() > until {
            return now;
        }
        last = now;
    }
}

/// Addons of a generated tree the size of a full Odoo installation.
const ADDONS: usize = 500;

/// Module checksums on a tree the size of a full Odoo: odoo-init's hashing
/// next to click-odoo-contrib's `addon_hash` (scripts/venv.sh), and a pod's
/// start with nothing changed (`UpdateAndRun`, `UPDATE=changed`) next to a
/// `RunOnly` start, on the same database.
fn checksum_costs(pg: &common::pg::Pg, main_job: &[String], run_only: &[(&str, &str)]) {
    use odoo_init::odoo::addons::{checksum, Rules, DEFAULT_EXCLUDE};
    eprintln!("generating {ADDONS} addons ...");
    let scratch = common::Scratch::new("bench-addons");
    let dir = scratch.join("addons");
    let (files, bytes) = generate_addons(&dir);
    let names: Vec<String> = (0..ADDONS).map(|i| format!("module_{i:03}")).collect();
    let rules = Rules::new(DEFAULT_EXCLUDE, &["en_US".to_string()]);
    let hash_all = || -> Vec<String> {
        names
            .iter()
            .map(|m| checksum(&dir.join(m), &rules).expect("checksum"))
            .collect()
    };
    let sums = hash_all(); // also warms the page cache for both
    let ours: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            hash_all();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let python = std::env::var("CLICK_ODOO_PYTHON")
        .unwrap_or_else(|_| "target/click-venv/bin/python".into());
    let script = r#"
import sys, time
from click_odoo_contrib._addon_hash import addon_hash
top, n = sys.argv[1], int(sys.argv[2])
pats = '*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*,tests/*'.split(',')
for _ in range(6):
    t0 = time.perf_counter()
    for i in range(n):
        addon_hash('%s/module_%03d' % (top, i), pats, ['en_US'])
    print((time.perf_counter() - t0) * 1e3)
"#;
    let out = Command::new(&python)
        .args([
            "-c",
            script,
            &dir.display().to_string(),
            &ADDONS.to_string(),
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("{python}: {e}; run `. scripts/venv.sh` (scripts/bench.sh does)")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The first round warms Python up, as the first of ours did.
    let theirs: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().parse().ok())
        .collect();

    // The database: every addon installed, checksums stored as after an update.
    let mut db = pg.superuser("odoo");
    db.batch_execute(
        "CREATE TABLE ir_module_module (name varchar PRIMARY KEY, state varchar NOT NULL); \
         CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar UNIQUE NOT NULL, \
         value text NOT NULL, create_date timestamp, write_date timestamp); \
         CREATE TABLE res_lang (id serial PRIMARY KEY, code varchar UNIQUE, active boolean); \
         INSERT INTO res_lang (code, active) VALUES ('en_US', true); \
         ALTER TABLE ir_module_module OWNER TO odoo; ALTER TABLE ir_config_parameter OWNER TO odoo; \
         ALTER TABLE res_lang OWNER TO odoo",
    )
    .expect("module tables");
    let mut json = serde_json::Map::new();
    for (m, sum) in names.iter().zip(&sums) {
        db.execute(
            "INSERT INTO ir_module_module (name, state) VALUES ($1, 'installed')",
            &[m],
        )
        .expect("module row");
        json.insert(m.clone(), sum.clone().into());
    }
    db.execute(
        "INSERT INTO ir_config_parameter (key, value) VALUES ('module_auto_update.installed_checksums', $1)",
        &[&serde_json::Value::Object(json).to_string()],
    )
    .expect("stored checksums");
    drop(db);
    let addons_path = dir.display().to_string();
    let mut update_env: Vec<(&str, &str)> = run_only
        .iter()
        .filter(|(k, _)| *k != "MODE")
        .copied()
        .collect();
    update_env.extend([
        ("MODE", "UpdateAndRun"),
        ("ADDONS_PATH", addons_path.as_str()),
    ]);
    let run_start = start_times(main_job, run_only);
    let update_start = start_times(main_job, &update_env);
    let med = |v: &[f64]| percentile(v, 0.5);
    let mut sorted = ours.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mut theirs_sorted = theirs.clone();
    theirs_sorted.sort_by(|a, b| a.total_cmp(b));
    println!();
    println!(
        "| module checksums: {ADDONS} addons, {files} files, {:.0} MB (ms, median) | odoo-init | click-odoo-contrib | ratio | target |",
        bytes as f64 / 1e6
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| hash every addon (5 rounds each, page cache warm) | {:.1} | {:.1} | {:.1}x faster | 2x |",
        med(&sorted),
        med(&theirs_sorted),
        med(&theirs_sorted) / med(&sorted)
    );
    println!(
        "| pod start, nothing changed (UpdateAndRun) / RunOnly start, {RUNS} each | {:.1} | {:.1} (RunOnly) | +{:.1} ms | +100 ms |",
        med(&update_start),
        med(&run_start),
        med(&update_start) - med(&run_start)
    );
    fleet::fleet_costs(pg, main_job, &update_env);
}

/// Writes `ADDONS` addons shaped like Odoo's: Python models, XML views and
/// data, CSV access rules, `i18n/` with a dozen languages and a template,
/// `static/` (JavaScript, SCSS, an icon), tests. Deterministic content.
/// Returns the number of files and their bytes.
fn generate_addons(dir: &Path) -> (usize, u64) {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut text = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b"abcdefghijklmnopqrstuvwxyz _=()\n"[(seed % 32) as usize]
            })
            .collect()
    };
    let mut layout: Vec<(String, usize)> = vec![
        ("__manifest__.py".into(), 900),
        ("__init__.py".into(), 60),
        ("models/__init__.py".into(), 200),
        ("security/ir.model.access.csv".into(), 1_200),
        ("static/description/icon.png".into(), 6_000),
        ("tests/__init__.py".into(), 80),
    ];
    for k in 0..6 {
        layout.push((format!("models/model_{k}.py"), 7_000));
        layout.push((format!("views/view_{k}.xml"), 9_000));
        layout.push((format!("static/src/js/widget_{k}.js"), 8_000));
    }
    for k in 0..2 {
        layout.push((format!("data/data_{k}.xml"), 4_000));
        layout.push((format!("static/src/scss/style_{k}.scss"), 3_000));
        layout.push((format!("tests/test_{k}.py"), 5_000));
    }
    for lang in [
        "ar", "de", "es", "fr", "it", "ja", "nl", "pl", "pt_BR", "ru", "tr", "zh_CN",
    ] {
        layout.push((format!("i18n/{lang}.po"), 14_000));
    }
    layout.push(("i18n/module.pot".into(), 12_000));
    let (mut files, mut bytes) = (0, 0u64);
    for i in 0..ADDONS {
        let addon = dir.join(format!("module_{i:03}"));
        for (name, len) in &layout {
            let path = addon.join(name);
            fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            fs::write(&path, text(*len)).expect("write");
            files += 1;
            bytes += *len as u64;
        }
    }
    (files, bytes)
}

/// From spawning odoo-init (not PID 1: no namespace set-up in the figure)
/// to the stand-in's first byte.
fn start_times(argv: &[String], env: &[(&str, &str)]) -> Vec<f64> {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t0 = Instant::now();
            let (mut child, mut ack) = spawn_acked(argv, env);
            assert!(
                wait_ack(&mut ack, Duration::from_secs(10)),
                "{argv:?} did not start Odoo"
            );
            let took = t0.elapsed().as_secs_f64() * 1e3;
            signal(child.id() as i32, libc::SIGTERM);
            let _ = child.wait();
            took
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times
}

/// From the old stand-in's last byte (it is exiting) to the new one's first.
fn restart_times(argv: &[String], env: &[(&str, &str)]) -> Vec<f64> {
    let (mut child, mut ack) = spawn_acked(argv, env);
    assert!(
        wait_ack(&mut ack, Duration::from_secs(10)),
        "{argv:?} did not start Odoo"
    );
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            signal(child.id() as i32, libc::SIGHUP);
            assert!(
                wait_ack(&mut ack, Duration::from_secs(10)),
                "no SIGTERM reached Odoo"
            );
            assert!(
                wait_ack(&mut ack, Duration::from_secs(10)),
                "old Odoo did not exit"
            );
            let t0 = Instant::now();
            assert!(
                wait_ack(&mut ack, Duration::from_secs(10)),
                "new Odoo did not start"
            );
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    signal(child.id() as i32, libc::SIGTERM);
    let _ = child.wait();
    times.sort_by(|a, b| a.total_cmp(b));
    times
}

fn found(name: &'static str, args: &[&str]) -> Init {
    let binary = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    let mut prefix = vec![name.to_string()];
    prefix.extend(args.iter().map(|a| a.to_string()));
    Init {
        name,
        binary,
        prefix,
    }
}

struct Session {
    top: Child,
    init: i32,
    ack: fs::File,
}

/// Spawns `argv` with the stand-in's ack pipe; the read end is returned.
fn spawn_acked(argv: &[String], env: &[(&str, &str)]) -> (Child, fs::File) {
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
    // The write end must survive exec into the init and then the stand-in.
    nix::fcntl::fcntl(
        &write,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .expect("clear CLOEXEC");
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("STANDIN_ACK_FD", write.as_raw_fd().to_string())
        .env("STANDIN_DRAIN_MS", "0")
        .env_remove("STANDIN_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn");
    drop(write);
    (child, fs::File::from(read))
}

/// Starts `init` as PID 1 of a new PID namespace, on `cpu` if given.
fn start(init: &Init, standin: &Path, env: &[(&str, &str)], cpu: Option<usize>) -> Session {
    let mut argv: Vec<String> = match cpu {
        Some(cpu) => vec!["taskset".into(), "-c".into(), cpu.to_string()],
        None => Vec::new(),
    };
    argv.push("unshare".into());
    if !nix::unistd::geteuid().is_root() {
        argv.extend(["--user".into(), "--map-root-user".into()]);
    }
    argv.extend(["--pid".into(), "--fork".into(), "--mount-proc".into()]);
    // As a container runtime starts an init without a terminal: leader of a
    // session with no controlling terminal, whoever runs the benchmark.
    argv.push("setsid".into());
    argv.extend(init.prefix.iter().cloned());
    argv.push(standin.display().to_string());
    // Every init runs the same stand-in, without HTTP (no port to share).
    argv.push("--no-http".into());
    let (top, mut ack) = spawn_acked(&argv, env);
    assert!(
        wait_ack(&mut ack, Duration::from_secs(10)),
        "{}: stand-in did not start",
        init.name
    );
    let init_pid = children(top.id() as i32)[0];
    Session {
        top,
        init: init_pid,
        ack,
    }
}

fn wait_ack(ack: &mut fs::File, timeout: Duration) -> bool {
    let mut fds = [PollFd::new(ack.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout.as_millis() as i32).unwrap_or(PollTimeout::MAX);
    if poll(&mut fds, ms).unwrap_or(0) == 0 {
        return false;
    }
    let mut byte = [0u8; 1];
    matches!(ack.read(&mut byte), Ok(1))
}

fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn status_kb(pid: i32, field: &str) -> f64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// CPU time the process has used, in ns (schedstat: precise, unlike ticks).
fn cpu_ns(pid: i32) -> f64 {
    fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn signal(pid: i32, signo: i32) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid, signo) };
}

/// Forwarding latency, lost signals, idle wake-ups and memory, with every
/// installed init running at the same time.
fn side_by_side(inits: &[Init], standin: &Path) -> Vec<Option<Results>> {
    let mut sessions: Vec<Option<Session>> = inits
        .iter()
        .map(|init| {
            init.binary
                .as_ref()
                .map(|_| start(init, standin, &[], None))
        })
        .collect();
    let switches = |pid| {
        status_kb(pid, "voluntary_ctxt_switches:") + status_kb(pid, "nonvoluntary_ctxt_switches:")
    };
    let before: Vec<f64> = sessions
        .iter()
        .map(|s| s.as_ref().map_or(f64::NAN, |s| switches(s.init)))
        .collect();
    std::thread::sleep(IDLE); // the measurement window itself, not synchronisation
    let mut results: Vec<Option<Results>> = sessions
        .iter()
        .zip(&before)
        .map(|(s, b)| {
            s.as_ref().map(|s| Results {
                wakeups: (switches(s.init) - b) / IDLE.as_secs_f64(),
                rss_kb: status_kb(s.init, "VmRSS:"),
                anon_kb: status_kb(s.init, "RssAnon:"),
                ..Results::default()
            })
        })
        .collect();
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); sessions.len()];
    for batch in 0..BATCHES {
        // Each batch begins with another init: the first signal after a
        // switch between containers finds colder caches.
        let n = sessions.len();
        for i in (0..n).map(|k| (k + batch) % n) {
            let (Some(s), Some(r)) = (sessions[i].as_mut(), results[i].as_mut()) else {
                continue;
            };
            let mut this_batch = Vec::with_capacity(SIGNALS / BATCHES);
            for _ in 0..SIGNALS / BATCHES {
                let t0 = Instant::now();
                signal(s.init, libc::SIGUSR1);
                if wait_ack(&mut s.ack, Duration::from_secs(1)) {
                    this_batch.push(t0.elapsed().as_secs_f64() * 1e6);
                } else {
                    r.lost += 1.0;
                }
            }
            lat[i].extend_from_slice(&this_batch);
            this_batch.sort_by(|a, b| a.total_cmp(b));
            r.p50_batches.push(percentile(&this_batch, 0.50));
        }
    }
    for (i, r) in results.iter_mut().enumerate() {
        if let Some(r) = r {
            lat[i].sort_by(|a, b| a.total_cmp(b));
            r.p50_us = percentile(&lat[i], 0.50);
            r.p99_us = percentile(&lat[i], 0.99);
        }
    }
    for s in sessions.iter_mut().flatten() {
        finish(s);
    }
    results
}

/// Lets the held helper (`STANDIN_ORPHANS_HOLD`) exit and returns once it
/// has, i.e. once its orphans belong to PID 1: they are re-parented before
/// the helper turns zombie (the threaded stand-in does not reap it).
/// Also returns the orphan PID 1 reaps last: `waitpid(-1)` takes zombies in
/// the order of the children list, which keeps the helper's fork order.
fn hand_over_orphans(s: &Session) -> (Instant, i32) {
    let standin_pid = children(s.init)[0];
    let helper = children(standin_pid)[0];
    let last = children(helper)
        .last()
        .copied()
        .expect("the helper's orphans");
    signal(helper, libc::SIGUSR2);
    while fs::read_to_string(format!("/proc/{helper}/stat"))
        .map(|st| !st.contains(") Z "))
        .unwrap_or(false)
    {
        std::hint::spin_loop();
    }
    (Instant::now(), last)
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

const HOLD: (&str, &str) = ("STANDIN_ORPHANS_HOLD", "1");

/// Instructions the init runs to reap 5000 zombies, less a run with none,
/// per zombie. NaN when valgrind is not installed.
fn reap_instructions(init: &Init, standin: &Path) -> f64 {
    let Some(valgrind) = found("valgrind", &[]).binary else {
        return f64::NAN;
    };
    let count = |orphans: &str| -> f64 {
        let out =
            std::env::temp_dir().join(format!("odoo-init-bench-{}.callgrind", std::process::id()));
        let out_arg = format!("--callgrind-out-file={}", out.display());
        let wrapped = Init {
            name: init.name,
            binary: init.binary.clone(),
            prefix: [
                valgrind.display().to_string(),
                "--tool=callgrind".into(),
                "-q".into(),
                out_arg,
            ]
            .into_iter()
            .chain(init.prefix.iter().cloned())
            .collect(),
        };
        let mut s = start(
            &wrapped,
            standin,
            &[("STANDIN_ORPHANS", orphans), HOLD],
            None,
        );
        if orphans != "0" {
            assert!(wait_ack(&mut s.ack, Duration::from_secs(120)), "orphans");
            hand_over_orphans(&s);
            while children(s.init).len() > 1 {
                std::thread::sleep(Duration::from_millis(20)); // polling: this run counts, it is not timed
            }
        }
        finish(&mut s);
        let total = fs::read_to_string(&out)
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("summary: "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(f64::NAN);
        let _ = fs::remove_file(&out);
        total
    };
    let orphans: f64 = ORPHANS.parse().unwrap_or(f64::NAN);
    (count(ORPHANS) - count("0")) / orphans
}

/// Reaping and stopping, in a fresh container; the rest comes from `shared`.
fn measure(
    init: &Init,
    binary: &Path,
    standin: &Path,
    cpu: Option<usize>,
    shared: Results,
) -> Results {
    let mut r = Results {
        size_kb: fs::metadata(binary)
            .map(|m| m.len() as f64 / 1024.0)
            .unwrap_or(f64::NAN),
        ..shared
    };

    // Reaping: the helper exits, handing 5000 zombies to PID 1 at once.
    let mut s = start(init, standin, &[("STANDIN_ORPHANS", ORPHANS), HOLD], cpu);
    assert!(wait_ack(&mut s.ack, Duration::from_secs(60)), "orphans");
    let cpu0 = cpu_ns(s.init);
    let (t0, last) = hand_over_orphans(&s);
    // Probing one PID takes no lock that reaping needs (reading the children
    // list would hold the task list against every reap).
    while alive(last) {
        std::hint::spin_loop();
    }
    r.reap_ms = t0.elapsed().as_secs_f64() * 1e3;
    r.reap_cpu_ms = (cpu_ns(s.init) - cpu0) / 1e6;
    let left = children(s.init);
    assert_eq!(
        left.len(),
        1,
        "{}: the orphan reaped last went first: {left:?}",
        init.name
    );

    // SIGTERM to exit.
    let t0 = Instant::now();
    signal(s.init, libc::SIGTERM);
    let _ = s.top.wait();
    r.term_ms = t0.elapsed().as_secs_f64() * 1e3;
    r
}

/// The benchmark on one CPU, the containers on another, while it lives:
/// unpinned, where the scheduler happens to put the init and the prober
/// changes the reaping time by more than any difference between the inits.
struct Pinned {
    container: usize,
    saved: CpuSet,
}

impl Pinned {
    fn split() -> Option<Pinned> {
        let me = nix::unistd::Pid::from_raw(0);
        let saved = sched_getaffinity(me).ok()?;
        let mut allowed = (0..CpuSet::count()).filter(|&c| saved.is_set(c).unwrap_or(false));
        let (bench, container) = (allowed.next()?, allowed.next()?);
        let mut only = CpuSet::new();
        only.set(bench).ok()?;
        sched_setaffinity(me, &only).ok()?;
        Some(Pinned { container, saved })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = sched_setaffinity(nix::unistd::Pid::from_raw(0), &self.saved);
    }
}

fn finish(s: &mut Session) {
    signal(s.init, libc::SIGTERM);
    let _ = s.top.wait();
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn median(runs: &[Results], get: fn(&Results) -> f64) -> f64 {
    percentile(&sorted(runs.iter().map(get).collect()), 0.5)
}

/// How far a metric scatters between its batches or rounds: a ratio closer
/// to 1.0 than this says nothing.
fn print_spread(
    rows: &[(&str, Option<Vec<Results>>)],
    label: &str,
    parts: &str,
    values: fn(&[Results]) -> Vec<f64>,
) {
    let spreads: Vec<String> = rows
        .iter()
        .filter_map(|(name, r)| {
            let v = sorted(values(r.as_ref()?));
            let iqr = percentile(&v, 0.75) - percentile(&v, 0.25);
            Some(format!("{name} {:.0} %", 100.0 * iqr / percentile(&v, 0.5)))
        })
        .collect();
    println!();
    println!(
        "{label}: interquartile range of the {parts}, relative to their median: {}",
        spreads.join(", ")
    );
}

fn print_table(rows: &[(&str, Option<Vec<Results>>)]) {
    type Metric = (&'static str, fn(&Results) -> f64);
    let metrics: [Metric; 11] = [
        ("forward latency p50 (us)", |r| r.p50_us),
        ("forward latency p99 (us)", |r| r.p99_us),
        ("signals lost (of 600)", |r| r.lost),
        ("reap 5000 zombies (ms)", |r| r.reap_ms),
        ("reap 5000: init CPU (ms)", |r| r.reap_cpu_ms),
        ("reap: instructions/zombie", |r| r.reap_instructions),
        ("SIGTERM to exit (ms)", |r| r.term_ms),
        ("idle wake-ups per s", |r| r.wakeups),
        ("VmRSS (kB)", |r| r.rss_kb),
        ("RssAnon (kB)", |r| r.anon_kb),
        ("binary size (kB)", |r| r.size_kb),
    ];
    print!("| {:<26}", "metric");
    for (name, _) in rows {
        print!("| {name:>12} ");
    }
    println!("| odoo-init / best other |");
    print!("|{:-<27}", "");
    for _ in rows {
        print!("|{:->14}", ":");
    }
    println!("|{:->24}|", ":");
    for (label, get) in metrics {
        print!("| {label:<26}");
        for (_, r) in rows {
            match r {
                Some(r) => print!("| {:>12.1} ", median(r, get)),
                None => print!("| {:>12} ", "not inst."),
            }
        }
        let ours = rows[0]
            .1
            .as_ref()
            .map(|r| median(r, get))
            .unwrap_or(f64::NAN);
        let best = rows[1..]
            .iter()
            .filter_map(|(_, r)| r.as_ref().map(|r| median(r, get)))
            .fold(f64::NAN, f64::min);
        let ratio = if best > 0.0 {
            format!("{:.2}x", ours / best)
        } else if ours == best {
            "equal".to_string()
        } else {
            "-".to_string()
        };
        println!("| {ratio:>22} |");
    }
}
