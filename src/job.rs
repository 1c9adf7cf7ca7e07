//! The main job: the steps of `MODE` in order (each a supervised child, each
//! behind the state gate), then Odoo under the supervisor.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{Client, Transaction};

use crate::config::{self, Config, UpdateWhat};
use crate::db::conn::{self, ConnectError, Target};
use crate::db::heartbeat::{Heartbeat, Stopped};
use crate::db::state::{self, Claim, InLock, State, Store, Verdict, Writer};
use crate::exit;
use crate::odoo::addons::{self, Addons};
use crate::odoo::checksums;
use crate::odoo::command as odoo;
use crate::odoo::modules;
use crate::pid1::restart::ExtraArgs;
use crate::pid1::runtime::{Instance, RuntimeDir};
use crate::pid1::status::Phase;
use crate::pid1::supervisor::{Abort, ChildSpec, Launcher, Pause, StepEnd, Supervisor};
use crate::plan::{Gate, Plan, Step};

/// How often a waiting pod looks at the state again.
const POLL: Duration = Duration::from_secs(1);
/// How often a waiting pod says what it waits for.
const WAIT_LOG_EVERY: Duration = Duration::from_secs(30);

/// Why the job stops early.
#[derive(Debug)]
enum Halt {
    /// SIGTERM/SIGINT before anything was started.
    Stopped,
    /// Exit with this code (the reason is logged already).
    Exit(i32),
}

type Flow = Result<bool, Halt>;

/// A connection that could not be made ends the job; the reason is logged here.
impl From<ConnectError> for Halt {
    fn from(e: ConnectError) -> Halt {
        match e {
            ConnectError::Stopped => Halt::Stopped,
            e => {
                log::error!("{e}");
                Halt::Exit(exit::DB_UNREACHABLE)
            }
        }
    }
}

