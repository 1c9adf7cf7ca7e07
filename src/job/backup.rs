//! The backup before an update (`BACKUP_DIR`), under the update's claim,
//! after its pre-hook and before Odoo's step: the manifest's facts read by
//! PID 1, the backup made by a helper child with the heartbeat beside it
//! (`odoo::backup`), its path recorded on the busy row. A backup that
//! fails is a failed step: Odoo's update never starts.

use std::ffi::OsString;
use std::path::PathBuf;

use super::connect::retrying;
use super::Ctx;
use crate::db::state::State;
use crate::db::{conn, owner};
use crate::exit::Failure;
use crate::odoo::{args, backup};
use crate::pid1::launch::ChildSpec;
use crate::pid1::supervisor::Supervisor;

/// The manifest handed to the helper, in this process's runtime directory.
const MANIFEST: &str = "backup-manifest.json";

impl Ctx {
    /// The backup of the claim `id` (an update), made with the claimed
    /// step's environment `env`; nothing without `BACKUP_DIR`.
    pub(super) fn backup(
        &mut self,
        sup: &mut Supervisor,
        id: i64,
        env: &[(OsString, Option<OsString>)],
    ) -> Result<(), Failure> {
        let Some(settings) = self.cfg.backup.clone() else {
            return Ok(());
        };
        let db = self.cfg.db.name().to_string();
        let now = std::time::SystemTime::now();
        let made_at = crate::clock::rfc3339(now);
        let read = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            &mut sup.pause(),
            "reading what the backup's manifest holds",
            |client| {
                let mut tx = conn::bounded(client)?;
                let text = backup::manifest(&mut tx, &db, id, &made_at)?;
                tx.commit()?;
                Ok(text)
            },
        );
        let manifest = match read {
            Ok(text) => text,
            // The database answered, but not what a backup needs: a failed backup.
            Err(Failure::Db(why)) => {
                let end = super::steps::StepEnd::Exited(crate::exit::STEP_FAILED);
                let who = format!("the backup before the update ({why})");
                return Err(self.ended(
                    sup,
                    &format!("{who} (Odoo's step did not run)"),
                    State::Updating,
                    id,
                    end,
                ));
            }
            Err(other) => return Err(other),
        };
        let Some(instance) = self.extra.instance() else {
            return Err(Failure::Os(
                "no runtime directory for the backup's manifest (ODOO_INIT_RUNTIME_DIR)".into(),
            ));
        };
        let manifest = instance
            .write(MANIFEST, manifest.as_bytes())
            .map_err(|e| Failure::Os(format!("writing the backup's manifest: {e}")))?;
        let dir = settings.dir.join(&db);
        let name = backup::name(&db, id, now);
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let argv: Vec<OsString> = vec![
            crate::helper::THIS_PROGRAM.into(),
            backup::HELPER_COMMAND.into(),
            dir.clone().into(),
            name.clone().into(),
            self.filestore(&db).into(),
            manifest.into(),
            settings.keep.to_string().into(),
            settings.pg_dump.into(),
            settings.pg_restore.into(),
            jobs.to_string().into(),
        ];
        let spec = ChildSpec {
            env: env.to_vec(),
            ..ChildSpec::new(argv)
        };
        log::info!("backup before the update: {}", dir.join(&name).display());
        match self.supervise_step(sup, &spec, id) {
            super::steps::StepEnd::Exited(0) => {}
            end => {
                let who = format!(
                    "the backup before the update (BACKUP_DIR {})",
                    settings.dir.display()
                );
                return Err(self.ended(
                    sup,
                    &format!("{who} (Odoo's step did not run)"),
                    State::Updating,
                    id,
                    end,
                ));
            }
        }
        let path = dir.join(&name).display().to_string();
        retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            &mut sup.pause(),
            "recording the backup",
            |client| owner::record_backup(client, id, &path),
        )?;
        Ok(())
    }

    /// Where Odoo keeps the files of `db`: `--data-dir` (`-D`) of the
    /// arguments, else the config file's `data_dir`, else Odoo's default.
    fn filestore(&self, db: &str) -> PathBuf {
        let words: Vec<String> = self
            .extra
            .current()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let data_dir = args::value_of(&words, "--data-dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.cfg.data_dir.clone());
        data_dir.join("filestore").join(db)
    }
}
