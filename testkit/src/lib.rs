//! Test harness: real processes, `odoo-init` really PID 1 in a fresh PID
//! namespace, the stand-in Odoo as its child. Waits are on conditions
//! (a log line, a process state), never fixed sleeps.

/// The client the tests read the server with (odoo-init itself drives tokio-postgres).
pub use postgres;

pub mod addons;
pub mod docker;
pub mod many;
pub mod pg;
pub mod tls;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const LONG: Duration = Duration::from_secs(30);

/// The odoo-init under test: `ODOO_INIT_BIN` when set (scripts/test.sh runs
/// the PID-1, gate and hardening tests again against the release binary,
/// built as the Dockerfile builds it), else the one `cargo test` built.
pub fn odoo_init() -> PathBuf {
    match std::env::var_os("ODOO_INIT_BIN") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "ODOO_INIT_BIN={} is not a file",
                path.display()
            );
            path
        }
        None => built("odoo-init"),
    }
}

/// A program cargo built beside the test or benchmark running now
/// (`target/TRIPLE/PROFILE/NAME`; the test itself is in `deps/`).
fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test binary lives in target/.../deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: cargo builds it for the package's own tests",
        path.display()
    );
    path
}

/// The stand-in Odoo, built by `cargo build --examples` beside the test build.
pub fn standin() -> PathBuf {
    let path = built("odoo-init")
        .parent()
        .expect("binary has a directory")
        .join("examples/standin-odoo");
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --examples` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The PID of a host process as its own PID namespace sees it (a
/// container's PID 1 is 1 there).
pub fn ns_pid(host_pid: i32) -> i32 {
    let status = fs::read_to_string(format!("/proc/{host_pid}/status")).expect("/proc/PID/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .expect("an NSpid line");
    line.split_whitespace()
        .last()
        .and_then(|p| p.parse().ok())
        .expect("a PID")
}

/// Reads a terminal's master on a thread of its own (read it, or the log
/// lines fill it up) until odoo-init says it exits; what it showed.
pub fn screen_of(master: &fs::File) -> std::thread::JoinHandle<String> {
    use std::io::Read;
    let mut reader = master.try_clone().expect("dup master");
    std::thread::spawn(move || {
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
    })
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Fails loudly, saying how to install, when a needed command is missing.
pub fn require(command: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(command).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{command}` is needed by this test: apt-get install {package}"
    );
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A private scratch directory, removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        Scratch::under(&std::env::temp_dir(), name)
    }

    /// A scratch directory in `base` (another file system than the temporary directory's, say).
    pub fn under(base: &Path, name: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = base.join(format!(
            "odoo-init-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Polls `probe` until it returns Some, or panics after `timeout` with `what`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < until,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    pub comm: String,
    /// Process group and session IDs (host view).
    pub pgrp: i32,
    pub session: i32,
}

pub fn proc_info(pid: i32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let mut rest = stat[close + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    let session = rest.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        state,
        comm,
        pgrp,
        session,
    })
}

pub fn all_procs() -> Vec<Proc> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter_map(proc_info)
                .collect()
        })
        .unwrap_or_default()
}

/// Every process below `root` (host PIDs), not including it.
pub fn descendants(root: i32) -> Vec<Proc> {
    let procs = all_procs();
    let mut found: Vec<Proc> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in procs.iter().filter(|p| p.ppid == parent) {
            frontier.push(p.pid);
            found.push(p.clone());
        }
    }
    found
}

/// How many established TCP connections to `port` on this host the
/// processes of the tree at `root` hold now (their sockets' inodes found in
/// `/proc/net/tcp` and `tcp6`), read from outside.
pub fn connections_to(port: u16, root: i32) -> usize {
    let mut inodes = std::collections::HashSet::new();
    let pids = std::iter::once(root).chain(descendants(root).into_iter().map(|p| p.pid));
    for pid in pids {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let target = fs::read_link(fd.path()).unwrap_or_default();
            let text = target.to_string_lossy();
            if let Some(inode) = text
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    let remote = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .flat_map(|text| text.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // rem_address, st (01: established), inode.
            cols.len() > 9
                && cols[2].ends_with(&remote)
                && cols[3] == "01"
                && inodes.contains(cols[9])
        })
        .count()
}

