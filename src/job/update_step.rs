//! The update step: claimed under the gate (`UPDATE=changed`: only when
//! a module changed or one of `MODULES` is missing, decided by
//! [`super::update`]), then one Odoo run that installs what `MODULES`
//! lacks and updates what it must, as a claimed step ([`super::steps`]).

use super::gate::Ask;
use super::{Ctx, Next};
use crate::db::rollback;
use crate::db::state::State;
use crate::exit::Failure;
use crate::odoo::command as odoo;
use crate::odoo::{checksums, modules};
use crate::pid1::launch::Pause;
use crate::pid1::supervisor::Supervisor;

use super::connect::{connected, retrying, unavailable, NotConnected};
use crate::db::conn::ConnectError;

impl Ctx {
    /// `UPDATE=changed`: the installed modules (of `MODULES`, when set)
    /// whose files changed; none: no update runs and no busy state is written.
    pub(super) fn update_changed(&mut self, sup: &mut Supervisor) -> Result<Next, Failure> {
        let only = odoo::to_update(&self.cfg.odoo);
        let nothing = "UPDATE=changed: no installed module changed since the checksums stored by the last update: no update";
        if self.look_ahead(&only)? {
            log::info!("{nothing}");
            return Ok(Next::Continue);
        }
        self.refuse_rolled_back(&mut sup.pause())?;
        let claimed = self.pass_gate(&mut sup.pause(), Ask::Update { only: &only })?;
        let Some(claimed) = claimed else {
            log::info!("{nothing}");
            return Ok(Next::Continue);
        };
        if let Some(modules) = claimed.modules.as_ref().filter(|m| !m.is_empty()) {
            log::info!("UPDATE=changed: updating {}", modules.join(","));
        }
        let install = self.missing(&mut sup.pause(), &only)?;
        let argv = odoo::update_and_install(
            &self.cfg.odoo,
            self.extra.current(),
            claimed.modules.as_deref(),
            &install,
        );
        self.run_claimed(sup, State::Updating, claimed.id, argv, &only)
    }

    /// `UPDATE=all`: every installed module (or `MODULES`) updated, what
    /// `MODULES` lists and the database lacks installed in the same run.
    pub(super) fn update_all(&mut self, sup: &mut Supervisor) -> Result<Next, Failure> {
        let only = odoo::to_update(&self.cfg.odoo);
        let create = self.gate == crate::plan::Gate::Ignore;
        self.refuse_rolled_back(&mut sup.pause())?;
        let ask = Ask::Claim {
            busy: State::Updating,
            create,
        };
        let Some(claimed) = self.pass_gate(&mut sup.pause(), ask)? else {
            return Err(Failure::StepFailed(
                "the gate opened without claiming 'Updating'".into(),
            ));
        };
        let install = self.missing(&mut sup.pause(), &only)?;
        let argv = odoo::update_and_install(&self.cfg.odoo, self.extra.current(), None, &install);
        self.run_claimed(sup, State::Updating, claimed.id, argv, &only)
    }

    /// Refuses an update of the image whose update failed and was rolled
    /// back (the rollback's row names it), unless a Force mode asks for it.
    fn refuse_rolled_back(&mut self, pause: &mut Pause) -> Result<(), Failure> {
        if self.gate == crate::plan::Gate::Ignore {
            return Ok(());
        }
        // No database yet: nothing was rolled back; the gate waits for it.
        let wait = self.cfg.db_wait_timeout;
        match connected(&mut self.session, wait, pause) {
            Err(NotConnected::Failed(ConnectError::NoDatabase)) => return Ok(()),
            Err(e) => return Err(unavailable(e)),
            Ok(_) => {}
        }
        let refused = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            pause,
            "reading what a rollback refused",
            rollback::refused,
        )?;
        let Some((row, refused)) = refused else {
            return Ok(());
        };
        match self.checksums_now(pause)? {
            Ok(mine) if checksums::same_code(&mine, &refused) => Err(Failure::StepFailed(format!(
                "this image's update failed and was rolled back (state row {row}): it is not tried again by itself; deploy a fixed image, or run MODE=ForceUpdateOnly to try it anyway"
            ))),
            _ => Ok(()),
        }
    }

    /// The modules of `MODULES` the database lacks, read under this pod's
    /// claim (no other step changes them meanwhile): installed by the
    /// update's own run.
    fn missing(&mut self, pause: &mut Pause, only: &[String]) -> Result<Vec<String>, Failure> {
        let missing = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            pause,
            "reading the installed modules",
            |client| modules::not_installed(client, only),
        )?;
        let names: Vec<String> = missing.into_iter().map(|(name, _)| name).collect();
        if !names.is_empty() {
            log::info!(
                "MODULES: installing {} (not installed yet), in the update's run",
                names.join(",")
            );
        }
        Ok(names)
    }
}
