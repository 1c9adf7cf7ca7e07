//! A claimed step (install, update, maintenance): run as a supervised
//! child with the owner's heartbeat beside it, then `Ready` written only
//! if it succeeded, every module it asked for is installed, and the claim
//! is still this pod's. After an install or update, `Ready` goes with the
//! new module checksums, hashed before the state transaction.

use std::ffi::OsString;
use std::time::Instant;

use super::connect::retrying;
use super::gate::Ask;
use super::{Ctx, Next};
use crate::db::heartbeat::{Heartbeat, Stopped, Tick};
use crate::db::state::State;
use crate::db::{conn, fence, owner};
use crate::exit::{self, Failure};
use crate::odoo::checksums;
use crate::odoo::command as odoo;
use crate::odoo::modules;
use crate::pid1::launch::{ChildSpec, Pause};
use crate::pid1::step::StepEvent;
use crate::pid1::supervisor::Supervisor;
use crate::status::Phase;

/// How a claimed step ended.
pub(super) enum StepEnd {
    /// It exited by itself with this status.
    Exited(i32),
    /// SIGTERM/SIGINT stopped it; its status.
    Interrupted(i32),
    /// The heartbeat stopped it (why); its status.
    Abandoned(Stopped, i32),
}

impl Ctx {
    /// The install: its database made first if the server has none (as
    /// Odoo's `-i` would), then the step under `Creating`.
    pub(super) fn install(&mut self, sup: &mut Supervisor) -> Result<Next, Failure> {
        if self.claimed.is_none() {
            self.create_database_if_missing(&mut sup.pause())?;
        }
        let argv = odoo::install(&self.cfg.odoo, self.extra.current());
        let expect = odoo::to_install(&self.cfg.odoo);
        self.step(sup, State::Creating, argv, true, &expect)
    }

    /// One install/update/maintenance step: claim its busy state (or take
    /// the one `Init` claimed), run it, finish it.
    pub(super) fn step(
        &mut self,
        sup: &mut Supervisor,
        busy: State,
        argv: Vec<OsString>,
        create: bool,
        expect: &[String],
    ) -> Result<Next, Failure> {
        let id = match self.claimed.take() {
            Some(id) => id,
            None => match self.pass_gate(&mut sup.pause(), Ask::Claim { busy, create })? {
                Some(claimed) => claimed.id,
                // A claim is written whenever the gate is open; this would be a bug.
                None => {
                    return Err(Failure::StepFailed(format!(
                        "the gate opened without claiming '{}'",
                        busy.as_str()
                    )))
                }
            },
        };
        self.run_claimed(sup, busy, id, argv, expect)
    }

    /// Runs the step of the busy row `id` this pod claimed; see [`Ctx::step`].
    pub(super) fn run_claimed(
        &mut self,
        sup: &mut Supervisor,
        busy: State,
        id: i64,
        argv: Vec<OsString>,
        expect: &[String],
    ) -> Result<Next, Failure> {
        let phase = match busy {
            State::Creating => Phase::Install,
            State::Updating => Phase::Update,
            _ => Phase::Maintenance,
        };
        sup.status().phase(phase);
        sup.status()
            .owns(Some(format!("{}, row {id}", busy.as_str())));
        self.keep_passfile();
        // Its sessions carry the claim's tag: a pod that resets the claim ends them.
        let env = odoo::tagged(self.env.clone(), &fence::claim_tag(id));
        // First the claim's pre-hook (docs/updates-and-backups.md: the order
        // of a claim's work), under the same claim, tag and heartbeat.
        let (hook, variable) = match busy {
            State::Creating => (&self.cfg.pre_init_script, "PRE_INIT_SCRIPT"),
            State::Updating => (&self.cfg.pre_update_script, "PRE_UPDATE_SCRIPT"),
            _ => (&None, ""),
        };
        match hook.clone() {
            Some(script) => {
                let who = format!("{variable} {}", script.display());
                log::info!("{who}: before Odoo's step, under state {id}");
                let spec = ChildSpec {
                    env: env.clone(),
                    ..ChildSpec::new(odoo::maintenance(&script))
                };
                match self.supervise_step(sup, &spec, id) {
                    StepEnd::Exited(0) => {}
                    end => {
                        return Err(self.ended(
                            sup,
                            &format!("{who} (Odoo's step did not run)"),
                            busy,
                            id,
                            end,
                        ))
                    }
                }
            }
            None if !variable.is_empty() => {
                log::info!("no {variable} (its default is absent): none runs before Odoo's step");
            }
            None => {}
        }
        // Then, before an update, the backup (`BACKUP_DIR`).
        if busy == State::Updating {
            self.backup(sup, id, &env)?;
        }
        let spec = ChildSpec {
            env,
            ..ChildSpec::new(argv)
        };
        match self.supervise_step(sup, &spec, id) {
            StepEnd::Exited(0) => {
                self.admin_password(sup, busy, id)?;
                self.finish(sup, busy, id, expect)
            }
            end => {
                let who = format!("step '{}'", busy.as_str());
                Err(self.ended(sup, &who, busy, id, end))
            }
        }
    }

