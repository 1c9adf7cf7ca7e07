//! Backups made by the job: before an update (`BACKUP_DIR`), under the
//! update's claim, after its pre-hook and before Odoo's step; and now
//! (`odoo-init backup`, for a CronJob), when no step runs. Either way the
//! manifest's facts are read by PID 1 and the backup is made by a helper
//! child (`odoo::backup`); before an update, with the heartbeat beside it
//! and its path recorded on the busy row, and a backup that fails is a
//! failed step: Odoo's update never starts.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::connect::{connected, retrying, unavailable};
use super::steps::StepEnd;
use super::{Ctx, Prepared};
use crate::config::{Backup, Config};
use crate::db::session::Session;
use crate::db::state::{Seen, State, Store};
use crate::db::{conn, owner, verdict};
use crate::exit::{Failure, STEP_FAILED};
use crate::odoo::command as odoo;
use crate::odoo::{args, backup};
use crate::pid1::launch::ChildSpec;
use crate::pid1::supervisor::Supervisor;
use crate::runtime::Instance;

/// The manifest handed to the helper, in this process's runtime directory.
const MANIFEST: &str = "backup-manifest.json";

/// Where the helper writes the complete backup's size, beside it.
const BYTES: &str = "backup-bytes";

/// A backup to be made: the helper's command line and where it goes.
struct Planned {
    argv: Vec<OsString>,
    path: PathBuf,
}

/// Which backup: made for what (`stateROW`, `manual`), when, in which format.
struct Which<'a> {
    made_for: &'a str,
    at: SystemTime,
    /// Odoo's zip instead of a directory.
    zip: bool,
}

/// The helper's command line for the backup `which` of `cfg`'s database,
/// with `manifest` handed over through `instance`.
fn plan(
    cfg: &Config,
    settings: &Backup,
    instance: Option<&Instance>,
    which: Which,
    manifest: &str,
    data_dir: PathBuf,
) -> Result<Planned, Failure> {
    let Which { made_for, at, zip } = which;
    let Some(instance) = instance else {
        return Err(Failure::Os(
            "no runtime directory for the backup's manifest (ODOO_INIT_RUNTIME_DIR)".into(),
        ));
    };
    let manifest = instance
        .write(MANIFEST, manifest.as_bytes())
        .map_err(|e| Failure::Os(format!("writing the backup's manifest: {e}")))?;
    let db = cfg.db.name();
    let dir = settings.dir.join(db);
    let name = free_name(&dir, backup::name(db, made_for, at));
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let argv: Vec<OsString> = vec![
        crate::helper::THIS_PROGRAM.into(),
        backup::HELPER_COMMAND.into(),
        dir.clone().into(),
        name.clone().into(),
        data_dir.join("filestore").join(db).into(),
        manifest.into(),
        settings.keep.to_string().into(),
        settings.pg_dump.clone().into(),
        settings.pg_restore.clone().into(),
        jobs.to_string().into(),
        if zip { "zip" } else { "dir" }.into(),
        instance.file(BYTES).into(),
    ];
    let path = match zip {
        true => dir.join(format!("{name}.zip")),
        false => dir.join(name),
    };
    Ok(Planned { argv, path })
}

/// `first`, or, when a backup of that name is in `dir` (two in one second:
/// a manual one twice), `first.2`, `first.3` ... (they sort after it).
fn free_name(dir: &std::path::Path, first: String) -> String {
    let taken = |n: &str| dir.join(n).exists() || dir.join(format!("{n}.zip")).exists();
    if !taken(&first) {
        return first;
    }
    (2..)
        .map(|k| format!("{first}.{k}"))
        .find(|n| !taken(n))
        .unwrap_or(first)
}

