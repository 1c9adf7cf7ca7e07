//! TLS to PostgreSQL with libpq's `sslmode` semantics, over rustls.
//!
//! [`Settings::build`] takes what the settings gave ([`Given`], read by
//! `config::tls`; this module reads no variable), adds libpq's files under
//! `~/.postgresql`, checks every file before anything connects, and builds
//! the one rustls client configuration the process uses. [`Connector`]
//! plugs it into the `tokio-postgres` client; its
//! stream answers SCRAM's channel binding (`tls-server-end-point`, RFC 5929)
//! with the hash the server computes.
//!
//! How a certificate is checked follows libpq: `verify-full` checks the
//! chain and the host name, `verify-ca` the chain only; `require`, `prefer`
//! and `allow` check the chain when a root certificate is there (given, or
//! `~/.postgresql/root.crt`), and nothing otherwise (encryption without
//! authentication of the server). Which attempts are made (`allow`: plain
//! first, `prefer`: TLS first) is `db::conn`'s part.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;

use crate::env::{invalid, ConfigError};

mod failure;
mod files;
mod stream;
mod verify;

pub(crate) use failure::{failure, Failure};
use files::{read_client_auth, read_roots, revocation_lists};
pub(crate) use stream::Connector;
use verify::{client_config, Build};

/// libpq's `sslmode`, with its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

const MODES: [(&str, Mode); 6] = [
    ("disable", Mode::Disable),
    ("allow", Mode::Allow),
    ("prefer", Mode::Prefer),
    ("require", Mode::Require),
    ("verify-ca", Mode::VerifyCa),
    ("verify-full", Mode::VerifyFull),
];

impl Mode {
    /// The mode libpq spells `name`.
    pub(crate) fn named(name: &str) -> Option<Mode> {
        MODES.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }

    /// As libpq and Odoo's `--db_sslmode` spell it.
    pub fn as_str(self) -> &'static str {
        MODES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("prefer", |(name, _)| name)
    }
}

/// libpq's `channel_binding`: whether SCRAM must bind itself to the TLS
/// connection (`SCRAM-SHA-256-PLUS`), so that a man in the middle holding a
/// certificate the client accepts still cannot log in as the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    Disable,
    Prefer,
    Require,
}

/// The TLS settings, checked, and what they build.
#[derive(Clone)]
pub struct Settings {
    pub mode: Mode,
    /// `DB_SSLMODE` or `PGSSLMODE` chose the mode (not the Odoo config file
    /// or the default): Odoo must be told on its command line, because it
    /// passes its own `db_sslmode` (default `prefer`) to libpq explicitly.
    pub mode_from_env: bool,
    pub channel_binding: ChannelBinding,
    /// The files set by a variable, for the children's libpq (`PGSSLROOTCERT`, ...).
    pub files: Files,
    /// What the server's certificate is checked against, said in errors.
    pub roots_from: Option<String>,
    /// `None` with `disable`.
    client: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("mode", &self.mode)
            .field("mode_from_env", &self.mode_from_env)
            .field("channel_binding", &self.channel_binding)
            .field("files", &self.files)
            .field("roots_from", &self.roots_from)
            .finish()
    }
}

/// The file settings a variable gave, as given (`system` for the trust store).
#[derive(Debug, Clone, Default)]
pub struct Files {
    pub root_cert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub crl: Option<String>,
}

/// The most a certificate, key or CRL file may hold (a system bundle is ~200 KiB).
pub(super) const PEM_MAX: usize = 4 * 1024 * 1024;

/// Where the system's trust store may be, first found wins (`SSL_CERT_FILE`
/// before them, as OpenSSL and so libpq's `sslrootcert=system` do).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // others
];

/// A setting's value and where it came from (a variable, or a file libpq
/// would use by default), as errors name it.
pub(crate) type Source = (String, String);

/// What the settings give (`config::tls` reads them): the mode and channel
/// binding checked, the files as named, where libpq would look for its own.
#[derive(Debug, Clone)]
pub(crate) struct Given {
    pub mode: Mode,
    /// Where the mode came from, for errors (`None`: libpq's default).
    pub mode_set: Option<Source>,
    /// `DB_SSLMODE` or `PGSSLMODE` chose the mode.
    pub mode_from_env: bool,
    pub channel_binding: ChannelBinding,
    pub root_cert: Option<Source>,
    pub crl: Option<Source>,
    pub cert: Option<Source>,
    pub key: Option<Source>,
    /// The home directory holding libpq's `.postgresql`.
    pub home: Option<PathBuf>,
    /// `SSL_CERT_FILE`: the system's trust store, before the usual places.
    pub ssl_cert_file: Option<PathBuf>,
}

