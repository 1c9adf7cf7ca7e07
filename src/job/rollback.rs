//! Rollback: the backup made before a failed update takes the failed
//! database's place (`odoo-init rollback`, or the failing owner itself
//! with `ON_UPDATE_FAILURE=rollback`), so that the previous image serves
//! the previous schema.
//!
//! The backup is restored beside, as `DB_rollback` with its filestore
//! directory ([`super::restore::restore_into`]); `Force Ready` is written
//! in it, naming the failing image (its module checksums), whose update is
//! then not tried again by itself. Then, as `DB_ADMIN_USER`, one
//! transaction renames the failed database to `DB_failed_TIME` (kept for
//! inspection) and the restored one to `DB_NAME`: that is the rollback.
//! The files follow. Interrupted before the swap, `DB_NAME` is the failed
//! database and the next rollback starts again; after it, `DB_NAME` is the
//! backup and the next rollback puts its files in place first.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use super::admin::{admin_session, restore_lock};
use super::connect::{connected, db_failure, unavailable};
use super::restore::{incoming_session, restore_into, Names};
use super::{hostname, Ctx, Prepared};
use crate::config::Config;
use crate::db::client::Client;
use crate::db::databases;
use crate::db::rollback::{self as record, FailedUpdate};
use crate::db::session::Session;
use crate::db::state::{Seen, State, Store};
use crate::db::verdict;
use crate::exit::Failure;
use crate::odoo::command as odoo;
use crate::pid1::supervisor::Supervisor;

/// Where a rollback keeps the failed database: `DB_failed_YYYYMMDDTHHMMSSZ`.
fn aside_name(db: &str, at: SystemTime) -> String {
    format!("{db}_failed_{}", crate::clock::compact(at))
}

/// A rollback's files left behind by one interrupted after its swap
/// (`DB_rollback`'s directory without its database): put in place now,
/// the failed database's files beside it.
fn finish_interrupted(client: &mut Client, names: &Names) -> Result<(), Failure> {
    let restored = names.files_of(&names.incoming);
    let swapped = !databases::exists(client, &names.incoming)
        .map_err(|e| db_failure("looking for a rollback's database", &e))?;
    if !restored.exists() || !swapped {
        return Ok(());
    }
    let aside = databases::newest_with_prefix(client, &format!("{}_failed_", names.db))
        .map_err(|e| db_failure("looking for the failed database", &e))?;
    let Some(aside) = aside else {
        return Ok(());
    };
    log::warn!(
        "an earlier rollback was interrupted after {} became the backup: its files are put in place now",
        names.db
    );
    swap_files(names, &aside)
}

/// The restored files as `DB_NAME`'s, the failed database's as `aside`'s.
fn swap_files(names: &Names, aside: &str) -> Result<(), Failure> {
    let (current, restored) = (names.files_of(&names.db), names.files_of(&names.incoming));
    let moved = |from: &Path, to: &Path| {
        fs::rename(from, to).map_err(|e| {
            Failure::Os(format!(
                "moving {} to {}: {e}",
                from.display(),
                to.display()
            ))
        })
    };
    if current.exists() {
        moved(&current, &names.files_of(aside))?;
    }
    moved(&restored, &current)?;
    fs::File::open(&names.filestores)
        .and_then(|d| d.sync_all())
        .map_err(|e| Failure::Os(format!("syncing {}: {e}", names.filestores.display())))
}

/// Rolls `DB_NAME` back to the backup of `failed`; what happened, as one line.
pub(super) fn roll_back(
    cfg: &Config,
    sup: &mut Supervisor,
    env: &[(OsString, Option<OsString>)],
    data_dir: &Path,
    failed: &FailedUpdate,
) -> Result<String, Failure> {
    let db = cfg.db.name();
    let at = SystemTime::now();
    let aside = aside_name(db, at);
    let names = Names::new(db, "rollback", data_dir)?;
    if aside.len() > 63 {
        return Err(Failure::Usage(format!(
            "DB_NAME {db} is too long to keep the failed database beside it as {aside}"
        )));
    }
    let backup = Path::new(&failed.backup);
    if !backup.exists() {
        return Err(Failure::Usage(format!(
            "the backup of the failed update (row {}) is gone: {}",
            failed.id, failed.backup
        )));
    }
    let mut admin = admin_session(cfg, &sup.pause());
    {
        let pause = &mut sup.pause();
        let client = connected(&mut admin, cfg.db_wait_timeout, pause).map_err(unavailable)?;
        restore_lock(client, db, pause)?;
        finish_interrupted(client, &names)?;
    }
    restore_into(cfg, sup, &mut admin, env, backup, &names)?;
    // Force Ready in the restored database, naming the image that failed.
    let mut session = incoming_session(cfg, &sup.pause(), &names.incoming);
    let client =
        connected(&mut session, cfg.db_wait_timeout, &mut sup.pause()).map_err(unavailable)?;
    let mut store = Store::new(hostname(), "rollback", cfg.lease);
    let written = store.lock(client).and_then(|mut locked| {
        locked.create_table()?;
        let id = locked.insert(State::ForceReady)?;
        if let Some(code) = &failed.code {
            record::mark_refused(locked.transaction(), id, code)?;
        }
        locked.commit()
    });
    session.close();
    let pause = &mut sup.pause();
    let client = connected(&mut admin, cfg.db_wait_timeout, pause).map_err(unavailable)?;
    if let Err(e) = written {
        databases::drop_if_exists(client, &names.incoming)
            .map_err(|e| db_failure("dropping the restored database", &e))?;
        return Err(db_failure(
            "writing Force Ready in the restored database",
            &e,
        ));
    }
    // The rollback itself: both renames in one transaction.
    databases::swap(client, db, &aside, &names.incoming).map_err(|e| {
        db_failure(
            &format!("swapping {db} for its backup ({db} is still the failed database)"),
            &e,
        )
    })?;
    swap_files(&names, &aside)?;
    Ok(format!(
        "{db} rolled back to {} (the backup before the update of row {}); the failed database is kept as {aside}, its files as {}",
        failed.backup,
        failed.id,
        names.files_of(&aside).display()
    ))
}

