//! Where the Odoo database is, and as whom: each setting from the first of
//! its sources that is set and not empty (docs/configuration.md, Configuration):
//!
//! 1. odoo-init's own names: `DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_USER`,
//!    `DB_PASSWORD` (or `DB_PASSWORD_FILE`);
//! 2. the official `odoo` image's names: `HOST`, `PORT`, `USER`, `PASSWORD`
//!    (or `PASSWORD_FILE`). `USER` only when it is not the name of the user
//!    odoo-init runs as: a login shell sets `USER` to exactly that, and a
//!    login name must not become the database role by accident;
//! 3. libpq's: `PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`;
//! 4. Odoo's config file: `db_host`, `db_port`, `db_name`, `db_user`,
//!    `db_password`;
//! 5. `localhost`, `5432`, `odoo`; no database name, no password.
//!
//! The environment wins over the file, as the variables are the
//! deployment's own word; Odoo, which reads its config file itself, is
//! then told the winners on its command line (`--db_host` ...), so that it
//! and odoo-init use one database. A password cannot go there: one that
//! differs between the environment and the file is refused. Where sources
//! disagree, one line at start says which won.

use std::path::Path;

use crate::db::{tls, Db};
use crate::env::{invalid, secret, ConfigError, Lookup};
use crate::odoo::rc;

/// The database settings and what they mean for Odoo and the log.
pub(crate) struct Database {
    pub(crate) db: Db,
    /// `DB_USER`'s password, if any source gave one.
    pub(crate) password: Option<String>,
    /// Odoo options that override its config file with the environment's
    /// winners (`--db_host=...`), for its command lines.
    pub(crate) odoo_args: Vec<String>,
    /// One line for each setting whose sources disagree: which won.
    pub(crate) notes: Vec<String>,
}

/// A value and the name it was found under.
type Found = (String, String);

/// The first source of a setting that is set and not empty, and the
/// others that are, in order.
fn sources(candidates: Vec<(String, Option<String>)>) -> (Option<Found>, Vec<Found>) {
    let mut set = candidates
        .into_iter()
        .filter_map(|(name, v)| v.filter(|v| !v.is_empty()).map(|v| (name, v)));
    let first = set.next();
    (first, set.collect())
}

/// `USER` unless it is this process's own login name (see the module's
/// documentation); any name when this user has none.
fn official_user(env: Lookup) -> Option<String> {
    let user = env("USER")?;
    let login = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name);
    (login.as_deref() != Some(user.as_str())).then_some(user)
}

/// libpq's variables that would point Odoo and the scripts (libpq clients
/// all) at another server, database or role than odoo-init's own
/// connection, which does not read them: the state rows would go to one
/// server and Odoo's update to another. Refused at start.
pub(crate) const NOT_HONOURED: [&str; 3] = ["PGSERVICE", "PGSERVICEFILE", "PGHOSTADDR"];

