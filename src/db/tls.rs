//! TLS to PostgreSQL with libpq's `sslmode` semantics, over rustls.
//!
//! [`Settings::from_env`] reads `DB_SSLMODE`, `DB_SSLROOTCERT`, `DB_SSLCERT`,
//! `DB_SSLKEY`, `DB_SSLCRL`, `DB_CHANNEL_BINDING` (then libpq's `PG*` names,
//! then libpq's files under `~/.postgresql`), checks every file before
//! anything connects, and builds the one rustls client configuration the
//! process uses. [`Connector`] plugs it into the `postgres` client; its
//! stream answers SCRAM's channel binding (`tls-server-end-point`, RFC 5929)
//! with the hash the server computes.
//!
//! How a certificate is checked follows libpq: `verify-full` checks the
//! chain and the host name, `verify-ca` the chain only; `require`, `prefer`
//! and `allow` check the chain when a root certificate is there (given, or
//! `~/.postgresql/root.crt`), and nothing otherwise (encryption without
//! authentication of the server). Which attempts are made (`allow`: plain
//! first, `prefer`: TLS first) is `db::conn`'s part.

use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding as Binding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::env::{invalid, ConfigError, Lookup};
use crate::files;

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
const PEM_MAX: usize = 4 * 1024 * 1024;

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
type Source = (String, String);