pub fn send(pid: i32, signo: i32) {
    // SAFETY: kill has no memory effects.
    let rc = unsafe { libc::kill(pid, signo) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signo}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// Exit code as a shell reports it (128+N for a signal).
pub fn code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// One run of `odoo-init` (PID 1 in its own namespace, or a plain child).
pub struct Run {
    pub scratch: Scratch,
    child: Option<Child>,
    /// Host PID of odoo-init itself.
    pub pid: i32,
    pub events: PathBuf,
    pub stderr: PathBuf,
    pub stdout: PathBuf,
    pub runtime_dir: PathBuf,
    pub exit_code: Option<i32>,
}

/// Makes stdin, stdout and stderr for the wrapped command.
pub type MakeStdio = dyn Fn() -> (Stdio, Stdio, Stdio);

pub struct Setup<'a> {
    pub args: Vec<String>,
    pub env: Vec<(&'a str, String)>,
    pub pid1: bool,
    /// Runs inside the namespace and execs odoo-init (e.g. `setsid --ctty`,
    /// which makes it a session leader owning the terminal, as runc does).
    pub inner: Vec<String>,
    pub stdio: Option<Box<MakeStdio>>,
}

impl<'a> Setup<'a> {
    /// `odoo-init supervise -- standin-odoo ARGS` as PID 1.
    pub fn standin(args: &[&str]) -> Setup<'a> {
        let mut all = vec![
            "supervise".to_string(),
            "--".to_string(),
            standin().display().to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        Setup {
            args: all,
            env: Vec::new(),
            pid1: true,
            inner: Vec::new(),
            stdio: None,
        }
    }

    /// The main job (`odoo-init` with `MODE`), Odoo being the stand-in.
    pub fn main_job(mode: &str) -> Setup<'a> {
        let mut s = Setup::standin(&[]);
        s.args = Vec::new();
        s.env("MODE", mode).env("ODOO_BIN", standin().display())
    }

    pub fn command(argv: &[&str]) -> Setup<'a> {
        let mut s = Setup::standin(&[]);
        s.args = vec!["supervise".into(), "--".into()];
        s.args.extend(argv.iter().map(|a| a.to_string()));
        s
    }

    pub fn env(mut self, key: &'a str, value: impl ToString) -> Self {
        self.env.push((key, value.to_string()));
        self
    }

    pub fn not_pid1(mut self) -> Self {
        self.pid1 = false;
        self
    }

    pub fn start(self) -> Run {
        let scratch = Scratch::new("run");
        let events = scratch.join("events.log");
        let stderr = scratch.join("stderr.log");
        let stdout = scratch.join("stdout.log");
        // The test's own, unless it shares one between runs.
        let runtime_dir = self
            .env
            .iter()
            .find(|(k, _)| *k == "ODOO_INIT_RUNTIME_DIR")
            .map_or_else(|| scratch.join("runtime"), |(_, v)| PathBuf::from(v));
        let mut argv: Vec<String> = Vec::new();
        if self.pid1 {
            require("unshare", "util-linux");
            argv.push("unshare".into());
            if !is_root() {
                argv.extend(["--user".into(), "--map-root-user".into()]);
            }
            argv.extend(["--pid".into(), "--fork".into(), "--mount-proc".into()]);
        }
        argv.extend(self.inner.iter().cloned());
        argv.push(odoo_init().display().to_string());
        argv.extend(self.args.iter().cloned());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env("STANDIN_LOG", &events)
            .env("ODOO_INIT_RUNTIME_DIR", &runtime_dir)
            .env("STANDIN_DRAIN_MS", "100")
            .env_remove("ON_EXIT")
            .env_remove("STOP_TIMEOUT")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env_remove("PGUSER")
            .env_remove("PGDATABASE")
            .env_remove("PGPASSWORD")
            .env_remove("ODOO_RC")
            // The official image's names: a developer's shell may have them.
            .env_remove("HOST")
            .env_remove("PORT")
            .env_remove("USER")
            .env_remove("PASSWORD")
            .env_remove("PASSWORD_FILE");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        match &self.stdio {
            Some(make) => {
                let (i, o, e) = make();
                cmd.stdin(i).stdout(o).stderr(e);
            }
            None => {
                cmd.stdin(Stdio::null())
                    .stdout(fs::File::create(&stdout).expect("stdout file"))
                    .stderr(fs::File::create(&stderr).expect("stderr file"));
            }
        }
        let mut child = cmd.spawn().expect("spawn odoo-init");
        let top = child.id() as i32;
        // odoo-init is the spawned process itself, or the first process
        // below unshare whose name is odoo-init;
        // a short run may be over before it is seen (then its PID is 0).
        let pid = wait_until(LONG, "odoo-init to start", || {
            if proc_info(top).is_some_and(|p| p.comm == "odoo-init") {
                return Some(top);
            }
            let found = descendants(top)
                .into_iter()
                .find(|p| p.comm == "odoo-init")
                .map(|p| p.pid);
            match child.try_wait() {
                Ok(Some(_)) => Some(found.unwrap_or(0)),
                _ => found,
            }
        });
        Run {
            scratch,
            child: Some(child),
            pid,
            events,
            stderr,
            stdout,
            runtime_dir,
            exit_code: None,
        }
    }
}

