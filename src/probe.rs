//! `odoo-init probe startup|ready|live`: exec probes for Kubernetes and
//! Docker's `HEALTHCHECK`. Each is a short-lived process that reads the
//! status record of the running odoo-init (`pid1::status`) and, for `ready`
//! and `live`, asks Odoo itself over HTTP on loopback (`odoo::http`). It
//! never signals PID 1. `live` keeps one small file beside the record
//! (`http-failing`: the child and since when its HTTP fails), so that a
//! grace counts across probes.

use std::time::Duration;

use crate::config;
use crate::odoo::http;
use crate::runtime::{Instance, RuntimeDir};
use crate::status::{self, Phase, Record};

/// Exit code of a probe that failed (Docker: "unhealthy"; Kubernetes: any
/// non-zero). Every failure uses it, a record that cannot be read too.
pub const FAILED: i32 = 1;
/// `--timeout` default: how long Odoo has to answer one probe.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// `--grace` default: how long Odoo's HTTP may fail while the phase says
/// `running` before `live` fails (a prefork Odoo whose workers are all
/// busy with long requests answers late, and that is no reason to restart).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
/// A bounded phase (stop sequence, restart backoff) this much past its end
/// means odoo-init is stuck.
const STUCK_AFTER: f64 = 10.0;
/// The file `live` keeps in the instance directory.
const FAILING: &str = "http-failing";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Startup,
    Ready,
    Live,
}

impl Probe {
    pub fn parse(name: &str) -> Option<Probe> {
        match name {
            "startup" => Some(Probe::Startup),
            "ready" => Some(Probe::Ready),
            "live" => Some(Probe::Live),
            _ => None,
        }
    }
}

/// Runs `probe` against the odoo-init with `pid`: one line, and 0 or [`FAILED`].
pub fn run(probe: Probe, pid: i32, timeout: Duration, grace: Duration) -> i32 {
    let dir = RuntimeDir::new(config::runtime_dir(&crate::env::process_env));
    let verdict = match status::read(&dir, pid) {
        Err(e) => Err(format!("cannot read the status of PID {pid}: {e}")),
        Ok((instance, record)) => {
            let now = status::now();
            match probe {
                Probe::Startup => startup(&record, now),
                Probe::Ready => ready(&record, now, timeout),
                Probe::Live => live(&instance, &record, now, timeout, grace),
            }
        }
    };
    match verdict {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(why) => {
            log::error!("{why}");
            FAILED
        }
    }
}

fn phase_line(record: &Record, now: f64) -> String {
    format!(
        "phase {} for {:.1}s",
        record.phase.name(),
        (now - record.phase_since).max(0.0)
    )
}

/// Passes once Odoo first reached the run phase, and from then on.
fn startup(record: &Record, now: f64) -> Result<String, String> {
    match record.first_running {
        Some(t) => Ok(format!(
            "started: Odoo first ran {:.1}s ago",
            (now - t).max(0.0)
        )),
        None => Err(format!("not started yet: {}", phase_line(record, now))),
    }
}

/// Passes only while Odoo runs and answers HTTP.
fn ready(record: &Record, now: f64, timeout: Duration) -> Result<String, String> {
    if record.phase != Phase::Running || record.child_pid.is_none() {
        return Err(format!("not ready: {}", phase_line(record, now)));
    }
    let said = match endpoint(record)? {
        None => Ok("ready: Odoo runs and serves no HTTP (--no-http): nothing to ask".into()),
        Some(at) => http::ask(&at, timeout)
            .map(|what| format!("ready: {what} answered at {at}"))
            .map_err(|why| format!("not ready: {why}")),
    };
    // Many databases: which are served, said in bounded size.
    match record.databases_line() {
        Some(line) => said.map(|s| format!("{s}; databases: {line}")),
        None => said,
    }
}

/// Fails only for what a restart of the container would mend: a stop
/// sequence or restart that overran its bound by far, or Odoo not
/// answering HTTP for longer than `grace` while the phase says `running`.
/// Waiting at the gate, installing, updating: alive.
fn live(
    instance: &Instance,
    record: &Record,
    now: f64,
    timeout: Duration,
    grace: Duration,
) -> Result<String, String> {
    if let Some(deadline) = record.deadline {
        if now > deadline + STUCK_AFTER {
            return Err(format!(
                "stuck: {}, {:.0}s past the longest it can take",
                phase_line(record, now),
                now - deadline
            ));
        }
    }
    let (Phase::Running, Some(child)) = (record.phase, record.child_pid) else {
        return Ok(format!("alive: {}", phase_line(record, now)));
    };
    let Some(at) = endpoint(record)? else {
        return Ok("alive: Odoo runs and serves no HTTP (--no-http)".into());
    };
    let why = match http::ask(&at, timeout) {
        Ok(what) => {
            // Answered: any earlier failure is over.
            let _ = instance.take(FAILING, 64);
            return Ok(format!("alive: {what} answered at {at}"));
        }
        Err(why) => why,
    };
    let since = match failing_since(instance, child) {
        Some(t) => t,
        None => {
            if let Err(e) = instance.write(FAILING, format!("{child} {now}\n").as_bytes()) {
                return Err(format!("{why}; and cannot note since when: {e}"));
            }
            now
        }
    };
    let failing = (now - since).max(0.0);
    if failing > grace.as_secs_f64() {
        Err(format!(
            "Odoo (PID {child}) has not answered HTTP for {failing:.0}s, longer than the grace of {}s: {why}",
            grace.as_secs_f64()
        ))
    } else {
        Ok(format!(
            "alive: Odoo has not answered HTTP for {failing:.0}s, within the grace of {}s: {why}",
            grace.as_secs_f64()
        ))
    }
}

/// Since when the HTTP of `child` fails, as an earlier `live` noted it
/// (a note about another child, or one that does not read, does not count).
fn failing_since(instance: &Instance, child: i32) -> Option<f64> {
    let data = instance.read(FAILING, 64).ok()?;
    let text = String::from_utf8(data).ok()?;
    let (pid, since) = text.trim_end().split_once(' ')?;
    (pid.parse::<i32>().ok()? == child)
        .then(|| since.parse::<f64>().ok().filter(|t| t.is_finite()))
        .flatten()
}

/// Where the running Odoo listens: its command line as the record has it,
/// then its config file (`-c`, else `ODOO_RC` as odoo-init reads it).
fn endpoint(record: &Record) -> Result<Option<http::Endpoint>, String> {
    let argv = &record.child_argv;
    let rc = match http::config_option(argv) {
        Some(path) => crate::odoo::rc::read(std::path::Path::new(path))
            .map_err(|e| format!("cannot read Odoo's config file {path}: {e}"))?,
        None => {
            crate::odoo::rc::locate(&crate::env::process_env)
                .map_err(|e| e.to_string())?
                .1
        }
    };
    http::endpoint(argv, &rc)
}
