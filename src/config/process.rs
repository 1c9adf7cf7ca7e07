//! The settings of odoo-init's own process: how the supervisor stops and
//! what it does when its child ends (`STOP_TIMEOUT`, `STOP_DELAY`,
//! `ON_EXIT`), and where its runtime directory is. Read by every entry
//! point, `supervise` included.

use std::path::PathBuf;
use std::time::Duration;

use crate::env::{invalid, seconds, ConfigError, Lookup};
use crate::pid1::supervisor::{self, OnExit};

/// The shortest `STOP_TIMEOUT` (docs/configuration.md, Configuration).
const MIN_STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// `STOP_TIMEOUT`, `STOP_DELAY`, `ON_EXIT`: the supervisor's settings.
pub(crate) fn supervisor(env: Lookup) -> Result<supervisor::Settings, ConfigError> {
    let stop_timeout =
        match env("STOP_TIMEOUT") {
            None => Duration::from_secs(25),
            Some(v) => match seconds("STOP_TIMEOUT", &v)? {
                // Sent at once, the second SIGTERM would merge with the first
                // (a signal pending twice is delivered once): Odoo would
                // never see its forced shutdown.
                t if t < MIN_STOP_TIMEOUT => return Err(invalid(
                    "STOP_TIMEOUT",
                    &v,
                    "at least 1 second, so that Odoo gets its second SIGTERM apart from the first",
                )),
                t => t,
            },
        };
    let stop_delay = match env("STOP_DELAY") {
        None => Duration::ZERO,
        Some(v) => seconds("STOP_DELAY", &v)?,
    };
    let on_exit = match env("ON_EXIT") {
        None => OnExit::Exit,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "exit" => OnExit::Exit,
            "wait" => OnExit::Wait,
            "restart" => OnExit::Restart,
            _ => return Err(invalid("ON_EXIT", &v, "one of exit, wait, restart")),
        },
    };
    Ok(supervisor::Settings {
        stop_timeout,
        stop_delay,
        on_exit,
    })
}

/// Where `odoo-init restart` leaves the pending arguments: a directory only
/// this user can write. `ODOO_INIT_RUNTIME_DIR`, else `/tmp/odoo-init-UID`.
pub(crate) fn runtime_dir(env: Lookup) -> PathBuf {
    match env("ODOO_INIT_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(format!("/tmp/odoo-init-{}", nix::unistd::geteuid())),
    }
}
