//! A stand-in for `odoo-bin`, for the tests and the demo: the same command
//! line, exit codes and signal behaviour as Odoo where `odoo-init` can see
//! them (read from Odoo's `odoo/service/server.py`):
//!
//! - threaded mode (default): first SIGTERM/SIGINT stops gracefully (drain
//!   time `STANDIN_DRAIN_MS`, default 200), a second one forces the stop;
//!   SIGHUP re-executes itself (same PID); it does not reap its own children.
//! - prefork mode (`--workers N`, N > 0): a master and N workers. On SIGTERM
//!   or SIGINT the master sends SIGINT to its workers and waits for them (a
//!   second signal forces: SIGTERM to the workers); workers die at once on
//!   SIGTERM, finish their request on SIGINT; SIGTTIN adds a worker, SIGTTOU
//!   lowers the target count; SIGHUP drains the workers and re-executes.
//! - unknown options fail like Odoo's optparse: exit 2.
//! - HTTP on `--http-port` in the run phase: `/web/health` and JSON-RPC
//!   `common.version`, closed when a graceful stop begins (`http.rs`).
//!
//! Unlike Odoo, it logs and survives every other signal (Odoo would die of
//! e.g. SIGALRM), so that one run can show which signals reached it.
//!
//! Test controls, from the environment:
//!   STANDIN_LOG=FILE       append one line per event: `PID ROLE EVENT ...`
//!   STANDIN_DRAIN_MS=N     graceful drain time (threaded: the process; prefork: each worker)
//!   STANDIN_EXIT=N         exit with N right after starting
//!   STANDIN_RUN_EXIT=N     in the run phase only (not -i/-u): exit with N after starting
//!   STANDIN_KILL_SELF=N    die of signal N right after starting
//!   STANDIN_IGNORE_TERM=1  log SIGTERM/SIGINT but keep running
//!   STANDIN_ORPHANS=N      leave N orphaned grandchildren that exit at once
//!   STANDIN_ORPHANS_HOLD=1 the helper that leaves the orphans exits only on SIGUSR2
//!                          (the benchmark reads their PIDs first)
//!   STANDIN_LINGER_MS=N    leave one orphan that takes N ms to exit after SIGTERM
//!   STANDIN_NO_WEB=1, STANDIN_HTTP_STALL=PATH: see http.rs
//!   STANDIN_SERIES=N       the Odoo series it plays (15 to 18; 17): `--version`,
//!                          base's `latest_version`, whether `neutralize` exists
//!   STANDIN_ACK_FD=N       write one byte to fd N at start, per signal received, when
//!                          the orphans are left, and at the end of the run phase
//!                          (for the benchmark; no logging then)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult};
use odoo_init::pid1::signals::{self, Signals};

mod db;
mod http;

/// Options of odoo-bin that take a value (a subset large enough for deployments).
const VALUE_OPTIONS: &[&str] = &[
    "-c",
    "--config",
    "-d",
    "--database",
    "-i",
    "--init",
    "-u",
    "--update",
    "--load",
    "--workers",
    "-p",
    "--http-port",
    "--http-interface",
    "--db_host",
    "--db_port",
    "-r",
    "--db_user",
    "-w",
    "--db_password",
    "--db_sslmode",
    "--db-filter",
    "--log-level",
    "--logfile",
    "--max-cron-threads",
    "--limit-time-real",
    "--limit-time-cpu",
    "--limit-memory-soft",
    "--limit-memory-hard",
    "--dev",
    "--addons-path",
    "--upgrade-path",
    "-D",
    "--data-dir",
    "--gevent-port",
    "--log-handler",
    "--db_maxconn",
    "--limit-request",
    "--without-demo",
    "--pre-upgrade-scripts",
    "--db-template",
    "--pg_path",
    "--db_replica_host",
    "--db_replica_port",
    "--log-db",
    "--log-db-level",
    "--smtp-server",
    "--smtp-port",
    "--smtp-user",
    "--smtp-password",
    "--load-language",
    "-l",
    "--language",
];
const FLAG_OPTIONS: &[&str] = &[
    "--stop-after-init",
    "--no-database-list",
    "--proxy-mode",
    "--no-http",
    "--unaccent",
    "--x-sendfile",
    "-s",
    "--save",
    "--syslog",
    "--log-web",
    "--log-sql",
    "--log-request",
    "--log-response",
];