    /// What a claimed child (`who`: the step, or its hook) that did not
    /// exit 0 leaves: its status recorded on the busy row when it failed by
    /// itself, and the failure to exit with.
    pub(super) fn ended(
        &mut self,
        sup: &mut Supervisor,
        who: &str,
        busy: State,
        id: i64,
        end: StepEnd,
    ) -> Failure {
        let what = busy.as_str();
        match end {
            StepEnd::Exited(status) => {
                // A failed update names its image: a rollback refuses it later.
                let code = match busy {
                    State::Updating => self.record_code(&mut sup.pause(), id),
                    _ => None,
                };
                if self.record_failure(&mut sup.pause(), id, status) == Some(false) {
                    // Reset while it ran (its sessions ended by the waiter that did).
                    return Failure::ClaimLost(format!(
                        "{who} ended (status {status}) after its claim (state {id}) was lost; nothing more written"
                    ));
                }
                let backup = self.backup_made.take().filter(|(claim, _)| *claim == id);
                if let (Some((_, backup)), true) = (backup, self.cfg.restore.rollback) {
                    return self.roll_back_own(sup, who, status, id, backup, code);
                }
                Failure::StepFailed(format!("{who} failed with status {status}; the state stays '{what}' (the database may be half-done): fix it, then MODE=ForceUpdateOnly or ForceReadyState"))
            }
            StepEnd::Interrupted(status) => Failure::StepFailed(format!(
                "{who} interrupted (status {status}); the state stays '{what}'"
            )),
            StepEnd::Abandoned(Stopped::Unreachable, status) => Failure::Db(format!(
                "{who} stopped (status {status}) because the database could not be reached; the state stays '{what}'"
            )),
            StepEnd::Abandoned(Stopped::ClaimLost, status) => Failure::ClaimLost(format!(
                "{who} stopped (status {status}): its claim (state {id}) was lost; nothing more written"
            )),
        }
    }

    /// The step's child, waited for between heartbeats: each beat when its
    /// deadline passes, the step stopped when the heartbeat says so.
    pub(super) fn supervise_step(
        &mut self,
        sup: &mut Supervisor,
        spec: &ChildSpec,
        id: i64,
    ) -> StepEnd {
        let mut step = match sup.start_step(spec) {
            Ok(step) => step,
            Err(status) => return StepEnd::Exited(status),
        };
        let mut heartbeat = Heartbeat::new(id, self.cfg.lease, self.cfg.db_wait_timeout);
        let mut next_beat = Instant::now() + heartbeat.every();
        loop {
            match sup.wait_step(&mut step, next_beat) {
                StepEvent::Exited(status) => return StepEnd::Exited(status),
                StepEvent::Interrupted(status) => return StepEnd::Interrupted(status),
                StepEvent::Deadline => match heartbeat.tick(&mut self.session) {
                    Tick::After(span) => next_beat = Instant::now() + span,
                    Tick::Stop(why) => return StepEnd::Abandoned(why, sup.abandon_step(step)),
                },
            }
        }
    }

