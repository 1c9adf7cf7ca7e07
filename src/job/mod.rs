//! The main job: the steps of `MODE` in order, each behind the state gate,
//! then Odoo under the supervisor. It sees every side and drives them in
//! straight lines: it calls down (configuration, the database session, the
//! state store, the Odoo command lines, the supervisor) and gets values back.
//!
//! - [`connect`]: waiting for PostgreSQL, and retrying a piece of work;
//! - [`gate`]: the state gate (look, wait, claim, reset a silent owner);
//! - [`steps`]: a claimed step run with its heartbeat, then `Ready`;
//! - [`update`]: `UPDATE=changed`, the checksums hashed outside the lock;
//! - [`provision`]: `Init`'s role and database, and an install's database;
//! - [`launcher`]: the run phase's gate before every start of Odoo.

mod connect;
mod gate;
mod launcher;
mod oneoff;
mod provision;
mod steps;
mod update;

use crate::meanwhile::Meanwhile;
use std::ffi::OsString;

use crate::config::{Config, UpdateWhat};
use crate::db::conn::Target;
use crate::db::session::Session;
use crate::db::state::{State, Store};
use crate::env;
use crate::exit::Failure;
use crate::odoo::addons::{self, Addons};
use crate::odoo::args;
use crate::odoo::checksums::Sums;
use crate::odoo::command as odoo;
use crate::odoo::prehashed::Prehashed;
use crate::pid1::restart::ExtraArgs;
use crate::pid1::supervisor::Supervisor;
use crate::plan::{Gate, Plan, Step};
use crate::runtime::{Instance, RuntimeDir};

/// What a step leaves for the plan.
enum Next {
    /// Go on with the next step.
    Continue,
    /// The plan is done: exit 0 (`Init` on an existing database, `ForceReadyState`).
    Done,
}

pub(crate) use oneoff::{one_off, OneOff};

pub(crate) fn main_job(extra: Vec<OsString>) -> i32 {
    let cfg = match Config::from_env(&env::process_env) {
        Ok(c) => c,
        Err(e) => return Failure::Usage(e.to_string()).said(),
    };
    // Secrets are in memory from here on: no other process of this user may
    // read them from /proc/1/environ or attach to PID 1. Children are
    // dumpable again after their execve.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        log::warn!("cannot make odoo-init non-dumpable: {e}");
    }
    // Nor may a child that is allowed to look (CAP_SYS_PTRACE).
    if let Err(e) = env::scrub(&odoo::SECRET_VALUES) {
        log::warn!("cannot scrub the passwords from odoo-init's environment block: {e}");
    }
    for note in &cfg.notes {
        log::info!("{note}");
    }
    let plan = Plan::for_mode(cfg.mode, cfg.list_db);
    if let Err(failure) = check_run_arguments(&cfg, &plan, &extra) {
        return failure.said();
    }
    log::info!(
        "MODE={}: steps {:?}, database {}",
        cfg.mode,
        plan.steps,
        cfg.db.name.as_deref().unwrap_or("(any: LIST_DB)")
    );
    let mut sup = match Supervisor::new(&cfg.supervisor) {
        Ok(s) => s,
        Err(e) => return Failure::Os(format!("cannot take over signals: {e}")).said(),
    };
    let instance = match Instance::create(&RuntimeDir::new(cfg.runtime_dir.clone())) {
        Ok(instance) => Some(instance),
        // Without a password nothing needs the directory at start.
        Err(e) if cfg.password.is_none() => {
            log::warn!(
                "{e}; `odoo-init restart -- ARGS` cannot pass new arguments to this process"
            );
            None
        }
        Err(e) => {
            let failure = Failure::Usage(format!("{e}; the password file for Odoo goes there"));
            return end(&mut sup, failure);
        }
    };
    let database = cfg.db.name.clone().unwrap_or_default();
    sup.status()
        .keep_in(instance.clone(), cfg.mode.name(), &database);
    let code = run(&mut sup, cfg, plan, instance.clone(), extra);
    // The password file and anything left for this process go with it.
    if let Some(instance) = instance {
        instance.remove();
    }
    code
}

