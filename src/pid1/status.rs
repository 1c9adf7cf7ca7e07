//! The status record: what this odoo-init is doing, for `odoo-init status`
//! (and the probes). Kept as `status` in this process's runtime directory
//! and replaced atomically (temp file + rename) at every lifecycle change:
//! a phase, a child started or gone, a restart, what the gate waits for,
//! the busy state owned. Never on a timer: idle, odoo-init writes nothing
//! and wakes for nothing; readers compute ages themselves.
//!
//! The file is text, one `key value` per line (values with line breaks
//! escaped), a version line first and `end` last, so that a reader refuses
//! a torn or foreign file instead of guessing.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::runtime::{self, Instance, RuntimeDir, RuntimeError};

/// The file's name in the instance directory.
pub const FILE: &str = "status";
const HEADER: &str = "odoo-init-status 1";
/// The most a record may hold when read back (its argv is the largest part).
pub const RECORD_MAX: usize = 128 * 1024;

/// What odoo-init is doing, as an operator names it (README, Status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Configuration read, nothing started yet.
    Starting,
    /// Waiting at the state gate (or for the database).
    Gate,
    Install,
    Update,
    Maintenance,
    /// Odoo (or the supervised command) runs.
    Running,
    /// A restart in place: the old child is being stopped, or a crashed
    /// one is about to start again (`ON_EXIT=restart`).
    Restarting,
    /// The child ended by itself; `ON_EXIT=wait` keeps the container up.
    StoppedWaiting,
    /// The final stop sequence: odoo-init is about to exit.
    Stopping,
}

impl Phase {
    pub const ALL: [Phase; 9] = [
        Phase::Starting,
        Phase::Gate,
        Phase::Install,
        Phase::Update,
        Phase::Maintenance,
        Phase::Running,
        Phase::Restarting,
        Phase::StoppedWaiting,
        Phase::Stopping,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Gate => "gate",
            Phase::Install => "install",
            Phase::Update => "update",
            Phase::Maintenance => "maintenance",
            Phase::Running => "running",
            Phase::Restarting => "restarting",
            Phase::StoppedWaiting => "stopped-waiting",
            Phase::Stopping => "stopping",
        }
    }

    fn parse(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A child's end as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    pub status: i32,
    /// When it ended (seconds since the epoch) and how long it ran.
    pub at: f64,
    pub ran: f64,
}