struct Options {
    workers: u32,
    stop_after_init: bool,
    db: db::DbOptions,
    http: http::HttpOptions,
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // `odoo-bin shell [options]`: Odoo's subcommand comes first.
    if args.first().is_some_and(|a| a == "shell") {
        std::process::exit(shell(&args[1..]));
    }
    // `odoo-bin neutralize` (Odoo 16+); Odoo 15 knows no such command.
    if args.first().is_some_and(|a| a == "neutralize") {
        if db::series() < 16 {
            eprintln!("Unknown command 'neutralize'");
            std::process::exit(1);
        }
        std::process::exit(neutralize(&args[1..]));
    }
    // What odoo-bin does without a database: its version, its help, a
    // new module's skeleton.
    match args.first().and_then(|a| a.to_str()) {
        Some("--version") => {
            println!("Odoo Server {}.0", db::series());
            std::process::exit(0);
        }
        Some("-h" | "--help") => {
            println!("Usage: odoo-bin [options]");
            std::process::exit(0);
        }
        Some("scaffold") => std::process::exit(scaffold(&args[1..])),
        _ => {}
    }
    let mut opts = match parse(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("Usage: odoo-bin [options]\n\nodoo-bin: error: {msg}");
            std::process::exit(2);
        }
    };
    if let Some(signo) = env_num("STANDIN_KILL_SELF") {
        let _ = signals::send(std::process::id() as i32, signo as i32);
    }
    let signals = match Signals::take_over() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("standin-odoo: cannot set up signals: {e}");
            std::process::exit(1);
        }
    };
    let role = if opts.workers > 0 { "master" } else { "server" };
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    event(role, &format!("start argv={}", shown.join(" ")));
    ack();
    leave_orphans();
    if let Some(code) = env_num("STANDIN_EXIT") {
        event(role, &format!("exit {code}"));
        std::process::exit(code as i32);
    }
    if opts.db.install.is_some() || opts.db.update.is_some() {
        apply_odoo_rc(&mut opts.db);
        let code = match db::run(&opts.db, &signals) {
            db::Outcome::Done(what) => {
                event(role, &what);
                0
            }
            db::Outcome::Failed(why) => {
                eprintln!("{why}");
                event(role, &format!("failed: {why}"));
                1
            }
        };
        if code != 0 || opts.stop_after_init {
            event(role, &format!("exit {code}"));
            std::process::exit(code);
        }
    }
    if opts.stop_after_init {
        event(role, "exit 0");
        std::process::exit(0);
    }
    if let Some(code) = env_num("STANDIN_RUN_EXIT") {
        event(role, &format!("exit {code}"));
        std::process::exit(code as i32);
    }
    apply_http_rc(&mut opts);
    let listener = http::listen(&opts.http, role);
    let code = if opts.workers > 0 {
        prefork(&signals, opts.workers, &args, listener.as_ref())
    } else {
        threaded(&signals, &args, listener.as_ref())
    };
    event(role, &format!("exit {code}"));
    ack();
    std::process::exit(code);
}

fn parse(args: &[OsString]) -> Result<Options, String> {
    let mut opts = Options {
        workers: 0,
        stop_after_init: false,
        db: db::DbOptions::default(),
        http: http::HttpOptions::default(),
    };
    let mut iter = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = iter.next() {
        // optparse's spellings: `--name=value`, and `-xVALUE` for a short option.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ if !arg.starts_with("--")
                && arg.len() > 2
                && VALUE_OPTIONS.contains(&arg.get(..2).unwrap_or("")) =>
            {
                (arg[..2].to_string(), Some(arg[2..].to_string()))
            }
            _ => (arg.clone(), None),
        };
        if VALUE_OPTIONS.contains(&name.as_str()) {
            let value = match inline {
                Some(v) => v,
                None => iter
                    .next()
                    .ok_or(format!("{name} option requires 1 argument"))?,
            };
            let slot = match name.as_str() {
                "-d" | "--database" => Some(&mut opts.db.database),
                "-i" | "--init" => Some(&mut opts.db.install),
                "-u" | "--update" => Some(&mut opts.db.update),
                "--db_host" => Some(&mut opts.db.host),
                "--db_port" => Some(&mut opts.db.port),
                "-r" | "--db_user" => Some(&mut opts.db.user),
                "-w" | "--db_password" => Some(&mut opts.db.password),
                "--db_sslmode" => Some(&mut opts.db.sslmode),
                "-c" | "--config" => Some(&mut opts.db.config),
                "--addons-path" => Some(&mut opts.db.addons_path),
                "-D" | "--data-dir" => Some(&mut opts.db.data_dir),
                "--without-demo" => Some(&mut opts.db.without_demo),
                _ => None,
            };
            let slot = slot.or(match name.as_str() {
                "-p" | "--http-port" => Some(&mut opts.http.port),
                "--http-interface" => Some(&mut opts.http.interface),
                _ => None,
            });
            if let Some(slot) = slot {
                *slot = Some(value.clone());
            }
            if name == "--workers" {
                opts.workers = value
                    .parse()
                    .map_err(|_| format!("option --workers: invalid integer value: '{value}'"))?;
            }
        } else if FLAG_OPTIONS.contains(&name.as_str()) {
            opts.stop_after_init |= name == "--stop-after-init";
            opts.http.disabled |= name == "--no-http";
        } else {
            return Err(format!("no such option: {name}"));
        }
    }
    Ok(opts)
}

