//! The status record and its file form: one `key value` per line (values
//! with line breaks escaped), a version line first and `end` last, so that
//! a reader refuses a torn or foreign file instead of guessing.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Phase;

const HEADER: &str = "odoo-init-status 1";
/// The most a record may hold when read back (its argv is the largest part).
pub(crate) const RECORD_MAX: usize = 128 * 1024;
/// The most the child's argv may take of a record: what is beyond it is
/// counted, not recorded, so that a record always reads back (64 KiB of
/// short restart arguments are many more bytes as lines).
const ARGV_BUDGET: usize = 64 * 1024;

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
    /// `LIST_DB=True`, `RunOnly`: the databases served and left out.
    pub databases: Option<Databases>,
}

/// The databases a run over many serves: how many, and those left out
/// (the first [`LEFT_OUT_SHOWN`] by name, the rest counted).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Databases {
    pub served: usize,
    pub left_out: Vec<String>,
    pub left_out_more: usize,
}

/// How many left-out databases a record names: its size stays bounded
/// however many databases a server holds.
pub const LEFT_OUT_SHOWN: usize = 20;

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Record {
    pub(super) fn new(mode: &str, database: &str) -> Record {
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
            databases: None,
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
            let mut spent = 0;
            for (n, arg) in self.child_argv.iter().enumerate() {
                // Its line's length once escaped: each `\`, `\n`, `\r` doubles.
                let escapes = arg.matches(['\\', '\n', '\r']).count();
                spent += "child_arg \n".len() + arg.len() + escapes;
                if spent > ARGV_BUDGET {
                    let left = self.child_argv.len() - n;
                    line(
                        "child_arg",
                        &format!("[{left} more arguments not recorded]"),
                    );
                    break;
                }
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
        if let Some(d) = &self.databases {
            line("databases_served", &d.served.to_string());
            for name in &d.left_out {
                line("database_left_out", name);
            }
            line("databases_left_out_more", &d.left_out_more.to_string());
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
                "databases_served" => {
                    rec.databases.get_or_insert_with(Databases::default).served =
                        value.parse().map_err(|_| bad())?
                }
                "database_left_out" => rec
                    .databases
                    .get_or_insert_with(Databases::default)
                    .left_out
                    .push(value),
                "databases_left_out_more" => {
                    rec.databases
                        .get_or_insert_with(Databases::default)
                        .left_out_more = value.parse().map_err(|_| bad())?
                }
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
        rec.databases = Some(Databases {
            served: 198,
            left_out: vec!["shop_b".into(), "shop c".into()],
            left_out_more: 3,
        });
        let text = rec.to_text();
        assert_eq!(Record::parse(&text), Ok(rec));
        let torn = &text[..text.len() - 4];
        assert!(Record::parse(torn).unwrap_err().contains("torn"));
        assert!(Record::parse("hello\nend\n").is_err());
        let forged = text.replace("phase gate", "phase sleeping");
        assert!(Record::parse(&forged).unwrap_err().contains("phase"));
    }

    #[test]
    fn the_largest_restart_arguments_still_give_a_record_that_reads_back() {
        let mut rec = Record::new("RunOnly", "odoo");
        rec.child_pid = Some(42);
        rec.child_since = Some(10.0);
        // 64 KiB of restart arguments (the most `odoo-init restart` takes),
        // one byte each: many more bytes as lines.
        rec.child_argv = vec!["\n".to_string(); 32 * 1024];
        let text = rec.to_text();
        assert!(text.len() <= RECORD_MAX, "{}", text.len());
        let read = Record::parse(&text).unwrap();
        let last = read.child_argv.last().unwrap();
        assert!(last.ends_with("more arguments not recorded]"), "{last}");
    }
}
