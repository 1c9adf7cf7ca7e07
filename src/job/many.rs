//! `LIST_DB=True` with steps (`UpdateOnly`, `InstallOnly`): the claim one
//! database would get, on each chosen database in turn, each behind its
//! own state table, lease, fence, backup (`BACKUP_DIR/DB`) and checksums.
//! The databases are those Odoo would list (`db::listing`) that hold an
//! Odoo, narrowed by `DB_FILTER` or named by `DB_NAMES`. A database whose
//! step fails is recorded on its own row and the others go on; the exit
//! status and one summary line say which failed.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::time::{Duration, Instant};

use super::connect::{connected, db_failure, unavailable};
use super::{Ctx, Next, Prepared};
use crate::config::{Choice, Config};
use crate::db::conn::Target;
use crate::db::listing;
use crate::db::session::Session;
use crate::db::state::Seen;
use crate::db::verdict;
use crate::exit::Failure;
use crate::odoo::addons::Addons;
use crate::odoo::prehashed::Prehashed;
use crate::pid1::launch::Pause;
use crate::plan::{Plan, Step};

/// The chosen databases, by name, in order (`DB_NAMES`' order, else by
/// name), said in the log. With `look_into`, only those that hold an Odoo
/// (a connection to each); without, the update modes find that out at
/// each database's turn, on the connection of its look (one connection
/// per database and pod fewer when many pods start at once).
pub(super) fn choose(prepared: &mut Prepared, look_into: bool) -> Result<Vec<String>, Failure> {
    let cfg = prepared.cfg.clone();
    let meanwhile = prepared.sup.meanwhile();
    let pause = &mut prepared.sup.pause();
    let target =
        |db: &str| Target::of(&cfg.db, cfg.password.as_deref(), db).minding(meanwhile.clone());
    // Listed as Odoo lists them: as DB_USER, on the maintenance database.
    let mut session = Session::new(target("postgres"));
    let client = connected(&mut session, cfg.db_wait_timeout, pause).map_err(unavailable)?;
    let listed = listing::listed(client, &cfg.db.user)
        .map_err(|e| db_failure("listing the databases", &e))?;
    session.close();
    let wanted: Vec<String> = match &cfg.databases {
        Choice::Names(names) => {
            let absent: Vec<&str> = names
                .iter()
                .filter(|n| !listed.contains(n))
                .map(String::as_str)
                .collect();
            if !absent.is_empty() {
                return Err(Failure::Usage(format!(
                    "DB_NAMES names {}, which {} does not own or cannot connect to",
                    absent.join(", "),
                    cfg.db.user
                )));
            }
            names.clone()
        }
        choice => listed.into_iter().filter(|n| choice.takes(n)).collect(),
    };
    let mut chosen = Vec::new();
    for db in wanted {
        if !look_into {
            chosen.push(db);
            continue;
        }
        let mut session = Session::new(target(&db));
        let client = connected(&mut session, cfg.db_wait_timeout, pause).map_err(unavailable)?;
        let odoo = listing::holds_odoo(client)
            .map_err(|e| db_failure(&format!("looking into {db}"), &e))?;
        session.close();
        match odoo {
            true => chosen.push(db),
            false => left_alone(&db),
        }
    }
    let what = match &cfg.databases {
        Choice::All => "every database it lists".to_string(),
        Choice::Filter(pattern, _) => format!("DB_FILTER {pattern}"),
        Choice::Names(_) => "DB_NAMES".to_string(),
    };
    match chosen.is_empty() {
        true => log::warn!("LIST_DB: no database chosen ({what}): nothing to do"),
        false => log::info!(
            "LIST_DB: {} database(s) chosen ({what}): {}",
            chosen.len(),
            chosen.join(", ")
        ),
    }
    Ok(chosen)
}

/// Said of a database that holds no Odoo: the steps leave it alone.
fn left_alone(db: &str) {
    log::info!("LIST_DB: {db} holds no Odoo (ir_module_module): left alone");
}

/// The configuration for one database of many.
pub(super) fn for_database(cfg: &Config, db: &str) -> Config {
    let mut one = cfg.clone();
    one.db.name = Some(db.to_string());
    one.odoo.database = Some(db.to_string());
    one.list_db = false;
    one
}

/// What one look at a database's state says before its steps.
enum Turn {
    /// No step runs there: its steps now.
    Go,
    /// It holds no Odoo (no state table, no `ir_module_module`): left alone.
    NotOdoo,
    /// Another pod's step runs there: later.
    Held,
    /// Its last step failed and waits for a person: not now.
    Failed(String),
}

