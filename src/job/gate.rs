//! The state gate: look at the latest state, wait while another pod's step
//! is busy, claim a busy state when the gate is open, and write `Reset`
//! for an owner that went silent. One look is one transaction under the
//! advisory lock (or, only looking, one query without it); the loop around
//! it waits through the supervisor's pause.

use std::time::{Duration, Instant};

use crate::db::client::Client;

use super::connect::{connected, db_failure, unavailable, NotConnected};
use super::update::{self, Decision};
use super::watch::Watch;
use super::Ctx;
use crate::db::conn::{self, ConnectError};
use crate::db::fence;
use crate::db::state::{self, Seen, State, Store};
use crate::db::verdict::{self, Latest, Verdict};
use crate::exit::Failure;
use crate::odoo::addons::Addons;
use crate::odoo::checksums::{Known, Sums};
use crate::odoo::modules;
use crate::pid1::launch::Pause;
use crate::status::Phase;

/// How often a waiting pod looks at the state again.
const POLL: Duration = Duration::from_secs(1);
/// How often a waiting pod says what it waits for.
const WAIT_LOG_EVERY: Duration = Duration::from_secs(30);

/// What the gate is asked to do once it is open.
#[derive(Clone, Copy)]
pub(super) enum Ask<'a> {
    /// Only look (the run phase): no lock, nothing written.
    Look,
    /// Only look, but a step that failed and waits for a person ends the
    /// wait at once (`StepFailed`): a database served among many is then
    /// left out (`ON_FAILED_DATABASE=leave-out`).
    LookUnlessFailed,
    /// Claim `busy`. `create`: the table may be created here.
    Claim { busy: State, create: bool },
    /// `UPDATE=changed`: claim `Updating` only if an installed module (of
    /// `only`, when it names any) changed, decided under the lock from the
    /// stored checksums and those hashed before.
    Update { only: &'a [String] },
}

/// A busy state this pod wrote.
pub(super) struct Claimed {
    pub(super) id: i64,
    /// `UPDATE=changed`: the modules to update; `None`: as `UPDATE=all`.
    pub(super) modules: Option<Vec<String>>,
}

/// What one look found.
enum Look {
    Claimed(Claimed),
    Open,
    Busy(Latest),
    NoTable,
    /// No state table in a database that holds an Odoo: to be adopted.
    Unadopted,
    NoDatabase,
    /// The gate was open, but a stop was asked meanwhile: nothing written.
    Stopped,
    /// The checksums do not cover what is installed: hash outside the lock, look again.
    Hash(Known),
}

impl Ctx {
    /// Waits at the gate, then does what `ask` says; the claimed row, if any.
    ///
    /// A connection lost meanwhile is made again (with the backoff of the
    /// first wait, within `DB_WAIT_TIMEOUT`); the owner's silence counts
    /// only while this pod watched it and the database answered.
    pub(super) fn pass_gate(
        &mut self,
        pause: &mut Pause,
        ask: Ask,
    ) -> Result<Option<Claimed>, Failure> {
        let force = self.gate == crate::plan::Gate::Ignore;
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
            let look = match connected(&mut self.session, self.cfg.db_wait_timeout, pause) {
                Ok(client) => {
                    let sums = (self.addons.as_ref(), &self.sums);
                    one_look(client, &mut self.store, &ask, force, sums, pause)
                }
                Err(NotConnected::Failed(ConnectError::NoDatabase)) => Ok(Look::NoDatabase),
                Err(e) => return Err(unavailable(e)),
            };
            if look.is_ok() && lost.take().is_some() {
                log::info!("database connection back");
            }
            let missing = match look {
                Ok(Look::Claimed(claimed)) => return Ok(Some(claimed)),
                Ok(Look::Open) => return Ok(None),
                Ok(Look::Stopped) => {
                    log::info!("stop asked while claiming: nothing claimed");
                    return Err(Failure::Stopped);
                }
                Ok(Look::Hash(known)) => {
                    if let Ask::Update { only } = ask {
                        self.hash(&known, only)?;
                    }
                    continue;
                }
                Ok(Look::Unadopted) => {
                    return Err(Failure::Usage(format!(
                        "{} holds an Odoo (ir_module_module) but no state table {}: adopt it once with `odoo-init adopt` (it writes Force Ready and, for a database that ran this image's code, records its module checksums), or MODE=ForceReadyState",
                        self.cfg.db.name(),
                        state::TABLE
                    )))
                }
                Ok(Look::NoTable) => Some("state table"),
                Ok(Look::NoDatabase) => Some("database"),
                Ok(Look::Busy(latest)) => {
                    if let (Ask::LookUnlessFailed, Some(status)) = (&ask, latest.failed) {
                        return Err(Failure::StepFailed(format!(
                            "its step ('{}', row {}) failed with status {status} and waits for a person (MODE=ForceUpdateOnly or ForceReadyState on it)",
                            latest.state, latest.id
                        )));
                    }
                    let watched = watch.see(&latest);
                    match verdict::judge(&latest, watched, self.cfg.timeout, self.cfg.lease) {
                        Verdict::Proceed => return Ok(None),
                        // A live owner elsewhere: this pod comes back later.
                        Verdict::Wait(what) if self.give_way => return Err(Failure::Held(what)),
                        Verdict::Wait(what) => say(pause, &what),
                        Verdict::Reset(reason) => {
                            if self.reset(pause, &latest, &mut lost, &mut watch)? {
                                return Err(Failure::GateReset(format!("{reason}: wrote Reset; exiting so that the orchestrator restarts this container")));
                            }
                        }
                    }
                    None
                }
                Err(e) if conn::is_lock_wait(&e) => {
                    // Nothing was watched meanwhile; the pause below honours signals.
                    watch = Watch::default();
                    let what = format!(
                        "the state table is locked by another session ({})",
                        conn::message(&e)
                    );
                    say(pause, &what);
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
            };
            if let Some(what) = missing {
                if started.elapsed() > self.cfg.timeout {
                    return Err(Failure::GateReset(format!(
                        "no {what} in {} after {:.0}s (TIMEOUT); MODE=ForceRunOnly or ForceUpdateOnly adopt an existing database without a state table",
                        self.cfg.db.name(),
                        self.cfg.timeout.as_secs_f64()
                    )));
                }
                let what = format!(
                    "no {what} yet in {} (an Init or install may be creating it)",
                    self.cfg.db.name()
                );
                say(pause, &what);
            }
            // Waiting holds no connection: the next look makes one again.
            self.session.close();
            if pause.sleep(POLL).is_err() {
                return Err(Failure::Stopped);
            }
        }
    }