/// The record itself; times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// odoo-init's PID as it sees itself.
    pub pid: u32,
    /// `MODE`, or `supervise`.
    pub mode: String,
    pub database: String,
    pub phase: Phase,
    pub phase_since: f64,
    /// When a bounded phase (a stop sequence, a restart's backoff) must
    /// have ended: later, odoo-init is stuck (`odoo-init probe live`).
    pub deadline: Option<f64>,
    pub child_pid: Option<i32>,
    pub child_since: Option<f64>,
    pub child_argv: Vec<String>,
    pub last_exit: Option<Exit>,
    /// Restarts in place so far (HUP, `odoo-init restart`, `ON_EXIT=restart`).
    pub restarts: u32,
    /// What the gate waits for, and since when.
    pub waiting_for: Option<(String, f64)>,
    /// The busy state this odoo-init owns (`Updating, row 17`).
    pub owns: Option<String>,
    /// When the child first reached `running`.
    pub first_running: Option<f64>,
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Record {
    fn new(mode: &str, database: &str) -> Record {
        Record {
            pid: std::process::id(),
            mode: mode.to_string(),
            database: database.to_string(),
            phase: Phase::Starting,
            phase_since: now(),
            deadline: None,
            child_pid: None,
            child_since: None,
            child_argv: Vec::new(),
            last_exit: None,
            restarts: 0,
            waiting_for: None,
            owns: None,
            first_running: None,
        }
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        let mut line = |key: &str, value: &str| {
            let _ = writeln!(out, "{key} {}", escape(value));
        };
        line("pid", &self.pid.to_string());
        line("mode", &self.mode);
        line("database", &self.database);
        line("phase", self.phase.name());
        line("phase_since", &self.phase_since.to_string());
        if let Some(t) = self.deadline {
            line("deadline", &t.to_string());
        }
        if let (Some(pid), Some(since)) = (self.child_pid, self.child_since) {
            line("child_pid", &pid.to_string());
            line("child_since", &since.to_string());
            for arg in &self.child_argv {
                line("child_arg", arg);
            }
        }
        if let Some(exit) = &self.last_exit {
            line("exit_status", &exit.status.to_string());
            line("exit_at", &exit.at.to_string());
            line("exit_ran", &exit.ran.to_string());
        }
        line("restarts", &self.restarts.to_string());
        if let Some((what, since)) = &self.waiting_for {
            line("waiting_for", what);
            line("waiting_since", &since.to_string());
        }
        if let Some(owns) = &self.owns {
            line("owns", owns);
        }
        if let Some(t) = self.first_running {
            line("first_running", &t.to_string());
        }
        out.push_str("end\n");
        out
    }

    /// Reads a record back; a torn, foreign or malformed file is an error
    /// saying what is wrong.
    pub fn parse(text: &str) -> Result<Record, String> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err("not an odoo-init status record (unknown first line)".into());
        }
        let mut rec = Record::new("", "");
        let (mut ended, mut seen_pid, mut seen_phase) = (false, false, false);
        let (mut exit_status, mut exit_at, mut exit_ran) = (None, None, None);
        let mut waiting = None;
        let mut waiting_since = None;
        for line in lines {
            if ended {
                return Err("text after its end line".into());
            }
            if line == "end" {
                ended = true;
                continue;
            }
            let (key, raw) = line.split_once(' ').unwrap_or((line, ""));
            let value = unescape(raw);
            let bad = || format!("a bad {key} value {value:?}");
            let float = |v: &str| v.parse::<f64>().ok().filter(|f| f.is_finite());
            match key {
                "pid" => {
                    rec.pid = value.parse().map_err(|_| bad())?;
                    seen_pid = true;
                }
                "mode" => rec.mode = value,
                "database" => rec.database = value,
                "phase" => {
                    rec.phase = Phase::parse(&value).ok_or_else(bad)?;
                    seen_phase = true;
                }
                "phase_since" => rec.phase_since = float(&value).ok_or_else(bad)?,
                "deadline" => rec.deadline = Some(float(&value).ok_or_else(bad)?),
                "child_pid" => rec.child_pid = Some(value.parse().map_err(|_| bad())?),
                "child_since" => rec.child_since = Some(float(&value).ok_or_else(bad)?),
                "child_arg" => rec.child_argv.push(value),
                "exit_status" => exit_status = Some(value.parse().map_err(|_| bad())?),
                "exit_at" => exit_at = Some(float(&value).ok_or_else(bad)?),
                "exit_ran" => exit_ran = Some(float(&value).ok_or_else(bad)?),
                "restarts" => rec.restarts = value.parse().map_err(|_| bad())?,
                "waiting_for" => waiting = Some(value),
                "waiting_since" => waiting_since = Some(float(&value).ok_or_else(bad)?),
                "owns" => rec.owns = Some(value),
                "first_running" => rec.first_running = Some(float(&value).ok_or_else(bad)?),
                // A newer odoo-init may know more: not an error.
                _ => {}
            }
        }
        if !ended {
            return Err("no end line (torn)".into());
        }
        if !seen_pid || !seen_phase {
            return Err("no pid or phase".into());
        }
        if let (Some(status), Some(at), Some(ran)) = (exit_status, exit_at, exit_ran) {
            rec.last_exit = Some(Exit { status, at, ran });
        }
        rec.waiting_for = waiting.zip(waiting_since);
        Ok(rec)
    }
}

/// `now - t`, never negative (clocks may step), to 0.1 s.
fn age(now: f64, t: f64) -> f64 {
    ((now - t).max(0.0) * 10.0).round() / 10.0
}

