//! Many addons at once ([`Addons::checksums`]) are shared out to helper
//! processes, one per further CPU: hashing a full Odoo installation is
//! some 10,000 file system calls, and a starting pod waits for them.
//! Processes, not threads: PID 1 stays one thread; each helper is this
//! same program run as `odoo-init hash-addons` ([`helper_main`]), waited
//! for before the result is used, within a deadline: a helper that does
//! not answer in time (stopped, stalled on a slow disk) is ended and its
//! share hashed here; a stop ends them all at once.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::hash::{checksum, checksum_until, Rules, Stop};
use super::Addons;
use crate::meanwhile::Meanwhile;

/// The hidden command a hashing helper runs: `odoo-init hash-addons
/// EXCLUDE LANGS DIR...`.
pub const HELPER_COMMAND: &str = "hash-addons";
/// Fewer addons than this are hashed here alone: a helper costs a process.
const SHARE_FROM: usize = 16;
/// At most this many processes hash at once (this one included).
const MAX_WORKERS: usize = 4;
/// What a helper gets beyond the time this process took for its own share.
const HELPER_MARGIN: Duration = Duration::from_secs(2);

impl Addons {
    /// The checksums of `dirs`, in their order. With a helper program, 16
    /// or more addons and more than one CPU (as the scheduler and the
    /// container's CPU quota allow), each further CPU's share (up to 3)
    /// goes to a helper while this process hashes its own; a helper that
    /// cannot be started or fails leaves its share to this process.
    pub fn checksums(&self, dirs: &[PathBuf], rules: &Rules) -> io::Result<Vec<String>> {
        let workers = match &self.helper {
            Some(_) if dirs.len() >= SHARE_FROM => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS),
            _ => 1,
        };
        let share = |k: usize| (k..dirs.len()).step_by(workers);
        let mut helpers: Vec<(usize, Child)> = Vec::new();
        if let Some(program) = &self.helper {
            for k in 1..workers {
                let spawned = Command::new(program)
                    .arg(HELPER_COMMAND)
                    .arg(&rules.exclude_text)
                    .arg(rules.langs.join(","))
                    .args(share(k).map(|i| &dirs[i]))
                    // It needs nothing of ours, and the secrets stay here.
                    .env_clear()
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .spawn();
                match spawned {
                    Ok(child) => {
                        // Its status kept for us if a wait of ours reaps it first.
                        if let Some(reaper) = &self.meanwhile.reaper {
                            reaper.keep(child.id() as libc::pid_t);
                        }
                        helpers.push((k, child))
                    }
                    Err(e) => log::debug!("no hashing helper ({}): {e}", program.display()),
                }
            }
        }
        let mut sums = vec![String::new(); dirs.len()];
        let mine: Vec<usize> = (0..workers)
            .filter(|k| !helpers.iter().any(|(h, _)| h == k))
            .flat_map(share)
            .collect();
        let stop = Stop(Some(&self.meanwhile));
        let started = Instant::now();
        let mut result = hash_into(&mut sums, &mine, dirs, rules, stop);
        // A helper's share is as large as ours: as long again, and a margin.
        let deadline = Instant::now() + started.elapsed() + HELPER_MARGIN;
        let mut processes = 1;
        // Every helper is waited for, whatever happened here.
        for (k, child) in helpers {
            let indexes: Vec<usize> = share(k).collect();
            let output = match &result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => end(child, stop),
                _ => helper_output(child, indexes.len(), deadline, stop),
            };
            match output {
                Some(lines) => {
                    processes += 1;
                    for (i, line) in indexes.into_iter().zip(lines) {
                        match line.strip_prefix('!') {
                            Some(error) => result = result.and(Err(io::Error::other(error))),
                            None => sums[i] = line,
                        }
                    }
                }
                None if result.is_ok() => {
                    result = hash_into(&mut sums, &indexes, dirs, rules, stop)
                }
                None => {}
            }
        }
        log::debug!("{} addons hashed by {processes} processes", dirs.len());
        result.map(|()| sums)
    }
}

/// `sums[i]` for each of `indexes`, hashed here; the first error ends it.
fn hash_into(
    sums: &mut [String],
    indexes: &[usize],
    dirs: &[PathBuf],
    rules: &Rules,
    stop: Stop,
) -> io::Result<()> {
    for &i in indexes {
        sums[i] = checksum_until(&dirs[i], rules, stop)?;
    }
    Ok(())
}