/// The manifest's facts of the database `client` reaches.
fn read_manifest(
    client: &mut crate::db::client::Client,
    db: &str,
    row: Option<i64>,
    at: SystemTime,
) -> Result<String, tokio_postgres::Error> {
    let mut tx = conn::bounded(client)?;
    let text = backup::manifest(&mut tx, db, row, &crate::clock::rfc3339(at))?;
    tx.commit()?;
    Ok(text)
}

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
        let who = format!(
            "the backup before the update (BACKUP_DIR {}; Odoo's step did not run)",
            settings.dir.display()
        );
        let at = SystemTime::now();
        let db = self.cfg.db.name().to_string();
        // What the database answers for good is the backup's; a connection
        // lost (or a lock waited out) for DB_WAIT_TIMEOUT is the database's
        // absence, as anywhere else in a claim (69, the claim left to the
        // lease), never a failed backup that waits for a person.
        let what = "reading what the backup's manifest holds";
        let read = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            &mut sup.pause(),
            what,
            |client| match read_manifest(client, &db, Some(id), at) {
                Err(e) if !conn::is_connection_loss(&e) && !conn::is_lock_wait(&e) => {
                    Ok(Err(format!("{what}: {}", conn::message(&e))))
                }
                read => read.map(Ok),
            },
        )?;
        let manifest = match read {
            Ok(text) => text,
            Err(why) => {
                let end = StepEnd::Exited(STEP_FAILED);
                return Err(self.ended(sup, &format!("{who}: {why}"), State::Updating, id, end));
            }
        };
        let planned = plan(
            &self.cfg,
            &settings,
            self.extra.instance(),
            Which {
                made_for: &format!("state{id}"),
                at,
                zip: false,
            },
            &manifest,
            self.data_dir(),
        )?;
        let spec = ChildSpec {
            env: env.to_vec(),
            ..ChildSpec::new(planned.argv)
        };
        log::info!("backup before the update: {}", planned.path.display());
        let started = std::time::Instant::now();
        match self.supervise_step(sup, &spec, id) {
            StepEnd::Exited(0) => {}
            end => return Err(self.ended(sup, &who, State::Updating, id, end)),
        }
        let seconds = started.elapsed().as_secs_f64();
        // The size as the helper counted it (a missing file: not known).
        let bytes = (self.extra.instance())
            .and_then(|i| i.take(BYTES, 32).ok().flatten())
            .and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok());
        let path = planned.path.display().to_string();
        self.backup_made = Some((id, path.clone()));
        let made = owner::BackupMade {
            path: &path,
            bytes,
            seconds,
        };
        retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            &mut sup.pause(),
            "recording the backup",
            |client| owner::record_backup(client, id, &made),
        )?;
        Ok(())
    }

    /// Where Odoo keeps its data: `--data-dir` (`-D`) of the arguments,
    /// else the config file's `data_dir`, else Odoo's default.
    pub(super) fn data_dir(&self) -> PathBuf {
        let words: Vec<String> = self
            .extra
            .current()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args::value_of(&words, "--data-dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.cfg.data_dir.clone())
    }
}

/// `odoo-init backup [--zip]`: a backup of the database now, as the one
/// before an update is made (with `zip`: Odoo's zip format, for its
/// database manager), refused while a step runs (it would hold a half-done
/// database); where it is, as text.
pub(crate) fn backup_now(prepared: &mut Prepared, zip: bool) -> Result<String, Failure> {
    let cfg = prepared.cfg.clone();
    let Some(settings) = cfg.backup.clone() else {
        return Err(Failure::Usage(
            "backup: BACKUP_DIR is not set (the directory the backups go to)".into(),
        ));
    };
    let mut session = Session::new(prepared.target());
    let wait = cfg.db_wait_timeout;
    let client = connected(&mut session, wait, &mut prepared.sup.pause()).map_err(unavailable)?;
    let store = Store::new(super::hostname(), "backup", Duration::from_secs(60));
    let latest = match store.peek(client) {
        Ok(Seen::Latest(latest)) if !verdict::is_ready(&latest.state) => {
            return Err(Failure::GateReset(format!(
                "a step runs on {}: '{}' (row {}): a backup now would hold a half-done database; run it once that is Ready",
                cfg.db.name(),
                latest.state,
                latest.id
            )))
        }
        Ok(Seen::Latest(latest)) => Some(latest.id),
        Ok(_) => None,
        Err(e) => return Err(super::connect::db_failure("reading the state", &e)),
    };
    let at = SystemTime::now();
    let manifest = read_manifest(client, cfg.db.name(), latest, at)
        .map_err(|e| super::connect::db_failure("reading what the backup's manifest holds", &e))?;
    session.close();
    let planned = plan(
        &cfg,
        &settings,
        prepared.instance.as_ref(),
        Which {
            made_for: "manual",
            at,
            zip,
        },
        &manifest,
        cfg.data_dir.clone(),
    )?;
    let spec = ChildSpec {
        env: odoo::environment(&cfg.db, prepared.passfile.as_deref()),
        ..ChildSpec::new(planned.argv)
    };
    match super::restore::run_to_end(&mut prepared.sup, &spec, "the backup")? {
        0 => Ok(format!("{}\n", planned.path.display())),
        status => Err(Failure::StepFailed(format!(
            "the backup failed (status {status}): no backup was made"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_backup_in_the_same_second_gets_a_name_of_its_own() {
        let dir = std::env::temp_dir().join(format!("free-name-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("odoo-X-manual")).unwrap();
        std::fs::write(dir.join("odoo-X-manual.2.zip"), "").unwrap();
        assert_eq!(
            super::free_name(&dir, "odoo-X-manual".into()),
            "odoo-X-manual.3"
        );
        assert_eq!(
            super::free_name(&dir, "odoo-Y-manual".into()),
            "odoo-Y-manual"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
