//! The database connection: parameters, waiting for PostgreSQL, and telling
//! a wrong password (fail at once) from a server that is still starting.

use std::fmt;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, NoTls};

use crate::config::Db;
use crate::supervisor::{Abort, Pause};

/// Why no connection could be made.
#[derive(Debug)]
pub enum ConnectError {
    /// Wrong password, unknown role, not allowed by pg_hba: retrying cannot help.
    Refused(String),
    /// The server answered that the database does not exist.
    NoDatabase,
    /// Still unreachable when the wait ran out.
    Unreachable(String),
    /// SIGTERM/SIGINT while waiting.
    Stopped,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Refused(e) => write!(f, "PostgreSQL refused the connection: {e}"),
            ConnectError::NoDatabase => f.write_str("the database does not exist"),
            ConnectError::Unreachable(e) => write!(f, "PostgreSQL unreachable: {e}"),
            ConnectError::Stopped => f.write_str("stopped while waiting for PostgreSQL"),
        }
    }
}

/// Who connects where.
pub struct Target<'a> {
    pub db: &'a Db,
    pub dbname: &'a str,
    pub user: &'a str,
    pub password: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// `DB_USER` with its password, on `dbname`.
    pub fn of(db: &'a Db, dbname: &'a str) -> Target<'a> {
        Target {
            db,
            dbname,
            user: &db.user,
            password: db.password.as_deref(),
        }
    }

    fn config(&self) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host(&self.db.host)
            .port(self.db.port)
            .dbname(self.dbname)
            .user(self.user)
            .application_name("odoo-init")
            // Ages are computed in UTC by the server: set in the startup packet, no round trip.
            .options("-c TimeZone=UTC")
            .connect_timeout(Duration::from_secs(10));
        if let Some(p) = self.password {
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

    /// One attempt, classified.
    pub fn connect_once(&self) -> Result<Client, Attempt> {
        self.config().connect(NoTls).map_err(|e| classify(&e))
    }

    /// Retries with backoff while the server refuses connections or is
    /// starting up, for at most `wait`; fails at once on credentials.
    pub fn connect(&self, wait: Duration, pause: &mut Pause) -> Result<Client, ConnectError> {
        let until = Instant::now() + wait;
        let mut delay = Duration::from_millis(100);
        let mut logged = false;
        loop {
            match self.connect_once() {
                Ok(client) => {
                    if logged {
                        log::info!("PostgreSQL is up ({})", self.describe());
                    }
                    return Ok(client);
                }
                Err(Attempt::Fatal(e)) => return Err(ConnectError::Refused(e)),
                Err(Attempt::NoDatabase) => return Err(ConnectError::NoDatabase),
                Err(Attempt::Retry(e)) => {
                    if Instant::now() + delay > until {
                        return Err(ConnectError::Unreachable(format!(
                            "{} after {}s (DB_WAIT_TIMEOUT): {e}",
                            self.describe(),
                            wait.as_secs_f64()
                        )));
                    }
                    if !logged {
                        log::info!("waiting for PostgreSQL at {}: {e}", self.describe());
                        logged = true;
                    }
                    if let Err(Abort::Stopped) | Err(Abort::Failed(_)) = pause.sleep(delay) {
                        return Err(ConnectError::Stopped);
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

#[derive(Debug)]
pub enum Attempt {
    Retry(String),
    NoDatabase,
    Fatal(String),
}

/// A single attempt's failure, said as the waiting connect would say it.
impl From<Attempt> for ConnectError {
    fn from(a: Attempt) -> ConnectError {
        match a {
            Attempt::Retry(e) => ConnectError::Unreachable(e),
            Attempt::NoDatabase => ConnectError::NoDatabase,
            Attempt::Fatal(e) => ConnectError::Refused(e),
        }
    }
}

fn classify(e: &postgres::Error) -> Attempt {
    let text = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    match e.code() {
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => Attempt::NoDatabase,
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
