//! odoo-init's own options, as most tools take them: `--name value` and
//! `--name=value`, flags, at most a few words, and everything after `--`
//! left as it is (Odoo's arguments). One parser for every command.

use std::ffi::OsString;

/// What a command takes.
#[derive(Default)]
pub(super) struct Spec {
    /// Options with a value (`--pid 1`, `--pid=1`).
    pub(super) valued: &'static [&'static str],
    /// Options without one (`--json`).
    pub(super) flags: &'static [&'static str],
    /// How many plain words it takes (`probe ready`).
    pub(super) words: usize,
    /// Whether `-- ARGS...` may follow.
    pub(super) dashes: bool,
}

/// A command line as its command takes it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Parsed {
    values: Vec<(&'static str, String)>,
    flags: Vec<&'static str>,
    pub(super) words: Vec<String>,
    /// What followed `--`, when it was given.
    pub(super) after_dashes: Option<Vec<OsString>>,
}

impl Parsed {
    /// The last value given for `name`.
    pub(super) fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// Parses `args` by `spec`; what is wrong, in words, otherwise.
pub(super) fn parse(args: &[OsString], spec: &Spec) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(text) = arg.to_str() else {
            return Err(format!("unexpected {arg:?}"));
        };
        if text == "--" {
            if !spec.dashes {
                return Err("unexpected --".into());
            }
            parsed.after_dashes = Some(rest.cloned().collect());
            break;
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (text, None),
        };
        if let Some(&known) = spec.valued.iter().find(|v| **v == name) {
            let value = match inline {
                Some(v) => v.to_string(),
                None => match rest.next().and_then(|v| v.to_str()) {
                    Some(v) => v.to_string(),
                    None => return Err(format!("{known} needs a value")),
                },
            };
            parsed.values.push((known, value));
        } else if let Some(&known) = spec.flags.iter().find(|f| **f == text) {
            parsed.flags.push(known);
        } else if !text.starts_with('-') && parsed.words.len() < spec.words {
            parsed.words.push(text.to_string());
        } else {
            return Err(format!("unexpected {text:?}"));
        }
    }
    Ok(parsed)
}

/// `odoo-init COMMAND --help`: that command's part of the help.
pub(super) fn help(command: &str) -> Option<&'static str> {
    Some(match command {
        "supervise" => {
            "USAGE:
    odoo-init supervise [--] COMMAND [ARGS...]
        PID-1 duties only, for any command: signals forwarded, zombies reaped,
        HUP restarts COMMAND (after `odoo-init restart -- ARGS`: with those ARGS).
"
        }
        "restart" => {
            "USAGE:
    odoo-init restart [--pid PID] [-- ARGS...]
        Restart the supervised command in place (PID 1 unless --pid). With
        `-- ARGS`: instead of the previous extra arguments; `--` alone: with none.
"
        }
        "state" => {
            "USAGE:
    odoo-init state [--limit N] [--database NAME]
        Print the state history (curq_state_history), newest last.
    odoo-init state --changed [--database NAME]
        The installed modules whose files changed since the stored checksums,
        one a line (what UPDATE=changed updates). Writes nothing. Exit 0 when
        none changed, 1 when some did.
    --database NAME: that database instead of DB_NAME (one of a LIST_DB server).
    odoo-init state --all
        With LIST_DB=True: each database it chooses (DB_FILTER, DB_NAMES) and
        its latest state, one a line.
"
        }
        "adopt" => {
            "USAGE:
    odoo-init adopt [--force] [--database NAME]
        Take the existing Odoo database the environment names (DB_NAME ...)
        under the gate: the state table made, Force Ready written, and this
        image's module checksums recorded as current (for a database that ran
        this image's code: the next UpdateAndRun updates only what changed).
        A database adopted already (its state table has rows) is refused:
        its stored checksums say what is still to update. --force records
        this image's checksums over them. --database NAME: that database
        instead of DB_NAME.
"
        }
        "write-checksums" => {
            "USAGE:
    odoo-init write-checksums FILE [--langs CODES] [--exclude PATTERNS]
        When the image is built, after its addons are in place: hash every module
        of the addons path (ADDONS_PATH, else Odoo's own and addons_path) and write
        FILE. Pods started with ADDONS_CHECKSUMS_FILE=FILE read a module's checksum
        from it instead of hashing, wherever it still holds (the same directory, on
        the same file system as FILE, the same rules). --langs: the database's
        active languages (res_lang codes, comma-separated; en_US); --exclude:
        module_auto_update.exclude_patterns, when the database sets other ones.
"
        }
        "rollback" => {
            "USAGE:
    odoo-init rollback [--database NAME]
        Undo the latest failed update (its state row names the backup made
        before it, BACKUP_DIR): the backup is restored as DB_rollback, then,
        as DB_ADMIN_USER, DB_NAME is renamed DB_failed_TIME (kept) and the
        restored one DB_NAME in one transaction; the files likewise. Writes
        Force Ready, naming the failed image: its update is not retried by
        itself. Refused while a step runs, or when a later step ran.
        --database NAME: that database instead of DB_NAME.
"
        }
        "status" => {
            "USAGE:
    odoo-init status [--json] [--pid PID]
        What the running odoo-init is doing (PID 1 unless --pid).
"
        }
        "probe" => {
            "USAGE:
    odoo-init probe startup|ready|live [--pid PID] [--timeout S] [--grace S]
        Exec probe for Kubernetes and HEALTHCHECK: exit 0 (pass) or 1 (fail).
        ready: running and Odoo answers HTTP within --timeout (2 s);
        live: not stuck, and Odoo's HTTP not failing longer than --grace (60 s).
"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: Spec = Spec {
        valued: &["--pid", "--timeout"],
        flags: &["--json"],
        words: 1,
        dashes: false,
    };

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn values_come_either_way_and_the_last_wins() {
        let p = parse(
            &args(&["ready", "--pid=7", "--timeout", "3", "--pid", "9"]),
            &PROBE,
        )
        .unwrap();
        assert_eq!(p.words, vec!["ready"]);
        assert_eq!(p.value("--pid"), Some("9"));
        assert_eq!(p.value("--timeout"), Some("3"));
        assert!(!p.has("--json"));
        let p = parse(&args(&["--timeout=", "--json"]), &PROBE).unwrap();
        assert_eq!(p.value("--timeout"), Some(""));
        assert!(p.has("--json"));
    }

    #[test]
    fn what_a_command_does_not_take_is_refused() {
        for bad in [
            &["--pid"][..],
            &["--json=1"],
            &["a", "b"],
            &["--other"],
            &["--"],
        ] {
            assert!(parse(&args(bad), &PROBE).is_err(), "{bad:?}");
        }
        let restart = Spec {
            valued: &["--pid"],
            flags: &[],
            words: 0,
            dashes: true,
        };
        let p = parse(&args(&["--pid=1", "--", "--pid", "x"]), &restart).unwrap();
        assert_eq!(p.after_dashes, Some(args(&["--pid", "x"])));
    }
}
