//! `LIST_DB=True` with steps (`UpdateOnly`, `InstallOnly`): the claim one
//! database would get, on each chosen database in turn, each behind its
//! own state table, lease, fence, backup (`BACKUP_DIR/DB`) and checksums.
//! The databases are those Odoo would list (`db::listing`) that hold an
//! Odoo, narrowed by `DB_FILTER` or named by `DB_NAMES`. A database whose
//! step fails is recorded on its own row and the others go on; the exit
//! status and one summary line say which failed.

use std::ffi::OsString;
use std::time::Instant;

use super::connect::{connected, db_failure, unavailable};
use super::{end, Ctx, Next, Prepared};
use crate::config::{Choice, Config};
use crate::db::conn::Target;
use crate::db::listing;
use crate::db::session::Session;
use crate::exit::Failure;
use crate::odoo::addons::Addons;
use crate::odoo::prehashed::Prehashed;
use crate::plan::{Plan, Step};

/// The chosen databases, by name, in order: `DB_NAMES`' order, else by name.
fn choose(prepared: &mut Prepared) -> Result<Vec<String>, Failure> {
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
        let mut session = Session::new(target(&db));
        let client = connected(&mut session, cfg.db_wait_timeout, pause).map_err(unavailable)?;
        let odoo = listing::holds_odoo(client)
            .map_err(|e| db_failure(&format!("looking into {db}"), &e))?;
        session.close();
        match odoo {
            true => chosen.push(db),
            false => log::info!("LIST_DB: {db} holds no Odoo (ir_module_module): left alone"),
        }
    }
    Ok(chosen)
}

/// The configuration for one database of many.
fn for_database(cfg: &Config, db: &str) -> Config {
    let mut one = cfg.clone();
    one.db.name = Some(db.to_string());
    one.odoo.database = Some(db.to_string());
    one.list_db = false;
    one
}

/// Runs `plan`'s steps on each chosen database; the exit code.
pub(super) fn each(
    prepared: &mut Prepared,
    plan: &Plan,
    extra: &[OsString],
    addons: Option<Addons>,
    prehashed: Option<Prehashed>,
) -> i32 {
    let chosen = match choose(prepared) {
        Ok(chosen) => chosen,
        Err(failure) => return end(&mut prepared.sup, failure),
    };
    let what = match &prepared.cfg.databases {
        Choice::All => "every database it lists".to_string(),
        Choice::Filter(pattern, _) => format!("DB_FILTER {pattern}"),
        Choice::Names(_) => "DB_NAMES".to_string(),
    };
    log::info!(
        "LIST_DB: {} database(s) chosen ({what}): {}",
        chosen.len(),
        chosen.join(", ")
    );
    let started = Instant::now();
    let mut failed: Vec<(String, i32)> = Vec::new();
    for db in &chosen {
        log::info!("LIST_DB: {db}");
        let cfg = for_database(&prepared.cfg, db);
        let mut ctx = Ctx::new(
            prepared,
            cfg,
            plan.gate,
            extra.to_vec(),
            addons.clone(),
            prehashed.clone(),
        );
        let sup = &mut prepared.sup;
        for step in plan.steps.iter().copied().filter(|s| *s != Step::Run) {
            match ctx.one_step(sup, step) {
                Ok(Next::Continue) => {}
                Ok(Next::Done) => break,
                // A stop, or a server that is away: the rest would wait for it too.
                Err(failure @ (Failure::Stopped | Failure::Db(_) | Failure::Os(_))) => {
                    return end(sup, failure)
                }
                Err(failure) => {
                    failure.say();
                    failed.push((db.clone(), failure.code()));
                    break;
                }
            }
        }
        ctx.session.close();
    }
    let sup = &mut prepared.sup;
    if failed.is_empty() {
        log::info!(
            "LIST_DB: {} database(s) done in {:.1}s",
            chosen.len(),
            started.elapsed().as_secs_f64()
        );
        return sup.shutdown(0);
    }
    let list: Vec<String> = failed
        .iter()
        .map(|(db, code)| format!("{db} (exit {code})"))
        .collect();
    end(
        sup,
        Failure::StepFailed(format!(
            "LIST_DB: {} of {} database(s) failed: {}; the others are done",
            failed.len(),
            chosen.len(),
            list.join(", ")
        )),
    )
}
