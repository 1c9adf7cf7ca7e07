//! The one way in: every entry point that works with the deployment's
//! settings (the main job, the one-offs, `state`, `adopt`,
//! `write-checksums`) starts from a [`Prepared`] context and from nothing
//! else, so that none can skip a hardening step:
//!
//! 1. the settings read and checked once ([`Config::from_env`]);
//! 2. the secrets' values overwritten in this process's environment block
//!    (`env::scrub`), before 3: a non-dumpable process's `/proc/self/mem`
//!    belongs to root, so as any other user the scrub must come first;
//! 3. the process made non-dumpable: no other process of this user (a
//!    one-off's child included) may read its memory or `/proc/PID/environ`,
//!    or attach to it;
//! 4. the supervisor: signals taken over, the stop descriptor and the
//!    reaper that every wait minds;
//! 5. this process's runtime directory and, with a password, the password
//!    file the children's `PGPASSFILE` names.

use std::path::PathBuf;

use crate::config::{Config, Entry};
use crate::db::conn::Target;
use crate::env;
use crate::exit::Failure;
use crate::odoo::addons::{self, Addons};
use crate::odoo::command as odoo;
use crate::pid1::supervisor::Supervisor;
use crate::runtime::{Instance, RuntimeDir};

/// The password file's name in the runtime directory.
pub(super) const PASSFILE: &str = "pgpass";
/// The config file with the master password's hash (`ADMIN_PASSWD`).
pub(super) const MASTER_RC: &str = "odoo.conf";

/// What every entry point runs with.
pub(crate) struct Prepared {
    pub(crate) cfg: Config,
    pub(crate) sup: Supervisor,
    /// This process's runtime directory; `None` when it could not be made
    /// and no password needed it.
    pub(crate) instance: Option<Instance>,
    /// The children's `PGPASSFILE`, when there is a password.
    pub(crate) passfile: Option<PathBuf>,
    /// What the run phase's config file holds (`ADMIN_PASSWD`), to write it
    /// again when a tmp cleaner took it.
    pub(crate) master_rc_text: Option<String>,
}

impl Prepared {
    /// Prepares `entry`; on failure, the exit code (said already).
    pub(crate) fn new(entry: Entry) -> Result<Prepared, i32> {
        Prepared::start(Prepared::settings(entry)?, entry)
    }

    /// The same for a command given `--database NAME`: that name is
    /// `DB_NAME` (one database of a `LIST_DB` server, say), the rest of the
    /// settings as the environment gives them.
    pub(crate) fn on(entry: Entry, database: Option<&str>) -> Result<Prepared, i32> {
        let Some(name) = database else {
            return Prepared::new(entry);
        };
        let lookup = |var: &str| match var {
            "DB_NAME" => Some(name.to_string()),
            _ => env::process_env(var),
        };
        Prepared::start(read_settings(&lookup, entry)?, entry)
    }

    /// Step 1 alone, for an entry that checks more before anything starts
    /// (the main job its run arguments): the settings, or the exit code.
    pub(crate) fn settings(entry: Entry) -> Result<Config, i32> {
        read_settings(&env::process_env, entry)
    }

    /// Steps 2 to 5 with the settings `entry` read.
    pub(crate) fn start(cfg: Config, entry: Entry) -> Result<Prepared, i32> {
        // Nor may a child that is allowed to look (CAP_SYS_PTRACE) find
        // the secrets in the environment block.
        match env::scrub(&odoo::SECRET_VALUES) {
            Ok(_) => {}
            Err(e) => {
                log::warn!("cannot scrub the passwords from odoo-init's environment block: {e}")
            }
        }
        // Secrets are in memory from here on: no other process of this user
        // may read them or attach to this one. Children are dumpable again
        // after their execve.
        if let Err(e) = nix::sys::prctl::set_dumpable(false) {
            log::warn!("cannot make odoo-init non-dumpable: {e}");
        }
        for note in &cfg.notes {
            log::info!("{note}");
        }
        let mut sup = Supervisor::new(&cfg.supervisor)
            .map_err(|e| Failure::Os(format!("cannot take over signals: {e}")).said())?;
        if !matches!(entry, Entry::Tool | Entry::Listing) {
            sup.announce();
        }
        let instance = match Instance::create(&RuntimeDir::new(cfg.runtime_dir.clone())) {
            Ok(instance) => Some(instance),
            // Without a password nothing needs the directory at start.
            Err(e) if cfg.password.is_none() => {
                if entry == Entry::Main {
                    log::warn!(
                        "{e}: no status record, so `odoo-init status` and every probe fail, and `odoo-init restart -- ARGS` cannot pass arguments; give ODOO_INIT_RUNTIME_DIR a directory this user can write (a tmpfs on /tmp with a read-only root)"
                    );
                }
                None
            }
            Err(e) => {
                let failure = Failure::Usage(format!("{e}; the password file for Odoo goes there"));
                return Err(super::end(&mut sup, failure));
            }
        };
        let passfile = keep_passfile(&cfg, instance.as_ref());
        let mut prepared = Prepared {
            cfg,
            sup,
            instance,
            passfile: None,
            master_rc_text: None,
        };
        match passfile {
            Ok(path) => prepared.passfile = path,
            Err(why) => return Err(prepared.fail(Failure::Os(why))),
        }
        if let Err(why) = prepared.master_rc() {
            return Err(prepared.fail(why));
        }
        Ok(prepared)
    }