pub fn main_job(extra: Vec<OsString>) -> i32 {
    let cfg = match Config::from_env(&config::process_env) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return exit::USAGE;
        }
    };
    // Secrets are in memory from here on: no other process of this user may
    // read them from /proc/1/environ or attach to PID 1. Children are
    // dumpable again after their execve.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        log::warn!("cannot make odoo-init non-dumpable: {e}");
    }
    let plan = Plan::for_mode(cfg.mode, cfg.list_db);
    log::info!(
        "MODE={}: steps {:?}, database {}",
        cfg.mode,
        plan.steps,
        cfg.db.name.as_deref().unwrap_or("(any: LIST_DB)")
    );
    let mut sup = match Supervisor::new(&cfg.supervisor) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot take over signals: {e}");
            return exit::OS_ERROR;
        }
    };
    let instance = match Instance::create(&RuntimeDir::new(cfg.runtime_dir.clone())) {
        Ok(instance) => Some(instance),
        // Without a password nothing needs the directory at start.
        Err(e) if cfg.db.password.is_none() => {
            log::warn!(
                "{e}; `odoo-init restart -- ARGS` cannot pass new arguments to this process"
            );
            None
        }
        Err(e) => {
            log::error!("{e}; the password file for Odoo goes there");
            return sup.shutdown(exit::USAGE);
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
    let passfile = match (&cfg.db.password, &instance) {
        (Some(p), Some(instance)) => {
            match instance.write("pgpass", odoo::passfile_line(&cfg.db.user, p).as_bytes()) {
                Ok(path) => Some(path),
                Err(e) => {
                    log::error!("cannot write the password file: {e}");
                    return sup.shutdown(exit::OS_ERROR);
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
        // Hashing helpers are this program (Addons::checksums).
        match addons::discover(&cfg, &extra).map(|a| a.with_helper(std::env::current_exe().ok())) {
            Ok(addons) if addons.dirs().is_empty() => {
                let why = "no addons directory found (no ADDONS_PATH, no addons_path or --addons-path, none of Odoo's own)";
                if cfg.update == UpdateWhat::Changed && plan.steps.contains(&Step::Update) {
                    log::warn!("{why}: module checksums cannot be compared, updates update everything (as UPDATE=all)");
                } else {
                    log::info!("{why}: module checksums are stored as unknown (false)");
                }
                Some(addons)
            }
            Ok(addons) => {
                let dirs: Vec<String> = addons
                    .dirs()
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                log::info!("addons path for the module checksums: {}", dirs.join(","));
                Some(addons)
            }
            Err(e) => {
                log::error!("{e}");
                return sup.shutdown(exit::USAGE);
            }
        }
    } else {
        None
    };
    let extra = ExtraArgs::new(extra, instance);
    let mut ctx = Ctx {
        env: odoo::environment(&cfg, passfile.as_deref()),
        writer: Writer {
            owner: hostname(),
            mode: cfg.mode.name().to_string(),
            lease: cfg.lease,
        },
        cfg,
        gate: plan.gate,
        client: None,
        claimed: None,
        extra,
        addons,
    };
    for step in plan.steps {
        let flow = match step {
            Step::Provision => ctx.provision(&mut sup.pause()),
            Step::Install => {
                let argv = odoo::install(&ctx.cfg, ctx.extra.current());
                let expect = odoo::to_install(&ctx.cfg);
                ctx.step(sup, State::Creating, argv, true, &expect)
            }
            Step::Update if ctx.cfg.update == UpdateWhat::Changed => ctx.update_changed(sup),
            Step::Update => {
                let argv = odoo::update(&ctx.cfg, ctx.extra.current());
                let expect = odoo::to_update(&ctx.cfg);
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
                    Ok(true)
                }
            },
            Step::ForceReady => ctx.force_ready(&mut sup.pause()).map(|()| false),
            Step::Run => {
                let on_exit = ctx.cfg.supervisor.on_exit;
                return sup.serve(&mut ctx, on_exit);
            }
        };
        match flow {
            Ok(true) => {}
            Ok(false) => return sup.shutdown(0),
            Err(Halt::Stopped) => return sup.shutdown(exit::for_signal(libc::SIGTERM)),
            Err(Halt::Exit(code)) => return sup.shutdown(code),
        }
    }
    sup.shutdown(0)
}

/// Everything but the supervisor: so that the supervisor can run the
/// launcher while the launcher uses the connection.
struct Ctx {
    cfg: Config,
    gate: Gate,
    env: Vec<(OsString, Option<OsString>)>,
    writer: Writer,
    client: Option<Client>,
    /// A busy row claimed by `provision` for the install that follows.
    claimed: Option<i64>,
    extra: ExtraArgs,
    /// Where the addons are, for their checksums (modes that install or update).
    addons: Option<Addons>,
}

impl Ctx {
    /// Waits at the gate; with `busy`, claims it. `create`: the table may be
    /// created here (and, for an install, the database). Returns the claimed row.
    ///
    /// A connection lost meanwhile is made again (`live`, with the backoff of
    /// the first wait, within `DB_WAIT_TIMEOUT`); the owner's silence counts
    /// only while this pod watched it and the database answered.
    /// `needed`: asked under the lock once the gate is open, whether `busy`
    /// is to be claimed at all (`UPDATE=changed`); false: `Ok(None)`.
    fn pass_gate(
        &mut self,
        pause: &mut Pause,
        busy: Option<State>,
        create: bool,
        mut needed: Option<InLock<bool>>,
    ) -> Result<Option<i64>, Halt> {
        let force = self.gate == Gate::Ignore;
        let started = Instant::now();
        let mut said: Option<Instant> = None;
        // What the gate waits for: in the status record when it changes, in the log every 30 s.
        let mut say = |pause: &mut Pause, what: &str| {
            pause.status().waiting_for(what);
            if said.is_none_or(|t| t.elapsed() >= WAIT_LOG_EVERY) {
                log::info!(
                    "{what}; waiting since {:.0}s",
                    started.elapsed().as_secs_f64()
                );
                said = Some(Instant::now());
            }
        };
        let mut watch = Watch::default();
        // Since when statements fail because the connection is lost.
        let mut lost: Option<Instant> = None;
        pause.status().phase(Phase::Gate);
        loop {
            let missing = match live(&mut self.client, &self.cfg, pause) {
                Ok(client) => {
                    let stop_asked = || pause.stop_pending();
                    let answer = Store::new(client, &self.writer).claim(
                        busy,
                        create,
                        force,
                        &stop_asked,
                        // A reborrow for this try (the loop may try again).
                        needed.as_mut().map(|f| &mut **f as InLock<bool>),
                    );
                    if answer.is_ok() && lost.take().is_some() {
                        log::info!("database connection back");
                    }
                    match answer {
                        Ok(Claim::Claimed(id)) => return Ok(Some(id)),
                        Ok(Claim::Open) => return Ok(None),
                        Ok(Claim::NoTable) => Some("state table"),
                        Ok(Claim::Stopped) => {
                            log::info!("stop asked while claiming: nothing claimed");
                            return Err(Halt::Stopped);
                        }
                        Ok(Claim::Busy(latest)) => {
                            let watched = watch.see(&latest);
                            let (timeout, lease) = (self.cfg.timeout, self.cfg.lease);
                            match state::judge(&latest, watched, timeout, lease) {
                                Verdict::Proceed => return Ok(None),
                                Verdict::Wait(what) => {
                                    say(pause, &what);
                                    None
                                }
                                Verdict::Reset(reason) => {
                                    let client = live(&mut self.client, &self.cfg, pause)?;
                                    match Store::new(client, &self.writer).reset_if_latest(&latest)
                                    {
                                        Ok(true) => {
                                            log::error!("{reason}: wrote Reset; exiting so that the orchestrator restarts this container");
                                            return Err(Halt::Exit(exit::GATE_RESET));
                                        }
                                        Ok(false) => None,
                                        // Looked at again at the next poll.
                                        Err(e) if conn::is_lock_wait(&e) => None,
                                        Err(e) if conn::is_connection_loss(&e) => {
                                            self.connection_lost(&e, &mut lost, &mut watch)?;
                                            None
                                        }
                                        Err(e) => return Err(db_failure("writing Reset", &e)),
                                    }
                                }
                            }
                        }
                        Err(e) if conn::is_lock_wait(&e) => {
                            // Nothing was watched meanwhile; the pause below honours signals.
                            watch = Watch::default();
                            say(
                                pause,
                                &format!(
                                    "the state table is locked by another session ({})",
                                    conn::message(&e)
                                ),
                            );
                            None
                        }
                        Err(e) if conn::is_connection_loss(&e) => {
                            // The first loss is retried at once; a loss again right after, after a pause.
                            if self.connection_lost(&e, &mut lost, &mut watch)? {
                                continue;
                            }
                            None
                        }
                        Err(e) => return Err(db_failure("reading the state", &e)),
                    }
                }
                // Only an install makes the database, as Odoo's `-i` would.
                Err(ConnectError::NoDatabase) if busy == Some(State::Creating) => {
                    self.create_database(pause)?;
                    continue;
                }
                Err(ConnectError::NoDatabase) => Some("database"),
                Err(e) => return Err(e.into()),
            };
            if let Some(what) = missing {
                if started.elapsed() > self.cfg.timeout {
                    log::error!(
                        "no {what} in {} after {:.0}s (TIMEOUT); MODE=ForceRunOnly or ForceUpdateOnly adopt an existing database without a state table",
                        self.cfg.db_name(),
                        self.cfg.timeout.as_secs_f64()
                    );
                    return Err(Halt::Exit(exit::GATE_RESET));
                }
                say(
                    pause,
                    &format!(
                        "no {what} yet in {} (an Init or install may be creating it)",
                        self.cfg.db_name()
                    ),
                );
            }
            if pause.sleep(POLL).is_err() {
                return Err(Halt::Stopped);
            }
        }
    }

    /// A statement failed because the connection was lost: drop it (the next
    /// `live` makes it again), forget what was watched meanwhile, say it once.
    /// True the first time in a row; an error once it has lasted `DB_WAIT_TIMEOUT`.
    fn connection_lost(
        &mut self,
        e: &postgres::Error,
        lost: &mut Option<Instant>,
        watch: &mut Watch,
    ) -> Result<bool, Halt> {
        self.client = None;
        *watch = Watch::default();
        match lost {
            None => {
                log::info!(
                    "database connection lost ({}); reconnecting",
                    conn::message(e)
                );
                *lost = Some(Instant::now());
                Ok(true)
            }
            Some(since) if since.elapsed() > self.cfg.db_wait_timeout => {
                Err(db_failure("the database keeps dropping the connection", e))
            }
            Some(_) => Ok(false),
        }
    }

    /// One install/update/maintenance step: claim its busy state, run it
    /// with a heartbeat, write `Ready` when it succeeded, every module of
    /// `expect` is installed, and the claim is still ours.
    fn step(
        &mut self,
        sup: &mut Supervisor,
        busy: State,
        argv: Vec<OsString>,
        create: bool,
        expect: &[String],
    ) -> Flow {
        let id = match self.claimed.take() {
            Some(id) => id,
            None => match self.pass_gate(&mut sup.pause(), Some(busy), create, None)? {
                Some(id) => id,
                // claim() writes `busy` whenever the gate is open; this would be a bug.
                None => {
                    log::error!("the gate opened without claiming '{}'", busy.as_str());
                    return Err(Halt::Exit(exit::STEP_FAILED));
                }
            },
        };
        self.run_claimed(sup, busy, id, argv, expect)
    }

    /// `UPDATE=changed`: under the state lock, with the stored checksums
    /// read in the same transaction, the installed modules (of `MODULES`,
    /// when set) whose files changed; none: no update runs and no busy state
    /// is written. Nothing stored yet: everything, once (as `UPDATE=all`),
    /// and then the checksums are stored. A Force mode updates all the same
    /// (as `UPDATE=all` when nothing changed): the operator's explicit retry.
    fn update_changed(&mut self, sup: &mut Supervisor) -> Flow {
        let Some(addons) = self.addons.clone() else {
            log::error!("no addons path for the checksums; this would be a bug");
            return Err(Halt::Exit(exit::STEP_FAILED));
        };
        let only = odoo::to_update(&self.cfg);
        let force = self.gate == Gate::Ignore;
        // None: as UPDATE=all; Some(list): those modules.
        let mut chosen: Option<Vec<String>> = None;
        let mut unreadable = None;
        let mut needed = |tx: &mut Transaction<'_>| -> Result<bool, postgres::Error> {
            if addons.dirs().is_empty() {
                chosen = None;
                return Ok(true);
            }
            let known = checksums::read(tx)?;
            if known.stored.is_empty() {
                log::info!("UPDATE=changed: no module checksums stored yet: updating as UPDATE=all once, then storing them");
                chosen = None;
                return Ok(true);
            }
            if known.installed.iter().any(|m| m == "base") && addons.find("base").is_none() {
                log::warn!("Odoo's own addons (base) are on no addons path odoo-init knows: their changes go unseen; set ADDONS_PATH to every addons directory, or UPDATE=all");
            }
            match checksums::changed(&known, &addons, &only) {
                Ok(changed) if changed.is_empty() => {
                    chosen = None;
                    Ok(force)
                }
                Ok(changed) => {
                    chosen = Some(changed);
                    Ok(true)
                }
                Err(e) => {
                    unreadable = Some(e);
                    Ok(false)
                }
            }
        };
        let claimed = self.pass_gate(
            &mut sup.pause(),
            Some(State::Updating),
            force,
            Some(&mut needed),
        )?;
        if let Some(e) = unreadable {
            log::error!("cannot compute the checksum of an addon: {e}");
            return Err(Halt::Exit(exit::USAGE));
        }
        let Some(id) = claimed else {
            log::info!(
                "UPDATE=changed: no installed module changed since the checksums stored by the last update: no update"
            );
            return Ok(true);
        };
        let argv = match &chosen {
            Some(modules) => {
                log::info!("UPDATE=changed: updating {}", modules.join(","));
                odoo::update_modules(&self.cfg, self.extra.current(), modules)
            }
            None => odoo::update(&self.cfg, self.extra.current()),
        };
        let expect = odoo::to_update(&self.cfg);
        self.run_claimed(sup, State::Updating, id, argv, &expect)
    }

    /// Runs the step of the busy row `id` this pod claimed; see [`Ctx::step`].
    /// After an install or update, `Ready` goes with the new checksums.
    fn run_claimed(
        &mut self,
        sup: &mut Supervisor,
        busy: State,
        id: i64,
        argv: Vec<OsString>,
        expect: &[String],
    ) -> Flow {
        let phase = match busy {
            State::Creating => Phase::Install,
            State::Updating => Phase::Update,
            _ => Phase::Maintenance,
        };
        sup.status().phase(phase);
        sup.status()
            .owns(Some(format!("{}, row {id}", busy.as_str())));
        let spec = ChildSpec {
            argv,
            env: self.env.clone(),
        };
        let cfg = &self.cfg;
        let target = Target::of(&cfg.db, cfg.db_name());
        let mut heartbeat = Heartbeat::new(
            target,
            id,
            self.client.take(),
            cfg.lease,
            cfg.db_wait_timeout,
        );
        let end = sup.run_step(&spec, heartbeat.every(), &mut || heartbeat.tick());
        let stopped = heartbeat.stopped().cloned();
        self.client = heartbeat.into_client();
        let what = busy.as_str();
        let missing = match end {
            StepEnd::Exited(0) if !expect.is_empty() => self.not_installed(sup, expect)?,
            _ => None,
        };
        match end {
            StepEnd::Exited(0) if missing.is_some() => {
                log::error!(
                    "step '{what}' exited 0, but not every module is installed: {}; the state stays '{what}': check the addons path (--addons-path, addons_path) and the step's log, then run the step again",
                    missing.unwrap_or_default()
                );
                self.record_failure(sup, id, exit::STEP_FAILED);
                Err(Halt::Exit(exit::STEP_FAILED))
            }
            StepEnd::Exited(0) => {
                let addons = self.addons.clone().filter(|_| busy != State::Maintenance);
                let mut not_stored = None;
                // In a savepoint: checksums that cannot be stored never cost
                // the Ready (only a lost connection is tried again).
                let mut with_ready = |tx: &mut Transaction<'_>| -> Result<(), postgres::Error> {
                    let Some(addons) = &addons else {
                        return Ok(());
                    };
                    let mut savepoint = tx.transaction()?;
                    let stored = match checksums::current(&mut savepoint, addons) {
                        Ok(json) => {
                            checksums::store(&mut savepoint, &json).map_err(checksums::Error::Db)
                        }
                        Err(e) => Err(e),
                    };
                    match stored {
                        Ok(()) => savepoint.commit(),
                        Err(checksums::Error::Db(e)) if conn::is_connection_loss(&e) => Err(e),
                        Err(checksums::Error::Db(e)) => {
                            not_stored = Some(conn::message(&e));
                            Ok(())
                        }
                        Err(checksums::Error::Files(e)) => {
                            not_stored = Some(e.to_string());
                            Ok(())
                        }
                    }
                };
                let ours = self.store_write(&mut sup.pause(), "writing Ready", |s| {
                    s.finish(id, Some(&mut with_ready))
                })?;
                if let Some(e) = not_stored {
                    log::warn!("module checksums not stored ({e}): the next update compares with the ones stored before, and updates these modules again");
                }
                if ours {
                    sup.status().owns(None);
                    Ok(true)
                } else {
                    log::error!("step '{what}' completed, but state {id} is no longer the latest row (another pod wrote Reset or a newer state after it): Ready not written");
                    Err(Halt::Exit(exit::CLAIM_LOST))
                }
            }
            StepEnd::Exited(status) => {
                log::error!("step '{what}' failed with status {status}; the state stays '{what}' (the database may be half-done): fix it, then MODE=ForceUpdateOnly or ForceReadyState");
                self.record_failure(sup, id, status);
                Err(Halt::Exit(exit::STEP_FAILED))
            }
            StepEnd::Interrupted(status) => {
                log::error!(
                    "step '{what}' interrupted (status {status}); the state stays '{what}'"
                );
                Err(Halt::Exit(exit::STEP_FAILED))
            }
            StepEnd::Abandoned(status) => match stopped {
                Some(Stopped::Unreachable) => {
                    log::error!("step '{what}' stopped (status {status}) because the database could not be reached; the state stays '{what}'");
                    Err(Halt::Exit(exit::DB_UNREACHABLE))
                }
                _ => {
                    log::error!("step '{what}' stopped (status {status}): its claim (state {id}) was lost; nothing more written");
                    Err(Halt::Exit(exit::CLAIM_LOST))
                }
            },
        }
    }

    /// Records on the busy row that its step failed: waiters then wait for
    /// a person instead of resetting a silent owner. Not recorded (logged by
    /// store_write): the exit stays 65 all the same.
    fn record_failure(&mut self, sup: &mut Supervisor, id: i64, status: i32) {
        let _ = self.store_write(&mut sup.pause(), "recording the failure", |s| {
            s.record_failure(id, status)
        });
    }

    /// After a step that exited 0: the modules of `expect` that are not
    /// `installed`, with their state, as one text; `None` when all are
    /// (Odoo exits 0 after ignoring a name it cannot find).
    fn not_installed(
        &mut self,
        sup: &mut Supervisor,
        expect: &[String],
    ) -> Result<Option<String>, Halt> {
        let missing = retrying(
            &mut self.client,
            &self.cfg,
            &mut sup.pause(),
            "checking the installed modules",
            |client| modules::not_installed(client, expect),
        )?;
        let listed: Vec<String> = missing
            .iter()
            .map(|(name, state)| format!("{name} ({state})"))
            .collect();
        Ok((!listed.is_empty()).then(|| listed.join(", ")))
    }

    /// One write through the store, on a live connection; a connection lost
    /// meanwhile is made again and the write tried again (each write checks
    /// under the lock what it relies on, so trying again is safe).
    fn store_write<T>(
        &mut self,
        pause: &mut Pause,
        what: &str,
        mut write: impl FnMut(&mut Store) -> Result<T, postgres::Error>,
    ) -> Result<T, Halt> {
        let writer = &self.writer;
        retrying(&mut self.client, &self.cfg, pause, what, |client| {
            write(&mut Store::new(client, writer))
        })
    }

    /// `Init`: as the admin role, the role and the database, then the first
    /// state row. `Ok(false)`: the database existed, nothing more to do.
    fn provision(&mut self, pause: &mut Pause) -> Flow {
        let cfg = &self.cfg;
        let admin = Target {
            db: &cfg.db,
            dbname: "postgres",
            user: &cfg.admin_user,
            password: cfg.admin_password.as_deref(),
        };
        let mut client = admin.connect(cfg.db_wait_timeout, pause)?;
        let name = cfg.db_name();
        let exists = client
            .query_typed_opt(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[(&name, Type::TEXT)],
            )
            .map_err(|e| db_failure("looking for the database", &e))?
            .is_some();
        if exists {
            log::info!("Init: database {name} exists; nothing to do");
            return Ok(false);
        }
        let user = &cfg.db.user;
        let role_exists = client
            .query_typed_opt(
                "SELECT 1 FROM pg_roles WHERE rolname = $1",
                &[(user, Type::TEXT)],
            )
            .map_err(|e| db_failure("looking for the role", &e))?
            .is_some();
        if !role_exists {
            // The password goes as a SCRAM verifier, never in clear text.
            let password = match &cfg.db.password {
                Some(p) => format!(
                    " PASSWORD {}",
                    conn::literal(&postgres_protocol::password::scram_sha_256(p.as_bytes()))
                ),
                None => String::new(),
            };
            let sql = format!(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE{password}",
                conn::ident(user)
            );
            match client.batch_execute(&sql) {
                Ok(()) => log::info!("Init: created role {user}"),
                Err(e) if already_exists(&e) => {}
                Err(e) => return Err(db_failure("creating the role", &e)),
            }
        }
        let sql = format!(
            "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0",
            conn::ident(name),
            conn::ident(user)
        );
        match client.batch_execute(&sql) {
            Ok(()) => log::info!("Init: created database {name} owned by {user}"),
            Err(e) if already_exists(&e) => {
                log::info!(
                    "Init: database {name} was created meanwhile by another Init; nothing to do"
                );
                return Ok(false);
            }
            Err(e) => return Err(db_failure("creating the database", &e)),
        }
        drop(client);
        // Claim 'Creating' right away, so that RunOnly pods wait for the install.
        self.claimed = self.pass_gate(pause, Some(State::Creating), true, None)?;
        Ok(true)
    }

    /// An install on a server without the database: create it as `DB_USER`,
    /// as Odoo itself would.
    fn create_database(&mut self, pause: &mut Pause) -> Result<(), Halt> {
        let cfg = &self.cfg;
        let mut client = Target::of(&cfg.db, "postgres").connect(cfg.db_wait_timeout, pause)?;
        let sql = format!(
            "CREATE DATABASE {} ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0",
            conn::ident(cfg.db_name())
        );
        match client.batch_execute(&sql) {
            Ok(()) => {
                log::info!("created database {}", cfg.db_name());
                Ok(())
            }
            Err(e) if already_exists(&e) => Ok(()),
            Err(e) => {
                log::error!(
                    "cannot create database {} as {}: {}; create it first, or use MODE=Init with DB_ADMIN_USER",
                    cfg.db_name(),
                    cfg.db.user,
                    e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string())
                );
                Err(Halt::Exit(exit::DB_UNREACHABLE))
            }
        }
    }

    fn force_ready(&mut self, pause: &mut Pause) -> Result<(), Halt> {
        self.store_write(pause, "writing Force Ready", |s| {
            s.write(State::ForceReady, true)
        })?;
        Ok(())
    }
}