/// The steps and the run phase, with this process's runtime directory.
fn run(
    sup: &mut Supervisor,
    cfg: Config,
    plan: Plan,
    instance: Option<Instance>,
    extra: Vec<OsString>,
) -> i32 {
    let passfile = match (&cfg.password, &instance) {
        (Some(p), Some(instance)) => {
            match instance.write(PASSFILE, odoo::passfile_line(&cfg.db.user, p).as_bytes()) {
                Ok(path) => Some(path),
                Err(e) => {
                    let failure = Failure::Os(format!("cannot write the password file: {e}"));
                    return end(sup, failure);
                }
            }
        }
        _ => None,
    };
    // The addons whose checksums installs store and updates compare, found
    // before anything touches the database: a wrong directory is exit 64.
    let addons = if plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::Install | Step::Update))
    {
        match find_addons(&cfg, &plan, &extra, sup.meanwhile()) {
            Ok(addons) => Some(addons),
            Err(failure) => return end(sup, failure),
        }
    } else {
        None
    };
    // The image's checksums, read once: a file named but unreadable is exit 64.
    let prehashed = match cfg.checksums_file.as_deref().filter(|_| addons.is_some()) {
        Some(path) => match Prehashed::read(path) {
            Ok(file) => Some(file),
            Err(why) => return end(sup, Failure::Usage(format!("ADDONS_CHECKSUMS_FILE: {why}"))),
        },
        None => None,
    };
    let extra = ExtraArgs::new(extra, instance);
    let target =
        Target::of(&cfg.db, cfg.password.as_deref(), cfg.db.name()).minding(sup.meanwhile());
    let mut ctx = Ctx {
        env: odoo::environment(&cfg.db, passfile.as_deref()),
        store: Store::new(hostname(), cfg.mode.name(), cfg.lease),
        session: Session::new(target),
        gate: plan.gate,
        claimed: None,
        extra,
        addons,
        sums: Sums::with_prehashed(prehashed),
        cfg,
    };
    for step in plan.steps {
        let next: Result<Next, Failure> = match step {
            Step::Provision => ctx.provision(&mut sup.pause()),
            Step::Install => ctx.install(sup),
            Step::Update if ctx.cfg.update == UpdateWhat::Changed => ctx.update_changed(sup),
            Step::Update => {
                let argv = odoo::update(&ctx.cfg.odoo, ctx.extra.current());
                let expect = odoo::to_update(&ctx.cfg.odoo);
                let create = ctx.gate == Gate::Ignore;
                ctx.step(sup, State::Updating, argv, create, &expect)
            }
            Step::Maintenance => match ctx.cfg.maintenance_script.clone() {
                Some(script) => {
                    let argv = odoo::maintenance(&script);
                    ctx.step(sup, State::Maintenance, argv, false, &[])
                }
                None => {
                    log::info!("no maintenance script (/etc/odoo/run.sh is absent): step skipped");
                    Ok(Next::Continue)
                }
            },
            Step::ForceReady => ctx.force_ready(&mut sup.pause()),
            Step::Run => {
                let on_exit = ctx.cfg.supervisor.on_exit;
                return sup.serve(&mut ctx, on_exit);
            }
        };
        match next {
            Ok(Next::Continue) => {}
            Ok(Next::Done) => return sup.shutdown(0),
            Err(failure) => return end(sup, failure),
        }
    }
    sup.shutdown(0)
}

/// The addons path for the module checksums, said once; a wrong directory
/// is a configuration error (its exit code).
fn find_addons(
    cfg: &Config,
    plan: &Plan,
    extra: &[OsString],
    meanwhile: Meanwhile,
) -> Result<Addons, Failure> {
    let found = addons::discover(
        cfg.addons_path.as_deref(),
        &cfg.odoo.bin,
        cfg.rc_addons_path.as_deref(),
        extra,
    );
    // Hashing helpers are this program (Addons::checksums).
    let addons = match found {
        Ok(addons) => addons
            .with_helper(std::env::current_exe().ok())
            .minding(meanwhile),
        Err(e) => return Err(Failure::Usage(e.to_string())),
    };
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
}

impl Ctx {
    /// Writes the password file again if it is gone (a tmp cleaner took the
    /// runtime directory): the next child's `PGPASSFILE` must find it.
    fn keep_passfile(&self) {
        let (Some(password), Some(instance)) = (&self.cfg.password, self.extra.instance()) else {
            return;
        };
        if instance.has(PASSFILE) {
            return;
        }
        let line = odoo::passfile_line(&self.cfg.db.user, password);
        if let Err(e) = instance.write(PASSFILE, line.as_bytes()) {
            log::warn!("{e}: the child may not find its password");
        }
    }
}

/// The password file's name in the runtime directory.
const PASSFILE: &str = "pgpass";

/// The run phase's Odoo arguments, before anything starts: nothing that
/// would bypass the gate (refused), and a hint where a secret is in them.
fn check_run_arguments(cfg: &Config, plan: &Plan, extra: &[OsString]) -> Result<(), Failure> {
    if !plan.steps.contains(&Step::Run) {
        return Ok(());
    }
    if let Some(why) = args::refused_in_run(extra, cfg.odoo.database.as_deref()) {
        return Err(Failure::Usage(why));
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
    let code = match failure {
        Failure::Stopped => sup.stopped_status(),
        other => other.code(),
    };
    sup.shutdown(code)
}

/// This host's name, as rows name their writer.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