    /// Writes `Reset` for the silent owner of `latest`, under the lock, if
    /// it is still what was judged. False: not written (someone else did,
    /// the owner beat, a lock or a lost connection: looked at again).
    fn reset(
        &mut self,
        pause: &mut Pause,
        latest: &Latest,
        lost: &mut Option<Instant>,
        watch: &mut Watch,
    ) -> Result<bool, Failure> {
        let client =
            connected(&mut self.session, self.cfg.db_wait_timeout, pause).map_err(unavailable)?;
        let written = self.store.lock(client).and_then(|mut locked| {
            let written = locked.reset_if_latest(latest)?;
            locked.commit()?;
            Ok(written)
        });
        let written = match written {
            // A session the owner's step made between the first sweep and
            // the commit: ended now (its statements cannot see the `Reset`).
            Ok(true) => fence::sweep(client, latest.id).map(|ended| {
                if ended > 0 {
                    log::info!(row = latest.id; "ended {ended} more database session(s) of the step of state {}", latest.id);
                }
                true
            }),
            other => other,
        };
        match written {
            Ok(written) => Ok(written),
            Err(e) if conn::is_lock_wait(&e) => Ok(false),
            Err(e) if conn::is_connection_loss(&e) => {
                self.connection_lost(&e, lost, watch)?;
                Ok(false)
            }
            Err(e) => Err(db_failure("writing Reset", &e)),
        }
    }

    /// A statement failed because the connection was lost: drop it (the next
    /// look makes it again), forget what was watched meanwhile, say it once.
    /// True the first time in a row; an error once it has lasted `DB_WAIT_TIMEOUT`.
    fn connection_lost(
        &mut self,
        e: &tokio_postgres::Error,
        lost: &mut Option<Instant>,
        watch: &mut Watch,
    ) -> Result<bool, Failure> {
        self.session.lost(e);
        if self.session.stopped() {
            return Err(Failure::Stopped);
        }
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
}

/// One look at the gate. Claiming, it is one transaction under the lock:
/// the table made if it may be, the latest row read, the decision taken,
/// the busy row written, and committed only if no stop is pending.
fn one_look(
    client: &mut Client,
    store: &mut Store,
    ask: &Ask,
    force: bool,
    (addons, sums): (Option<&Addons>, &Sums),
    pause: &Pause,
) -> Result<Look, tokio_postgres::Error> {
    let (busy, create) = match ask {
        Ask::Look | Ask::LookUnlessFailed => return peek(client, store, force),
        Ask::Claim { busy, create } => (*busy, *create),
        Ask::Update { .. } => (State::Updating, force),
    };
    let mut locked = store.lock(client)?;
    if !locked.has_table()? {
        if !create {
            return match modules::holds_odoo(locked.transaction())? {
                true => Ok(Look::Unadopted),
                false => Ok(Look::NoTable),
            };
        }
        locked.create_table()?;
    }
    if let Some(latest) = locked.latest()? {
        if !force && !verdict::is_ready(&latest.state) {
            // The columns it may have added stay.
            locked.commit()?;
            return Ok(Look::Busy(latest));
        }
    }
    let mut modules = None;
    if let Ask::Update { only } = ask {
        match update::decide(locked.transaction(), addons, sums, only, force)? {
            // Dropped: rolled back; nothing was written.
            Decision::Hash(known) => return Ok(Look::Hash(known)),
            Decision::Nothing => {
                locked.commit()?;
                return Ok(Look::Open);
            }
            Decision::All => {}
            Decision::Modules(list) => modules = Some(list),
        }
    }
    let id = locked.insert(busy)?;
    if pause.stop_pending() {
        // Dropped without commit: rolled back.
        return Ok(Look::Stopped);
    }
    locked.commit()?;
    Ok(Look::Claimed(Claimed { id, modules }))
}

/// The gate without a claim (the run phase): one query, no advisory lock.
fn peek(client: &mut Client, store: &Store, force: bool) -> Result<Look, tokio_postgres::Error> {
    Ok(match store.peek(client)? {
        Seen::NoTable => {
            let mut tx = conn::bounded(client)?;
            let odoo = modules::holds_odoo(&mut tx)?;
            tx.commit()?;
            if odoo {
                Look::Unadopted
            } else {
                Look::NoTable
            }
        }
        Seen::Empty => {
            log::info!("gate open: {} is empty", state::TABLE);
            Look::Open
        }
        Seen::Latest(latest) if force || verdict::is_ready(&latest.state) => {
            log::info!(
                "gate open: latest state '{}' (row {})",
                latest.state,
                latest.id
            );
            Look::Open
        }
        Seen::Latest(latest) => Look::Busy(latest),
    })
}
