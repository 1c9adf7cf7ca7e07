//! Making what a step needs on the server: `Init`'s role and database (as
//! the admin role, then the first busy state claimed for the install), and
//! an install's database when the server has none (as `DB_USER`, as Odoo's
//! `-i` would). Explicit steps of the plan, never a side effect of the gate.

use postgres::error::SqlState;
use postgres::types::Type;

use super::connect::{connected, db_failure, unavailable, NotConnected};
use super::gate::Ask;
use super::{Ctx, Next};
use crate::db::conn::{self, ConnectError, Target};
use crate::db::session::Session;
use crate::db::state::State;
use crate::exit::Failure;
use crate::pid1::supervisor::Pause;

impl Ctx {
    /// `Init`: as the admin role, the role and the database, then the first
    /// state row. `Done`: the database existed, nothing more to do.
    pub(super) fn provision(&mut self, pause: &mut Pause) -> Result<Next, Failure> {
        let cfg = &self.cfg;
        let admin = Target::new(
            &cfg.db,
            "postgres",
            &cfg.admin_user,
            cfg.admin_password.as_deref(),
        );
        let mut session = Session::new(admin);
        let client = connected(&mut session, cfg.db_wait_timeout, pause).map_err(unavailable)?;
        let name = cfg.db.name();
        let exists = client
            .query_typed_opt(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[(&name, Type::TEXT)],
            )
            .map_err(|e| db_failure("looking for the database", &e))?
            .is_some();
        if exists {
            log::info!("Init: database {name} exists; nothing to do");
            return Ok(Next::Done);
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
                return Ok(Next::Done);
            }
            Err(e) => return Err(db_failure("creating the database", &e)),
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
        let target = Target::of(&cfg.db, cfg.password.as_deref(), "postgres");
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
