//! Many addons at once ([`Addons::checksums`]) are shared out to helper
//! processes, one per further CPU: hashing a full Odoo installation is
//! some 10,000 file system calls, and a starting pod waits for them.
//! Processes, not threads: PID 1 stays one thread; each helper is this
//! same program run as `odoo-init hash-addons` ([`helper_main`]) through
//! [`crate::helper`], waited for before the result is used, within a
//! deadline: a helper that does not answer in time (stopped, stalled on a
//! slow disk) is ended and its share hashed here; a stop ends them all at
//! once.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::hash::{checksum, checksum_until, Rules, Stop};
use super::Addons;
use crate::helper::Helper;

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
        let mut helpers: Vec<(usize, Helper)> = Vec::new();
        if let Some(program) = &self.helper {
            for k in 1..workers {
                let args = [
                    HELPER_COMMAND.to_string(),
                    rules.exclude_text.clone(),
                    rules.langs.join(","),
                ]
                .map(OsString::from)
                .into_iter()
                .chain(share(k).map(|i| dirs[i].clone().into_os_string()));
                // It needs nothing of ours, and the secrets stay here.
                match Helper::start(program, args, &[], &self.meanwhile) {
                    Ok(helper) => helpers.push((k, helper)),
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
        for (k, helper) in helpers {
            let indexes: Vec<usize> = share(k).collect();
            let output = match &result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    helper.end();
                    None
                }
                _ => helper_output(helper, indexes.len(), deadline),
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
/// otherwise, and when it has not finished by `deadline` or a stop came
/// first (then it is ended).
fn helper_output(helper: Helper, expected: usize, deadline: Instant) -> Option<Vec<String>> {
    let pid = helper.pid();
    let (text, exited_0) = match helper.output(deadline) {
        Ok(done) => done,
        Err(why) => {
            log::warn!(
                "a hashing helper (PID {pid}) gave no answer ({why:?}): ended, its share hashed here"
            );
            return None;
        }
    };
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let ok = exited_0 && lines.len() == expected;
    if !ok {
        log::debug!("a hashing helper failed; its share is hashed here");
    }
    ok.then_some(lines)
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
