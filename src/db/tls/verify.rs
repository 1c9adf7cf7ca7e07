//! The one rustls client configuration and how it checks the server's
//! certificate: the chain by webpki, the host name only for `verify-full`.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::Mode;

/// What rustls refused while building the client configuration.
pub(super) enum Build {
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

pub(super) fn client_config(
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
