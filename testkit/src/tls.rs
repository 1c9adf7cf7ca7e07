//! Certificates for the TLS tests, made by Debian's `openssl`: a CA, a
//! second CA nobody trusts, server certificates for `127.0.0.1` (RSA with
//! SHA-256, SHA-384 and SHA-512 signatures, ECDSA with SHA-384, one expired)
//! and a client certificate for the role `certuser`; revocation lists
//! (`empty.crl`, `revoked.crl` naming `server.crt`). A TLS-only cluster
//! serves them.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::pg::Pg;
use super::{require, Scratch};

pub struct Certs {
    scratch: Scratch,
}

/// `openssl req` needs a config; this one has only what the commands use.
const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n\
[ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
subjectKeyIdentifier = hash\n";

/// `openssl ca`'s config, for a certificate with chosen dates (the expired one).
const CA_CONFIG: &str = "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\n\
new_certs_dir = .\nunique_subject = no\nserial = serial\ndefault_md = sha256\npolicy = any\n\
crlnumber = crlnumber\ncrl_extensions = crl_ext\n[any]\ncommonName = supplied\n\
[crl_ext]\nauthorityKeyIdentifier = keyid:always\n";

const SERVER_EXT: &str =
    "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n\
extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\nauthorityKeyIdentifier = keyid\n";

const CLIENT_EXT: &str =
    "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n\
extendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n";

/// Server certificates other than `server`: name, key type, signature hash.
pub const SERVER_VARIANTS: [(&str, &str, &str); 3] = [
    ("server-sha384", "rsa:2048", "sha384"),
    ("server-sha512", "rsa:2048", "sha512"),
    ("server-ec384", "ec", "sha384"),
];

impl Certs {
    pub fn make() -> Certs {
        require("openssl", "openssl");
        let certs = Certs {
            scratch: Scratch::new("certs"),
        };
        std::fs::write(certs.path("req.cnf"), REQ_CONFIG).unwrap();
        std::fs::write(certs.path("ca.cnf"), CA_CONFIG).unwrap();
        std::fs::write(certs.path("server.ext"), SERVER_EXT).unwrap();
        std::fs::write(certs.path("client.ext"), CLIENT_EXT).unwrap();
        std::fs::write(certs.path("index.txt"), "").unwrap();
        std::fs::write(certs.path("serial"), "1000\n").unwrap();
        std::fs::write(certs.path("crlnumber"), "01\n").unwrap();
        for ca in ["ca", "other-ca"] {
            certs.openssl(&[
                "req",
                "-x509",
                "-config",
                "req.cnf",
                "-extensions",
                "ca_ext",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
                "-days",
                "30",
                "-subj",
                &format!("/CN=odoo-init test {ca}"),
            ]);
        }
        certs.leaf(
            "server",
            "rsa:2048",
            "sha256",
            "/CN=127.0.0.1",
            "server.ext",
        );
        for (name, key, hash) in SERVER_VARIANTS {
            certs.leaf(name, key, hash, "/CN=127.0.0.1", "server.ext");
        }
        certs.leaf("client", "rsa:2048", "sha256", "/CN=certuser", "client.ext");
        // Valid in January 2020 only.
        certs.openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.crt",
            "-keyfile",
            "ca.key",
            "-in",
            "server.csr",
            "-out",
            "expired.crt",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200201000000Z",
            "-extfile",
            "server.ext",
        ]);
        std::fs::copy(certs.path("server.key"), certs.path("expired.key")).unwrap();
        // Revocation lists of the CA: one empty, one revoking `server.crt`.
        let crl = |out: &str| {
            certs.openssl(&[
                "ca", "-gencrl", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key",
                "-crldays", "30", "-out", out,
            ])
        };
        crl("empty.crl");
        certs.openssl(&[
            "ca",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.crt",
            "-keyfile",
            "ca.key",
            "-revoke",
            "server.crt",
        ]);
        crl("revoked.crl");
        certs
    }

    /// A key and a certificate signed by `ca` (`key`: `rsa:2048` or `ec`, P-384).
    fn leaf(&self, name: &str, key: &str, hash: &str, subject: &str, ext: &str) {
        let key_file = format!("{name}.key");
        let mut req = vec![
            "req", "-new", "-config", "req.cnf", "-nodes", "-keyout", &key_file,
        ];
        match key {
            "ec" => req.extend(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
            other => req.extend(["-newkey", other]),
        }
        let csr = format!("{name}.csr");
        req.extend(["-out", &csr, "-subj", subject]);
        self.openssl(&req);
        let crt = format!("{name}.crt");
        let digest = format!("-{hash}");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "30",
            &digest,
            "-extfile",
            ext,
        ]);
        std::fs::set_permissions(
            self.path(&key_file),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.scratch.path)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    pub fn dir(&self) -> &Path {
        &self.scratch.path
    }
}

/// `pg_hba.conf` of the TLS-only cluster: the socket for the tests
/// themselves; no TCP connection without TLS; `certuser` must show a client
/// certificate for its name besides its password.
pub const TLS_ONLY_HBA: &str = "local all all trust\n\
hostnossl all all 0.0.0.0/0 reject\n\
hostssl all certuser 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n\
hostssl all all 127.0.0.1/32 scram-sha-256\n";

/// A started cluster with `ssl = on` that takes TCP connections over TLS
/// only, serving `server.crt` (or any certificate `use_certificate` picks),
/// trusting `ca.crt` for client certificates, logging its connections.
pub fn tls_only(certs: &Certs) -> Pg {
    let mut pg = Pg::init();
    let mut names = vec!["server".to_string(), "expired".to_string()];
    names.extend(SERVER_VARIANTS.iter().map(|(n, _, _)| n.to_string()));
    for name in &names {
        pg.put(&format!("{name}.crt"), &certs.path(&format!("{name}.crt")));
        pg.put(&format!("{name}.key"), &certs.path(&format!("{name}.key")));
    }
    pg.put("ca.crt", &certs.path("ca.crt"));
    pg.configure(
        "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
         ssl_ca_file = 'ca.crt'\nlog_connections = on\n",
    );
    pg.hba(TLS_ONLY_HBA);
    pg.start_on_a_free_port();
    pg
}

/// Makes the running server serve `name.crt` to new connections: the
/// setting is reloaded, and new connections are made until one shows it.
pub fn use_certificate(pg: &Pg, name: &str) {
    let mut su = pg.superuser("postgres");
    // One statement a time: ALTER SYSTEM refuses to run inside a transaction.
    for sql in [
        format!("ALTER SYSTEM SET ssl_cert_file = '{name}.crt'"),
        format!("ALTER SYSTEM SET ssl_key_file = '{name}.key'"),
        "SELECT pg_reload_conf()".to_string(),
    ] {
        su.batch_execute(&sql).unwrap();
    }
    let want = format!("{name}.crt");
    super::wait_until(super::LONG, "the server to reload its certificate", || {
        let shown: String = pg
            .superuser("postgres")
            .query_one("SHOW ssl_cert_file", &[])
            .ok()?
            .get(0);
        (shown == want).then_some(())
    });
}
