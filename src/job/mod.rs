//! The main job: the steps of `MODE` in order, each behind the state gate,
//! then Odoo under the supervisor. It sees every side and drives them in
//! straight lines: it calls down (configuration, the database session, the
//! state store, the Odoo command lines, the supervisor) and gets values back.
//!
//! - [`connect`]: waiting for PostgreSQL, and retrying a piece of work;
//! - [`gate`]: the state gate (look, wait, claim, reset a silent owner);
//! - [`steps`]: a claimed step run with its heartbeat, then `Ready`;
//! - [`update`]: `UPDATE=changed`, the checksums hashed outside the lock;
//! - [`update_step`]: the update step, claimed, with what `MODULES` lacks;
//! - [`provision`]: `Init`'s role and database, and an install's database;
//! - [`launcher`]: the run phase's gate before every start of Odoo;
//! - [`many`]: `LIST_DB=True`: each chosen database's steps in turn;
//!   [`serve_many`]: Odoo serving them once each one's gate lets it.

mod admin;
mod backup;
mod connect;
mod gate;
mod launcher;
mod many;
mod oneoff;
mod prepared;
mod provision;
mod restore;
mod rollback;
mod serve_many;
mod steps;
mod update;
mod update_step;
mod watch;

use std::ffi::OsString;

use crate::config::{Config, Entry, UpdateWhat};
use crate::db::session::Session;
use crate::db::state::{State, Store};
use crate::exit::Failure;
use crate::odoo::addons::Addons;
use crate::odoo::args;
use crate::odoo::checksums::Sums;
use crate::odoo::command as odoo;
use crate::odoo::prehashed::Prehashed;
use crate::pid1::restart::ExtraArgs;
use crate::pid1::supervisor::Supervisor;
use crate::plan::{Gate, Plan, Step};

/// What a step leaves for the plan.
enum Next {
    /// Go on with the next step.
    Continue,
    /// The plan is done: exit 0 (`Init` on an existing database, `ForceReadyState`).
    Done,
}

pub(crate) use backup::backup_now;
pub(crate) use oneoff::{one_off, OneOff};
pub(crate) use prepared::Prepared;
pub(crate) use rollback::rollback_now;

/// The databases `LIST_DB` chooses (`state --all`), each with the target
/// of its own settings (`DB_USER` on it).
pub(crate) fn chosen_databases(
    prepared: &mut Prepared,
) -> Result<Vec<(String, crate::db::conn::Target)>, Failure> {
    if !prepared.cfg.list_db {
        return Err(Failure::Usage(
            "state --all works on the databases LIST_DB=True chooses: set LIST_DB (and DB_FILTER or DB_NAMES), or name one with --database".into(),
        ));
    }
    let chosen = many::choose(prepared, true)?;
    Ok(chosen
        .into_iter()
        .map(|db| {
            let target = prepared.target_for(&many::for_database(&prepared.cfg, &db));
            (db, target)
        })
        .collect())
}

pub(crate) fn main_job(extra: Vec<OsString>) -> i32 {
    let cfg = match Prepared::settings(Entry::Main) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    let plan = Plan::for_mode(cfg.mode, cfg.list_db);
    // Refused before anything starts.
    if let Err(failure) = check_run_arguments(&cfg, &plan, &extra) {
        return failure.said();
    }
    let mut prepared = match Prepared::start(cfg, Entry::Main) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let cfg = &prepared.cfg;
    log::info!(
        "MODE={}: steps {:?}, database {}",
        cfg.mode,
        plan.steps,
        cfg.db.name.as_deref().unwrap_or("(any: LIST_DB)")
    );
    let database = prepared.cfg.db.name.clone().unwrap_or_default();
    let instance = prepared.instance.clone();
    prepared
        .sup
        .status()
        .keep_in(instance.clone(), prepared.cfg.mode.name(), &database);
    let code = run(&mut prepared, plan, extra);
    prepared.finish(code)
}

