//! Restores: `MODE=Restore` (a backup becomes `DB_NAME`, which did not
//! exist) and `odoo-init rollback` (the backup made before a failed update
//! takes the failed database's place, which is kept aside).
//!
//! Both restore into a database of their own name (`DB_restoring`,
//! `DB_rollback`) and a filestore directory of that name, through the
//! `restore-step` helper (`odoo::backup`), as `DB_USER`, under the restore
//! lock of `DB_NAME` (one restorer at a time; a session lock, gone with a
//! restorer that dies). Nothing is served from those names. Once all is
//! restored (and neutralized, its state row written), the files are put
//! in place, then the database is renamed in place: that rename (a swap
//! in one transaction for a rollback) is the moment the restore happens,
//! so an interrupted one leaves `DB_NAME` either as it was (absent, or the
//! failed database) or restored, never a mix; the next restorer drops
//! what a killed one left under the restoring name.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio_postgres::types::Type;

use super::admin::{admin_session, restore_lock};
use super::connect::{connected, db_failure, unavailable};
use super::{hostname, Ctx, Next};
use crate::config::Config;
use crate::db::client::Client;
use crate::db::conn::Target;
use crate::db::databases;
use crate::db::session::Session;
use crate::db::state::{State, Store};
use crate::exit::Failure;
use crate::odoo::{backup, command as odoo, users};
use crate::pid1::launch::{ChildSpec, Pause};
use crate::pid1::step::StepEvent;
use crate::pid1::supervisor::Supervisor;

/// PostgreSQL's longest name, in bytes.
const NAME_MAX: usize = 63;

/// The names of one restore: where it is made, where it goes.
pub(super) struct Names {
    /// `DB_NAME`.
    pub(super) db: String,
    /// The database it is restored into, then renamed to `db`.
    pub(super) incoming: String,
    /// Odoo's filestore directory (`DATA_DIR/filestore`).
    pub(super) filestores: PathBuf,
}

impl Names {
    pub(super) fn new(db: &str, suffix: &str, data_dir: &Path) -> Result<Names, Failure> {
        let incoming = format!("{db}_{suffix}");
        if incoming.len() > NAME_MAX {
            return Err(Failure::Usage(format!(
                "DB_NAME {db} is too long to restore beside it as {incoming} (at most {} bytes)",
                NAME_MAX - suffix.len() - 1
            )));
        }
        Ok(Names {
            db: db.to_string(),
            incoming,
            filestores: data_dir.join("filestore"),
        })
    }

    pub(super) fn files_of(&self, db: &str) -> PathBuf {
        self.filestores.join(db)
    }
}

/// A child of PID 1 run to its end (a stop ends it with the usual stop
/// sequence): its exit status.
pub(super) fn run_to_end(
    sup: &mut Supervisor,
    spec: &ChildSpec,
    what: &str,
) -> Result<i32, Failure> {
    let mut step = sup
        .start_step(spec)
        .map_err(|status| Failure::Os(format!("cannot start {what} (status {status})")))?;
    loop {
        match sup.wait_step(&mut step, Instant::now() + Duration::from_secs(3600)) {
            StepEvent::Exited(status) => return Ok(status),
            StepEvent::Interrupted(_) => return Err(Failure::Stopped),
            StepEvent::Deadline => {}
        }
    }
}

/// What a restore left under `names`' restoring name (`left`: by a
/// restorer that was killed, said; else our own failed one): dropped.
fn clear_leftovers(client: &mut Client, names: &Names, left: bool) -> Result<(), Failure> {
    if databases::exists(client, &names.incoming)
        .map_err(|e| db_failure("looking for a left restore", &e))?
    {
        if left {
            log::warn!(
                "dropping {}, left by a restore that did not finish",
                names.incoming
            );
        }
        databases::drop_if_exists(client, &names.incoming)
            .map_err(|e| db_failure(&format!("dropping {}", names.incoming), &e))?;
    }
    let files = names.files_of(&names.incoming);
    if files.exists() {
        fs::remove_dir_all(&files)
            .map_err(|e| Failure::Os(format!("removing {}: {e}", files.display())))?;
    }
    Ok(())
}

