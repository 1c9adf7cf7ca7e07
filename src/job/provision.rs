//! Making what a step needs on the server: `Init`'s role and database (as
//! the admin role, then the first busy state claimed for the install), and
//! an install's database when the server has none (as `DB_USER`, as Odoo's
//! `-i` would); after `Init`'s install, the password of Odoo's `admin`
//! user (`ADMIN_PASSWORD`). Explicit steps of the plan, never a side
//! effect of the gate.

use std::time::Instant;

use tokio_postgres::types::Type;

use super::admin::{already_exists, create_owned, privilege_or_db};
use super::connect::{connected, db_failure, retrying, unavailable, NotConnected};
use super::gate::Ask;
use super::steps::StepEnd;
use super::{Ctx, Next};
use crate::db::conn::{self, ConnectError, Target};
use crate::db::session::Session;
use crate::db::state::State;
use crate::exit::{self, Failure};
use crate::odoo::users;
use crate::pid1::launch::Pause;
use crate::pid1::supervisor::Supervisor;

impl Ctx {
    /// After `Init`'s install (a new database), under its claim: the
    /// password of Odoo's `admin` user from `ADMIN_PASSWORD`, hashed as Odoo
    /// hashes it (never on a command line, never logged). A database
    /// without `admin` is said once; one that cannot be written is a failed
    /// step.
    pub(super) fn admin_password(
        &mut self,
        sup: &mut Supervisor,
        busy: State,
        id: i64,
    ) -> Result<(), Failure> {
        let (Some(password), true) = (
            self.cfg.odoo_admin_password.clone(),
            busy == State::Creating && self.cfg.mode == crate::plan::Mode::Init,
        ) else {
            return Ok(());
        };
        let Some(hash) = users::hashed(&password) else {
            return Err(Failure::Os(
                "no random salt for ADMIN_PASSWORD's hash".into(),
            ));
        };
        let set = retrying(
            &mut self.session,
            self.cfg.db_wait_timeout,
            &mut sup.pause(),
            "setting the administrator's password",
            |client| users::set_admin_password(client, &hash),
        );
        match set {
            Ok(true) => log::info!("ADMIN_PASSWORD: the password of Odoo's admin user is set"),
            Ok(false) => {
                log::warn!("ADMIN_PASSWORD: the new database has no user admin; nothing set")
            }
            Err(Failure::Db(why)) => {
                let end = StepEnd::Exited(exit::STEP_FAILED);
                return Err(self.ended(
                    sup,
                    &format!("setting ADMIN_PASSWORD ({why})"),
                    busy,
                    id,
                    end,
                ));
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    /// `Init`: as the admin role, the role and the database, then the first
    /// state row. `Done`: the database existed, nothing more to do.
    ///
    /// The admin need not be a superuser: `CREATEROLE` and `CREATEDB` (a
    /// managed PostgreSQL's admin) will do. To make a database owned by
    /// `DB_USER` it must be a member of that role: it grants itself the
    /// membership when the server says so (PostgreSQL 15: `CREATEROLE`
    /// allows it; 16+: the role's creator holds `ADMIN OPTION`). Each step
    /// checks what is there first, so a rerun completes what a failed one
    /// left; the database is made only once `DB_USER` can log in.
    pub(super) fn provision(&mut self, pause: &mut Pause) -> Result<Next, Failure> {
        let cfg = &self.cfg;
        let admin = Target::new(
            &cfg.db,
            "postgres",
            &cfg.admin_user,
            cfg.admin_password.as_deref(),
        )
        .minding(pause.meanwhile());
        let mut session = Session::new(admin);
        let client = connected(&mut session, cfg.db_wait_timeout, pause).map_err(unavailable)?;
        let name = cfg.db.name();
        let user = &cfg.db.user;
        let exists =
            |client: &mut crate::db::client::Client, sql: &str, value: &str, what: &str| {
                client
                    .query_typed_opt(sql, &[(&value, Type::TEXT)])
                    .map(|row| row.is_some())
                    .map_err(|e| db_failure(what, &e))
            };
        let role_sql = "SELECT 1 FROM pg_roles WHERE rolname = $1";
        if !exists(client, role_sql, user, "looking for the role")? {
            // The password goes as a SCRAM verifier, never in clear text.
            let password = match &cfg.password {
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
                Err(e) => {
                    return Err(privilege_or_db(
                        &e,
                        "creating the role",
                        &cfg.admin_user,
                        "CREATEROLE",
                    ))
                }
            }
        }
        // Nothing is made for a role that cannot log in (a wrong password,
        // NOLOGIN): an empty database would only make pods wait.
        let login =
            Target::of(&cfg.db, cfg.password.as_deref(), "postgres").minding(pause.meanwhile());
        if let Err(e) = login.connect_once(Instant::now() + cfg.db_wait_timeout) {
            let why = ConnectError::from(e);
            if matches!(why, ConnectError::Stopped) {
                return Err(Failure::Stopped);
            }
            if !matches!(why, ConnectError::Unreachable(_)) {
                return Err(Failure::Db(format!(
                    "Init: {user} cannot log in ({why}); no database made: fix DB_USER's password (or its LOGIN) first"
                )));
            }
        }
        let db_sql = "SELECT 1 FROM pg_database WHERE datname = $1";
        if exists(client, db_sql, name, "looking for the database")? {
            log::info!("Init: database {name} exists; nothing to do");
            return Ok(Next::Done);
        }
        if cfg.mode == crate::plan::Mode::Restore {
            // Restore makes its database under another name, then renames it.
            return Ok(Next::Continue);
        }
        if !create_owned(cfg, client, name)? {
            log::info!(
                "Init: database {name} was created meanwhile by another Init; nothing to do"
            );
            return Ok(Next::Done);
        }
        drop(session);
        // Claim 'Creating' right away, so that RunOnly pods wait for the install.
        let ask = Ask::Claim {
            busy: State::Creating,
            create: true,
        };
        self.claimed = self.pass_gate(pause, ask)?.map(|claimed| claimed.id);
        Ok(Next::Continue)
    }

    /// An install on a server without the database: create it as `DB_USER`,
    /// as Odoo itself would.
    pub(super) fn create_database_if_missing(&mut self, pause: &mut Pause) -> Result<(), Failure> {
        let cfg = &self.cfg;
        match connected(&mut self.session, cfg.db_wait_timeout, pause) {
            Ok(_) => return Ok(()),
            Err(NotConnected::Failed(ConnectError::NoDatabase)) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let target =
            Target::of(&cfg.db, cfg.password.as_deref(), "postgres").minding(pause.meanwhile());
        let mut session = Session::new(target);
        let client = connected(&mut session, cfg.db_wait_timeout, pause).map_err(unavailable)?;
        let sql = format!(
            "CREATE DATABASE {} ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0",
            conn::ident(cfg.db.name())
        );
        match client.batch_execute(&sql) {
            Ok(()) => {
                log::info!("created database {}", cfg.db.name());
                Ok(())
            }
            Err(e) if already_exists(&e) => Ok(()),
            Err(e) => Err(Failure::Db(format!(
                "cannot create database {} as {}: {}; create it first, or use MODE=Init with DB_ADMIN_USER",
                cfg.db.name(),
                cfg.db.user,
                conn::message(&e)
            ))),
        }
    }
}
