//! The database connection: parameters, waiting for PostgreSQL, and telling
//! a wrong password (fail at once) from a server that is still starting or a
//! connection that was lost (make it again).
//!
//! Everything odoo-init sends must work through PgBouncer in transaction
//! pooling mode: no startup parameters PgBouncer refuses (`options`), and no
//! server-side state between transactions. Queries therefore go through
//! `query_typed*` (the unnamed statement, parsed, bound and run in one round
//! trip) or `batch_execute` (the simple protocol), never through named
//! prepared statements.

use std::error::Error as _;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::db::client::{Client, ConnectFailed, Cut, Transaction};
use crate::meanwhile::Meanwhile;
use tokio_postgres::config::{ChannelBinding, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

pub use super::errors::{is_connection_loss, is_lock_wait, message};
use crate::db::tls::{self, Mode};
use crate::db::Db;
use crate::resolve::{self, Unresolved};

/// Why no connection could be made.
#[derive(Debug)]
pub enum ConnectError {
    /// Wrong password, unknown role, not allowed by pg_hba: retrying cannot help.
    Refused(String),
    /// TLS could not be had as `DB_SSLMODE` asks (a certificate that does
    /// not verify, a server without TLS): retrying cannot help.
    Tls(String),
    /// The server answered that the database does not exist.
    NoDatabase,
    /// Unreachable (the last attempt's reason).
    Unreachable(String),
    /// Told to stop (the stop descriptor) before a connection was made.
    Stopped,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Refused(e) => write!(f, "PostgreSQL refused the connection: {e}"),
            ConnectError::Tls(e) => write!(f, "no TLS connection to PostgreSQL: {e}"),
            ConnectError::NoDatabase => f.write_str("the database does not exist"),
            ConnectError::Unreachable(e) => write!(f, "PostgreSQL unreachable: {e}"),
            ConnectError::Stopped => f.write_str("stopped before PostgreSQL answered"),
        }
    }
}

/// Who connects where. The one place a password is kept for sending.
#[derive(Clone)]
pub(crate) struct Target {
    db: Db,
    dbname: String,
    user: String,
    password: Option<String>,
    /// What every connection made from this target minds: the stop
    /// descriptor (the job's SIGTERM and SIGINT) and the reaper.
    meanwhile: Meanwhile,
}

impl Target {
    /// `DB_USER` with its password, on `dbname`.
    pub(crate) fn of(db: &Db, password: Option<&str>, dbname: &str) -> Target {
        Target::new(db, dbname, &db.user, password)
    }

    /// Another role (`Init`'s admin) on the same server.
    pub(crate) fn new(db: &Db, dbname: &str, user: &str, password: Option<&str>) -> Target {
        Target {
            db: db.clone(),
            dbname: dbname.to_string(),
            user: user.to_string(),
            password: password.map(str::to_string),
            meanwhile: Meanwhile::default(),
        }
    }

    /// The same target, its connections and their every operation ended
    /// as soon as `stop` is readable.
    pub(crate) fn minding(mut self, meanwhile: Meanwhile) -> Target {
        self.meanwhile = meanwhile;
        self
    }