/// The database settings: see the module's documentation. `need_name`: a
/// database name is required.
pub(crate) fn database(
    env: Lookup,
    (rc_path, rc): (Option<&Path>, &rc::Options),
    need_name: bool,
) -> Result<Database, ConfigError> {
    for name in NOT_HONOURED {
        if let Some(value) = env(name).filter(|v| !v.is_empty()) {
            return Err(invalid(
                name,
                &value,
                "unset: odoo-init does not read libpq's service files or host addresses, while Odoo and the scripts would follow them to another server; give DB_HOST, DB_PORT, DB_NAME, DB_USER instead",
            ));
        }
    }
    let file = rc_path.map(|p| p.display().to_string()).unwrap_or_default();
    let in_file = |key: &str| (format!("{key} ({file})"), rc::value(rc, key).cloned());
    let mut notes = Vec::new();
    let mut odoo_args = Vec::new();
    // The winner of one setting; said when another source disagrees, and
    // passed to Odoo when it is not the file's own.
    let mut choose = |key: &str, candidates: Vec<(String, Option<String>)>| -> Option<Found> {
        let (first, others) = sources(candidates);
        let (winner, value) = first?;
        let differing: Vec<&Found> = others.iter().filter(|(_, v)| *v != value).collect();
        if !differing.is_empty() && key != "db_password" {
            let losers: Vec<String> = differing
                .iter()
                .map(|(name, v)| format!("{name} = {v:?}"))
                .collect();
            notes.push(format!(
                "{key}: {winner} = {value:?} wins over {}",
                losers.join(", ")
            ));
        }
        let file_sets_another = rc::value(rc, key).is_some_and(|v| *v != value);
        if file_sets_another && key != "db_name" && key != "db_password" {
            odoo_args.push(format!("--{key}={value}"));
        }
        Some((winner, value))
    };
    let var = |name: &str| (name.to_string(), env(name));
    let host = choose(
        "db_host",
        vec![
            var("DB_HOST"),
            var("HOST"),
            var("PGHOST"),
            in_file("db_host"),
        ],
    )
    .unwrap_or_else(|| ("DB_HOST".into(), "localhost".into()));
    // libpq and Odoo take "a,b" (Patroni's failover lists); odoo-init's one
    // connection would try it as one name: refused here, said once.
    let (host_source, host) = host;
    // A connection URI may carry a password: refused without showing it.
    if host.contains("://") || host.contains('@') {
        return Err(invalid(
            &host_source,
            "<not shown: a URI may hold a password>",
            "a host name, address or socket directory: connection URIs are not read (give the host, port, user and password apart: DB_HOST, DB_PORT, DB_USER, DB_PASSWORD_FILE)",
        ));
    }
    if host.contains(',') {
        return Err(invalid(
            &host_source,
            &host,
            "one host name, address or socket directory: host lists are not supported (point it at one address that follows the primary: a Kubernetes Service, a VIP, PgBouncer)",
        ));
    }
    let (port_source, port_value) = choose(
        "db_port",
        vec![
            var("DB_PORT"),
            var("PORT"),
            var("PGPORT"),
            in_file("db_port"),
        ],
    )
    .unwrap_or_else(|| ("DB_PORT".into(), "5432".into()));
    let port = port_value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            invalid(
                &port_source,
                &port_value,
                "a TCP port, 1 to 65535 (one: port lists are not supported)",
            )
        })?;
    let name = choose(
        "db_name",
        vec![var("DB_NAME"), var("PGDATABASE"), in_file("db_name")],
    )
    .map(|(_, v)| v);
    let user = choose(
        "db_user",
        vec![
            var("DB_USER"),
            ("USER".to_string(), official_user(env)),
            var("PGUSER"),
            in_file("db_user"),
        ],
    )
    .map_or_else(|| "odoo".to_string(), |(_, v)| v);
    let password = choose(
        "db_password",
        vec![
            ("DB_PASSWORD".to_string(), secret(env, "DB_PASSWORD")?),
            ("PASSWORD".to_string(), secret(env, "PASSWORD")?),
            var("PGPASSWORD"),
            in_file("db_password"),
        ],
    );
    // Odoo uses its config file's password whatever the environment says.
    if let (Some((winner, value)), Some(own)) = (&password, rc::value(rc, "db_password")) {
        if value != own {
            return Err(invalid(
                winner,
                "<secret>",
                &format!("the same password as db_password in {file}, which Odoo uses: give the password one way (remove db_password from the file, or {winner})"),
            ));
        }
    }
    match &name {
        Some(n) => check_name("DB_NAME", n, Name::Database)?,
        None if need_name => {
            return Err(invalid(
                "DB_NAME",
                "",
                "a database name: the state table lives in one database (or set PGDATABASE, or db_name in the Odoo config; odoo-init's own commands take --database NAME)",
            ))
        }
        None => {}
    }
    check_name("DB_USER", &user, Name::Role)?;
    let given = super::tls::read(env, rc::value(rc, "db_sslmode").map(String::as_str))?;
    let tls = tls::Settings::build(given)?;
    Ok(Database {
        db: Db {
            host,
            port,
            name,
            user,
            tls,
        },
        password: password.map(|(_, v)| v),
        odoo_args,
        notes,
    })
}