/// Certificates, with what they were read from.
type Roots = (String, Vec<CertificateDer<'static>>);

/// `var`, else `pg`, set and not empty.
fn pick(env: Lookup, var: &str, pg: &str) -> Option<Source> {
    [var, pg].into_iter().find_map(|name| {
        env(name)
            .filter(|v| !v.is_empty())
            .map(|v| (name.to_string(), v))
    })
}

impl Settings {
    /// `DB_*`, then libpq's `PG*`, then (the mode only) `db_sslmode` of the
    /// Odoo config file, then libpq's defaults. Every file is read and
    /// checked here, so that a wrong one is a configuration error (exit 64)
    /// before any connection.
    pub(crate) fn from_env(env: Lookup, rc_sslmode: Option<&str>) -> Result<Settings, ConfigError> {
        let root_set = pick(env, "DB_SSLROOTCERT", "PGSSLROOTCERT");
        let system = root_set.as_ref().is_some_and(|(_, v)| v == "system");
        let mode_set = pick(env, "DB_SSLMODE", "PGSSLMODE");
        let mode_from_env = mode_set.is_some();
        let mode_set = mode_set.or_else(|| {
            rc_sslmode.map(|v| ("db_sslmode (Odoo config file)".to_string(), v.to_string()))
        });
        let mode = read_mode(mode_set.as_ref(), system)?;
        let channel_binding = read_channel_binding(env, mode)?;
        // libpq's files under ~/.postgresql, when they exist (never read with `disable`).
        let home = home_dir(env).filter(|_| mode != Mode::Disable);
        let default = |name: &str| -> Option<Source> {
            let path = home.as_ref()?.join(".postgresql").join(name);
            let shown = path.display().to_string();
            path.exists().then(|| (shown.clone(), shown))
        };
        let mut files = Files::default();

        let roots = read_roots(env, root_set, mode, default("root.crt"), &mut files)?;
        if roots.is_none() && matches!(mode, Mode::VerifyCa | Mode::VerifyFull) {
            let (var, value) = mode_set.unwrap_or_default();
            return Err(invalid(
                &var,
                &value,
                "a mode that does not verify the server, or a root certificate to verify it with: set DB_SSLROOTCERT to the CA file (or `system`), or put it at ~/.postgresql/root.crt",
            ));
        }
        let crl_set = given(pick(env, "DB_SSLCRL", "PGSSLCRL"), &mut files.crl)
            .or_else(|| default("root.crl"));
        let crls = match &crl_set {
            Some((var, value)) => revocation_lists(var, Path::new(value))?,
            None => Vec::new(),
        };
        let cert_set = given(pick(env, "DB_SSLCERT", "PGSSLCERT"), &mut files.cert)
            .or_else(|| default("postgresql.crt"));
        let key_set = given(pick(env, "DB_SSLKEY", "PGSSLKEY"), &mut files.key)
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
        self.client.clone().map(|config| Connector { config })
    }
}

/// A file setting from a variable, noted in `files` for the children.
fn given(set: Option<Source>, slot: &mut Option<String>) -> Option<Source> {
    *slot = set.as_ref().map(|(_, value)| value.clone());
    set
}

fn read_mode(set: Option<&Source>, system: bool) -> Result<Mode, ConfigError> {
    match set {
        Some((var, value)) => MODES
            .iter()
            .find(|(name, _)| name == value)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
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

/// The root certificates: a file, `system` (only with `verify-full`, as
/// libpq 16), or libpq's default file (`default`) when it exists.
fn read_roots(
    env: Lookup,
    set: Option<Source>,
    mode: Mode,
    default: Option<Source>,
    files: &mut Files,
) -> Result<Option<Roots>, ConfigError> {
    let set = given(set, &mut files.root_cert);
    match set {
        Some((var, value)) if value == "system" => {
            if mode != Mode::VerifyFull {
                return Err(invalid(
                    &var,
                    &value,
                    &format!(
                        "a CA file: with the system's trust store only sslmode verify-full is allowed (is {}), as in libpq",
                        mode.as_str()
                    ),
                ));
            }
            let bundle = system_bundle(env).ok_or_else(|| {
                invalid(&var, &value, "a CA file: no system trust store found (install ca-certificates, or set SSL_CERT_FILE)")
            })?;
            let from = format!("the system's trust store ({})", bundle.display());
            Ok(Some((from, certificates(&var, &bundle)?)))
        }
        Some((var, value)) => {
            let certs = certificates(&var, Path::new(&value))?;
            Ok(Some((format!("{var} ({value})"), certs)))
        }
        None => match default {
            Some((shown, path)) => Ok(Some((
                shown.clone(),
                certificates(&shown, Path::new(&path))?,
            ))),
            None => Ok(None),
        },
    }
}

/// The client certificate and its key, both or neither.
fn read_client_auth(
    cert: Option<Source>,
    key: Option<Source>,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ConfigError> {
    match (cert, key) {
        (Some((cvar, cpath)), Some((kvar, kpath))) => Ok(Some((
            certificates(&cvar, Path::new(&cpath))?,
            private_key(&kvar, Path::new(&kpath))?,
        ))),
        (Some((var, value)), None) => Err(invalid(
            &var,
            &value,
            "a client certificate with its private key: set DB_SSLKEY, or put it at ~/.postgresql/postgresql.key",
        )),
        (None, Some((var, value))) => Err(invalid(
            &var,
            &value,
            "set together with DB_SSLCERT (the client certificate this key belongs to)",
        )),
        (None, None) => Ok(None),
    }
}

/// `HOME`, else the user's home directory from the password database, as libpq.
fn home_dir(env: Lookup) -> Option<PathBuf> {
    match env("HOME") {
        Some(h) if !h.is_empty() => Some(PathBuf::from(h)),
        _ => nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.dir),
    }
}

fn system_bundle(env: Lookup) -> Option<PathBuf> {
    env("SSL_CERT_FILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// A PEM file's bytes; `shown` names the setting in the error.
fn read_pem(shown: &str, path: &Path) -> Result<(Vec<u8>, std::fs::Metadata), ConfigError> {
    let fail = |e: &dyn fmt::Display| {
        invalid(
            shown,
            &path.display().to_string(),
            &format!("a readable PEM file ({e})"),
        )
    };
    let (mut file, meta) = files::open_regular(path, 0).map_err(|e| fail(&e))?;
    let data = files::read_capped(&mut file, PEM_MAX).map_err(|e| fail(&e))?;
    Ok((data, meta))
}

fn certificates(shown: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    pem_items(shown, path, "certificate (-----BEGIN CERTIFICATE-----)")
}

fn revocation_lists(
    shown: &str,
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, ConfigError> {
    pem_items(shown, path, "revocation list (-----BEGIN X509 CRL-----)")
}

/// Every item of one kind in a PEM file; at least one.
fn pem_items<T: PemObject>(shown: &str, path: &Path, kind: &str) -> Result<Vec<T>, ConfigError> {
    let (pem, _) = read_pem(shown, path)?;
    let fail = |why: String| invalid(shown, &path.display().to_string(), &why);
    let items = T::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("a PEM file with at least one {kind} ({e})")))?;
    if items.is_empty() {
        return Err(fail(format!("a PEM file with at least one {kind}")));
    }
    Ok(items)
}

/// The client's private key, refused when others may read it, as libpq
/// refuses it: owned by us, no access for group or others; owned by root
/// (a mounted secret), at most group-readable.
fn private_key(shown: &str, path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let (pem, meta) = read_pem(shown, path)?;
    let mode = meta.mode() & 0o777;
    let too_open = if meta.uid() == 0 {
        mode & 0o137 != 0
    } else {
        mode & 0o077 != 0
    };
    if too_open {
        return Err(invalid(
            shown,
            &path.display().to_string(),
            &format!("a key only its owner can read (mode is {mode:04o}: chmod 0600, or 0640 owned by root), as libpq requires"),
        ));
    }
    if String::from_utf8_lossy(&pem).contains("ENCRYPTED") {
        return Err(invalid(
            shown,
            &path.display().to_string(),
            "an unencrypted key (a passphrase, libpq's sslpassword, is not supported)",
        ));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        invalid(
            shown,
            &path.display().to_string(),
            &format!("a PEM private key, PKCS#8, PKCS#1 or SEC1 ({e})"),
        )
    })
}

/// What rustls refused while building the client configuration.
enum Build {
    Roots(String),
    Crl(String),
    ClientCert(String),
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Build::Roots(e) => write!(f, "CA certificates rustls accepts ({e})"),
            Build::Crl(e) => write!(
                f,
                "X.509 v2 revocation lists ({e}; openssl ca makes v2 ones with crl_extensions set)"
            ),
            Build::ClientCert(e) => write!(f, "a client certificate that matches DB_SSLKEY ({e})"),
        }
    }
}

fn client_config(
    mode: Mode,
    roots: Option<Vec<CertificateDer<'static>>>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, Build> {
    let crypto = Arc::new(provider::default_provider());
    let chain = match roots {
        Some(certs) => {
            let mut store = RootCertStore::empty();
            for cert in certs {
                store.add(cert).map_err(|e| Build::Roots(e.to_string()))?;
            }
            let mut builder =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), crypto.clone());
            if !crls.is_empty() {
                builder = builder.with_crls(crls);
            }
            Some(builder.build().map_err(|e| match e {
                rustls::client::VerifierBuilderError::InvalidCrl(e) => Build::Crl(format!("{e:?}")),
                other => Build::Roots(other.to_string()),
            })?)
        }
        None => None,
    };
    // libpq: with a root certificate, every mode checks the chain; only verify-full the name.
    let verifier = Arc::new(Verifier {
        chain,
        name: mode == Mode::VerifyFull,
        crypto: crypto.clone(),
    });
    let builder = ClientConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .map_err(|e| Build::Roots(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_auth {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| Build::ClientCert(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    // PostgreSQL 17 checks it when a client sends one; earlier ones ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(config))
}

/// How the server's certificate is checked: its chain against the roots
/// (`chain`; `None`: no root certificate, any certificate, as libpq's
/// `require` without one: encrypted to whoever holds its key), and its
/// host name too for `verify-full` (`name`). The handshake's own
/// signatures are always checked.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    name: bool,
    crypto: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        // webpki checks the name last, after the chain: a name error means the chain is good.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.crypto.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.crypto.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.crypto
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The `postgres` client's TLS: one rustls configuration, shared by every attempt.
#[derive(Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
}

impl<S> MakeTlsConnect<S> for Connector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Handshake;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, host: &str) -> Result<Handshake, Self::Error> {
        Ok(Handshake {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            name: ServerName::try_from(host)?.to_owned(),
        })
    }
}

