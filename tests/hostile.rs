//! Every variable odoo-init reads, driven through the binary with values an
//! adversary (or a typo) would give: the process ends with one of its own
//! documented exit codes, never a panic (101 for a debug build, 134 with the
//! release profile's abort) or a crash (139). scripts/test.sh runs this
//! against the release binary too (`ODOO_INIT_BIN`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::*;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static CASE: AtomicUsize = AtomicUsize::new(0);

/// The exit codes odoo-init documents (docs/signals-exit-codes-logging.md, Exit status), and 143.
const DOCUMENTED: [i32; 11] = [0, 64, 65, 69, 71, 75, 76, 77, 126, 127, 143];

fn hostile_values(scratch: &Scratch) -> Vec<OsString> {
    let fifo = scratch.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut values: Vec<OsString> = [
        "",
        " ",
        "0",
        "-1",
        "1e19",
        "1e-19",
        "NaN",
        "inf",
        "99999999999999999999",
        "True",
        "a\nb",
        "\r",
        "%s%n%x",
        "../../../../etc/passwd",
        "/",
        "/dev/zero",
        "odoo; DROP TABLE curq_state_history; --",
        "\u{FEFF}UpdateOnly",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    values.push(fifo.into_os_string());
    values.push(OsString::from("x".repeat(100 * 1024)));
    values.push(OsString::from_vec(vec![b'U', 0xff, 0xfe, b'x']));
    values
}

/// One run with `variable=value` over a base environment whose database
/// port is closed: a config error, or the database wait, ends it quickly.
fn run_one(variable: &str, value: &OsString, closed_port: u16, scratch: &Scratch) -> String {
    // A file, not a pipe: a 100 KiB value in the error line would fill a pipe nobody reads yet.
    let err_path = scratch.join(&format!("stderr-{}", CASE.fetch_add(1, Ordering::Relaxed)));
    let err_file = std::fs::File::create(&err_path).unwrap();
    let mut cmd = Command::new(odoo_init());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MODE", "UpdateOnly")
        .env("DB_NAME", "odoo")
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", closed_port.to_string())
        .env("DB_PASSWORD", "pw")
        .env("DB_WAIT_TIMEOUT", "0.2")
        .env("ODOO_BIN", standin())
        .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"))
        .env(variable, value)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file);
    let lossy = value.to_string_lossy();
    let shown = format!(
        "{variable}={:?}",
        lossy.chars().take(40).collect::<String>()
    );
    let mut child = cmd.spawn().expect("spawn odoo-init");
    // Bounded: a valid value may make it wait longer than the base does.
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return format!("{shown}: still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
    let code = code_of(status);
    if !DOCUMENTED.contains(&code) || stderr.contains("panicked") {
        let head: String = stderr.chars().take(2000).collect();
        return format!("{shown}: exit {code}\n{head}");
    }
    String::new()
}

#[test]
fn every_variable_with_hostile_values_ends_in_a_documented_exit_code() {
    let scratch = Scratch::new("hostile");
    let values = hostile_values(&scratch);
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cases: Vec<(&str, &OsString)> = odoo_init::config::variables()
        .flat_map(|v| values.iter().map(move |value| (v, value)))
        .collect();
    assert!(cases.len() > 500, "{} cases", cases.len());
    // A few at a time: each mostly waits for its 0.2 s database wait.
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = cases
            .chunks(cases.len().div_ceil(8))
            .map(|chunk| {
                let scratch = &scratch;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(var, value)| run_one(var, value, closed_port, scratch))
                        .filter(|f| !f.is_empty())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
