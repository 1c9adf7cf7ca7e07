//! The database side: where the Odoo database is ([`Db`]), TLS to it
//! ([`tls`]), the client every connection is ([`client`]), one connection
//! attempt and what its failure means ([`conn`]), a session that owns its
//! connection and makes it again ([`session`]), the state store
//! `curq_state_history` ([`state`]) and its table's optional columns
//! ([`columns`]), the owner's writes on its own row
//! ([`owner`]) and its heartbeat ([`heartbeat`]), the fencing of a
//! reset claim ([`fence`]), and whole databases for restores ([`databases`]). Knows nothing of processes, signals or Odoo:
//! it never sleeps (a stop reaches it only as a descriptor to watch); the
//! job decides when to try again.

pub(crate) mod client;
mod columns;
pub(crate) mod conn;
pub(crate) mod databases;
pub(crate) mod errors;
pub(crate) mod fence;
pub(crate) mod heartbeat;
pub(crate) mod history;
pub(crate) mod listing;
pub(crate) mod owner;
pub(crate) mod rollback;
pub(crate) mod session;
pub(crate) mod state;
pub(crate) mod tls;
pub(crate) mod verdict;

use std::fmt;

/// Where the Odoo database is, and as whom to connect. No password: that
/// travels separately, to the one place that sends it ([`conn::Target`]).
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `None` only with `LIST_DB=True`.
    pub(crate) name: Option<String>,
    pub(crate) user: String,
    /// TLS with libpq's `sslmode` semantics.
    pub(crate) tls: tls::Settings,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("name", &self.name)
            .field("user", &self.user)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Db {
    /// The database name; asked only where `LIST_DB` is off.
    pub(crate) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}