/// The run phase: the gate before every (re)start, then Odoo's command line.
impl Launcher for Ctx {
    fn command(&mut self, pause: &mut Pause) -> Result<ChildSpec, Abort> {
        if self.gate == Gate::Respect {
            match self.pass_gate(pause, None, false, None) {
                Ok(_) => {}
                // Nothing runs: exit like a process stopped by SIGTERM.
                Err(Halt::Stopped) => return Err(Abort::Failed(exit::for_signal(libc::SIGTERM))),
                Err(Halt::Exit(code)) => return Err(Abort::Failed(code)),
            }
        }
        self.extra.pick_up();
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
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            let target = Target::of(&self.cfg.db, self.cfg.db_name());
            self.client = target.connect_once().ok();
        }
        let client = self.client.as_mut()?;
        match Store::new(client, &self.writer).claim(None, false, false, &|| false, None) {
            Ok(Claim::NoTable) => Some(format!(
                "no state table {} in {}",
                state::TABLE,
                self.cfg.db_name()
            )),
            Ok(_) => None,
            Err(e) if conn::is_lock_wait(&e) => None,
            Err(e) if conn::is_connection_loss(&e) => {
                log::info!(
                    "database connection lost ({}); reconnecting after the stop",
                    conn::message(&e)
                );
                self.client = None;
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
        ChildSpec {
            argv: odoo::run(&self.cfg, self.extra.current()),
            env: self.env.clone(),
        }
    }
}

/// One piece of work on a live connection; a connection lost or a lock
/// waited out meanwhile is retried (the connection made again) within
/// `DB_WAIT_TIMEOUT`, said once. Each caller's work checks under the lock
/// what it relies on, or only reads, so trying again is safe.
fn retrying<T>(
    slot: &mut Option<Client>,
    cfg: &Config,
    pause: &mut Pause,
    what: &str,
    mut work: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
) -> Result<T, Halt> {
    let started = Instant::now();
    let mut said = false;
    loop {
        let client = live(slot, cfg, pause)?;
        match work(client) {
            Ok(v) => return Ok(v),
            Err(e)
                if (conn::is_connection_loss(&e) || conn::is_lock_wait(&e))
                    && started.elapsed() < cfg.db_wait_timeout =>
            {
                if !std::mem::replace(&mut said, true) {
                    log::info!("{what}: {}; trying again", conn::message(&e));
                }
                if conn::is_connection_loss(&e) {
                    *slot = None;
                }
                if pause.sleep(POLL).is_err() {
                    return Err(Halt::Stopped);
                }
            }
            Err(e) => return Err(db_failure(what, &e)),
        }
    }
}

/// A live connection to the Odoo database as `DB_USER`, made when missing or closed.
fn live<'c>(
    slot: &'c mut Option<Client>,
    cfg: &Config,
    pause: &mut Pause,
) -> Result<&'c mut Client, ConnectError> {
    if slot.as_ref().is_some_and(|c| c.is_closed()) {
        *slot = None;
    }
    if let Some(c) = slot {
        return Ok(c);
    }
    let c = Target::of(&cfg.db, cfg.db_name()).connect(cfg.db_wait_timeout, pause)?;
    Ok(slot.insert(c))
}

