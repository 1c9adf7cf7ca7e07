//! The connector the `tokio-postgres` client drives, and its stream's
//! `tls-server-end-point` hash for SCRAM's channel binding (RFC 5929).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding as Binding, MakeTlsConnect, TlsConnect, TlsStream};

/// The `tokio-postgres` client's TLS: one rustls configuration, shared by every attempt.
#[derive(Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
}

impl Connector {
    pub(super) fn new(config: Arc<ClientConfig>) -> Connector {
        Connector { config }
    }
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
    type Error = HandshakeError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream<S>, HandshakeError>> + Send>>;

    fn connect(self, socket: S) -> Self::Future {
        let handshake = self.connector.connect(self.name, socket);
        Box::pin(async move { handshake.await.map(Stream).map_err(HandshakeError) })
    }
}

/// Our handshake failed: typed, so that what it means is read from the
/// error, not from its text ([`super::failure`]).
#[derive(Debug)]
pub struct HandshakeError(pub(super) io::Error);

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An established TLS connection, as the `tokio-postgres` client reads and writes it.
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
}
