//! The status record: what this odoo-init is doing, for `odoo-init status`
//! (and the probes). Kept as `status` in this process's runtime directory
//! and replaced atomically (temp file + rename) at every lifecycle change:
//! a phase, a child started or gone, a restart, what the gate waits for,
//! the busy state owned. Never on a timer: idle, odoo-init writes nothing
//! and wakes for nothing; readers compute ages themselves.
//!
//! The record's text form is in [`record`], what people and scripts are
//! shown in [`show`].
//!
//! The file is text, one `key value` per line (values with line breaks
//! escaped), a version line first and `end` last, so that a reader refuses
//! a torn or foreign file instead of guessing.

mod record;
mod show;

use std::time::Duration;

use crate::runtime::{self, Instance, RuntimeDir, RuntimeError};

pub(crate) use record::{now, Exit, Record, RECORD_MAX};

/// The file's name in the instance directory.
const FILE: &str = "status";

/// What odoo-init is doing, as an operator names it (docs/commands.md, Status).
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

    pub(super) fn parse(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
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
    pub fn child_started(&mut self, pid: i32, shown: &[String], serving: bool) {
        let at = now();
        self.record.child_pid = Some(pid);
        self.record.child_since = Some(at);
        self.record.child_argv = shown.to_vec();
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

    /// The databases a run over many serves now, and those left out (the
    /// first [`record::LEFT_OUT_SHOWN`] named).
    pub fn databases(&mut self, served: usize, left_out: &[String]) {
        let shown = left_out.len().min(record::LEFT_OUT_SHOWN);
        self.record.databases = Some(record::Databases {
            served,
            left_out: left_out[..shown].to_vec(),
            left_out_more: left_out.len() - shown,
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
    fn the_left_out_databases_are_named_up_to_a_bound() {
        let mut status = Status::detached();
        let left_out: Vec<String> = (0..30).map(|i| format!("db_{i}")).collect();
        status.databases(170, &left_out);
        let d = status.record.databases.clone().unwrap_or_default();
        assert_eq!(
            (d.served, d.left_out.len(), d.left_out_more),
            (170, record::LEFT_OUT_SHOWN, 30 - record::LEFT_OUT_SHOWN)
        );
        let line = status.record.databases_line().unwrap_or_default();
        assert!(
            line.starts_with("170 served; left out: db_0, db_1"),
            "{line}"
        );
        assert!(line.ends_with("(+10 more)"), "{line}");
    }
}
