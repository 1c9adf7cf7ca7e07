//! Reading the environment: the lookup every settings reader takes, the one
//! error a bad value becomes, and the parsers for the kinds of value the
//! variables hold (seconds, booleans, directory lists, secrets, programs on
//! `PATH`, shell words). A leaf: it knows no setting by name beyond what it
//! is given.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::files;

/// How the environment is read: `std::env::var` in the binary, a map in tests.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A value that is not valid UTF-8 is read with U+FFFD in place of the bad
/// bytes, so that an error shows what was set instead of calling it unset;
/// a secret read so is refused (`secret`).
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// A setting that cannot be used: which one, what it held, what is accepted.
/// Said in one line; the exit code is `exit::USAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    pub(crate) variable: String,
    /// None: the variable is not set at all.
    pub(crate) value: Option<String>,
    pub(crate) accepted: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(
                f,
                "{}={value:?} is not valid: {}",
                self.variable, self.accepted
            ),
            None => write!(f, "{} is not set: {}", self.variable, self.accepted),
        }
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn invalid(variable: &str, value: &str, accepted: &str) -> ConfigError {
    ConfigError {
        variable: variable.to_string(),
        value: Some(value.to_string()),
        accepted: accepted.to_string(),
    }
}

/// The longest duration any variable takes: deadlines computed from it never
/// overflow.
pub(crate) const MAX_SECONDS: f64 = 31_536_000.0;

/// A number of seconds, fractions allowed (`25`, `0.5`), at most a year.
pub(crate) fn seconds(variable: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s <= MAX_SECONDS)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            invalid(
                variable,
                value,
                "a number of seconds from 0 to 31536000 (a year), such as 25 or 0.5",
            )
        })
}

/// `variable` in seconds, `default` when unset.
pub(crate) fn seconds_or(
    variable: &str,
    env: Lookup,
    default: f64,
) -> Result<Duration, ConfigError> {
    match env(variable) {
        None => Ok(Duration::from_secs_f64(default)),
        Some(v) => seconds(variable, &v),
    }
}

/// `True`/`False`, also 1/0 and yes/no, any case.
pub(crate) fn boolean(variable: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(
            variable,
            value,
            "True or False (also 1/0, yes/no, any case)",
        )),
    }
}

/// The items of a comma-separated list, trimmed; empty ones skipped.
pub(crate) fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// A comma-separated list of directories (`ADDONS_PATH`, Odoo's
/// `addons_path`), each one that can be listed; empty entries skipped.
pub(crate) fn directories(variable: &str, value: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let dirs: Vec<PathBuf> = comma_list(value).into_iter().map(PathBuf::from).collect();
    for dir in &dirs {
        if let Err(e) = std::fs::read_dir(dir) {
            return Err(invalid(
                variable,
                value,
                &format!(
                    "comma-separated readable directories ({}: {e})",
                    dir.display()
                ),
            ));
        }
    }
    Ok(dirs)
}

/// The most a secret's `*_FILE` may hold (docs/configuration.md, Secrets).
const SECRET_FILE_MAX: usize = 64 * 1024;

/// `NAME` or `NAME_FILE` (content, one trailing newline stripped), never both.
/// A line break inside would break the password file children read: refused.
pub(crate) fn secret(env: Lookup, name: &str) -> Result<Option<String>, ConfigError> {
    let (from, value) = match read_secret(env, name)? {
        Some((from, value)) => (from, Some(value)),
        None => (name.to_string(), None),
    };
    // Named by where it came from: the variable or its file.
    let name = from.as_str();
    if value.as_deref().is_some_and(|v| v.contains('\u{FFFD}')) {
        return Err(invalid(
            name,
            "<secret>",
            "valid UTF-8 text (PostgreSQL passwords are sent as UTF-8)",
        ));
    }
    if value.as_deref().is_some_and(|v| v.contains(['\n', '\r'])) {
        // The value itself is never shown.
        return Err(invalid(
            name,
            "<secret>",
            "a password without line breaks (a newline or carriage return inside cannot be passed to Odoo through its password file)",
        ));
    }
    Ok(value)
}