/// `source` restored into `names.incoming` (made for it, owned by
/// `DB_USER`) and its filestore directory, by the helper with the
/// steps' environment `env`. A failure drops both and says so.
pub(super) fn restore_into(
    cfg: &Config,
    sup: &mut Supervisor,
    admin: &mut Session,
    env: &[(OsString, Option<OsString>)],
    source: &Path,
    names: &Names,
) -> Result<(), Failure> {
    let pause = &mut sup.pause();
    let client = connected(admin, cfg.db_wait_timeout, pause).map_err(unavailable)?;
    clear_leftovers(client, names, true)?;
    super::admin::create_owned(cfg, client, &names.incoming)?;
    // A restore commits once per table, index and constraint: its sessions
    // do not wait for each to reach the disk. Nothing is lost that matters:
    // a crash leaves only the restoring name, dropped by the next restore,
    // and the rename that puts it in place is a commit that reaches the
    // disk only after every commit before it.
    databases::flush_wait(client, &names.incoming, false)
        .map_err(|e| db_failure("setting up the restore", &e))?;
    let (Some(pg_restore), Some(psql)) = (&cfg.restore.pg_restore, &cfg.restore.psql) else {
        return Err(Failure::Usage(
            "pg_restore and psql are needed on PATH for a restore".into(),
        ));
    };
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let argv: Vec<OsString> = vec![
        crate::helper::THIS_PROGRAM.into(),
        backup::RESTORE_COMMAND.into(),
        source.into(),
        names.files_of(&names.incoming).into(),
        names.incoming.clone().into(),
        pg_restore.into(),
        psql.into(),
        jobs.to_string().into(),
    ];
    let spec = ChildSpec {
        env: env.to_vec(),
        ..ChildSpec::new(argv)
    };
    log::info!("restoring {} into {}", source.display(), names.incoming);
    let status = run_to_end(sup, &spec, "the restore")?;
    let pause = &mut sup.pause();
    let client = connected(admin, cfg.db_wait_timeout, pause).map_err(unavailable)?;
    if status == 0 {
        return databases::flush_wait(client, &names.incoming, true)
            .map_err(|e| db_failure("finishing the restore", &e));
    }
    clear_leftovers(client, names, false)?;
    Err(Failure::StepFailed(format!(
        "restoring {} failed (status {status}): nothing was put in place, {} dropped",
        source.display(),
        names.incoming
    )))
}

/// A session as `DB_USER` on the restored database `incoming`.
pub(super) fn incoming_session(cfg: &Config, pause: &Pause, incoming: &str) -> Session {
    Session::new(Target::of(&cfg.db, cfg.password.as_deref(), incoming).minding(pause.meanwhile()))
}

/// The Odoo series of a restored database (`base`'s version: 17.0.1.3 is 17).
fn series(client: &mut Client) -> Result<Option<u32>, tokio_postgres::Error> {
    let row = client.query_typed_opt(
        "SELECT latest_version::text FROM ir_module_module WHERE name = $1",
        &[(&"base", Type::TEXT)],
    )?;
    let version: Option<String> = row.map(|r| r.try_get(0)).transpose()?.flatten();
    Ok(version.and_then(|v| v.split('.').next()?.parse().ok()))
}