    /// After a step that exited 0: `Ready` (with the checksums after an
    /// install or update), if every module of `expect` is installed
    /// (Odoo exits 0 after ignoring a name it cannot find) and the claim is
    /// still ours.
    fn finish(
        &mut self,
        sup: &mut Supervisor,
        busy: State,
        id: i64,
        expect: &[String],
    ) -> Result<Next, Failure> {
        let what = busy.as_str();
        let pause = &mut sup.pause();
        if !expect.is_empty() {
            if let Some(missing) = self.not_installed(pause, expect)? {
                self.record_failure(pause, id, exit::STEP_FAILED);
                return Err(Failure::StepFailed(format!(
                    "step '{what}' exited 0, but not every module is installed: {missing}; the state stays '{what}': check the addons path (--addons-path, addons_path) and the step's log, then run the step again"
                )));
            }
        }
        // Hashed now, outside the state transaction that stores them.
        let mut not_stored = None;
        let sums = match busy {
            State::Maintenance => None,
            _ => match self.checksums_now(pause)? {
                Ok(json) => Some(json),
                Err(e) => {
                    not_stored = Some(e);
                    None
                }
            },
        };
        let store = &mut self.store;
        let mut why_not = None;
        let ours = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            pause,
            "writing Ready",
            |client| {
                let mut locked = store.lock(client)?;
                let ours = locked.finish(id)?;
                why_not = None;
                if let (true, Some(json)) = (ours, &sums) {
                    // In a savepoint: checksums that cannot be stored never
                    // cost the Ready (only a lost connection is tried again).
                    let mut savepoint = locked.transaction().savepoint("checksums")?;
                    match checksums::store(&mut savepoint, json) {
                        Ok(()) => savepoint.commit()?,
                        Err(e) if conn::is_connection_loss(&e) => return Err(e),
                        Err(e) => why_not = Some(conn::message(&e)),
                    }
                }
                locked.commit()?;
                Ok(ours)
            },
        )?;
        if let Some(e) = not_stored.or(why_not) {
            log::warn!("module checksums not stored ({e}): the next update compares with the ones stored before, and updates these modules again");
        }
        if ours {
            sup.status().owns(None);
            Ok(Next::Continue)
        } else {
            Err(Failure::ClaimLost(format!("step '{what}' completed, but state {id} is no longer the latest row (another pod wrote Reset or a newer state after it): Ready not written")))
        }
    }

    /// The checksums of the installed modules now, as JSON to store; the
    /// error text when an addon cannot be read.
    pub(super) fn checksums_now(
        &mut self,
        pause: &mut Pause,
    ) -> Result<Result<String, String>, Failure> {
        let Some(addons) = self.addons.clone() else {
            return Ok(Err("no addons path".into()));
        };
        let (known, installed) = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            pause,
            "reading the installed modules",
            |client| {
                let mut tx = conn::bounded(client)?;
                let known = checksums::read(&mut tx)?;
                let installed = checksums::installed(&mut tx)?;
                tx.commit()?;
                Ok((known, installed))
            },
        )?;
        Ok(match self.sums.add(&addons, &installed, &known.rules) {
            Ok(()) => Ok(self.sums.to_json(&installed)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(Failure::Stopped),
            Err(e) => Err(e.to_string()),
        })
    }

    /// The modules of `expect` that are not `installed`, with their state,
    /// as one text; `None` when all are.
    fn not_installed(
        &mut self,
        pause: &mut Pause,
        expect: &[String],
    ) -> Result<Option<String>, Failure> {
        let missing = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            pause,
            "checking the installed modules",
            |client| modules::not_installed(client, expect),
        )?;
        let listed: Vec<String> = missing
            .iter()
            .map(|(name, state)| format!("{name} ({state})"))
            .collect();
        Ok((!listed.is_empty()).then(|| listed.join(", ")))
    }

    /// Records on the busy row that its step failed: waiters then wait for
    /// a person instead of resetting a silent owner. `Some(false)`: the
    /// claim was lost meanwhile. `None`: not recorded (said by `retrying`),
    /// the exit stays 65 all the same.
    fn record_failure(&mut self, pause: &mut Pause, id: i64, status: i32) -> Option<bool> {
        retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            pause,
            "recording the failure",
            |client| owner::record_failure(client, id, status),
        )
        .ok()
    }

    /// The image's module checksums recorded on the failed update's row
    /// `id`; they, when known.
    fn record_code(&mut self, pause: &mut Pause, id: i64) -> Option<String> {
        let code = match self.checksums_now(pause) {
            Ok(Ok(json)) => json,
            _ => return None,
        };
        let recorded = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            pause,
            "recording the failed image",
            |client| owner::record_code(client, id, &code),
        );
        recorded.ok().map(|_| code)
    }

    /// `ForceReadyState`: `Force Ready` written whatever the latest state.
    pub(super) fn force_ready(&mut self, pause: &mut Pause) -> Result<Next, Failure> {
        let store = &mut self.store;
        retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            pause,
            "writing Force Ready",
            |client| store.write(client, State::ForceReady),
        )?;
        Ok(Next::Done)
    }
}