/// The secret and the variable that gave it (`NAME` or `NAME_FILE`).
fn read_secret(env: Lookup, name: &str) -> Result<Option<(String, String)>, ConfigError> {
    let file_var = format!("{name}_FILE");
    match (env(name), env(&file_var)) {
        (Some(_), Some(path)) => Err(invalid(
            &file_var,
            &path,
            &format!("unset when {name} is set: give the secret one way only"),
        )),
        (Some(value), None) => Ok(Some((name.to_string(), value))),
        (None, Some(path)) => {
            let content = files::read_text(Path::new(&path), SECRET_FILE_MAX).map_err(|e| {
                invalid(
                    &file_var,
                    &path,
                    &format!("a readable file holding the secret ({e})"),
                )
            })?;
            // One line end, as `echo` and editors leave it (CRLF too).
            let value = content.strip_suffix('\n').unwrap_or(&content);
            let value = value.strip_suffix('\r').unwrap_or(value);
            Ok(Some((file_var, value.to_string())))
        }
        (None, None) => Ok(None),
    }
}

/// Like the shell: a name with a slash is a path, otherwise it is looked up on PATH.
pub(crate) fn find_executable(name: &str, path_var: Option<&str>) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![PathBuf::from(name)]
    } else {
        std::env::split_paths(path_var.unwrap_or("/usr/local/bin:/usr/bin:/bin"))
            .map(|d| d.join(name))
            .collect()
    };
    let mut not_executable = None;
    for c in candidates {
        if let Ok(meta) = std::fs::metadata(&c) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(c);
            }
            not_executable = Some(c);
        }
    }
    Err(match not_executable {
        Some(p) => format!("an executable file ({} is not executable)", p.display()),
        None if name.contains('/') => "the path of the Odoo executable (no such file)".into(),
        None => "the Odoo executable, a path or a name found on PATH (not found)".into(),
    })
}

/// Overwrites the values of `names` in this process's initial environment
/// block, once read: that block is what `/proc/PID/environ` shows to anyone
/// allowed to look (a child with `CAP_SYS_PTRACE` in a privileged
/// container, despite PID 1 being non-dumpable). The names stay, each value
/// becomes NUL bytes (so `getenv` now gives ""). Written through
/// `/proc/self/mem`, so no raw pointer is needed; the number scrubbed.
pub(crate) fn scrub(names: &[&str]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the name (which may hold spaces): the state is field 3;
    // env_start and env_end are fields 50 and 51 (proc(5)).
    let after_name = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let field =
        |n: usize| -> Option<u64> { after_name.split_whitespace().nth(n - 3)?.parse().ok() };
    let (Some(start), Some(end)) = (field(50), field(51)) else {
        return Err(std::io::Error::other(
            "no env_start/env_end in /proc/self/stat",
        ));
    };
    let len = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")?;
    let mut block = vec![0u8; len];
    mem.read_exact_at(&mut block, start)?;
    let mut scrubbed = 0;
    let mut offset = 0;
    for entry in block.split(|b| *b == 0) {
        let value_at = names.iter().find_map(|name| {
            let prefix = [name.as_bytes(), b"="].concat();
            entry.starts_with(&prefix).then_some(prefix.len())
        });
        if let Some(at) = value_at {
            let value_len = entry.len() - at;
            if value_len > 0 {
                mem.write_all_at(&vec![0u8; value_len], start + (offset + at) as u64)?;
                scrubbed += 1;
            }
        }
        offset += entry.len() + 1;
    }
    Ok(scrubbed)
}

/// Splits like a POSIX shell without expansions; `None` for an unclosed quote.
pub(crate) fn shell_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => w.push(c),
                            c => {
                                w.push('\\');
                                w.push(c);
                            }
                        },
                        c => w.push(c),
                    }
                }
            }
            '\\' => {
                let next = chars.next()?;
                word.get_or_insert_with(String::new).push(next);
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_arguments_split_like_a_shell() {
        let words = |t: &str| shell_words(t);
        assert_eq!(
            words(r#"--log-level=debug  --addons-path '/a b,/c' "x \"y\"" a\ b"#),
            Some(vec![
                "--log-level=debug".to_string(),
                "--addons-path".into(),
                "/a b,/c".into(),
                "x \"y\"".into(),
                "a b".into(),
            ])
        );
        assert_eq!(words(""), Some(vec![]));
        assert_eq!(words("''"), Some(vec![String::new()]));
        assert_eq!(words("'open"), None);
        assert_eq!(words("\"open"), None);
        assert_eq!(words("end\\"), None);
    }
}
