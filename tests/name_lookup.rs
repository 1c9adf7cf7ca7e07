//! `DB_HOST` as a name: looked up by a helper process that PID 1 waits for
//! with `poll`, never on a thread. Each case runs odoo-init as PID 1 in a
//! mount namespace of its own whose `/etc/resolv.conf` (and `/etc/hosts`)
//! are the test's: a DNS server on loopback that never answers, or a hosts
//! file that names the test's PostgreSQL. Checked from outside: the process
//! table (an orphan reaped), `/proc/PID/status` (one
//! thread at every sample), the queries the DNS server got, the exit and
//! its time, the database's rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB, PASSWORD, USER};
use common::*;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the tests allow from SIGTERM to exit (the documented bound is 1 s).
const BOUND: Duration = Duration::from_secs(3);

/// A DNS server that takes every query and never answers (a bound socket
/// that is never read: no answer, and no "port unreachable" either), and
/// the files that make it the resolver of a run.
struct SilentDns {
    socket: UdpSocket,
    files: Scratch,
}

impl SilentDns {
    /// On `addr` (a loopback address of the test's own: port 53 is the
    /// only one `resolv.conf` can name), with glibc's patience set long,
    /// as the issue saw it (30 s a try, 2 tries).
    fn start(addr: &str) -> SilentDns {
        assert!(
            is_root(),
            "this test binds a DNS server to port 53 and mounts over /etc/resolv.conf: run it as root"
        );
        let socket = UdpSocket::bind((addr, 53)).expect("bind the silent DNS server");
        let files = Scratch::new("dns");
        std::fs::write(
            files.join("resolv.conf"),
            format!("nameserver {addr}\noptions timeout:30 attempts:2\n"),
        )
        .unwrap();
        std::fs::write(files.join("hosts"), "127.0.0.1 localhost\n").unwrap();
        SilentDns { socket, files }
    }

    /// Waits until a query came (read, and never answered): a lookup is
    /// under way, whoever makes it.
    fn wait_query(&self) {
        self.socket.set_read_timeout(Some(LONG)).unwrap();
        let mut query = [0u8; 512];
        self.socket
            .recv_from(&mut query)
            .expect("a DNS query within the test's patience");
    }
}

/// Runs odoo-init with `files`' `resolv.conf` and `hosts` mounted over
/// the machine's, in its own mount namespace (unshare's `--mount-proc`
/// makes one).
fn with_resolver_files<'a>(setup: Setup<'a>, files: &Scratch) -> Setup<'a> {
    require("mount", "mount");
    let mut setup = setup;
    setup.inner = vec![
        "sh".into(),
        "-c".into(),
        "mount --bind \"$0/resolv.conf\" /etc/resolv.conf && mount --bind \"$0/hosts\" /etc/hosts && exec \"$@\"".into(),
        path_str(&files.path),
    ];
    setup
}

/// Samples `/proc/PID/status`'s thread count every millisecond until
/// dropped; the largest seen and how many samples were read.
struct Threads {
    done: Arc<AtomicBool>,
    /// Samples read so far.
    taken: Arc<AtomicUsize>,
    sampler: Option<std::thread::JoinHandle<(usize, usize)>>,
}

impl Threads {
    fn watch(pid: i32) -> Threads {
        let done = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(AtomicUsize::new(0));
        let (stop, count) = (Arc::clone(&done), Arc::clone(&taken));
        let sampler = std::thread::spawn(move || {
            let (mut most, mut samples) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
                let threads = status.ok().and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("Threads:"))
                        .and_then(|n| n.trim().parse::<usize>().ok())
                });
                if let Some(n) = threads {
                    most = most.max(n);
                    samples += 1;
                    count.store(samples, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (most, samples)
        });
        Threads {
            done,
            taken,
            sampler: Some(sampler),
        }
    }

    /// Waits until more than `n` samples are read (a loaded machine may
    /// give the sampler few turns while the lookup lasts).
    fn wait_for_samples(&self, n: usize) {
        wait_until(LONG, "samples of the thread count", || {
            (self.taken.load(Ordering::Relaxed) > n).then_some(())
        });
    }

    /// The largest thread count seen, and the number of samples.
    fn most(mut self) -> (usize, usize) {
        self.done.store(true, Ordering::Relaxed);
        self.sampler.take().unwrap().join().unwrap()
    }
}

