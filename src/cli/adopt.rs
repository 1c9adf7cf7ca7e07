//! `odoo-init adopt`: takes an existing Odoo database (one the official
//! image or another tool made, without a state table) under the gate in
//! one step: the state table made, `Force Ready` written, and the image's
//! module checksums recorded as current, so that the next `UpdateAndRun`
//! updates only what really changed. For a database that ran this image's
//! code; otherwise `MODE=ForceReadyState`, and the first update updates
//! everything once. The addons are hashed before the state transaction.

use super::state::connection;
use crate::db::conn;
use crate::db::state::{State, Store};
use crate::db::verdict;
use crate::exit::Failure;
use crate::job::Prepared;
use crate::odoo::checksums;

/// Adopts the database the environment names; what was done, as text.
pub(super) fn adopt(prepared: &mut Prepared, force: bool) -> Result<String, Failure> {
    let mut client = connection(prepared)?;
    let addons = prepared.addons(&[])?;
    let db = &prepared.cfg.db;
    let db_error = |what: &str, e: &tokio_postgres::Error| {
        Failure::Db(format!("{what}: {}", conn::message(e)))
    };
    // What is installed and the rules, read without the lock; hashed here.
    let (known, installed) = conn::bounded(&mut client)
        .and_then(|mut tx| {
            let known = checksums::read(&mut tx)?;
            let installed = checksums::installed(&mut tx)?;
            tx.commit()?;
            Ok((known, installed))
        })
        .map_err(|e| db_error("reading the installed modules", &e))?;
    if installed.is_empty() {
        return Err(Failure::Usage(format!(
            "{} has no installed Odoo module: nothing to adopt (MODE=Init or InstallOnly make a new one)",
            db.name()
        )));
    }
    let mut sums = super::checksums::image_sums(&prepared.cfg)?;
    sums.add(&addons, &installed, &known.rules)
        .map_err(|e| Failure::Usage(format!("cannot compute the checksum of an addon: {e}")))?;
    let json = sums.to_json(&installed);
    let mut store = Store::new(
        crate::job::hostname(),
        "adopt",
        std::time::Duration::from_secs(60),
    );
    let mut locked = store
        .lock(&mut client)
        .map_err(|e| db_error("taking the state lock", &e))?;
    let written = (|| {
        locked.create_table()?;
        if let Some(latest) = locked.latest()? {
            if !verdict::is_ready(&latest.state) {
                return Ok(Err(format!(
                    "is adopted already and a step is running ('{}')",
                    latest.state
                )));
            }
            // Its stored checksums say what the next update must update:
            // recording the image's over them would hide a pending change.
            if !force {
                return Ok(Err(format!(
                    "is adopted already (its state table has rows, the latest '{}'); `odoo-init adopt --force` records this image's checksums as current anyway, and the next update then updates nothing that changed before",
                    latest.state
                )));
            }
        }
        locked.insert(State::ForceReady)?;
        checksums::store(locked.transaction(), &json)?;
        Ok(Ok(()))
    })()
    .map_err(|e: tokio_postgres::Error| db_error("adopting the database", &e))?;
    if let Err(why) = written {
        return Err(Failure::Usage(format!(
            "{} {why}: nothing written",
            db.name()
        )));
    }
    locked
        .commit()
        .map_err(|e| db_error("adopting the database", &e))?;
    Ok(format!(
        "adopted {}: state table ready (Force Ready), checksums of {} installed modules recorded\n",
        db.name(),
        installed.len()
    ))
}