/// One TLS handshake to `name`.
pub struct Handshake {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Handshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, socket: S) -> Self::Future {
        let handshake = self.connector.connect(self.name, socket);
        Box::pin(async move { handshake.await.map(Stream) })
    }
}

/// An established TLS connection, as the `postgres` client reads and writes it.
pub struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    /// `tls-server-end-point`: the hash of the server's certificate, with
    /// the hash of its signature algorithm (SHA-256 for MD5 and SHA-1), as
    /// RFC 5929 and PostgreSQL's `be_tls_get_certificate_hash` compute it.
    fn channel_binding(&self) -> Binding {
        let (_, conn) = self.0.get_ref();
        conn.peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| end_point_hash(cert))
            .map_or_else(Binding::none, Binding::tls_server_end_point)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// One DER element: its tag, its contents, what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |len, b| len << 8 | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;

/// Signature algorithm OIDs (DER contents) and the hash channel binding uses with them.
const SIGNATURE_HASHES: [(&[u8], &ring::digest::Algorithm); 10] = [
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
        &ring::digest::SHA256,
    ), // md5WithRSA
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        &ring::digest::SHA256,
    ), // sha1WithRSA
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
        &ring::digest::SHA256,
    ), // sha256WithRSA
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        &ring::digest::SHA384,
    ), // sha384WithRSA
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        &ring::digest::SHA512,
    ), // sha512WithRSA
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
        &ring::digest::SHA256,
    ), // ecdsa-with-SHA1
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
        &ring::digest::SHA256,
    ), // ecdsa-with-SHA256
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
        &ring::digest::SHA384,
    ), // ecdsa-with-SHA384
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
        &ring::digest::SHA512,
    ), // ecdsa-with-SHA512
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03],
        &ring::digest::SHA256,
    ), // dsa-with-SHA1
];

