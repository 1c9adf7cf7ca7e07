//! The run phase's launcher: the one seam through which the supervisor
//! asks the job what to start. It stays a trait because the supervisor owns
//! the loop of the run phase (watch, restart on SIGHUP, `ON_EXIT`) and must
//! ask, at each (re)start, for a command that only the job can make (the
//! gate passed again, the pending restart arguments taken).

use super::gate::Ask;
use super::Ctx;
use crate::db::conn;
use crate::db::state::{self, Seen};
use crate::odoo::args;
use crate::odoo::command as odoo;
use crate::pid1::launch::{Abort, ChildSpec, Launcher, Pause};
use crate::plan::Gate;

impl Launcher for Ctx {
    fn command(&mut self, pause: &mut Pause) -> Result<ChildSpec, Abort> {
        if self.gate == Gate::Respect {
            if let Err(failure) = self.pass_gate(pause, Ask::Look) {
                // Nothing runs; a stop exits as a process stopped by its signal.
                failure.say();
                return Err(Abort::Failed(
                    failure.code_stopped_as(pause.stopped_status()),
                ));
            }
        }
        self.keep_passfile();
        // Serving holds no connection: Odoo gets the slots; a restart's
        // look at the gate makes one again.
        self.session.close();
        if self.extra.pick_up() {
            // A person's one-off restart: said, not refused.
            let database = self.cfg.odoo.database.as_deref();
            if let Some(why) = args::refused_in_run(self.extra.current(), database) {
                log::warn!("restart arguments: {why}; started as asked");
            }
        }
        Ok(self.run_spec())
    }

    fn arguments_refused(&mut self) -> Option<ChildSpec> {
        self.extra.revert().then(|| self.run_spec())
    }

    /// One look at the gate before Odoo is stopped: a state table that can
    /// only fail the gate (missing, or of a shape odoo-init cannot read)
    /// refuses the restart, and Odoo runs on. A database that is away, a
    /// lock or a busy state do not: the gate after the stop waits for them.
    fn refuses_restart(&mut self) -> Option<String> {
        if self.gate != Gate::Respect {
            return None;
        }
        // One attempt: the child is not watched meanwhile.
        let client = self.session.connect().ok()?;
        match self.store.peek(client) {
            Ok(Seen::NoTable) => Some(format!(
                "no state table {} in {}",
                state::TABLE,
                self.cfg.db.name()
            )),
            Ok(_) => None,
            Err(e) if conn::is_lock_wait(&e) => None,
            Err(e) if self.session.lost(&e) => {
                if !self.session.stopped() {
                    log::info!(
                        "database connection lost ({}); reconnecting after the stop",
                        conn::message(&e)
                    );
                }
                None
            }
            Err(e) => Some(format!(
                "the state table cannot be read: {}",
                conn::message(&e)
            )),
        }
    }
}

impl Ctx {
    fn run_spec(&self) -> ChildSpec {
        let argv = odoo::run(&self.cfg.odoo, self.extra.current());
        ChildSpec {
            shown: args::redacted(&argv),
            argv,
            env: self.env.clone(),
        }
    }
}