/// Another pod created it first. CREATE DATABASE/ROLE cannot run inside a
/// transaction (no transaction lock possible); racing, the loser gets either
/// the duplicate error or a unique violation on the catalog's index.
fn already_exists(e: &postgres::Error) -> bool {
    [
        SqlState::DUPLICATE_DATABASE,
        SqlState::DUPLICATE_OBJECT,
        SqlState::UNIQUE_VIOLATION,
    ]
    .iter()
    .any(|c| e.code() == Some(c))
}

fn db_failure(what: &str, e: &postgres::Error) -> Halt {
    log::error!("{what}: {}", conn::message(e));
    Halt::Exit(exit::DB_UNREACHABLE)
}

/// What a waiting pod has itself seen of the latest busy row: since when its
/// heartbeat stayed the same in polls that the database answered. A new row,
/// a new beat, a lost connection or a gap between polls (this pod stalled)
/// starts the watch again.
#[derive(Default)]
struct Watch {
    /// The row id and heartbeat seen, and since when.
    seen: Option<((i64, Option<String>), Instant)>,
    last_poll: Option<Instant>,
}

/// Longer than this between two answered polls, and the silence in between
/// was not watched.
const WATCH_GAP: Duration = Duration::from_secs(3);

impl Watch {
    /// Records this poll of `latest`; how long its heartbeat has been watched unchanged.
    fn see(&mut self, latest: &state::Latest) -> Duration {
        let now = Instant::now();
        let key = (latest.id, latest.heartbeat.clone());
        let continuous = self.last_poll.is_some_and(|t| now - t <= WATCH_GAP);
        self.last_poll = Some(now);
        match &self.seen {
            Some((seen, since)) if continuous && *seen == key => now - *since,
            _ => {
                self.seen = Some((key, now));
                Duration::ZERO
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// The database settings of the environment and one connection, for
/// `odoo-init state`; a failure is logged, and its exit code returned.
fn command_connection() -> Result<(config::Db, Client), i32> {
    let env = &config::process_env;
    let db = config::odoo_rc(env)
        .and_then(|(path, rc)| config::Db::from_env(env, (path.as_deref(), &rc), true))
        .map_err(|e| {
            log::error!("{e}");
            exit::USAGE
        })?;
    let target = Target::of(&db, db.name.as_deref().unwrap_or(""));
    let client = target.connect_once().map_err(|e| {
        log::error!("{}: {}", target.describe(), ConnectError::from(e));
        exit::DB_UNREACHABLE
    })?;
    Ok((db, client))
}

/// `odoo-init state --changed`: the installed modules whose checksum
/// differs from the stored one, one a line (what `UPDATE=changed` would
/// update now). Reads only.
pub fn changed_modules() -> Result<String, i32> {
    let (_, mut client) = command_connection()?;
    let addons = addons::from_env(&config::process_env)
        .map(|a| a.with_helper(std::env::current_exe().ok()))
        .map_err(|e| {
            log::error!("{e}");
            exit::USAGE
        })?;
    let known = conn::bounded(&mut client)
        .and_then(|mut tx| checksums::read(&mut tx))
        .map_err(|e| {
            log::error!("reading the stored checksums: {}", conn::message(&e));
            exit::DB_UNREACHABLE
        })?;
    let changed = if known.stored.is_empty() {
        log::info!("no checksums stored yet: every installed module counts as changed");
        known.installed.clone()
    } else {
        checksums::changed(&known, &addons, &[]).map_err(|e| {
            log::error!("cannot compute the checksum of an addon: {e}");
            exit::USAGE
        })?
    };
    Ok(changed.iter().map(|m| format!("{m}\n")).collect())
}

/// `odoo-init state [--limit N]`: the history as text, or the exit code (the reason logged).
pub fn state_history(limit: Option<i64>) -> Result<String, i32> {
    let (db, mut client) = command_connection()?;
    let target = Target::of(&db, db.name.as_deref().unwrap_or(""));
    match state::history(&mut client, limit) {
        Ok(Some(rows)) => Ok(state::format_history(&rows)),
        Ok(None) => {
            log::error!("no table {} in {}", state::TABLE, target.describe());
            Err(exit::DB_UNREACHABLE)
        }
        Err(e) => {
            log::error!("reading {}: {e}", state::TABLE);
            Err(exit::DB_UNREACHABLE)
        }
    }
}