/// `3h02m`, `4m05s`, `12.5s`.
fn human(seconds: f64) -> String {
    let whole = seconds as u64;
    match whole {
        0..=59 => format!("{seconds:.1}s"),
        60..=3599 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}

fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Record {
    /// The readable block `odoo-init status` prints, ages as of `now`.
    pub fn describe(&self, now: f64) -> String {
        let mut out = String::new();
        let database = if self.database.is_empty() {
            "-"
        } else {
            &self.database
        };
        let _ = writeln!(
            out,
            "odoo-init  PID {}, {}, database {database}",
            self.pid, self.mode
        );
        let _ = write!(
            out,
            "phase      {} for {}",
            self.phase.name(),
            human(age(now, self.phase_since))
        );
        match self.deadline {
            Some(t) if t >= now => {
                let _ = write!(out, " (ends within {})", human(age(t, now)));
            }
            Some(t) => {
                let _ = write!(out, " (OVERDUE by {})", human(age(now, t)));
            }
            None => {}
        }
        out.push('\n');
        if let Some((what, since)) = &self.waiting_for {
            let _ = writeln!(
                out,
                "waiting    for {what}, since {} ago",
                human(age(now, *since))
            );
        }
        if let Some(owns) = &self.owns {
            let _ = writeln!(out, "owns       {owns}");
        }
        match (self.child_pid, self.child_since) {
            (Some(pid), Some(since)) => {
                let _ = writeln!(
                    out,
                    "child      PID {pid}, for {}: {}",
                    human(age(now, since)),
                    self.child_argv.join(" ")
                );
            }
            _ => out.push_str("child      none\n"),
        }
        if let Some(exit) = &self.last_exit {
            let _ = writeln!(
                out,
                "last exit  status {} after {}, {} ago",
                exit.status,
                human(exit.ran),
                human(age(now, exit.at))
            );
        }
        let _ = writeln!(out, "restarts   {}", self.restarts);
        out
    }

    /// The stable JSON of `odoo-init status --json` (README, Status), ages as of `now`.
    pub fn to_json(&self, now: f64) -> String {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "null".into());
        let child = match (self.child_pid, self.child_since) {
            (Some(pid), Some(since)) => {
                let argv: Vec<String> = self.child_argv.iter().map(|a| json_string(a)).collect();
                Some(format!(
                    "{{\"pid\":{pid},\"age_seconds\":{},\"argv\":[{}]}}",
                    age(now, since),
                    argv.join(",")
                ))
            }
            _ => None,
        };
        let last_exit = self.last_exit.as_ref().map(|e| {
            format!(
                "{{\"status\":{},\"ran_seconds\":{},\"age_seconds\":{}}}",
                e.status,
                e.ran,
                age(now, e.at)
            )
        });
        let waiting = self.waiting_for.as_ref().map(|(what, since)| {
            format!(
                "{{\"what\":{},\"age_seconds\":{}}}",
                json_string(what),
                age(now, *since)
            )
        });
        format!(
            "{{\"pid\":{},\"mode\":{},\"database\":{},\"phase\":{},\"phase_age_seconds\":{},\"deadline_in_seconds\":{},\"child\":{},\"last_exit\":{},\"restarts\":{},\"waiting_for\":{},\"owns\":{},\"first_running_age_seconds\":{}}}\n",
            self.pid,
            json_string(&self.mode),
            json_string(&self.database),
            json_string(self.phase.name()),
            age(now, self.phase_since),
            opt(self.deadline.map(|t| (((t - now) * 10.0).round() / 10.0).to_string())),
            opt(child),
            opt(last_exit),
            self.restarts,
            opt(waiting),
            opt(self.owns.as_deref().map(json_string)),
            opt(self.first_running.map(|t| age(now, t).to_string())),
        )
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The record of this process, and where it is kept (nowhere when no
/// runtime directory could be made: then `odoo-init status` cannot see it).
pub struct Status {
    record: Record,
    instance: Option<Instance>,
}

impl Status {
    /// A record kept nowhere (until [`Status::keep_in`]).
    pub fn detached() -> Status {
        Status {
            record: Record::new("", ""),
            instance: None,
        }
    }

    /// From now on, the record is kept in `instance` and says `mode` and `database`.
    pub fn keep_in(&mut self, instance: Option<Instance>, mode: &str, database: &str) {
        self.instance = instance;
        self.record.mode = mode.to_string();
        self.record.database = database.to_string();
        self.save();
    }

    /// Enters `phase` (its age starts over only when it changes).
    pub fn phase(&mut self, phase: Phase) {
        if self.record.phase != phase {
            self.enter(phase, None);
        }
    }

    /// Enters `phase`, which must end `within` that long from now (in it
    /// already, as the final stop after `STOP_DELAY`: only the deadline moves).
    pub fn bounded(&mut self, phase: Phase, within: Duration) {
        self.enter(phase, Some(within));
    }

    fn enter(&mut self, phase: Phase, within: Option<Duration>) {
        let at = now();
        if self.record.phase != phase {
            self.record.phase = phase;
            self.record.phase_since = at;
        }
        self.record.deadline = within.map(|d| at + d.as_secs_f64());
        if phase != Phase::Gate {
            self.record.waiting_for = None;
        }
        self.save();
    }

    /// The gate waits for `what` (written only when that changes).
    pub fn waiting_for(&mut self, what: &str) {
        if self.record.waiting_for.as_ref().map(|(w, _)| w.as_str()) != Some(what) {
            self.record.phase = Phase::Gate;
            self.record.deadline = None;
            self.record.waiting_for = Some((what.to_string(), now()));
            self.save();
        }
    }

    /// The busy state this process owns now, or none.
    pub fn owns(&mut self, owns: Option<String>) {
        if self.record.owns != owns {
            self.record.owns = owns;
            self.save();
        }
    }

    /// A child started; `serving`: it is the run phase's (Odoo itself).
    pub fn child_started(&mut self, pid: i32, argv: &[std::ffi::OsString], serving: bool) {
        let at = now();
        self.record.child_pid = Some(pid);
        self.record.child_since = Some(at);
        self.record.child_argv = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if serving {
            self.record.phase = Phase::Running;
            self.record.phase_since = at;
            self.record.deadline = None;
            self.record.waiting_for = None;
            self.record.first_running.get_or_insert(at);
        }
        self.save();
    }

    /// The child is gone with `status` after running `ran` seconds.
    pub fn child_exited(&mut self, status: i32, ran: f64) {
        self.record.child_pid = None;
        self.record.child_since = None;
        self.record.child_argv.clear();
        self.record.last_exit = Some(Exit {
            status,
            at: now(),
            ran,
        });
        self.save();
    }

    /// A restart in place began; its stop sequence or backoff ends `within`.
    pub fn restarting(&mut self, within: Duration) {
        self.record.restarts += 1;
        self.bounded(Phase::Restarting, within);
    }

    fn save(&self) {
        let Some(instance) = &self.instance else {
            return;
        };
        // Logged and lived with: the record is for people and probes, and
        // PID 1 goes on without it.
        if let Err(e) = instance.write(FILE, self.record.to_text().as_bytes()) {
            log::warn!("{e}; `odoo-init status` shows an older record");
        }
    }
}

/// The record of the running odoo-init with `pid`, and its directory:
/// only for an odoo-init of this user, and only a record that reads whole.
pub fn read(dir: &RuntimeDir, pid: i32) -> Result<(Instance, Record), RuntimeError> {
    runtime::check_target(pid)?;
    let instance = Instance::of(dir, pid)?;
    let data = instance.read(FILE, RECORD_MAX)?;
    let text = String::from_utf8(data)
        .map_err(|_| RuntimeError("its status record is not text".into()))?;
    let record = Record::parse(&text)
        .map_err(|why| RuntimeError(format!("its status record is refused: {why}")))?;
    Ok((instance, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_a_torn_one_is_refused() {
        let mut rec = Record::new("UpdateAndRun", "odoo");
        rec.phase = Phase::Gate;
        rec.deadline = Some(20.5);
        rec.waiting_for = Some(("state 'Updating'\n(row 3)".into(), 12.5));
        rec.child_pid = Some(42);
        rec.child_since = Some(10.0);
        rec.child_argv = vec!["odoo".into(), "--x=a b\\c".into(), String::new()];
        rec.last_exit = Some(Exit {
            status: 143,
            at: 11.0,
            ran: 0.5,
        });
        rec.restarts = 2;
        rec.owns = Some("Updating, row 3".into());
        rec.first_running = Some(9.0);
        let text = rec.to_text();
        assert_eq!(Record::parse(&text), Ok(rec));
        let torn = &text[..text.len() - 4];
        assert!(Record::parse(torn).unwrap_err().contains("torn"));
        assert!(Record::parse("hello\nend\n").is_err());
        let forged = text.replace("phase gate", "phase sleeping");
        assert!(Record::parse(&forged).unwrap_err().contains("phase"));
    }

    #[test]
    fn json_is_escaped_and_ages_are_computed_now() {
        let mut rec = Record::new("RunOnly", "odoo");
        rec.phase_since = 100.0;
        rec.child_pid = Some(7);
        rec.child_since = Some(90.0);
        rec.child_argv = vec!["a\"b".into(), "c\nd".into()];
        let json = rec.to_json(112.34);
        assert!(json.contains("\"phase_age_seconds\":12.3"), "{json}");
        assert!(
            json.contains("\"argv\":[\"a\\\"b\",\"c\\u000ad\"]"),
            "{json}"
        );
        assert!(json.contains("\"last_exit\":null"), "{json}");
        assert!(rec
            .describe(112.34)
            .contains("phase      starting for 12.3s"));
        assert_eq!(human(3725.0), "1h02m");
        assert_eq!(human(125.0), "2m05s");
    }
}