    /// The client's settings, to connect to `addrs` (the host's, looked up
    /// already: the client then looks nothing up; the name stays the one
    /// TLS verifies).
    fn config(&self, addrs: &[IpAddr]) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        if addrs.is_empty() {
            c.host(&self.db.host);
        }
        for addr in addrs {
            c.host(&self.db.host).hostaddr(*addr);
        }
        c.port(self.db.port)
            .dbname(&self.dbname)
            .user(&self.user)
            .application_name("odoo-init")
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(p) = &self.password {
            c.password(p);
        }
        c
    }

    pub fn describe(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user, self.db.host, self.db.port, self.dbname
        )
    }

    /// One attempt, classified, made as `DB_SSLMODE` says: `allow` tries
    /// without TLS first and with it when the server refused that; `prefer`
    /// tries TLS first (if the server offers it) and without it when the
    /// handshake failed or the server refused the TLS connection; the
    /// `require` and `verify-*` modes never go without. A wrong password is
    /// wrong either way: it makes no second connection.
    ///
    /// Each way is given until `deadline` (at most [`CONNECT_TIMEOUT`] from
    /// now): the TCP connect, TLS and the login together.
    pub fn connect_once(&self, deadline: Instant) -> Result<Client, Attempt> {
        let deadline = deadline.min(Instant::now() + CONNECT_TIMEOUT);
        // libpq never uses TLS over a Unix socket, whatever the mode asks.
        let socket = self.db.host.starts_with('/');
        // The name looked up within the same deadline, by a process a stop ends.
        let addrs = match socket {
            true => Vec::new(),
            false => self.addresses(deadline)?,
        };
        let (first, second) = match self.db.tls.mode {
            _ if socket => (SslMode::Disable, None),
            Mode::Disable => (SslMode::Disable, None),
            Mode::Allow => (SslMode::Disable, Some(SslMode::Require)),
            Mode::Prefer => (SslMode::Prefer, Some(SslMode::Disable)),
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => (SslMode::Require, None),
        };
        let (error, other) = match (self.try_connect(first, &addrs, deadline)?, second) {
            (Ok(client), _) => return Ok(client),
            (Err(e), Some(other)) if self.other_way_may_help(&e) => (e, other),
            (Err(e), _) => return Err(self.classify(&e)),
        };
        let said = match self.classify(&error) {
            Attempt::Retry(t) | Attempt::Fatal(t) | Attempt::Tls(t) => t,
            other => return Err(other),
        };
        let (tried, now) = match other {
            SslMode::Disable => ("with TLS", "without TLS"),
            _ => ("without TLS", "with TLS"),
        };
        match self.try_connect(other, &addrs, deadline)? {
            Ok(client) => {
                if other == SslMode::Disable {
                    log::warn!(
                        "TLS to {} failed ({said}); connected without TLS, as DB_SSLMODE=prefer allows",
                        self.describe()
                    );
                }
                Ok(client)
            }
            Err(e) => Err(self.classify(&e).after(&format!("{tried}: {said}; {now}"))),
        }
    }

    /// The first way of connecting failed so that the other (with or
    /// without TLS) may succeed: the TLS handshake failed for good, or the
    /// server's `pg_hba.conf` refused this kind of connection (28000), or
    /// a required channel binding could not be done without TLS.
    fn other_way_may_help(&self, e: &tokio_postgres::Error) -> bool {
        let tls_failed = matches!(
            tls::failure(e, &self.db.host, None),
            Some(tls::Failure::Fatal(_))
        );
        let channel_binding =
            e.as_db_error().is_none() && e.to_string().contains("channel binding");
        tls_failed
            || channel_binding
            || e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    }

    /// One connection, with TLS as `ssl` says (`Prefer`: if the server
    /// offers it). The outer error: no answer by `deadline`, a stop, or no
    /// means here; the inner: what the server or the client said.
    fn try_connect(
        &self,
        ssl: SslMode,
        addrs: &[IpAddr],
        deadline: Instant,
    ) -> Result<Result<Client, tokio_postgres::Error>, Attempt> {
        let mut config = self.config(addrs);
        config
            .ssl_mode(ssl)
            .channel_binding(match self.db.tls.channel_binding {
                tls::ChannelBinding::Disable => ChannelBinding::Disable,
                tls::ChannelBinding::Prefer => ChannelBinding::Prefer,
                tls::ChannelBinding::Require => ChannelBinding::Require,
            });
        let meanwhile = &self.meanwhile;
        let made = match self.db.tls.connector() {
            Some(connector) if ssl != SslMode::Disable => {
                Client::connect(&config, connector, meanwhile, deadline)
            }
            _ => Client::connect(&config, NoTls, meanwhile, deadline),
        };
        match made {
            Ok(client) => Ok(Ok(client)),
            Err(ConnectFailed::Pg(e)) => Ok(Err(e)),
            Err(ConnectFailed::Cut(Cut::Stop)) => Err(Attempt::Stopped),
            Err(ConnectFailed::Cut(Cut::Deadline)) => Err(Attempt::Retry(format!(
                "no answer within {}s (TCP connect, TLS and login)",
                CONNECT_TIMEOUT.as_secs()
            ))),
            Err(ConnectFailed::Local(e)) => Err(Attempt::Retry(format!("cannot connect: {e}"))),
        }
    }

    /// The host's addresses ([`resolve::addresses`]); a lookup that fails
    /// or gets no answer in time is tried again like a server that does
    /// not answer (a name may not exist yet while a cluster starts).
    fn addresses(&self, deadline: Instant) -> Result<Vec<IpAddr>, Attempt> {
        let host = &self.db.host;
        resolve::addresses(host, self.db.port, &self.meanwhile, deadline).map_err(|why| match why {
            Unresolved::Stop => Attempt::Stopped,
            Unresolved::Deadline => Attempt::Retry(format!(
                "the name lookup of {host} gave no answer within the connection's {}s",
                CONNECT_TIMEOUT.as_secs()
            )),
            Unresolved::Failed(e) => Attempt::Retry(e),
        })
    }

    /// A failed connection's class: TLS, then the server's and the client's own errors.
    fn classify(&self, e: &tokio_postgres::Error) -> Attempt {
        match tls::failure(e, &self.db.host, self.db.tls.roots_from.as_deref()) {
            Some(tls::Failure::Fatal(said)) => Attempt::Tls(said),
            Some(tls::Failure::Transient(said)) => Attempt::Retry(said),
            None => classify(e),
        }
    }
}