impl Run {
    /// The databases this run's Odoo updated (`-d DB -u ...`), in order.
    pub fn updated_databases(&self) -> Vec<String> {
        self.starts()
            .iter()
            .filter(|s| s.argv.contains(" -u "))
            .filter_map(|s| {
                let words: Vec<&str> = s.argv.split(' ').collect();
                let at = words.iter().position(|w| *w == "-d")?;
                words.get(at + 1).map(|d| d.to_string())
            })
            .collect()
    }

    pub fn events(&self) -> Vec<String> {
        fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits until the stand-in's event log satisfies `pred`; returns the lines.
    pub fn wait_events(&self, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        wait_until(LONG, what, || {
            let ev = self.events();
            if pred(&ev) {
                Some(ev)
            } else {
                self.assert_running(what);
                None
            }
        })
    }

    /// The stand-in's starts so far.
    pub fn starts(&self) -> Vec<Start> {
        starts(&self.events())
    }

    /// Lines of the event log that contain every one of `parts`.
    pub fn count(&self, parts: &[&str]) -> usize {
        count_in(&self.events(), parts)
    }

    pub fn wait_stderr(&self, needle: &str) {
        wait_until(LONG, &format!("odoo-init to log {needle:?}"), || {
            self.stderr().contains(needle).then_some(())
        });
    }

    fn assert_running(&self, what: &str) {
        if proc_info(self.pid).is_none() {
            panic!(
                "odoo-init ended while waiting for {what}\nstderr:\n{}\nevents:\n{}",
                self.stderr(),
                self.events().join("\n")
            );
        }
    }

    pub fn signal(&self, signo: i32) {
        send(self.pid, signo);
    }

    pub fn alive(&mut self) -> bool {
        self.exit_code.is_none()
            && self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for odoo-init (through its wrappers) to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        if let Some(code) = self.exit_code {
            return code;
        }
        let mut child = self.child.take().expect("child handle");
        let until = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!(
                    "odoo-init did not exit within {timeout:?}\nstderr:\n{}\nevents:\n{}",
                    self.stderr(),
                    self.events().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let code = code_of(status);
        self.exit_code = Some(code);
        code
    }

    /// Processes below odoo-init: the namespace, as odoo-init is its PID 1.
    pub fn procs(&self) -> Vec<Proc> {
        descendants(self.pid)
    }

    /// odoo-init and its only child, as `ps` would show them.
    pub fn init_and_child(&self) -> (Proc, Proc) {
        let procs = self.procs();
        match (proc_info(self.pid), procs.as_slice()) {
            (Some(init), [child]) => (init, child.clone()),
            _ => panic!("odoo-init and one child expected: {procs:?}"),
        }
    }

    pub fn zombies(&self) -> Vec<Proc> {
        self.procs()
            .into_iter()
            .filter(|p| p.state == 'Z')
            .collect()
    }

    /// This odoo-init's own directory in the runtime directory (`PID-START`).
    pub fn instance_dir(&self) -> PathBuf {
        wait_until(LONG, "odoo-init's runtime directory", || {
            let dirs: Vec<PathBuf> = fs::read_dir(&self.runtime_dir)
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            match dirs.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            }
        })
    }

    pub fn restart_cmd(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["restart".to_string(), "--pid".into(), self.pid.to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        Command::new(odoo_init())
            .args(&all)
            .env("ODOO_INIT_RUNTIME_DIR", &self.runtime_dir)
            .output()
            .expect("run odoo-init restart")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                // Ends only what this test started: odoo-init, and with it its namespace.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(self.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// One start of the stand-in, as its event log says it: `PID ROLE start argv=ARGS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// Its PID, as the stand-in saw it.
    pub pid: String,
    /// `master` for Odoo itself, or the stand-in's other roles.
    pub role: String,
    /// Its arguments, as one line.
    pub argv: String,
}

impl Start {
    /// A start of the run phase (not an install, update or other one-off).
    pub fn is_run_phase(&self) -> bool {
        !self.argv.contains("--stop-after-init")
    }
}

/// The stand-in's starts in the event log `lines`, in order.
pub fn starts(lines: &[String]) -> Vec<Start> {
    lines
        .iter()
        .filter_map(|l| {
            let (head, argv) = l.split_once(" start argv=")?;
            let (pid, role) = head.split_once(' ')?;
            Some(Start {
                pid: pid.to_string(),
                role: role.to_string(),
                argv: argv.to_string(),
            })
        })
        .collect()
}

/// Whether Odoo's run phase has started (the stand-in without `--stop-after-init`).
pub fn in_run_phase(run: &Run) -> bool {
    run.starts().iter().any(Start::is_run_phase)
}

pub fn count_in(lines: &[String], parts: &[&str]) -> usize {
    lines
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

/// PIDs (as the stand-in saw them) of lines with `event`, in order.
pub fn pids_of(lines: &[String], event: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(event))
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// Counts, from the process table, the install/update processes (`-i`/`-u`
/// with `--stop-after-init`, started by an odoo-init) whose environment
/// carries `MARK=value`, every few milliseconds on a thread of its own,
/// until stopped: the most that ran at one moment. Only direct children of
/// an odoo-init count: a process the step forks (its `psql`) carries the
/// step's command line until it execs, and is not a second step.
pub struct StepSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Sampled>>,
}

/// What a [`StepSampler`] saw.
#[derive(Debug, Default)]
pub struct Sampled {
    pub most: usize,
    pub samples: usize,
    /// The processes of the sample with the most steps, for the failure message.
    pub busiest: Vec<Proc>,
}

impl StepSampler {
    pub const VARIABLE: &'static str = "TEST_MARK";

    /// The value for `VARIABLE`: `name` and this test process's PID, so that
    /// pods of another run (another test binary, or one left by a killed
    /// run) never count.
    pub fn mark(name: &str) -> String {
        format!("{name}-{}", std::process::id())
    }

    pub fn start(mark: &str) -> StepSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let needle = format!("{}={}", Self::VARIABLE, Self::mark(mark)).into_bytes();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Sampled::default();
            while !flag.load(Ordering::SeqCst) {
                let procs = all_procs();
                // A stopped (frozen) step does nothing; only running ones count.
                let steps: Vec<Proc> = procs
                    .iter()
                    .filter(|p| !matches!(p.state, 'T' | 't' | 'Z'))
                    .filter(|p| is_step(p.pid, &needle))
                    .filter(|p| {
                        procs
                            .iter()
                            .any(|q| q.pid == p.ppid && q.comm == "odoo-init")
                    })
                    .cloned()
                    .collect();
                if steps.len() > seen.most {
                    seen.most = steps.len();
                    seen.busiest = steps;
                }
                seen.samples += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        });
        StepSampler {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Sampled {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .expect("the sampler thread")
    }
}

fn is_step(pid: i32, needle: &[u8]) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let step = args.contains(&&b"--stop-after-init"[..])
        && (args.contains(&&b"-u"[..]) || args.contains(&&b"-i"[..]));
    step && fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle))
}

