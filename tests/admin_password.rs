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

/// `ADMIN_PASSWD_FILE`: Odoo's master password reaches the run phase as a
/// hash in a private copy of Odoo's config file (`--config`), the file's
/// other settings kept and its own `admin_passwd` replaced; the secret is
/// on no command line, in no child's environment, in no log line. With
/// Odoo's own `-c` on the command line (which would win) it is refused.
#[test]
fn admin_passwd_reaches_odoo_as_a_hash_in_a_private_config_file() {
    let python = passlib_python();
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("master-password");
    let (secret, rc) = (scratch.join("master"), scratch.join("odoo.conf"));
    std::fs::write(&secret, "M4ster-from-a-secret\n").unwrap();
    std::fs::write(
        &rc,
        "[options]\nadmin_passwd = admin\nlimit_time_cpu = 600\n",
    )
    .unwrap();
    let run = pg
        .job("RunOnly")
        .env("ODOO_RC", path_str(&rc))
        .env("ADMIN_PASSWD_FILE", path_str(&secret))
        .start();
    let start = wait_until(LONG, "Odoo's run phase", || {
        run.starts().into_iter().find(|s| s.is_run_phase())
    });
    let file = start
        .argv
        .split(' ')
        .find_map(|a| a.strip_prefix("--config="))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no --config: {}", start.argv));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Read as Odoo reads it: Python's RawConfigParser (a key twice is an error).
    let script = "import configparser, sys\n\
        p = configparser.RawConfigParser()\n\
        p.read(sys.argv[1])\n\
        print(p.get('options', 'admin_passwd'))\n\
        print(p.get('options', 'limit_time_cpu'))\n";
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (hash, kept) = text.trim().split_once('\n').unwrap();
    assert_eq!(kept, "600");
    assert!(hash.starts_with("$pbkdf2-sha512$"), "{hash}");
    assert!(odoo_accepts(hash, "M4ster-from-a-secret"));
    let child: i32 = start.pid.parse().unwrap();
    let environ = std::fs::read(format!("/proc/{}/environ", host_pid_of(&run, child))).unwrap();
    assert!(!String::from_utf8_lossy(&environ).contains("ADMIN_PASSWD"));
    assert!(!start.argv.contains("M4ster"));
    run.signal(libc::SIGTERM);
    let mut run = run;
    run.wait_exit(LONG);
    assert!(!run.stderr().contains("M4ster"));

    let mut refused = pg
        .job("RunOnly")
        .env("ADMIN_PASSWD", "x")
        .env("ODOO_RC", path_str(&rc));
    refused.args = vec!["--".into(), "-c".into(), path_str(&rc)];
    let mut refused = refused.start();
    assert_eq!(refused.wait_exit(LONG), 64, "{}", refused.stderr());
}

/// The host PID of the process `ns_pid` sees itself as inside `run`'s namespace.
fn host_pid_of(run: &Run, ns_pid: i32) -> i32 {
    run.procs()
        .into_iter()
        .find(|p| common::ns_pid(p.pid) == ns_pid)
        .map(|p| p.pid)
        .unwrap_or_else(|| panic!("no process {ns_pid} in the namespace"))
}