/// How long one connection attempt may take (TCP connect, TLS, login).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first pause between attempts; it doubles up to `BACKOFF_MAX`.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between two attempts. A waiting pod's `STATE_LEASE`
/// must leave room for it (config: `MIN_LEASE`): an owner whose database is
/// back makes its next attempt at most this long after.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The pauses between connection attempts: 0.1 s, doubling, at most 2 s.
/// One schedule for every connection odoo-init makes or makes again.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff {
            next: BACKOFF_FIRST,
        }
    }

    /// The pause before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(BACKOFF_MAX);
        delay
    }
}

#[derive(Debug)]
pub enum Attempt {
    /// The stop descriptor became readable: no attempt is made or finished.
    Stopped,
    Retry(String),
    NoDatabase,
    Fatal(String),
    Tls(String),
}

impl Attempt {
    /// The same failure, its text after `earlier` (what a first way of
    /// connecting met).
    fn after(self, earlier: &str) -> Attempt {
        let said = |e: String| format!("{earlier}: {e}");
        match self {
            Attempt::Retry(e) => Attempt::Retry(said(e)),
            Attempt::Fatal(e) => Attempt::Fatal(said(e)),
            Attempt::Tls(e) => Attempt::Tls(said(e)),
            other => other,
        }
    }
}

/// A single attempt's failure, said as the waiting connect would say it.
impl From<Attempt> for ConnectError {
    fn from(a: Attempt) -> ConnectError {
        match a {
            Attempt::Stopped => ConnectError::Stopped,
            Attempt::Retry(e) => ConnectError::Unreachable(e),
            Attempt::NoDatabase => ConnectError::NoDatabase,
            Attempt::Fatal(e) => ConnectError::Refused(e),
            Attempt::Tls(e) => ConnectError::Tls(e),
        }
    }
}

fn classify(e: &tokio_postgres::Error) -> Attempt {
    let mut text = message(e);
    // "error connecting to server" alone does not say refused, no such host or timeout.
    if let (None, Some(cause)) = (e.as_db_error(), e.source()) {
        text = format!("{text}: {cause}");
    }
    // The server asks for a password odoo-init was not given: no retry can help.
    if e.as_db_error().is_none() && text.contains("password missing") {
        return Attempt::Fatal(format!(
            "{text} (the server asks for a password: set DB_PASSWORD or DB_PASSWORD_FILE)"
        ));
    }
    // Channel binding required but not done (no TLS, or no SCRAM): no retry can help.
    if e.as_db_error().is_none() && text.starts_with("authentication error") {
        if text.contains("channel binding") {
            text.push_str(" (DB_CHANNEL_BINDING=require)");
        }
        return Attempt::Fatal(text);
    }
    // PgBouncer reports a missing database with its own code (08P01) but
    // PostgreSQL's words.
    let no_database = text.starts_with("database \"") && text.ends_with("\" does not exist");
    match e.code() {
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => Attempt::NoDatabase,
        _ if no_database => Attempt::NoDatabase,
        Some(c)
            if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                || *c == SqlState::INSUFFICIENT_PRIVILEGE =>
        {
            Attempt::Fatal(text)
        }
        // Starting up, shutting down, too many connections, network: try again.
        _ => Attempt::Retry(text),
    }
}

/// The longest any statement of ours may wait for a lock or run (docs/modes-and-state.md,
/// "When the database fails"): a session holding the advisory lock or a
/// table lock cannot hold PID 1 longer than this, and a SIGTERM that came
/// meanwhile is acted on when the statement returns.
const STATEMENT_BOUND: &str = "5s";

/// A transaction whose every statement is bounded by [`STATEMENT_BOUND`].
/// `SET LOCAL`, not a session setting: behind PgBouncer's transaction
/// pooling a session setting would reach other clients.
pub fn bounded(client: &mut Client) -> Result<Transaction<'_>, tokio_postgres::Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '{STATEMENT_BOUND}'; SET LOCAL statement_timeout = '{STATEMENT_BOUND}'"
    ))?;
    Ok(tx)
}

/// `"name"` with embedded quotes doubled: identifiers are quoted, never pasted.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(ident("odoo"), "\"odoo\"");
        assert_eq!(ident("a\"b; DROP"), "\"a\"\"b; DROP\"");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
