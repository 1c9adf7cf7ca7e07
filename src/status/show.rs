//! The status record as people read it (`odoo-init status`) and as
//! scripts read it (`--json`, built with serde_json), ages as of now.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::record::Record;

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

impl Record {
    /// `3 served; left out: a, b (+4 more)`, for a run over many databases.
    pub fn databases_line(&self) -> Option<String> {
        let d = self.databases.as_ref()?;
        let mut line = format!("{} served", d.served);
        if !d.left_out.is_empty() {
            let _ = write!(line, "; left out: {}", d.left_out.join(", "));
        }
        if d.left_out_more > 0 {
            let _ = write!(line, " (+{} more)", d.left_out_more);
        }
        Some(line)
    }

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
        if let Some(line) = self.databases_line() {
            let _ = writeln!(out, "databases  {line}");
        }
        out
    }

    /// The stable JSON of `odoo-init status --json` (docs/commands.md, Status),
    /// ages as of `now`. A number that is not finite (a forged record) is `null`.
    pub(crate) fn to_json(&self, now: f64) -> String {
        let child = match (self.child_pid, self.child_since) {
            (Some(pid), Some(since)) => json!({
                "pid": pid,
                "age_seconds": age(now, since),
                "argv": self.child_argv,
            }),
            _ => Value::Null,
        };
        let last_exit = self.last_exit.as_ref().map(|e| {
            json!({
                "status": e.status,
                "ran_seconds": e.ran,
                "age_seconds": age(now, e.at),
            })
        });
        let waiting = self
            .waiting_for
            .as_ref()
            .map(|(what, since)| json!({ "what": what, "age_seconds": age(now, *since) }));
        let record = json!({
            "pid": self.pid,
            "mode": self.mode,
            "database": self.database,
            "phase": self.phase.name(),
            "phase_age_seconds": age(now, self.phase_since),
            "deadline_in_seconds": self.deadline.map(|t| ((t - now) * 10.0).round() / 10.0),
            "child": child,
            "last_exit": last_exit,
            "restarts": self.restarts,
            "waiting_for": waiting,
            "owns": self.owns,
            "first_running_age_seconds": self.first_running.map(|t| age(now, t)),
            "databases": self.databases.as_ref().map(|d| json!({
                "served": d.served,
                "left_out": d.left_out,
                "left_out_more": d.left_out_more,
            })),
        });
        format!("{record}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_escaped_and_ages_are_computed_now() {
        let mut rec = Record::new("RunOnly", "odoo");
        rec.phase_since = 100.0;
        rec.child_pid = Some(7);
        rec.child_since = Some(90.0);
        rec.child_argv = vec!["a\"b".into(), "c\nd".into()];
        let json = rec.to_json(112.34);
        assert!(json.contains("\"phase_age_seconds\":12.3"), "{json}");
        let parsed: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["child"]["argv"], json!(["a\"b", "c\nd"]), "{json}");
        assert!(json.contains("\"last_exit\":null"), "{json}");
        assert!(rec
            .describe(112.34)
            .contains("phase      starting for 12.3s"));
        assert_eq!(human(3725.0), "1h02m");
        // A forged record's infinite number is no invalid JSON.
        rec.deadline = Some(f64::INFINITY);
        let parsed: Value = serde_json::from_str(&rec.to_json(112.34)).unwrap();
        assert_eq!(parsed["deadline_in_seconds"], Value::Null);
        assert_eq!(human(125.0), "2m05s");
    }
}
