//! The admin's work on the server (`DB_ADMIN_USER` on the maintenance
//! database), for `Init`, `Restore` and rollbacks: its session, a
//! database made owned by `DB_USER` (the membership it needs granted to
//! itself where the server allows), the restore lock, and what a refusal
//! of the server means (a missing privilege is a configuration error).

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::connect::db_failure;
use crate::config::Config;
use crate::db::client::Client;
use crate::db::conn::{self, Target};
use crate::db::databases;
use crate::db::session::Session;
use crate::exit::Failure;
use crate::pid1::launch::Pause;

/// The admin's session on the maintenance database.
pub(super) fn admin_session(cfg: &Config, pause: &Pause) -> Session {
    let admin = Target::new(
        &cfg.db,
        "postgres",
        &cfg.admin_user,
        cfg.admin_password.as_deref(),
    );
    Session::new(admin.minding(pause.meanwhile()))
}

/// Waits for the restore lock of `db` on the admin's `client`, saying once
/// that another restorer holds it; a stop ends the wait.
pub(super) fn restore_lock(
    client: &mut Client,
    db: &str,
    pause: &mut Pause,
) -> Result<(), Failure> {
    let mut said = false;
    loop {
        let got = databases::try_restore_lock(client, db)
            .map_err(|e| db_failure("taking the restore lock", &e))?;
        if got {
            return Ok(());
        }
        if !said {
            log::info!("another pod restores {db}: waiting for it");
            said = true;
        }
        pause
            .sleep(Duration::from_secs(1))
            .map_err(|_| Failure::Stopped)?;
    }
}

/// As the admin on `client`: the database `name`, owned by `DB_USER`, made
/// as Odoo makes one (UTF8, C collation, from template0); false when it
/// existed already (made meanwhile by another pod).
pub(super) fn create_owned(
    cfg: &crate::config::Config,
    client: &mut crate::db::client::Client,
    name: &str,
) -> Result<bool, Failure> {
    let user = &cfg.db.user;
    let sql = format!(
        "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0",
        conn::ident(name),
        conn::ident(user)
    );
    if !may_act_as(client, user).map_err(|e| db_failure("reading the admin's roles", &e))? {
        // Not a superuser: it may own only what its own roles may.
        let grant = format!("GRANT {} TO CURRENT_USER", conn::ident(user));
        if let Err(e) = client.batch_execute(&grant) {
            return Err(privilege_or_db(
                &e,
                &format!("granting itself {user}, to make a database owned by it"),
                &cfg.admin_user,
                "CREATEROLE (PostgreSQL 16+: ADMIN OPTION on the role, which its creator has)",
            ));
        }
        log::info!(
            "{} granted itself {user}, to make its database",
            cfg.admin_user
        );
    }
    match client.batch_execute(&sql) {
        Ok(()) => {
            log::info!("created database {name} owned by {user}");
            Ok(true)
        }
        Err(e) if already_exists(&e) => Ok(false),
        Err(e) => Err(privilege_or_db(
            &e,
            &format!("creating the database {name}"),
            &cfg.admin_user,
            "CREATEDB",
        )),
    }
}

/// The admin lacks a privilege (42501): a configuration error naming the
/// one it needs, not an unreachable database; anything else is the database's.
pub(super) fn privilege_or_db(
    e: &tokio_postgres::Error,
    what: &str,
    admin: &str,
    needs: &str,
) -> Failure {
    if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return Failure::Usage(format!(
            "Init: {what}: {} (DB_ADMIN_USER={admin} needs {needs})",
            conn::message(e)
        ));
    }
    db_failure(&format!("Init: {what}"), e)
}

/// Whether the admin may make a database owned by `role`: a superuser,
/// or a member of it (PostgreSQL 16+: with the SET option, which CREATE
/// DATABASE ... OWNER asks for there; 15 knows only membership).
fn may_act_as(
    client: &mut crate::db::client::Client,
    role: &str,
) -> Result<bool, tokio_postgres::Error> {
    let row = client.query_typed_one(
        "SELECT rolsuper OR pg_has_role(current_user, $1, \
           CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) \
         FROM pg_roles WHERE rolname = current_user",
        &[(&role, Type::TEXT)],
    )?;
    row.try_get(0)
}

/// Another pod created it first. CREATE DATABASE/ROLE cannot run inside a
/// transaction (no transaction lock possible); racing, the loser gets either
/// the duplicate error or a unique violation on the catalog's index.
pub(super) fn already_exists(e: &tokio_postgres::Error) -> bool {
    [
        SqlState::DUPLICATE_DATABASE,
        SqlState::DUPLICATE_OBJECT,
        SqlState::UNIQUE_VIOLATION,
    ]
    .iter()
    .any(|c| e.code() == Some(c))
}