/// `odoo-init rollback`: the latest failed update's backup restored in
/// place of `DB_NAME`, refused while a step runs or when a later step ran
/// on the failed database; what happened, as text.
pub(crate) fn rollback_now(prepared: &mut Prepared) -> Result<String, Failure> {
    let cfg = prepared.cfg.clone();
    let mut session = Session::new(prepared.target());
    let client = connected(&mut session, cfg.db_wait_timeout, &mut prepared.sup.pause())
        .map_err(unavailable)?;
    let store = Store::new(hostname(), "rollback", cfg.lease);
    match store.peek(client) {
        Ok(Seen::Latest(latest))
            if !verdict::is_ready(&latest.state) && latest.failed.is_none() =>
        {
            return Err(Failure::GateReset(format!(
                "a step runs on {}: '{}' (row {}, by {}): no rollback while it does",
                cfg.db.name(),
                latest.state,
                latest.id,
                latest.owner.as_deref().unwrap_or("the old implementation")
            )))
        }
        Ok(_) => {}
        Err(e) => return Err(db_failure("reading the state", &e)),
    }
    let failed = record::failed_update(client)
        .map_err(|e| db_failure("looking for the failed update", &e))?;
    session.close();
    let Some(failed) = failed else {
        return Err(Failure::Usage(format!(
            "nothing to roll back: {}'s state table records no failed update with a backup (BACKUP_DIR)",
            cfg.db.name()
        )));
    };
    if let Some((id, state)) = failed.later_steps.first() {
        return Err(Failure::Usage(format!(
            "a later step ran on {} after the failed update of row {} (row {id}, '{state}'): its backup is older than what is there now; restore it under another name with MODE=Restore instead",
            cfg.db.name(),
            failed.id
        )));
    }
    let env = odoo::environment(&cfg.db, prepared.passfile.as_deref());
    let line = roll_back(&cfg, &mut prepared.sup, &env, &cfg.data_dir, &failed)?;
    Ok(format!("{line}\n"))
}

impl Ctx {
    /// `ON_UPDATE_FAILURE=rollback`: the failed update's owner restores the
    /// backup it made before the update; the failure to exit with either way.
    pub(super) fn roll_back_own(
        &mut self,
        sup: &mut Supervisor,
        who: &str,
        status: i32,
        id: i64,
        backup: String,
        code: Option<String>,
    ) -> Failure {
        let failed = FailedUpdate {
            id,
            backup,
            code,
            later_steps: Vec::new(),
        };
        self.session.close();
        log::warn!(
            "{who} failed with status {status}: ON_UPDATE_FAILURE=rollback, restoring {}",
            failed.backup
        );
        let data_dir = self.data_dir();
        match roll_back(&self.cfg, sup, &self.env, &data_dir, &failed) {
            Ok(line) => Failure::StepFailed(format!(
                "{who} failed with status {status}; ON_UPDATE_FAILURE=rollback: {line}; this image's update is not tried again by itself: deploy a fixed image, or MODE=ForceUpdateOnly"
            )),
            Err(failure) => Failure::StepFailed(format!(
                "{who} failed with status {status}, and so did the rollback ({}); the state stays 'Updating' (the database may be half-done): odoo-init rollback, or fix it, then MODE=ForceUpdateOnly or ForceReadyState",
                failure.message()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_failed_database_is_named_by_the_time() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_233_501);
        assert_eq!(
            super::aside_name("odoo", at),
            "odoo_failed_20261202T174501Z"
        );
    }
}
