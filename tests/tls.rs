//! TLS to PostgreSQL (libpq's `sslmode` semantics), against real clusters:
//! one with `ssl = on` taking TCP connections over TLS only (certificates
//! made by `openssl`, `hostnossl ... reject`), one without TLS. What was
//! encrypted is read from the server (`pg_stat_ssl`), not from odoo-init.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use std::process::Command;

use common::pg::{Pg, DB, PASSWORD, SUPERUSER_PASSWORD, USER};
use common::tls::{tls_only, use_certificate, Certs, SERVER_VARIANTS};
use common::*;

/// `odoo-init state` against `pg` as `odoo` on `odoo`, with HOME empty (no
/// `~/.postgresql` of this machine's) and `env`; its exit code and stderr.
fn state(pg_port: u16, home: &Scratch, env: &[(&str, String)]) -> (i32, String) {
    let mut cmd = Command::new(odoo_init());
    cmd.arg("state")
        .env("DB_NAME", DB)
        .env("DB_USER", USER)
        .env("DB_PASSWORD", PASSWORD)
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", pg_port.to_string())
        .env("HOME", &home.path)
        .env_remove("MODE");
    for var in [
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGSSLCRL",
        "PGCHANNELBINDING",
        "SSL_CERT_FILE",
        "ODOO_RC",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run odoo-init state");
    (
        code_of(out.status),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(certs: &Certs, name: &str) -> String {
    certs.path(name).display().to_string()
}

/// `(env, exit code, a part of the message)`; the message is checked only on failure.
type Case<'a> = (Vec<(&'a str, String)>, i32, &'a str);

fn check(pg: &Pg, home: &Scratch, server: &str, cases: &[Case]) {
    let mut wrong = Vec::new();
    for (env, code, says) in cases {
        let (got, stderr) = state(pg.port, home, env);
        let said = code == &0 || stderr.contains(says);
        let one_line = code == &0 || stderr.trim().lines().count() == 1;
        if got != *code || !said || !one_line {
            wrong.push(format!(
                "{server} {env:?}: exit {got} (want {code}, saying {says:?}):\n{stderr}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_sslmode_against_a_tls_only_server_and_a_server_without_tls() {
    let certs = Certs::make();
    let home = Scratch::new("home");
    let tls = tls_only(&certs);
    tls.ready_database();
    let plain = Pg::start();
    plain.ready_database();
    let ca = path(&certs, "ca.crt");
    let mode = |m: &str| {
        vec![
            ("DB_SSLMODE", m.to_string()),
            ("DB_SSLROOTCERT", ca.clone()),
        ]
    };
    let no_encryption = "no encryption";
    let no_ssl = "the server does not support SSL";
    check(
        &tls,
        &home,
        "TLS-only",
        &[
            (mode("disable"), 69, no_encryption),
            (mode("allow"), 0, ""),
            (mode("prefer"), 0, ""),
            (mode("require"), 0, ""),
            (mode("verify-ca"), 0, ""),
            (mode("verify-full"), 0, ""),
            // libpq's names, and the default (prefer).
            (
                vec![
                    ("PGSSLMODE", "verify-full".into()),
                    ("PGSSLROOTCERT", ca.clone()),
                ],
                0,
                "",
            ),
            (vec![], 0, ""),
        ],
    );
    check(
        &plain,
        &home,
        "without TLS",
        &[
            (mode("disable"), 0, ""),
            (mode("allow"), 0, ""),
            (mode("prefer"), 0, ""),
            (mode("require"), 69, no_ssl),
            (mode("verify-ca"), 69, no_ssl),
            (mode("verify-full"), 69, no_ssl),
            (vec![], 0, ""),
        ],
    );

    // A wrong password is wrong with and without TLS: one connection, one message.
    for pg in [&tls, &plain] {
        let (code, stderr) = state(pg.port, &home, &[("DB_PASSWORD", "wrong".into())]);
        assert_eq!(code, 69, "{stderr}");
        assert!(
            stderr.contains("password authentication failed") && !stderr.contains("without TLS"),
            "{stderr}"
        );
    }

    // Without a root certificate, require encrypts without verifying (libpq);
    // with one, even require and prefer verify the chain.
    let with = |m: &str, root: &str| {
        vec![
            ("DB_SSLMODE", m.to_string()),
            ("DB_SSLROOTCERT", path(&certs, root)),
        ]
    };
    check(
        &tls,
        &home,
        "TLS-only",
        &[
            (vec![("DB_SSLMODE", "require".into())], 0, ""),
            (with("require", "other-ca.crt"), 69, "unknown CA"),
            (with("verify-ca", "other-ca.crt"), 69, "unknown CA"),
            (with("verify-full", "other-ca.crt"), 69, "unknown CA"),
            // prefer: TLS failed, then without TLS pg_hba said no: both are told.
            (with("prefer", "other-ca.crt"), 69, "unknown CA"),
            (with("prefer", "other-ca.crt"), 69, no_encryption),
        ],
    );
    // The certificate is for 127.0.0.1: by the name localhost, verify-full
    // refuses it, verify-ca (no name check) takes it.
    let by_name = |m: &str| {
        let mut env = mode(m);
        env.push(("DB_HOST", "localhost".into()));
        env
    };
    check(
        &tls,
        &home,
        "TLS-only",
        &[
            (by_name("verify-full"), 69, "not for host name localhost"),
            (by_name("verify-ca"), 0, ""),
        ],
    );
    // libpq's default root certificate, ~/.postgresql/root.crt: with it,
    // require verifies the chain, and verify-full needs no DB_SSLROOTCERT.
    let libpq_home = Scratch::new("libpq-home");
    std::fs::create_dir(libpq_home.join(".postgresql")).unwrap();
    let root_crt = libpq_home.join(".postgresql/root.crt");
    std::fs::copy(certs.path("ca.crt"), &root_crt).unwrap();
    check(
        &tls,
        &libpq_home,
        "TLS-only",
        &[(vec![("DB_SSLMODE", "verify-full".into())], 0, "")],
    );
    std::fs::copy(certs.path("other-ca.crt"), &root_crt).unwrap();
    check(
        &tls,
        &libpq_home,
        "TLS-only",
        &[(vec![("DB_SSLMODE", "require".into())], 69, "unknown CA")],
    );
    // The system's trust store (here made of our CA by SSL_CERT_FILE, as OpenSSL reads it).
    check(
        &tls,
        &home,
        "TLS-only",
        &[
            (
                vec![
                    ("DB_SSLROOTCERT", "system".into()),
                    ("SSL_CERT_FILE", ca.clone()),
                ],
                0,
                "",
            ),
            (
                vec![
                    ("DB_SSLROOTCERT", "system".into()),
                    ("SSL_CERT_FILE", path(&certs, "other-ca.crt")),
                ],
                69,
                "unknown CA",
            ),
        ],
    );
    // Revocation lists: an empty one changes nothing, one naming the server's certificate refuses it.
    let crl = |file: &str| {
        let mut env = mode("verify-full");
        env.push(("DB_SSLCRL", path(&certs, file)));
        env
    };
    check(
        &tls,
        &home,
        "TLS-only",
        &[
            (crl("empty.crl"), 0, ""),
            (crl("revoked.crl"), 69, "revoked"),
        ],
    );
    // Channel binding needs TLS and SCRAM: required on a server without TLS, refused.
    check(
        &plain,
        &home,
        "without TLS",
        &[(
            vec![("DB_CHANNEL_BINDING", "require".into())],
            69,
            "channel binding",
        )],
    );
}

#[test]
fn a_certificate_that_does_not_verify_fails_at_once_not_after_the_wait() {
    let certs = Certs::make();
    let home = Scratch::new("home");
    let tls = tls_only(&certs);
    tls.ready_database();
    let plain = Pg::start();
    plain.ready_database();
    // DB_WAIT_TIMEOUT is ten minutes: only a failure that is not retried
    // ends within the test's wait.
    for (pg, root, says) in [
        (&tls, "other-ca.crt", "unknown CA"),
        (&plain, "ca.crt", "does not support SSL"),
    ] {
        let mut run = pg
            .job("RunOnly")
            .env("DB_WAIT_TIMEOUT", "600")
            .env("DB_SSLMODE", "verify-full")
            .env("DB_SSLROOTCERT", path(&certs, root))
            .env("HOME", home.path.display())
            .start();
        assert_eq!(run.wait_exit(LONG), 69, "{}", run.stderr());
        assert!(run.stderr().contains(says), "{}", run.stderr());
        assert_eq!(run.count(&["start"]), 0, "Odoo was not started");
    }
}

#[test]
fn channel_binding_matches_the_server_for_every_signature_hash_and_expiry_is_told() {
    let certs = Certs::make();
    let home = Scratch::new("home");
    let tls = tls_only(&certs);
    tls.ready_database();
    let bound = vec![
        ("DB_SSLMODE", "verify-full".to_string()),
        ("DB_SSLROOTCERT", path(&certs, "ca.crt")),
        ("DB_CHANNEL_BINDING", "require".into()),
    ];
    let mut names = vec!["server"];
    names.extend(SERVER_VARIANTS.iter().map(|(n, _, _)| *n));
    for name in names {
        use_certificate(&tls, name);
        // The oracle: libpq binds to this certificate too.
        let psql = Command::new("psql")
            .args([
                "-X",
                "-At",
                "-c",
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ])
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", tls.port.to_string())
            .env("PGUSER", USER)
            .env("PGDATABASE", DB)
            .env("PGPASSWORD", PASSWORD)
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", certs.path("ca.crt"))
            .env("PGCHANNELBINDING", "require")
            .output()
            .expect("psql");
        assert_eq!(
            String::from_utf8_lossy(&psql.stdout).trim(),
            "t",
            "psql with {name}: {}",
            String::from_utf8_lossy(&psql.stderr)
        );
        // SCRAM-SHA-256-PLUS or nothing: a wrong hash is refused by the server.
        check(&tls, &home, name, &[(bound.clone(), 0, "")]);
    }
    use_certificate(&tls, "expired");
    check(
        &tls,
        &home,
        "expired",
        &[
            (bound.clone(), 69, "has expired"),
            // Without a root certificate nothing is verified, as in libpq.
            (vec![("DB_SSLMODE", "require".into())], 0, ""),
        ],
    );
}

/// The encrypted connections of `application` to the server, and all of them.
fn encrypted(pg: &Pg, application: &str) -> (i64, i64) {
    let row = pg
        .superuser("postgres")
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1 AND a.client_addr IS NOT NULL",
            &[&application],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn init_gate_heartbeat_and_restart_over_tls_with_a_client_certificate() {
    let certs = Certs::make();
    let home = Scratch::new("home");
    let tls = tls_only(&certs);
    // The key must be ours alone: libpq's rule.
    let key = path(&certs, "client.key");
    let tls_env = |s: Setup<'static>| -> Setup<'static> {
        s.env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", tls.port)
            .env("DB_NAME", "certdb")
            .env("DB_USER", "certuser")
            .env("DB_PASSWORD", "cert-user-pw")
            .env("DB_SSLMODE", "verify-full")
            .env("DB_SSLROOTCERT", path(&certs, "ca.crt"))
            .env("DB_SSLCERT", path(&certs, "client.crt"))
            .env("DB_SSLKEY", key.clone())
            .env("DB_CHANNEL_BINDING", "require")
            .env("HOME", home.path.display())
            .env("STANDIN_STEP_MS", "3000")
    };
    // Init: the admin role creates certuser and certdb over TLS, then the install runs.
    let mut init = tls_env(Setup::main_job("Init"))
        .env("DB_ADMIN_USER", "postgres")
        .env("DB_ADMIN_PASSWORD", SUPERUSER_PASSWORD)
        .start();
    // While the install runs, odoo-init holds its connection (the heartbeat's).
    wait_until(LONG, "Creating with odoo-init connected", || {
        let busy = tls
            .states("certdb")?
            .last()
            .is_some_and(|s| s == "Creating");
        let (ssl, all) = encrypted(&tls, "odoo-init");
        (busy && all > 0).then_some((ssl, all))
    });
    // A second pod meanwhile waits at the gate, over TLS too. It connects
    // for each look and holds nothing in between: what is open now is
    // encrypted, and the server's log below shows every one of its logins so.
    let mut pod = tls_env(Setup::main_job("RunOnly")).start();
    pod.wait_stderr("waiting");
    let (ssl, all) = encrypted(&tls, "odoo-init");
    assert!(
        all >= 1 && ssl == all,
        "odoo-init's connections: {ssl} of {all} encrypted"
    );
    assert_eq!(init.wait_exit(LONG), 0, "{}", init.stderr());
    // The pod passes the gate and starts Odoo, told the mode on its command line.
    let events = pod.wait_events("Odoo started", |ev| !starts(ev).is_empty());
    let argv = &starts(&events)[0].argv;
    assert!(argv.contains("--db_sslmode=verify-full"), "{argv}");
    // kill -HUP: the gate is asked again over TLS, Odoo restarts in place.
    pod.signal(libc::SIGHUP);
    pod.wait_events("a second start", |ev| starts(ev).len() >= 2);
    assert_eq!(
        tls.states("certdb").unwrap(),
        ["Creating", "Ready"],
        "{}",
        pod.stderr()
    );
    // The stand-in's own connections (through libpq, with the client
    // certificate from odoo-init's environment) were encrypted as well.
    let rows: Vec<(bool, Option<String>)> = tls
        .superuser("certdb")
        .query("SELECT ssl, version FROM standin_connection_ssl", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        !rows.is_empty() && rows.iter().all(|(ssl, _)| *ssl),
        "{rows:?}"
    );
    // The server authorised certuser only over TLS (its log says how).
    let log = tls.log();
    let authorised: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("connection authorized: user=certuser"))
        .collect();
    assert!(
        !authorised.is_empty() && authorised.iter().all(|l| l.contains("SSL enabled")),
        "{log}"
    );
    pod.signal(libc::SIGTERM);
    assert_eq!(pod.wait_exit(LONG), 0, "{}", pod.stderr());

    // Without the client certificate, certuser is refused at once.
    let mut refused = Setup::main_job("RunOnly")
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", tls.port)
        .env("DB_NAME", "certdb")
        .env("DB_USER", "certuser")
        .env("DB_PASSWORD", "cert-user-pw")
        .env("DB_SSLMODE", "verify-full")
        .env("DB_SSLROOTCERT", path(&certs, "ca.crt"))
        .env("HOME", home.path.display())
        .env("DB_WAIT_TIMEOUT", "600")
        .start();
    assert_eq!(refused.wait_exit(LONG), 69, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("certificate"),
        "{}",
        refused.stderr()
    );
}

#[test]
fn tls_settings_are_checked_before_any_connection() {
    let certs = Certs::make();
    let home = Scratch::new("home");
    // Nothing listens here: a connection attempt would end in 69, not 64.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let open_key = home.join("open.key");
    std::fs::copy(certs.path("client.key"), &open_key).unwrap();
    std::fs::set_permissions(
        &open_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let rc = home.join("odoo.conf");
    std::fs::write(&rc, "[options]\ndb_sslmode = verify-full\n").unwrap();
    let ca = path(&certs, "ca.crt");
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("DB_SSLMODE", "Require".into())],
            "DB_SSLMODE=\"Require\"",
        ),
        (vec![("PGSSLMODE", "on".into())], "PGSSLMODE=\"on\""),
        (
            vec![("DB_SSLMODE", "verify-full".into())],
            "root certificate",
        ),
        (vec![("ODOO_RC", rc.display().to_string())], "db_sslmode"),
        (
            vec![(
                "DB_SSLROOTCERT",
                home.join("missing.crt").display().to_string(),
            )],
            "DB_SSLROOTCERT",
        ),
        (
            vec![("DB_SSLROOTCERT", path(&certs, "client.key"))],
            "at least one certificate",
        ),
        (
            vec![
                ("DB_SSLROOTCERT", "system".into()),
                ("DB_SSLMODE", "require".into()),
            ],
            "verify-full",
        ),
        (
            vec![
                ("DB_SSLCERT", path(&certs, "client.crt")),
                ("DB_SSLKEY", open_key.display().to_string()),
            ],
            "chmod 0600",
        ),
        (
            vec![("DB_SSLCERT", path(&certs, "client.crt"))],
            "DB_SSLKEY",
        ),
        (
            vec![("DB_SSLKEY", path(&certs, "client.key"))],
            "DB_SSLCERT",
        ),
        (
            vec![("DB_SSLCRL", ca.clone()), ("DB_SSLROOTCERT", ca.clone())],
            "revocation list",
        ),
        (
            vec![
                ("DB_SSLMODE", "disable".into()),
                ("DB_CHANNEL_BINDING", "require".into()),
            ],
            "channel binding needs TLS",
        ),
        (
            vec![("DB_CHANNEL_BINDING", "always".into())],
            "DB_CHANNEL_BINDING",
        ),
    ];
    let mut wrong = Vec::new();
    for (env, says) in &cases {
        let (code, stderr) = state(closed, &home, env);
        if code != 64 || !stderr.contains(says) || stderr.trim().lines().count() != 1 {
            wrong.push(format!(
                "{env:?}: exit {code}, want 64 saying {says:?}:\n{stderr}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // A root-owned key may be group-readable (a mounted secret), as libpq allows.
    if is_root() {
        std::fs::set_permissions(
            &open_key,
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        let (code, stderr) = state(
            closed,
            &home,
            &[
                ("DB_SSLCERT", path(&certs, "client.crt")),
                ("DB_SSLKEY", open_key.display().to_string()),
            ],
        );
        assert_eq!(code, 69, "checked, then the connection failed: {stderr}");
    }
}

/// A Unix-socket `DB_HOST` (a directory) with a TLS mode: as libpq, no TLS
/// over a socket and no warning for it; the pod passes the gate and serves.
/// (The `verify-*` modes still want their root certificate at start: the
/// setting is checked before anything connects.)
#[test]
fn a_unix_socket_host_connects_without_tls_whatever_the_mode() {
    let pg = Pg::start();
    pg.ready_database();
    for mode in ["require", "prefer"] {
        let mut run = Setup::main_job("RunOnly")
            .env("DB_HOST", path_str(&pg.socket_dir()))
            .env("DB_PORT", pg.port)
            .env("DB_NAME", DB)
            .env("DB_USER", USER)
            .env("DB_SSLMODE", mode)
            .start();
        run.wait_events(&format!("Odoo to serve ({mode})"), |ev| {
            starts(ev).iter().any(Start::is_run_phase)
        });
        assert!(!run.stderr().contains("WARN"), "{mode}: {}", run.stderr());
        run.signal(libc::SIGTERM);
        assert_eq!(run.wait_exit(LONG), 0, "{mode}: {}", run.stderr());
    }
}