/// `odoo-bin shell -d DB [options]`: reads its script from standard input
/// and runs it against the database, its output on standard output, as
/// Odoo's shell does (Odoo's runs Python with `env` bound; the stand-in
/// runs the script's SQL through psql, reaching the database as Odoo would:
/// its options, else its config file, else libpq's environment).
/// `odoo-bin scaffold NAME [DIR]`: `DIR/NAME` with a manifest and an
/// `__init__.py`, as Odoo's default template starts one.
fn scaffold(args: &[OsString]) -> i32 {
    let Some(name) = args.first() else {
        eprintln!("usage: odoo-bin scaffold [-h] [-t TEMPLATE] name [dest]");
        return 2;
    };
    let dest = args
        .get(1)
        .map_or_else(|| std::path::PathBuf::from("."), std::path::PathBuf::from);
    let module = dest.join(name);
    let made = std::fs::create_dir_all(&module)
        .and_then(|()| std::fs::write(module.join("__init__.py"), ""))
        .and_then(|()| {
            let manifest = format!(
                "{{'name': {:?}, 'depends': ['base']}}\n",
                name.to_string_lossy()
            );
            std::fs::write(module.join("__manifest__.py"), manifest)
        });
    match made {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("scaffold: {e}");
            1
        }
    }
}

