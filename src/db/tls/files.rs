//! The TLS files: root certificates (a file, or the system's store), revocation lists,
//! the client certificate and key, each read and checked before anything connects.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::{noted, Files, Mode, Roots, Source, PEM_MAX};
use crate::env::{invalid, ConfigError};
use crate::files;

/// The root certificates: a file, `system` (only with `verify-full`, as
/// libpq 16; `system` is where the store was found), or libpq's default
/// file (`default`) when it exists.
pub(super) fn read_roots(
    set: Option<Source>,
    system: Option<PathBuf>,
    mode: Mode,
    default: Option<Source>,
    files: &mut Files,
) -> Result<Option<Roots>, ConfigError> {
    let set = noted(set, &mut files.root_cert);
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
            let bundle = system.ok_or_else(|| {
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
pub(super) fn read_client_auth(
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

pub(super) fn revocation_lists(
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