fn job_on<'a>(host: &str, port: u16) -> Setup<'a> {
    Setup::main_job("RunOnly")
        .env("DB_HOST", host)
        .env("DB_PORT", port)
        .env("DB_NAME", DB)
        .env("DB_USER", USER)
        .env("DB_PASSWORD", PASSWORD)
}

/// A lookup that gets no answer holds no stop, reaps meanwhile, and PID 1
/// stays one thread throughout.
#[test]
fn a_lookup_that_gets_no_answer_holds_no_stop_and_no_thread() {
    let dns = SilentDns::start("127.0.0.153");
    let setup = with_resolver_files(job_on("db.lookup.test", 5432), &dns.files);
    let mut run = setup.start();
    let threads = Threads::watch(run.pid);
    dns.wait_query();
    // A process of the pod's that ends meanwhile is reaped meanwhile,
    // and the wait goes on.
    end_and_see_reaped(orphan_of(&run));
    threads.wait_for_samples(10);
    assert!(run.alive(), "{}", run.stderr());
    let sent = Instant::now();
    run.signal(libc::SIGTERM);
    let code = run.wait_exit(LONG);
    let took = sent.elapsed();
    println!("SIGTERM to exit during a lookup: {took:?}");
    let (most, samples) = threads.most();
    println!("threads of PID 1: at most {most} in {samples} samples");
    assert_eq!(code, 143, "{}", run.stderr());
    assert!(took < BOUND, "{took:?}: {}", run.stderr());
    assert!(
        samples > 10,
        "too few samples of the thread count: {samples}"
    );
    assert_eq!(most, 1, "PID 1 had {most} threads at some moment");
}

/// `DB_WAIT_TIMEOUT` is the deadline of the whole wait, the name lookup
/// included (glibc alone would wait 30 s a try here).
#[test]
fn db_wait_timeout_holds_while_the_lookup_gets_no_answer() {
    let dns = SilentDns::start("127.0.0.154");
    let setup =
        with_resolver_files(job_on("db.lookup.test", 5432), &dns.files).env("DB_WAIT_TIMEOUT", "3");
    let started = Instant::now();
    let mut run = setup.start();
    let threads = Threads::watch(run.pid);
    dns.wait_query();
    let code = run.wait_exit(LONG);
    let took = started.elapsed();
    println!("DB_WAIT_TIMEOUT=3 ended after {took:?}");
    assert_eq!(code, 69, "{}", run.stderr());
    assert!(
        took < Duration::from_secs(3) + BOUND,
        "{took:?}: {}",
        run.stderr()
    );
    assert_eq!(threads.most().0, 1);
}

/// A name that resolves (here through the mounted `/etc/hosts`) reaches
/// the server, in one thread.
#[test]
fn a_name_that_resolves_reaches_the_server() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, false);
    pg.database(DB, USER);
    let files = Scratch::new("hosts");
    std::fs::write(files.join("resolv.conf"), "nameserver 127.0.0.155\n").unwrap();
    std::fs::write(files.join("hosts"), "127.0.0.1 pg.lookup.test\n").unwrap();
    let mut setup = with_resolver_files(job_on("pg.lookup.test", pg.port), &files);
    setup = setup.env("MODE", "ForceReadyState");
    let mut run = setup.start();
    let threads = Threads::watch(run.pid);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(pg.states(DB).unwrap(), ["Force Ready"]);
    assert!(threads.most().0 <= 1);
}