/// `odoo-bin neutralize -d DB [options]` (Odoo 16+): what Odoo's
/// neutralize does where odoo-init can see it: the crons stopped and
/// `database.is_neutralized` set, in one transaction.
fn neutralize(args: &[OsString]) -> i32 {
    let mut opts = match parse(args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("Usage: odoo-bin neutralize [options]\n\nodoo-bin: error: {msg}");
            return 2;
        }
    };
    apply_odoo_rc(&mut opts.db);
    let Some(database) = opts.db.database.clone() else {
        eprintln!("Neutralize command needs a database name. Use \"-d\" argument");
        return 1;
    };
    event("neutralize", &format!("start -d {database}"));
    let sql = "BEGIN;\n\
        INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'True') \
        ON CONFLICT (key) DO UPDATE SET value = 'True';\n\
        DO $$ BEGIN IF to_regclass('ir_cron') IS NOT NULL THEN UPDATE ir_cron SET active = false; END IF; END $$;\n\
        COMMIT;";
    match db::psql(&opts.db, &database, sql) {
        Ok(_) => {
            event("neutralize", "exit 0");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn shell(args: &[OsString]) -> i32 {
    let mut opts = match parse(args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("Usage: odoo-bin shell [options]\n\nodoo-bin: error: {msg}");
            return 2;
        }
    };
    apply_odoo_rc(&mut opts.db);
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    event("shell", &format!("start argv={}", shown.join(" ")));
    let mut script = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut script) {
        eprintln!("standin-odoo shell: reading standard input: {e}");
        return 1;
    }
    let Some(database) = opts.db.database.clone() else {
        eprintln!("standin-odoo shell: no database (-d)");
        return 1;
    };
    match db::psql(&opts.db, &database, &script) {
        Ok(out) => {
            print!("{out}");
            event("shell", "exit 0");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn threaded(signals: &Signals, args: &[OsString], listener: Option<&TcpListener>) -> i32 {
    if let Some(l) = listener {
        http::serve_in_background(l);
    }
    let ignore_term = std::env::var("STANDIN_IGNORE_TERM").is_ok_and(|v| v == "1");
    let mut draining_until: Option<Instant> = None;
    loop {
        let Some(sig) = signals.wait(draining_until) else {
            return 0; // graceful stop finished
        };
        log_signal("server", &sig);
        ack();
        match sig.signo {
            libc::SIGTERM | libc::SIGINT if ignore_term => {}
            libc::SIGTERM | libc::SIGINT => match draining_until {
                None => {
                    // Odoo shuts its HTTP server down first, then drains.
                    http::close(listener);
                    draining_until = Some(Instant::now() + drain_time());
                }
                Some(_) => {
                    event("server", "forced shutdown");
                    return 0;
                }
            },
            libc::SIGHUP => reexec("server", args),
            // Odoo's threaded server leaves its children to init.
            _ => {}
        }
    }
}

fn prefork(
    signals: &Signals,
    population: u32,
    args: &[OsString],
    listener: Option<&TcpListener>,
) -> i32 {
    let mut population = population;
    let mut workers: BTreeSet<i32> = BTreeSet::new();
    let mut stopping = false;
    let mut phoenix = false;
    loop {
        if !stopping {
            while workers.len() < population as usize {
                workers.insert(spawn_worker(signals, listener));
            }
        } else if workers.is_empty() {
            if phoenix {
                reexec("master", args);
            }
            return 0;
        }
        let Some(sig) = signals.wait(None) else {
            continue;
        };
        if sig.signo != libc::SIGCHLD {
            log_signal("master", &sig);
        }
        match sig.signo {
            libc::SIGCHLD => reap_workers(&mut workers),
            libc::SIGTERM | libc::SIGINT | libc::SIGHUP if !stopping => {
                stopping = true;
                phoenix = sig.signo == libc::SIGHUP;
                event("master", "stopping workers gracefully");
                http::close(listener);
                for &w in &workers {
                    let _ = signals::send(w, libc::SIGINT);
                }
            }
            libc::SIGTERM | libc::SIGINT => {
                event("master", "forced shutdown");
                for &w in &workers {
                    let _ = signals::send(w, libc::SIGTERM);
                }
                return 0;
            }
            libc::SIGTTIN => population += 1,
            libc::SIGTTOU => population = population.saturating_sub(1).max(1),
            _ => {}
        }
    }
}

fn reap_workers(workers: &mut BTreeSet<i32>) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                workers.remove(&pid.as_raw());
                event("master", &format!("worker-exit {pid} status {code}"));
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                workers.remove(&pid.as_raw());
                event(
                    "master",
                    &format!("worker-exit {pid} signal {}", sig.as_str()),
                );
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn spawn_worker(signals: &Signals, listener: Option<&TcpListener>) -> i32 {
    // SAFETY: the master is single-threaded (it never serves HTTP itself),
    // so the child may go on running Rust code.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => child.as_raw(),
        Ok(ForkResult::Child) => std::process::exit(worker(signals, listener)),
        Err(e) => {
            eprintln!("standin-odoo: fork failed: {e}");
            std::process::exit(1);
        }
    }
}

/// Odoo's worker: SIGTERM at its default (instant death), SIGINT finishes the
/// current request and exits.
fn worker(signals: &Signals, listener: Option<&TcpListener>) -> i32 {
    let defaults = [
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGCHLD,
        libc::SIGTTIN,
        libc::SIGTTOU,
    ];
    if signals::set_mask(libc::SIG_UNBLOCK, &defaults).is_err() {
        return 1;
    }
    event("worker", "start");
    if let Some(l) = listener {
        http::serve_in_background(l);
    }
    let mut until = None;
    loop {
        match signals.wait(until) {
            None => return 0,
            Some(sig) => {
                log_signal("worker", &sig);
                if sig.signo == libc::SIGINT && until.is_none() {
                    until = Some(Instant::now() + drain_time());
                }
            }
        }
    }
}

fn reexec(role: &str, args: &[OsString]) -> ! {
    event(role, "reexec");
    let err = Command::new("/proc/self/exe").args(args).exec();
    eprintln!("standin-odoo: re-exec failed: {err}");
    std::process::exit(1);
}

/// A helper child that forks the orphans and exits at once, so that they
/// are re-parented to init.
fn leave_orphans() {
    let quick = env_num("STANDIN_ORPHANS").unwrap_or(0);
    let linger = env_num("STANDIN_LINGER_MS");
    if quick == 0 && linger.is_none() {
        return;
    }
    // SAFETY: single-threaded; the helper only forks and exits.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {}
        Ok(ForkResult::Child) => {
            for _ in 0..quick {
                // SAFETY: as above; the grandchild exits at once.
                if let Ok(ForkResult::Child) = unsafe { fork() } {
                    // SAFETY: _exit skips Rust's atexit work, which the fork copied.
                    unsafe { libc::_exit(0) }
                }
            }
            if let Some(ms) = linger {
                // SAFETY: as above.
                if let Ok(ForkResult::Child) = unsafe { fork() } {
                    linger_until_term(Duration::from_millis(ms));
                }
            }
            event("helper", &format!("left {quick} orphans"));
            ack();
            if env_num("STANDIN_ORPHANS_HOLD") == Some(1) {
                wait_for(libc::SIGUSR2);
            }
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        Err(e) => eprintln!("standin-odoo: fork failed: {e}"),
    }
}

fn linger_until_term(grace: Duration) -> ! {
    event("linger", "start");
    wait_for(libc::SIGTERM);
    event(
        "linger",
        &format!("got SIGTERM, exiting in {}ms", grace.as_millis()),
    );
    std::thread::sleep(grace); // simulates the work it must finish, not synchronisation
    event("linger", "exit");
    std::process::exit(0);
}

/// In a forked helper: the mask inherited from the stand-in blocks
/// everything, so the signal is taken synchronously.
fn wait_for(signo: i32) {
    let signals = match Signals::take_over() {
        Ok(s) => s,
        Err(_) => std::process::exit(1),
    };
    while let Some(sig) = signals.wait(None) {
        if sig.signo == signo {
            return;
        }
    }
}

/// Odoo reads its config file (`-c`, else `ODOO_RC`) for what the command
/// line does not give: `db_*`, `addons_path`, `without_demo`.
fn apply_odoo_rc(opts: &mut db::DbOptions) {
    let Some(rc) = config_file(&opts.config) else {
        return;
    };
    for (key, slot) in [
        ("db_host", &mut opts.host),
        ("db_port", &mut opts.port),
        ("db_user", &mut opts.user),
        ("db_password", &mut opts.password),
        ("db_sslmode", &mut opts.sslmode),
        ("addons_path", &mut opts.addons_path),
        ("data_dir", &mut opts.data_dir),
    ] {
        if slot.is_none() {
            *slot = odoo_init::odoo::rc::value(&rc, key).cloned();
        }
    }
    // The file's `False` means "load demo data", as Odoo reads it there.
    if opts.without_demo.is_none() {
        opts.without_demo = rc
            .get("without_demo")
            .filter(|v| !v.eq_ignore_ascii_case("false"))
            .cloned();
    }
}

/// Odoo reads `http_port`, `http_interface` and `http_enable` from its
/// config file when the command line does not give them.
fn apply_http_rc(opts: &mut Options) {
    let Some(rc) = config_file(&opts.db.config) else {
        return;
    };
    let http = &mut opts.http;
    if http.port.is_none() {
        http.port = odoo_init::odoo::rc::value(&rc, "http_port").cloned();
    }
    if http.interface.is_none() {
        http.interface = odoo_init::odoo::rc::value(&rc, "http_interface").cloned();
    }
    http.disabled |= rc
        .get("http_enable")
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
}

/// Odoo's config file (`-c`, else `ODOO_RC`), if there is one to read.
fn config_file(option: &Option<String>) -> Option<std::collections::HashMap<String, String>> {
    let path = option
        .clone()
        .map(OsString::from)
        .or_else(|| std::env::var_os("ODOO_RC"))?;
    odoo_init::odoo::rc::read(std::path::Path::new(&path)).ok()
}

fn drain_time() -> Duration {
    Duration::from_millis(env_num("STANDIN_DRAIN_MS").unwrap_or(200))
}

pub(crate) fn env_num(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

pub(crate) fn log_signal(role: &str, sig: &signals::Received) {
    event(
        role,
        &format!("signal {} from {}", signals::name(sig.signo), sig.sender),
    );
}

/// Tells the benchmark, through an inherited pipe, that something happened.
fn ack() {
    if let Some(fd) = env_num("STANDIN_ACK_FD") {
        // SAFETY: writes one byte from a live buffer to an fd the benchmark handed down.
        unsafe { libc::write(fd as i32, b"!".as_ptr().cast(), 1) };
    }
}

/// Appends one event line to STANDIN_LOG in a single write (atomic between processes).
pub(crate) fn event(role: &str, what: &str) {
    let line = format!("{} {role} {what}\n", std::process::id());
    let Ok(path) = std::env::var("STANDIN_LOG") else {
        if std::env::var_os("STANDIN_ACK_FD").is_none() {
            eprint!("standin-odoo: {line}");
        }
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