/// What a name names, for its character rule.
#[derive(Clone, Copy)]
pub(crate) enum Name {
    /// Odoo's own rule for database names (`odoo/service/db.py`).
    Database,
    Role,
}

impl Name {
    fn rule(self) -> &'static str {
        match self {
            Name::Database => {
                "a letter or digit, then letters, digits, _ . -: 2 to 63 bytes (Odoo's DBNAME_PATTERN)"
            }
            Name::Role => "letters, digits, _ . - @ (not first), at most 63 bytes",
        }
    }

    fn extra(self) -> &'static [char] {
        match self {
            Name::Database => &['_', '.', '-'],
            Name::Role => &['_', '.', '-', '@'],
        }
    }
}

pub(crate) fn check_name(variable: &str, value: &str, kind: Name) -> Result<(), ConfigError> {
    // Odoo's `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$` for databases; roles may start with `_`.
    let (first_extra, least) = match kind {
        Name::Database => (None, 2),
        Name::Role => (Some('_'), 1),
    };
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || Some(c) == first_extra);
    let rest_ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || kind.extra().contains(&c));
    if first_ok && rest_ok && (least..=63).contains(&value.len()) {
        Ok(())
    } else {
        Err(invalid(variable, value, kind.rule()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)], file: &[(&str, &str)]) -> Result<Database, ConfigError> {
        let mut map: HashMap<String, String> = [("HOME", "/nonexistent")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let rc: rc::Options = file
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        database(
            &move |k| map.get(k).cloned(),
            (Some(Path::new("/etc/odoo/odoo.conf")), &rc),
            false,
        )
    }

    #[test]
    fn odoo_inits_names_then_the_official_images_then_libpqs_then_the_file() {
        let file = [("db_host", "from-file"), ("db_port", "6000")];
        let all = [("DB_HOST", "a"), ("HOST", "b"), ("PGHOST", "c")];
        for n in 0..all.len() {
            let d = read(&all[n..], &file).unwrap();
            assert_eq!(d.db.host, all[n].1);
            // Odoo reads the file itself: it is told the winner.
            assert!(d.odoo_args.contains(&format!("--db_host={}", all[n].1)));
            let said = format!("db_host: {} = {:?} wins over", all[n].0, all[n].1);
            assert!(d.notes[0].starts_with(&said), "{:?}", d.notes);
        }
        let d = read(&[], &file).unwrap();
        assert_eq!((d.db.host.as_str(), d.db.port), ("from-file", 6000));
        assert!(d.odoo_args.is_empty() && d.notes.is_empty());
        let d = read(&[("PORT", "5433")], &[]).unwrap();
        assert_eq!(
            (d.db.host.as_str(), d.db.port, d.db.user.as_str()),
            ("localhost", 5433, "odoo")
        );
    }

    #[test]
    fn user_is_not_taken_when_it_is_this_login_name() {
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .expect("this test runs as a user with a name");
        assert_eq!(read(&[("USER", &me)], &[]).unwrap().db.user, "odoo");
        assert_eq!(
            read(&[("USER", "odoo_db")], &[]).unwrap().db.user,
            "odoo_db"
        );
        let d = read(&[("USER", "odoo_db"), ("DB_USER", "mine")], &[]).unwrap();
        assert_eq!(d.db.user, "mine");
    }

    #[test]
    fn passwords_come_one_way_and_agree_with_odoos_file() {
        let dir = std::env::temp_dir().join(format!("odoo-init-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let path = file.display().to_string();
        let d = read(&[("PASSWORD_FILE", &path)], &[]).unwrap();
        assert_eq!(d.password.as_deref(), Some("s3cret"));
        assert!(read(&[("PASSWORD_FILE", &path), ("PASSWORD", "x")], &[]).is_err());
        let file_pw = [("db_password", "other")];
        let e = read(&[("PASSWORD", "s3cret")], &file_pw)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("PASSWORD=\"<secret>\"") && !e.contains("s3cret") && !e.contains("other"),
            "{e}"
        );
        assert!(read(&[("PASSWORD", "other")], &file_pw).is_ok());
        assert_eq!(
            read(&[], &file_pw).unwrap().password.as_deref(),
            Some("other")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
