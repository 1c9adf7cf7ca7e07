//! What a failed TLS negotiation means: for good (a certificate that does
//! not verify, a refused client certificate, no TLS on the server) or a
//! handshake cut short (tried again).

use std::error::Error as _;

use rustls::CertificateError;

use super::stream::HandshakeError;

/// Why a TLS attempt failed, and whether trying again can help: a
/// certificate that does not verify, a server that refuses TLS or our
/// certificate, a protocol mismatch will fail the same way again; a
/// connection cut during the handshake (a restarting server) may not.
pub enum Failure {
    Fatal(String),
    Transient(String),
}

/// `Some` when `e` is a failed TLS negotiation.
pub fn failure(e: &tokio_postgres::Error, host: &str, roots_from: Option<&str>) -> Option<Failure> {
    let cause = e.source();
    let ours = cause.and_then(|c| c.downcast_ref::<HandshakeError>());
    // The client's own refusal has no type of its own: its words are all there is.
    let no_tls = cause.is_some_and(|c| c.to_string() == "server does not support TLS");
    if ours.is_none() && !no_tls {
        return None;
    }
    let io = ours.map(|h| &h.0);
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
        None => match io {
            Some(i) => return Some(Failure::Transient(format!("TLS handshake failed: {i}"))),
            None => "the server does not support SSL (DB_SSLMODE requires it)".to_string(),
        },
    };
    Some(Failure::Fatal(said))
}