/// The steps and the run phase.
fn run(prepared: &mut Prepared, plan: Plan, extra: Vec<OsString>) -> i32 {
    // The addons whose checksums installs store and updates compare, found
    // before anything touches the database: a wrong directory is exit 64.
    let addons = if plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::Install | Step::Update))
    {
        match find_addons(prepared, &plan, &extra) {
            Ok(addons) => Some(addons),
            Err(failure) => return end(&mut prepared.sup, failure),
        }
    } else {
        None
    };
    let cfg = prepared.cfg.clone();
    // The image's checksums, read once: a file named but unreadable is exit 64.
    let prehashed = match cfg.checksums_file.as_deref().filter(|_| addons.is_some()) {
        Some(path) => match Prehashed::read(path) {
            Ok(file) => Some(file),
            Err(why) => {
                let failure = Failure::Usage(format!("ADDONS_CHECKSUMS_FILE: {why}"));
                return end(&mut prepared.sup, failure);
            }
        },
        None => None,
    };
    // Many databases: each chosen one's steps in turn, then (the run
    // modes) Odoo serving them once each one's gate lets it.
    if cfg.list_db {
        let serves = plan.steps.contains(&Step::Run);
        if plan.steps.iter().any(|s| *s != Step::Run) {
            match many::each(prepared, &plan, &extra, addons, prehashed) {
                Ok(()) if !serves => return prepared.sup.shutdown(0),
                Ok(()) => {}
                // Said; the failed ones are then left out or waited for
                // (ON_FAILED_DATABASE), the others served.
                Err(failure @ Failure::StepFailed(_)) if serves => failure.say(),
                Err(failure) => return end(&mut prepared.sup, failure),
            }
        }
        return serve_many::serve(prepared, extra);
    }
    let mut ctx = Ctx::new(prepared, cfg, plan.gate, extra, addons, prehashed);
    let sup = &mut prepared.sup;
    for step in plan.steps {
        if step == Step::Run {
            let on_exit = ctx.cfg.supervisor.on_exit;
            return sup.serve(&mut ctx, on_exit);
        }
        match ctx.one_step(sup, step) {
            Ok(Next::Continue) => {}
            Ok(Next::Done) => return sup.shutdown(0),
            Err(failure) => return end(sup, failure),
        }
    }
    sup.shutdown(0)
}

impl Ctx {
    /// The context of the steps on `cfg`'s database.
    fn new(
        prepared: &Prepared,
        cfg: Config,
        gate: Gate,
        extra: Vec<OsString>,
        addons: Option<Addons>,
        prehashed: Option<Prehashed>,
    ) -> Ctx {
        let target = prepared.target_for(&cfg);
        Ctx {
            env: odoo::environment(&cfg.db, prepared.passfile.as_deref()),
            store: Store::new(hostname(), cfg.mode.name(), cfg.lease),
            session: Session::new(target),
            gate,
            claimed: None,
            extra: ExtraArgs::new(extra, prepared.instance.clone()),
            addons,
            sums: Sums::with_prehashed(prehashed),
            backup_made: None,
            master_rc_text: prepared.master_rc_text.clone(),
            give_way: false,
            cfg,
        }
    }

    /// One step of the plan but the run phase.
    fn one_step(&mut self, sup: &mut Supervisor, step: Step) -> Result<Next, Failure> {
        match step {
            Step::Provision => self.provision(&mut sup.pause()),
            Step::Install => self.install(sup),
            Step::Update if self.cfg.update == UpdateWhat::Changed => self.update_changed(sup),
            Step::Update => self.update_all(sup),
            Step::Maintenance => match self.cfg.maintenance_script.clone() {
                Some(script) => {
                    let argv = odoo::maintenance(&script);
                    self.step(sup, State::Maintenance, argv, false, &[])
                }
                None => {
                    log::info!("no maintenance script (/etc/odoo/run.sh is absent): step skipped");
                    Ok(Next::Continue)
                }
            },
            Step::Restore => self.restore(sup),
            Step::ForceReady => self.force_ready(&mut sup.pause()),
            Step::Run => Err(Failure::Usage("the run phase is not a step".into())),
        }
    }
}

