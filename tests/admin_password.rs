//! `ADMIN_PASSWORD` (`ADMIN_PASSWORD_FILE`): `Init` sets the password of
//! Odoo's `admin` user on the new database, hashed as Odoo hashes it; the
//! oracle is passlib, the library Odoo verifies passwords with (installed
//! into the tests' virtual environment by scripts/venv.sh). The password
//! reaches no log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB};
use common::*;
use std::path::PathBuf;
use std::process::Command;

/// The tests' Python with passlib (`CLICK_ODOO_PYTHON`, set by scripts/venv.sh).
fn passlib_python() -> PathBuf {
    let python = std::env::var_os("CLICK_ODOO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/click-venv/bin/python")
        });
    let has = Command::new(&python)
        .args(["-c", "import passlib.context"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has,
        "{} has no passlib: run `. scripts/venv.sh` (python3 -m venv, pip install passlib)",
        python.display()
    );
    python
}

/// Whether passlib, configured as Odoo configures it, accepts `password`
/// for `hash`.
fn odoo_accepts(hash: &str, password: &str) -> bool {
    let script = "import sys\n\
        from passlib.context import CryptContext\n\
        ctx = CryptContext(['pbkdf2_sha512', 'plaintext'], deprecated=['auto'])\n\
        sys.exit(0 if ctx.verify(sys.argv[1], sys.argv[2]) else 1)\n";
    Command::new(passlib_python())
        .args(["-c", script, password, hash])
        .status()
        .unwrap()
        .success()
}

#[test]
fn init_sets_the_admin_password_as_odoo_hashes_it() {
    let python = passlib_python();
    assert!(python.exists());
    let pg = Pg::start();
    let scratch = Scratch::new("admin-password");
    let secret = scratch.join("admin");
    std::fs::write(&secret, "Adm1n-from-a-secret\n").unwrap();
    let mut run = pg
        .job("Init")
        .env("DB_ADMIN_USER", "postgres")
        .env("DB_ADMIN_PASSWORD", common::pg::SUPERUSER_PASSWORD)
        .env("ADMIN_PASSWORD_FILE", path_str(&secret))
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let hash: String = pg
        .superuser(DB)
        .query_one("SELECT password FROM res_users WHERE login = 'admin'", &[])
        .unwrap()
        .get(0);
    assert!(hash.starts_with("$pbkdf2-sha512$600000$"), "{hash}");
    assert!(odoo_accepts(&hash, "Adm1n-from-a-secret"));
    assert!(!odoo_accepts(&hash, "admin"));
    assert!(!run.stderr().contains("Adm1n-from-a-secret"));
}