/// A helper's lines, once it exited 0 with one line per addon; `None`
/// otherwise, and when it has not finished by `deadline` or `stop` came
/// first (then it is ended).
fn helper_output(
    mut child: Child,
    expected: usize,
    deadline: Instant,
    stop: Stop,
) -> Option<Vec<String>> {
    let text = child
        .stdout
        .take()
        .and_then(|out| read_until(out, deadline, stop));
    let Some(text) = text else {
        log::warn!(
            "a hashing helper (PID {}) did not answer in time: ended, its share hashed here",
            child.id()
        );
        return end(child, stop);
    };
    // Its output is complete; it exits right after (or is ended at the
    // deadline: a helper stopped just before its exit must not hold PID 1).
    let exited_0 = reap(child, stop, deadline);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let ok = exited_0 && lines.len() == expected;
    if !ok {
        log::debug!("a hashing helper failed; its share is hashed here");
    }
    ok.then_some(lines)
}

/// Ends a helper and reaps it ([`reap`]): its output is not used.
fn end(child: Child, stop: Stop) -> Option<Vec<String>> {
    reap(child, stop, Instant::now());
    None
}

/// Reaps a helper; true when it exited 0. One that has not exited by
/// `deadline` is ended with SIGKILL (it holds nothing that needs a clean
/// end).
fn reap(mut child: Child, stop: Stop, deadline: Instant) -> bool {
    let pid = child.id() as libc::pid_t;
    if let Some(raw) = reaped(pid, stop, deadline) {
        return raw == 0;
    }
    let exited_0 = match child.try_wait() {
        Ok(Some(status)) => status.success(),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            false
        }
    };
    if let Some(reaper) = stop.0.and_then(|m| m.reaper.as_deref()) {
        reaper.forget(pid);
    }
    exited_0
}

/// With a reaper (PID 1): `pid`'s raw status once the reaper reaped it
/// (a wait of ours may have done so meanwhile, [`Meanwhile::tend`]),
/// waited for on its descriptor until `deadline`; `None` at the deadline,
/// at a stop, and without a reaper.
fn reaped(pid: libc::pid_t, stop: Stop, deadline: Instant) -> Option<i32> {
    let meanwhile = stop.0?;
    let reaper = meanwhile.reaper.as_deref()?;
    loop {
        if let Some(raw) = reaper.take(pid) {
            return Some(raw);
        }
        let mut fds = meanwhile.descriptors();
        if !poll_until(&mut fds, deadline) || meanwhile.polled(&fds) {
            return None;
        }
    }
}

/// `poll` until one of `fds` is ready (true) or `deadline` passes (false).
fn poll_until(fds: &mut [PollFd], deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match poll(fds, PollTimeout::from(ms)) {
            Ok(0) if left.is_zero() => return false,
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
            Ok(_) => return true,
        }
    }
}

/// All a helper writes, until its end of output; `None` at the deadline or
/// a stop. `poll` on its pipe and the [`Meanwhile`]'s descriptors: waits
/// for its output or a stop, never longer than the deadline, and reaps
/// meanwhile.
fn read_until(mut out: ChildStdout, deadline: Instant, stop: Stop) -> Option<String> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let nothing = Meanwhile::default();
    let meanwhile = stop.0.unwrap_or(&nothing);
    loop {
        let mut fds = vec![PollFd::new(out.as_fd(), PollFlags::POLLIN)];
        fds.extend(meanwhile.descriptors());
        if !poll_until(&mut fds, deadline) || meanwhile.polled(&fds[1..]) {
            return None;
        }
        if fds[0].revents().is_none_or(|r| r.is_empty()) {
            return None;
        }
        if fds[0].revents().is_none_or(|r| r.is_empty()) {
            continue;
        }
        // Readable or hung up: this read does not block.
        match out.read(&mut chunk) {
            Ok(0) => return String::from_utf8(bytes).ok(),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// `odoo-init hash-addons EXCLUDE LANGS DIR...`: one line per directory,
/// its checksum or `!` and the error. What [`Addons::checksums`] runs.
pub fn helper_main(args: &[OsString]) -> i32 {
    let [exclude, langs, dirs @ ..] = args else {
        log::error!("{HELPER_COMMAND}: EXCLUDE LANGS DIR... expected");
        return crate::exit::USAGE;
    };
    let langs: Vec<String> = langs
        .to_string_lossy()
        .split(',')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let rules = Rules::new(&exclude.to_string_lossy(), &langs);
    let mut out = io::BufWriter::new(io::stdout().lock());
    for dir in dirs {
        let line = match checksum(Path::new(dir), &rules) {
            Ok(sum) => sum,
            Err(e) => format!("!{}", e.to_string().replace('\n', " ")),
        };
        if writeln!(out, "{line}").is_err() {
            return crate::exit::OS_ERROR;
        }
    }
    match out.flush() {
        Ok(()) => 0,
        Err(_) => crate::exit::OS_ERROR,
    }
}