/// The addons path for the module checksums, said once; a wrong directory
/// is a configuration error (its exit code).
fn find_addons(prepared: &Prepared, plan: &Plan, extra: &[OsString]) -> Result<Addons, Failure> {
    let cfg = &prepared.cfg;
    let addons = prepared.addons(extra)?;
    // A name of MODULES that no addons directory holds would leave a busy
    // state no run can finish: refused now. Only where odoo-init sees
    // Odoo's own addons (`base`): otherwise its view of the path is partial.
    if addons.find("base").is_some() {
        let odoo = &cfg.odoo;
        let absent: Vec<&String> = odoo
            .modules
            .iter()
            .chain(&odoo.server_wide_modules)
            .filter(|m| addons.find(m).is_none())
            .collect();
        if !absent.is_empty() {
            let names: Vec<&str> = absent.iter().map(|m| m.as_str()).collect();
            let dirs: Vec<String> = addons
                .dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            return Err(Failure::Usage(format!(
                "MODULES names {} that no addons directory holds ({}): nothing was claimed",
                names.join(", "),
                dirs.join(",")
            )));
        }
    }
    if addons.dirs().is_empty() {
        let why = "no addons directory found (no ADDONS_PATH, no addons_path or --addons-path, none of Odoo's own)";
        if cfg.update == UpdateWhat::Changed && plan.steps.contains(&Step::Update) {
            log::warn!("{why}: module checksums cannot be compared, updates update everything (as UPDATE=all)");
        } else {
            log::info!("{why}: module checksums are stored as unknown (false)");
        }
    } else {
        let dirs: Vec<String> = addons
            .dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        log::info!("addons path for the module checksums: {}", dirs.join(","));
    }
    Ok(addons)
}

/// Everything but the supervisor: so that the supervisor can run the
/// launcher while the launcher uses the session.
struct Ctx {
    cfg: Config,
    gate: Gate,
    /// The children's environment changes (libpq's variables, secrets removed).
    env: Vec<(OsString, Option<OsString>)>,
    store: Store,
    /// The one database session of the job, as `DB_USER` on `DB_NAME`.
    session: Session,
    /// A busy row claimed by `provision` for the install that follows.
    claimed: Option<i64>,
    extra: ExtraArgs,
    /// Where the addons are, for their checksums (modes that install or update).
    addons: Option<Addons>,
    /// The addons' checksums, hashed outside any state transaction.
    sums: Sums,
    /// The backup made before the update of a claim (its id, its path).
    backup_made: Option<(i64, String)>,
    /// The run phase's config file with `ADMIN_PASSWD`'s hash, as written.
    master_rc_text: Option<String>,
    /// `LIST_DB`: a claim that finds another pod's step busy gives way
    /// (`Failure::Held`) instead of waiting, so that the pods spread over
    /// the databases instead of queueing behind each other.
    give_way: bool,
}

impl Ctx {
    /// Writes the password file again if it is gone (a tmp cleaner took the
    /// runtime directory): the next child's `PGPASSFILE` must find it.
    fn keep_passfile(&self) {
        if let Err(why) = prepared::keep_passfile(&self.cfg, self.extra.instance()) {
            log::warn!("{why}: the child may not find its password");
        }
        let (Some(text), Some(instance)) = (&self.master_rc_text, self.extra.instance()) else {
            return;
        };
        if !instance.has(prepared::MASTER_RC) {
            if let Err(e) = instance.write(prepared::MASTER_RC, text.as_bytes()) {
                log::warn!("cannot write Odoo's config file with ADMIN_PASSWD again: {e}");
            }
        }
    }
}

/// The run phase's Odoo arguments, before anything starts: nothing that
/// would bypass the gate (refused), and a hint where a secret is in them.
fn check_run_arguments(cfg: &Config, plan: &Plan, extra: &[OsString]) -> Result<(), Failure> {
    if !plan.steps.contains(&Step::Run) {
        return Ok(());
    }
    if let Some(why) = args::refused_in_run(extra, cfg.odoo.database.as_deref()) {
        return Err(Failure::Usage(why));
    }
    let words: Vec<String> = extra
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let (Some(_), Some(file)) = (&cfg.master_password, args::value_of(&words, "--config")) {
        // Odoo reads the last --config: this one, without the master password.
        return Err(Failure::Usage(format!(
            "--config {file} on Odoo's command line with ADMIN_PASSWD: Odoo would read that file, not the copy with the master password; name it in ODOO_RC instead"
        )));
    }
    let words = extra.iter().filter_map(|a| a.to_str());
    if let Some(option) = args::secret_in(words) {
        log::warn!("{option} on Odoo's command line: shown as <secret> in the log and the status record, but every process of this user can read it in /proc; better DB_PASSWORD_FILE");
    }
    Ok(())
}

/// Says what failed, then the final stop; the exit code.
fn end(sup: &mut Supervisor, failure: Failure) -> i32 {
    failure.say();
    let code = failure.code_stopped_as(sup.stopped_status());
    sup.shutdown(code)
}

/// This host's name, as rows name their writer.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