/// Certificates, with what they were read from.
pub(super) type Roots = (String, Vec<CertificateDer<'static>>);

impl Settings {
    /// The settings `given` built: every file is read and checked here, so
    /// that a wrong one is a configuration error (exit 64) before any
    /// connection.
    pub(crate) fn build(given: Given) -> Result<Settings, ConfigError> {
        let Given {
            mode,
            mode_set,
            mode_from_env,
            channel_binding,
            ..
        } = given;
        // libpq's files under ~/.postgresql, when they exist (never read with `disable`).
        let home = given.home.filter(|_| mode != Mode::Disable);
        let default = |name: &str| -> Option<Source> {
            let path = home.as_ref()?.join(".postgresql").join(name);
            let shown = path.display().to_string();
            path.exists().then(|| (shown.clone(), shown))
        };
        let mut files = Files::default();

        let system = system_bundle(given.ssl_cert_file);
        let roots = read_roots(
            given.root_cert,
            system,
            mode,
            default("root.crt"),
            &mut files,
        )?;
        if roots.is_none() && matches!(mode, Mode::VerifyCa | Mode::VerifyFull) {
            let (var, value) = mode_set.unwrap_or_default();
            return Err(invalid(
                &var,
                &value,
                "a mode that does not verify the server, or a root certificate to verify it with: set DB_SSLROOTCERT to the CA file (or `system`), or put it at ~/.postgresql/root.crt",
            ));
        }
        let crl_set = noted(given.crl, &mut files.crl).or_else(|| default("root.crl"));
        let crls = match &crl_set {
            Some((var, value)) => revocation_lists(var, Path::new(value))?,
            None => Vec::new(),
        };
        let cert_set = noted(given.cert, &mut files.cert).or_else(|| default("postgresql.crt"));
        let key_set = noted(given.key, &mut files.key)
            .or_else(|| cert_set.as_ref().and_then(|_| default("postgresql.key")));
        let client_auth = read_client_auth(cert_set, key_set)?;

        let roots_from = roots.as_ref().map(|(from, _)| from.clone());
        let client = match mode {
            Mode::Disable => None,
            _ => Some(
                client_config(mode, roots.map(|(_, r)| r), crls, client_auth).map_err(|e| {
                    let (var, value) = match e {
                        Build::Roots(_) => (
                            "DB_SSLROOTCERT".to_string(),
                            files.root_cert.clone().unwrap_or_default(),
                        ),
                        Build::Crl(_) => crl_set.clone().unwrap_or_default(),
                        Build::ClientCert(_) => (
                            "DB_SSLCERT".to_string(),
                            files.cert.clone().unwrap_or_default(),
                        ),
                    };
                    invalid(&var, &value, &e.to_string())
                })?,
            ),
        };
        Ok(Settings {
            mode,
            mode_from_env,
            channel_binding,
            files,
            roots_from,
            client,
        })
    }

    /// `channel_binding` for the children's libpq, when not libpq's default.
    pub fn channel_binding_set(&self) -> Option<&'static str> {
        match self.channel_binding {
            ChannelBinding::Disable => Some("disable"),
            ChannelBinding::Prefer => None,
            ChannelBinding::Require => Some("require"),
        }
    }

    /// The connector for one attempt; `None` with `disable`.
    pub fn connector(&self) -> Option<Connector> {
        self.client.clone().map(Connector::new)
    }
}

/// A file setting from a variable, noted in `files` for the children.
pub(super) fn noted(set: Option<Source>, slot: &mut Option<String>) -> Option<Source> {
    *slot = set.as_ref().map(|(_, value)| value.clone());
    set
}

/// The system's trust store: `SSL_CERT_FILE`, else the first usual place found.
fn system_bundle(ssl_cert_file: Option<PathBuf>) -> Option<PathBuf> {
    ssl_cert_file
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_spelled_as_libpq_spells_them() {
        for (name, mode) in MODES {
            assert_eq!(mode.as_str(), name);
        }
    }
}