impl Ctx {
    /// `MODE=Restore`'s step, after `Provision` (the role; `DB_NAME` did
    /// not exist): under the restore lock, `RESTORE_FROM` restored beside,
    /// neutralized (`RESTORE_NEUTRALIZE`), `ADMIN_PASSWORD` set, `Ready`
    /// written, the files put in place, then the database renamed to
    /// `DB_NAME`. The stored module checksums are the backup's: an update
    /// mode with another image then updates what differs.
    pub(super) fn restore(&mut self, sup: &mut Supervisor) -> Result<Next, Failure> {
        let cfg = self.cfg.clone();
        let Some(source) = cfg.restore.from.clone() else {
            return Err(Failure::Usage("MODE=Restore needs RESTORE_FROM".into()));
        };
        let started = Instant::now();
        let names = Names::new(cfg.db.name(), "restoring", &self.data_dir())?;
        let mut admin = admin_session(&cfg, &sup.pause());
        {
            let pause = &mut sup.pause();
            let client = connected(&mut admin, cfg.db_wait_timeout, pause).map_err(unavailable)?;
            restore_lock(client, &names.db, pause)?;
            if databases::exists(client, &names.db)
                .map_err(|e| db_failure("looking for the database", &e))?
            {
                log::info!("Restore: database {} exists (restored meanwhile by another pod); nothing to do", names.db);
                return Ok(Next::Done);
            }
        }
        restore_into(&cfg, sup, &mut admin, &self.env, &source, &names)?;
        let prepared = self.prepare_restored(sup, &names);
        if let Err(failure) = prepared {
            let pause = &mut sup.pause();
            if let Ok(client) = connected(&mut admin, cfg.db_wait_timeout, pause) {
                if let Err(e) = clear_leftovers(client, &names, false) {
                    e.say();
                }
            }
            return Err(failure);
        }
        // The files first: a database in place always has its files.
        let files = names.files_of(&names.db);
        if files.exists() {
            let aside = names.files_of(&format!(
                "{}.before-restore-{}",
                names.db,
                crate::clock::compact(SystemTime::now())
            ));
            log::warn!(
                "{} exists without its database: moved to {}",
                files.display(),
                aside.display()
            );
            fs::rename(&files, &aside)
                .map_err(|e| Failure::Os(format!("moving {}: {e}", files.display())))?;
        }
        let restored = names.files_of(&names.incoming);
        fs::rename(&restored, &files)
            .and_then(|()| fs::File::open(&names.filestores)?.sync_all())
            .map_err(|e| Failure::Os(format!("putting {} in place: {e}", restored.display())))?;
        let pause = &mut sup.pause();
        let client = connected(&mut admin, cfg.db_wait_timeout, pause).map_err(unavailable)?;
        databases::rename(client, &names.incoming, &names.db)
            .map_err(|e| db_failure(&format!("renaming {} to {}", names.incoming, names.db), &e))?;
        log::info!(
            "Restore: {} restored as {} in {:.1}s",
            source.display(),
            names.db,
            started.elapsed().as_secs_f64()
        );
        Ok(Next::Continue)
    }

    /// The restored database before it is put in place: neutralized when
    /// asked, the administrator's password, then `Ready` in its state table.
    fn prepare_restored(&mut self, sup: &mut Supervisor, names: &Names) -> Result<(), Failure> {
        let cfg = self.cfg.clone();
        let mut session = incoming_session(&cfg, &sup.pause(), &names.incoming);
        if cfg.restore.neutralize {
            let client = connected(&mut session, cfg.db_wait_timeout, &mut sup.pause())
                .map_err(unavailable)?;
            match series(client) {
                Ok(Some(major)) if major >= 16 => {}
                Ok(found) => {
                    return Err(Failure::Usage(format!(
                        "RESTORE_NEUTRALIZE=True: Odoo {} has no neutralize (16 and later have); nothing was put in place",
                        found.map_or("of unknown version".into(), |m| format!("{m}"))
                    )))
                }
                Err(e) => return Err(db_failure("reading the restored database's Odoo version", &e)),
            }
            session.close();
            let argv = odoo::neutralize(&cfg.odoo, &names.incoming, self.extra.current());
            let spec = ChildSpec {
                env: self.env.clone(),
                ..ChildSpec::new(argv)
            };
            log::info!("neutralizing {} (Odoo's neutralize)", names.incoming);
            match run_to_end(sup, &spec, "Odoo's neutralize")? {
                0 => {}
                status => {
                    return Err(Failure::StepFailed(format!(
                        "Odoo's neutralize failed (status {status}): nothing was put in place"
                    )))
                }
            }
        }
        let client =
            connected(&mut session, cfg.db_wait_timeout, &mut sup.pause()).map_err(unavailable)?;
        if let Some(password) = &cfg.odoo_admin_password {
            let hash = users::hashed(password)
                .ok_or_else(|| Failure::Os("no random salt for ADMIN_PASSWORD's hash".into()))?;
            match users::set_admin_password(client, &hash) {
                Ok(true) => log::info!("ADMIN_PASSWORD: the password of Odoo's admin user is set"),
                Ok(false) => log::warn!(
                    "ADMIN_PASSWORD: the restored database has no user admin; nothing set"
                ),
                Err(e) => return Err(db_failure("setting ADMIN_PASSWORD", &e)),
            }
        }
        let mut store = Store::new(hostname(), cfg.mode.name(), cfg.lease);
        let written = store.write(client, State::Ready);
        written.map_err(|e| db_failure("writing Ready in the restored database", &e))?;
        session.close();
        Ok(())
    }
}
