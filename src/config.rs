//! Configuration from the environment. Everything is validated before
//! anything is started; an error names the variable, the value and what is
//! accepted, in one line.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What happens when the supervised command exits by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExit {
    /// `odoo-init` exits with the child's status (production).
    Exit,
    /// Stay up; start the child again on SIGHUP (development containers).
    Wait,
    /// Start it again after a capped exponential backoff.
    Restart,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub value: String,
    pub accepted: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: {}",
            self.variable, self.value, self.accepted
        )
    }
}

impl std::error::Error for ConfigError {}

/// How the environment is read: `std::env::var` in the binary, a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The settings of the supervisor itself (SPEC §3: `STOP_TIMEOUT`, `ON_EXIT`).
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorConfig {
    pub stop_timeout: Duration,
    pub on_exit: OnExit,
}

impl SupervisorConfig {
    pub fn from_env(env: Lookup) -> Result<Self, ConfigError> {
        let stop_timeout = match env("STOP_TIMEOUT") {
            None => Duration::from_secs(25),
            Some(v) => seconds("STOP_TIMEOUT", &v)?,
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
        Ok(SupervisorConfig {
            stop_timeout,
            on_exit,
        })
    }
}

/// Where `odoo-init restart` leaves the pending arguments: a directory only
/// this user can write. `ODOO_INIT_RUNTIME_DIR`, else `/tmp/odoo-init-UID`.
pub fn runtime_dir(env: Lookup) -> PathBuf {
    match env("ODOO_INIT_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(format!("/tmp/odoo-init-{}", nix::unistd::geteuid())),
    }
}

/// A number of seconds, fractions allowed (`25`, `0.5`).
pub fn seconds(variable: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            invalid(
                variable,
                value,
                "a number of seconds, 0 or more, such as 25 or 0.5",
            )
        })
}

pub fn invalid(variable: &str, value: &str, accepted: &str) -> ConfigError {
    ConfigError {
        variable: variable.to_string(),
        value: value.to_string(),
        accepted: accepted.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<SupervisorConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SupervisorConfig::from_env(&move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_production_ones() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.stop_timeout, Duration::from_secs(25));
        assert_eq!(c.on_exit, OnExit::Exit);
    }

    #[test]
    fn accepts_fractions_and_any_case() {
        let c = cfg(&[("STOP_TIMEOUT", "0.5"), ("ON_EXIT", "Wait")]).unwrap();
        assert_eq!(c.stop_timeout, Duration::from_millis(500));
        assert_eq!(c.on_exit, OnExit::Wait);
    }

    #[test]
    fn refuses_bad_values_naming_variable_and_value() {
        for (var, val) in [
            ("STOP_TIMEOUT", "abc"),
            ("STOP_TIMEOUT", "-1"),
            ("STOP_TIMEOUT", ""),
            ("STOP_TIMEOUT", "inf"),
            ("ON_EXIT", "reboot"),
        ] {
            let err = cfg(&[(var, val)]).unwrap_err();
            let line = err.to_string();
            assert!(line.starts_with(&format!("{var}=\"{val}\"")), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }
}