/// One look (no lock) at `ctx`'s database: whose turn it is.
fn turn(ctx: &mut Ctx, pause: &mut Pause) -> Result<Turn, Failure> {
    let wait = ctx.cfg.db_wait_timeout;
    let client = connected(&mut ctx.session, wait, pause).map_err(unavailable)?;
    let seen = ctx
        .store
        .peek(client)
        .map_err(|e| db_failure("reading the state", &e))?;
    Ok(match seen {
        Seen::Latest(latest) if !verdict::is_ready(&latest.state) => match latest.failed {
            Some(status) => Turn::Failed(format!(
                "its last step ('{}', row {}) failed with status {status} and waits for a person (MODE=ForceUpdateOnly or ForceReadyState on it)",
                latest.state, latest.id
            )),
            None => Turn::Held,
        },
        // No state table: an Odoo without one (the gate says how to adopt
        // it), or no Odoo at all, left alone.
        Seen::NoTable => match listing::holds_odoo(client) {
            Ok(true) => Turn::Go,
            Ok(false) => Turn::NotOdoo,
            Err(e) => return Err(db_failure("looking for Odoo's tables", &e)),
        },
        _ => Turn::Go,
    })
}

/// How often a pod whose every remaining database another pod holds looks again.
const HELD_POLL: Duration = Duration::from_secs(1);
/// After this long with every remaining database held, the first one is
/// waited for at its gate, as one database's pods wait (its owner may be
/// gone: the gate's lease and `Reset` apply).
const HELD_PATIENCE: Duration = Duration::from_secs(10);

/// Runs `plan`'s steps (its run phase aside) on each chosen database. A
/// database another pod's step holds is left for later, so that pods
/// started at once share the databases instead of queueing behind each
/// other. `Err(StepFailed)`: some failed, the others are done (one line
/// says which); any other `Err` ended the whole run (a stop, a server away).
pub(super) fn each(
    prepared: &mut Prepared,
    plan: &Plan,
    extra: &[OsString],
    addons: Option<Addons>,
    prehashed: Option<Prehashed>,
) -> Result<(), Failure> {
    let chosen = choose(prepared, false)?;
    let started = Instant::now();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut queue: VecDeque<Ctx> = chosen
        .iter()
        .map(|db| {
            Ctx::new(
                prepared,
                for_database(&prepared.cfg, db),
                plan.gate,
                extra.to_vec(),
                addons.clone(),
                prehashed.clone(),
            )
        })
        .collect();
    // Since when every database left has been held by another pod.
    let mut all_held: Option<Instant> = None;
    let mut held_in_a_row = 0;
    // The databases whose silent owner this pod reset.
    let mut reset: HashSet<String> = HashSet::new();
    let sup = &mut prepared.sup;
    while let Some(mut ctx) = queue.pop_front() {
        let db = ctx.cfg.db.name().to_string();
        let patient = all_held.is_some_and(|t| t.elapsed() >= HELD_PATIENCE);
        let turn = match turn(&mut ctx, &mut sup.pause()) {
            // Patient: wait at its gate as one database's pods wait.
            Ok(Turn::Held) if patient => Ok(Turn::Go),
            other => other,
        };
        match turn {
            Ok(Turn::NotOdoo) => {
                left_alone(&db);
                continue;
            }
            Ok(Turn::Held) => {
                ctx.session.close();
                queue.push_back(ctx);
                held_in_a_row += 1;
                if held_in_a_row >= queue.len() {
                    // Every database left is held: look again in a while.
                    all_held.get_or_insert_with(Instant::now);
                    held_in_a_row = 0;
                    if sup.pause().sleep(HELD_POLL).is_err() {
                        return Err(Failure::Stopped);
                    }
                }
                continue;
            }
            Ok(Turn::Failed(why)) => {
                log::error!("LIST_DB: {db}: {why}");
                failed.push((db, why));
                continue;
            }
            Ok(Turn::Go) => {}
            Err(failure) => return Err(failure),
        }
        held_in_a_row = 0;
        all_held = None;
        log::info!("LIST_DB: {db}");
        // Not yet patient: a claim another pod made since the look gives way.
        ctx.give_way = !patient;
        for step in plan.steps.iter().copied().filter(|s| *s != Step::Run) {
            match ctx.one_step(sup, step) {
                Ok(Next::Continue) => {}
                Ok(Next::Done) => break,
                // Another pod claimed it between the look and the claim: later.
                Err(Failure::Held(why)) => {
                    log::info!("LIST_DB: {db}: {why}; later");
                    ctx.session.close();
                    queue.push_back(ctx);
                    break;
                }
                // A stop, or a server that is away: the rest would wait for it too.
                Err(failure @ (Failure::Stopped | Failure::Db(_) | Failure::Os(_))) => {
                    return Err(failure)
                }
                // This pod reset a silent owner there: its turn again, later (once).
                Err(Failure::GateReset(why)) if reset.insert(db.clone()) => {
                    log::warn!("LIST_DB: {db}: {why}; its steps run again after the others");
                    ctx.session.close();
                    queue.push_back(ctx);
                    break;
                }
                Err(failure) => {
                    failure.say();
                    failed.push((db.clone(), format!("exit {}", failure.code())));
                    break;
                }
            }
        }
    }
    if failed.is_empty() {
        log::info!(
            "LIST_DB: {} database(s) done in {:.1}s",
            chosen.len(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let list: Vec<String> = failed
        .iter()
        .map(|(db, why)| format!("{db} ({why})"))
        .collect();
    Err(Failure::StepFailed(format!(
        "LIST_DB: {} of {} database(s) failed: {}; the others are done",
        failed.len(),
        chosen.len(),
        list.join(", ")
    )))
}