/// A process of `run`'s PID namespace whose parent ended, so that it is
/// re-parented to odoo-init there (a shell entered into the namespace
/// starts it and exits): its host PID, once it is odoo-init's child.
pub fn orphan_of(run: &Run) -> i32 {
    require("nsenter", "util-linux");
    let mut enter = Command::new("nsenter");
    enter.arg("--target").arg(run.pid.to_string());
    if !is_root() {
        enter.args(["--user", "--preserve-credentials"]);
    }
    let status = enter
        .args(["--pid", "--", "sh", "-c", "sleep 600 & exit 0"])
        .status()
        .unwrap();
    assert!(status.success(), "nsenter: {status}");
    wait_until(LONG, "the orphan re-parented to odoo-init", || {
        all_procs()
            .into_iter()
            .find(|p| p.ppid == run.pid && p.comm == "sleep")
            .map(|p| p.pid)
    })
}

/// Ends `pid`, a child of odoo-init, and waits until it is gone from the
/// process table, zombie included: reaped.
pub fn end_and_see_reaped(pid: i32) {
    send(pid, libc::SIGKILL);
    wait_until(LONG, "the ended process to be reaped", || {
        proc_info(pid).is_none().then_some(())
    });
}

/// Runs `python3 -c script` with `input` on its standard input; its
/// standard output, once it exited 0 (the oracles' runner: Python's own
/// `configparser`, `optparse`).
pub fn python_stdout(script: &str, input: &str) -> Vec<u8> {
    use std::io::Write;
    require("python3", "python3");
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(input.as_bytes())
        .expect("writing to python3");
    let out = child.wait_with_output().expect("python3's output");
    assert!(out.status.success(), "python3 failed");
    out.stdout
}