/// RFC 5929's hash of `cert`, `None` when its signature algorithm has none
/// defined (Ed25519) or is not in the table (RSA-PSS, whose hash is in its
/// parameters, PostgreSQL 15 cannot bind to either): then no channel
/// binding is offered.
fn end_point_hash(cert: &[u8]) -> Option<Vec<u8>> {
    let (SEQUENCE, body, _) = der(cert)? else {
        return None;
    };
    let (_, _tbs, rest) = der(body)?;
    let (SEQUENCE, algorithm, _) = der(rest)? else {
        return None;
    };
    let (OID, oid, _) = der(algorithm)? else {
        return None;
    };
    let (_, hash) = SIGNATURE_HASHES.iter().find(|(s, _)| *s == oid)?;
    Some(ring::digest::digest(hash, cert).as_ref().to_vec())
}

/// Why a TLS attempt failed, and whether trying again can help: a
/// certificate that does not verify, a server that refuses TLS or our
/// certificate, a protocol mismatch will fail the same way again; a
/// connection cut during the handshake (a restarting server) may not.
pub enum Failure {
    Fatal(String),
    Transient(String),
}

/// `Some` when `e` is a failed TLS negotiation.
pub fn failure(e: &postgres::Error, host: &str, roots_from: Option<&str>) -> Option<Failure> {
    let text = e.to_string();
    if !text.starts_with("error performing TLS handshake") {
        return None;
    }
    let cause = e.source();
    let io = cause.and_then(|c| c.downcast_ref::<io::Error>());
    let tls = io
        .and_then(|i| i.get_ref())
        .and_then(|i| i.downcast_ref::<rustls::Error>());
    let roots = roots_from.unwrap_or("no root certificate");
    let said = match tls {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".to_string()
            }
            CertificateError::UnknownIssuer => {
                format!("the server's certificate is signed by an unknown CA (not one of {roots})")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the server's certificate is not for host name {host} (host name mismatch, DB_SSLMODE=verify-full)")
            }
            CertificateError::Revoked => {
                "the server's certificate is revoked (DB_SSLCRL)".to_string()
            }
            other => format!("the server's certificate does not verify: {other:?}"),
        },
        Some(rustls::Error::AlertReceived(alert)) => match alert {
            rustls::AlertDescription::CertificateRequired => {
                "the server requires a client certificate (DB_SSLCERT and DB_SSLKEY)".to_string()
            }
            rustls::AlertDescription::UnknownCA | rustls::AlertDescription::BadCertificate => {
                format!("the server refused our client certificate (DB_SSLCERT): {alert:?}")
            }
            other => format!("the server ended the TLS handshake: {other:?}"),
        },
        Some(other) => format!("TLS handshake failed: {other}"),
        None => match (io, cause) {
            (Some(i), _) => return Some(Failure::Transient(format!("TLS handshake failed: {i}"))),
            (None, Some(c)) if c.to_string() == "server does not support TLS" => {
                "the server does not support SSL (DB_SSLMODE requires it)".to_string()
            }
            (None, Some(c)) => format!("TLS handshake failed: {c}"),
            (None, None) => text,
        },
    };
    Some(Failure::Fatal(said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_elements_are_read_with_short_and_long_lengths() {
        assert_eq!(
            der(&[0x06, 0x01, 0x2a, 0xff]),
            Some((0x06, &[0x2a][..], &[0xff][..]))
        );
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend(vec![7u8; 256]);
        assert_eq!(
            der(&long).map(|(t, c, r)| (t, c.len(), r.len())),
            Some((0x04, 256, 0))
        );
        assert_eq!(der(&[0x04, 0x05, 1, 2]), None, "shorter than it says");
        assert_eq!(der(&[0x04, 0x80]), None, "indefinite length is not DER");
    }

    #[test]
    fn modes_are_spelled_as_libpq_spells_them() {
        for (name, mode) in MODES {
            assert_eq!(mode.as_str(), name);
        }
    }
}