    /// With `ADMIN_PASSWD`: the copy of Odoo's config file that holds its
    /// hash, hashed once here as Odoo hashes it, written into the runtime
    /// directory (0600) and named by the run phase's `--config`; the
    /// secret itself is written nowhere.
    fn master_rc(&mut self) -> Result<(), Failure> {
        let Some(password) = self.cfg.master_password.take() else {
            return Ok(());
        };
        let hash = crate::odoo::users::hashed(&password)
            .ok_or_else(|| Failure::Os("no random salt for ADMIN_PASSWD's hash".into()))?;
        let text = match &self.cfg.rc_file {
            Some(path) => crate::files::read_text(path, crate::odoo::rc::MAX_BYTES)
                .map_err(|e| Failure::Usage(format!("ODOO_RC {}: {e}", path.display())))?,
            None => String::new(),
        };
        let Some(instance) = &self.instance else {
            return Err(Failure::Usage(
                "ADMIN_PASSWD: no runtime directory for Odoo's config file with it (ODOO_INIT_RUNTIME_DIR)".into(),
            ));
        };
        let rc = crate::odoo::rc::with_admin_passwd(&text, &hash);
        let path = instance.write(MASTER_RC, rc.as_bytes()).map_err(|e| {
            Failure::Os(format!("writing Odoo's config file with ADMIN_PASSWD: {e}"))
        })?;
        self.cfg.odoo.master_rc = Some(path);
        self.master_rc_text = Some(rc);
        Ok(())
    }

    /// `DB_USER` on `DB_NAME`, its every wait minding the supervisor's stop
    /// and reaper.
    pub(crate) fn target(&self) -> Target {
        self.target_for(&self.cfg)
    }

    /// The same for `cfg` (one database of several, `LIST_DB`).
    pub(crate) fn target_for(&self, cfg: &Config) -> Target {
        Target::of(&cfg.db, cfg.password.as_deref(), cfg.db.name()).minding(self.sup.meanwhile())
    }

    /// The addons path as Odoo finds it (`ADDONS_PATH`, else Odoo's own
    /// and the configured ones, `--addons-path` of `extra` among them),
    /// hashed with helpers (this program) that the supervisor's stop ends.
    pub(crate) fn addons(&self, extra: &[std::ffi::OsString]) -> Result<Addons, Failure> {
        let cfg = &self.cfg;
        addons::discover(
            cfg.addons_path.as_deref(),
            &cfg.odoo.bin,
            cfg.rc_addons_path.as_deref(),
            extra,
        )
        .map(|found| {
            found
                .with_helper(Some(PathBuf::from(crate::helper::THIS_PROGRAM)))
                .minding(self.sup.meanwhile())
        })
        .map_err(|e| Failure::Usage(e.to_string()))
    }

    /// Says what failed, then the final stop; the exit code, once the
    /// runtime directory is removed.
    pub(crate) fn fail(mut self, failure: Failure) -> i32 {
        let code = super::end(&mut self.sup, failure);
        self.finish(code)
    }

    /// Says what failed, for a command that started nothing but helpers
    /// (no final stop to make); the exit code, once the runtime directory
    /// is removed.
    pub(crate) fn failed(self, failure: Failure) -> i32 {
        failure.say();
        let code = failure.code_stopped_as(self.sup.stopped_status());
        self.finish(code)
    }

    /// The runtime directory (the password file with it) removed; `code`.
    pub(crate) fn finish(self, code: i32) -> i32 {
        if let Some(instance) = self.instance {
            instance.remove();
        }
        code
    }
}

/// The settings `env` gives for `entry`, or the exit code of their error (said).
fn read_settings(env: env::Lookup, entry: Entry) -> Result<Config, i32> {
    Config::from_env(env, entry).map_err(|e| Failure::Usage(e.to_string()).said())
}

/// Writes the password file into `instance` unless it is there already
/// (it is written again when a tmp cleaner took it: the next child's
/// `PGPASSFILE` must find it); its path, when there is a password.
pub(super) fn keep_passfile(
    cfg: &Config,
    instance: Option<&Instance>,
) -> Result<Option<PathBuf>, String> {
    let (Some(password), Some(instance)) = (&cfg.password, instance) else {
        return Ok(None);
    };
    if instance.has(PASSFILE) {
        return Ok(Some(instance.file(PASSFILE)));
    }
    let line = odoo::passfile_line(&cfg.db.user, password);
    instance
        .write(PASSFILE, line.as_bytes())
        .map(Some)
        .map_err(|e| format!("cannot write the password file: {e}"))
}
