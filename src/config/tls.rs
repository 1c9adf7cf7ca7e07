//! The TLS variables, read with the rest of the settings: `DB_SSLMODE`,
//! `DB_SSLROOTCERT`, `DB_SSLCERT`, `DB_SSLKEY`, `DB_SSLCRL`,
//! `DB_CHANNEL_BINDING` (each, when unset, from libpq's `PG*` name), the
//! Odoo config file's `db_sslmode`, `HOME` and `SSL_CERT_FILE`. What they
//! say is handed to [`tls::Settings::build`] as plain values; `db::tls`
//! reads no variable.

use std::path::PathBuf;

use crate::db::tls::{self, ChannelBinding, Mode, Source};
use crate::env::{invalid, ConfigError, Lookup};

/// `var`, else `pg`, set and not empty, with the name it came from.
fn pick(env: Lookup, var: &str, pg: &str) -> Option<Source> {
    [var, pg].into_iter().find_map(|name| {
        env(name)
            .filter(|v| !v.is_empty())
            .map(|v| (name.to_string(), v))
    })
}

/// The TLS settings the environment and the Odoo config file give; every
/// file they name is read and checked by `db::tls` before any connection.
pub(super) fn read(env: Lookup, rc_sslmode: Option<&str>) -> Result<tls::Given, ConfigError> {
    let root_cert = pick(env, "DB_SSLROOTCERT", "PGSSLROOTCERT");
    let system = root_cert.as_ref().is_some_and(|(_, v)| v == "system");
    let mode_set = pick(env, "DB_SSLMODE", "PGSSLMODE");
    let mode_from_env = mode_set.is_some();
    let mode_set = mode_set.or_else(|| {
        rc_sslmode.map(|v| ("db_sslmode (Odoo config file)".to_string(), v.to_string()))
    });
    let mode = read_mode(mode_set.as_ref(), system)?;
    Ok(tls::Given {
        mode,
        mode_set,
        mode_from_env,
        channel_binding: read_channel_binding(env, mode)?,
        root_cert,
        crl: pick(env, "DB_SSLCRL", "PGSSLCRL"),
        cert: pick(env, "DB_SSLCERT", "PGSSLCERT"),
        key: pick(env, "DB_SSLKEY", "PGSSLKEY"),
        home: home_dir(env),
        ssl_cert_file: env("SSL_CERT_FILE")
            .filter(|f| !f.is_empty())
            .map(PathBuf::from),
    })
}

fn read_mode(set: Option<&Source>, system: bool) -> Result<Mode, ConfigError> {
    match set {
        Some((var, value)) => Mode::named(value).ok_or_else(|| {
            invalid(
                var,
                value,
                "one of disable, allow, prefer, require, verify-ca, verify-full (libpq's sslmode)",
            )
        }),
        // libpq 16: the system's trust store makes verify-full the default.
        None if system => Ok(Mode::VerifyFull),
        None => Ok(Mode::Prefer),
    }
}

fn read_channel_binding(env: Lookup, mode: Mode) -> Result<ChannelBinding, ConfigError> {
    let Some((var, value)) = pick(env, "DB_CHANNEL_BINDING", "PGCHANNELBINDING") else {
        return Ok(ChannelBinding::Prefer);
    };
    match value.as_str() {
        "disable" => Ok(ChannelBinding::Disable),
        "prefer" => Ok(ChannelBinding::Prefer),
        "require" if mode == Mode::Disable => Err(invalid(
            &var,
            &value,
            "not require with sslmode disable: channel binding needs TLS",
        )),
        "require" => Ok(ChannelBinding::Require),
        _ => Err(invalid(
            &var,
            &value,
            "one of disable, prefer, require (libpq's channel_binding)",
        )),
    }
}

/// `HOME`, else the user's home directory from the password database, as
/// libpq finds `~/.postgresql`.
fn home_dir(env: Lookup) -> Option<PathBuf> {
    match env("HOME") {
        Some(h) if !h.is_empty() => Some(PathBuf::from(h)),
        _ => nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.dir),
    }
}
