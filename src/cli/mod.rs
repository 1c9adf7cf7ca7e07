//! The command line: which job to run, and the exit code it ends with.
//! The `state` command's database reads are in [`state`].

mod adopt;
mod checksums;
mod options;
mod state;
mod supervise;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::time::Duration;

use options::{Parsed, Spec};

use crate::config::{self, Entry};
use crate::env;
use crate::exit::{self, Failure};
use crate::job::{OneOff, Prepared};

use crate::pid1::restart;
use crate::runtime::RuntimeDir;

pub const HELP: &str = "\
odoo-init: PID 1 and supervisor for Odoo containers

USAGE:
    odoo-init [-- ODOO_ARGS...]                 run MODE, then Odoo (the container's main job);
                                                ODOO_ARGS that locate code, config, data, database
                                                or log (--addons-path, -c, --data-dir, --load,
                                                --db_*, --log-*...) reach install and update too
    odoo-init state [--limit N]                 print the state history (curq_state_history)
    odoo-init adopt [--force]                   take an existing Odoo database under the gate: state
                                                table, Force Ready, the image's module checksums
                                                (an adopted one only with --force)
    odoo-init state --changed                   the installed modules whose files changed since the
                                                stored checksums (what UPDATE=changed updates); writes nothing
    odoo-init backup [--zip]                    a backup of the database now (BACKUP_DIR), as the one
                                                made before every update (--zip: Odoo's zip format);
                                                refused while a step runs
    odoo-init rollback                          the backup of the latest failed update restored in place
                                                of the database (the failed one kept as DB_failed_TIME),
                                                Force Ready; refused while a step runs
                                                (state, adopt, backup, rollback: --database NAME for
                                                 that database instead of DB_NAME, one of LIST_DB's)
    odoo-init state --all                       LIST_DB=True: each chosen database and its latest state
    odoo-init write-checksums FILE [--langs CODES]
                                                at image build: the module checksums of the addons
                                                path, for ADDONS_CHECKSUMS_FILE (pods read, not hash)
    odoo-init odoo [--] ODOO_ARGS...            the same as `odoo-init -- ODOO_ARGS` (the official image's form)
    odoo-init odoo SUBCOMMAND [ARGS...]         Odoo's subcommand (shell, neutralize ...) with the database
                                                settings, -d DB_NAME, the password file; those that work on the
                                                database (shell, neutralize ...) after one look at the gate
    odoo-init PROGRAM [ARGS...]                 any other program (bash, a script), with the same settings,
                                                started at once
    odoo-init supervise [--] COMMAND [ARGS...]  PID-1 duties only, for any command
    odoo-init status [--json] [--pid PID]       what the running odoo-init is doing (PID 1 unless --pid)
    odoo-init probe startup|ready|live          exec probe for Kubernetes / HEALTHCHECK: exit 0 or 1
            [--pid PID] [--timeout S] [--grace S]  (ready: running and Odoo answers HTTP within
                                                 --timeout (2); live: not stuck, and Odoo's HTTP
                                                 not failing for longer than --grace (60))
    odoo-init restart [--pid PID] [-- ARGS...]  restart the supervised command in place
                                                (with ARGS: instead of the previous extra arguments;
                                                 `--` alone: with none)
    odoo-init --help | --version

SIGNALS:
    HUP restarts the child in place; TERM/INT stop it (once, then escalate after
    STOP_TIMEOUT); every other catchable signal is forwarded to the child's PID.

MODES (MODE=..., any case):
    InstallOnly, RunOnly, UpdateOnly, InstallAndRun, UpdateAndRun,
    ForceRunOnly, ForceUpdateOnly, ForceReadyState, Init, Restore

ENVIRONMENT:
";

/// The help after the settings.
const HELP_TAIL: &str = "
EXIT STATUS:
    the child's status; 128+N if it died of signal N; 127 not found; 126 not executable;
    64 usage or configuration; 65 step failed; 69 database unreachable;
    71 operating system error; 75 gate timed out (Reset written);
    76 claim lost (another pod reset this pod's busy state);
    77 restart or status: the running odoo-init could not be asked; probe: 0 pass, 1 fail;
    state --changed: 0 nothing changed, 1 modules changed (listed)
";

/// `odoo-init --help`: the commands, the modes, the settings (from
/// `config::SETTINGS`), the exit codes.
pub fn help() -> String {
    format!("{HELP}{}{HELP_TAIL}", crate::config::help())
}

/// Runs the command line; the exit code. Every command ends in a code of
/// its own (a child's status, a probe's 0 or 1) or in a [`Failure`],
/// said here once.
pub fn run(args: Vec<OsString>) -> i32 {
    if let Err(problem) = crate::logging::init() {
        return Failure::Usage(problem).said();
    }
    command(args).unwrap_or_else(Failure::said)
}

fn command(args: Vec<OsString>) -> Result<i32, Failure> {
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.to_str().unwrap_or(""), rest),
        None => ("", &args[..]),
    };
    Ok(match command {
        "-h" | "--help" | "help" => print(&help())?,
        "-V" | "--version" => print(&format!("odoo-init {}\n", env!("CARGO_PKG_VERSION")))?,
        // `odoo-init supervise --help` is a request for help, not a command to run.
        command if asks_help(rest) && options::help(command).is_some() => {
            print(&options::help(command).map_or_else(help, str::to_string))?
        }
        "supervise" => supervise::supervise(rest)?,
        "restart" => restart(rest)?,
        "" | "--" => crate::job::main_job(strip_dashes(&args).to_vec()),
        "state" => state(rest)?,
        "adopt" => {
            let spec = Spec {
                valued: &["--database"],
                flags: &["--force"],
                words: 0,
                dashes: false,
            };
            let parsed = options("adopt", rest, &spec)?;
            let force = parsed.has("--force");
            prepared(Entry::Tool, database(&parsed)?, |p| adopt::adopt(p, force))
        }
        "write-checksums" => prepared(Entry::Build, None, |p| checksums::write(p, rest)),
        "backup" => {
            let spec = Spec {
                valued: &["--database"],
                flags: &["--zip"],
                words: 0,
                dashes: false,
            };
            let parsed = options("backup", rest, &spec)?;
            let zip = parsed.has("--zip");
            prepared(Entry::Tool, database(&parsed)?, |p| {
                crate::job::backup_now(p, zip)
            })
        }
        "rollback" => {
            let spec = Spec {
                valued: &["--database"],
                ..Spec::default()
            };
            let parsed = options("rollback", rest, &spec)?;
            prepared(
                Entry::Restores,
                database(&parsed)?,
                crate::job::rollback_now,
            )
        }
        "status" => status(rest)?,
        "probe" => probe(rest)?,
        crate::odoo::addons::HELPER_COMMAND => crate::odoo::addons::helper_main(rest),
        crate::resolve::RESOLVE_COMMAND => crate::resolve::helper_main(rest),
        crate::odoo::backup::HELPER_COMMAND => crate::odoo::backup::helper_main(rest),
        crate::odoo::backup::RESTORE_COMMAND => crate::odoo::backup::restore_main(rest),
        // The official image's forms: `odoo --workers 2` is the main job
        // with Odoo's arguments; `odoo shell ...` one of Odoo's subcommands.
        "odoo" | "odoo-bin" => match rest.first() {
            // Odoo's server under its own name: the main job, its
            // arguments checked like any (`-u` refused ...).
            Some(sub) if sub == "server" => crate::job::main_job(strip_dashes(&rest[1..]).to_vec()),
            // Odoo's own help and version: a one-off that needs no database.
            Some(flag) if ["-h", "--help", "--version"].iter().any(|f| flag == f) => {
                crate::job::one_off(OneOff::Odoo(rest.to_vec()))
            }
            Some(sub) if !sub.to_string_lossy().starts_with('-') => {
                crate::job::one_off(OneOff::Odoo(rest.to_vec()))
            }
            _ => crate::job::main_job(strip_dashes(rest).to_vec()),
        },
        // Odoo's arguments without `--`.
        other if other.starts_with('-') => crate::job::main_job(args),
        // Any other program: a one-off with the deployment's database.
        other if env::find_executable(other, std::env::var("PATH").ok().as_deref()).is_ok() => {
            crate::job::one_off(OneOff::Program(args))
        }
        other => {
            return Err(usage(&format!(
                "unknown command {other:?}: not one of odoo-init's, and no such program"
            )))
        }
    })
}

/// A usage error, pointing at the help.
fn usage(problem: &str) -> Failure {
    Failure::Usage(format!("{problem}; see `odoo-init --help`"))
}

fn asks_help(args: &[OsString]) -> bool {
    matches!(args.first().and_then(|a| a.to_str()), Some("-h" | "--help"))
}

fn strip_dashes(args: &[OsString]) -> &[OsString] {
    match args.first() {
        Some(first) if first == OsStr::new("--") => &args[1..],
        _ => args,
    }
}

/// Parses a command's options by `spec`.
fn options(command: &str, args: &[OsString], spec: &Spec) -> Result<Parsed, Failure> {
    options::parse(args, spec).map_err(|why| usage(&format!("{command}: {why}")))
}

/// With `--pid PID`: which odoo-init a command asks (PID 1 by default).
fn with_pid(parsed: Parsed) -> Result<(Parsed, i32), Failure> {
    let pid = match parsed.value("--pid") {
        None => 1,
        Some(v) => match v.parse() {
            Ok(pid) if pid > 0 => pid,
            _ => return Err(usage("--pid needs a process number")),
        },
    };
    Ok((parsed, pid))
}

/// `--database NAME`: the database a command works on instead of
/// `DB_NAME` (one of a `LIST_DB` server's); checked as `DB_NAME` is.
fn database(parsed: &Parsed) -> Result<Option<&str>, Failure> {
    match parsed.value("--database") {
        Some("") => Err(usage("--database needs a database name")),
        other => Ok(other),
    }
}

fn state(args: &[OsString]) -> Result<i32, Failure> {
    let spec = Spec {
        valued: &["--limit", "--database"],
        flags: &["--changed", "--all"],
        words: 0,
        dashes: false,
    };
    let parsed = options("state", args, &spec)?;
    let limit = match parsed.value("--limit") {
        None => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(usage("--limit needs a positive number")),
        },
    };
    if parsed.has("--all") {
        if limit.is_some() || parsed.has("--changed") || parsed.value("--database").is_some() {
            return Err(usage("state --all takes no other option"));
        }
        return Ok(prepared(Entry::Listing, None, state::every_database));
    }
    if parsed.has("--changed") {
        if limit.is_some() {
            return Err(usage("state takes --limit N or --changed, not both"));
        }
        // Like `git diff --exit-code`: 1 when something changed, so that a
        // CI job can gate on it.
        let mut changed = false;
        let code = prepared(Entry::Tool, database(&parsed)?, |p| {
            let text = state::changed_modules(p)?;
            changed = !text.is_empty();
            Ok(text)
        });
        return Ok(match code {
            0 if changed => exit::CHANGED,
            code => code,
        });
    }
    Ok(prepared(Entry::Tool, database(&parsed)?, |p| {
        state::history(p, limit)
    }))
}

/// Runs a command of odoo-init's own in the one prepared context
/// ([`Prepared`], on `database` when given): its text printed, or its
/// failure said; the exit code.
fn prepared(
    entry: Entry,
    database: Option<&str>,
    command: impl FnOnce(&mut Prepared) -> Result<String, Failure>,
) -> i32 {
    let mut prepared = match Prepared::on(entry, database) {
        Ok(p) => p,
        Err(code) => return code,
    };
    match command(&mut prepared).and_then(|text| print(&text)) {
        Ok(code) => prepared.finish(code),
        Err(failure) => prepared.failed(failure),
    }
}

/// `odoo-init status [--json] [--pid PID]`: the record of the running
/// odoo-init, ages computed now.
fn status(args: &[OsString]) -> Result<i32, Failure> {
    let spec = Spec {
        valued: &["--pid"],
        flags: &["--json"],
        words: 0,
        dashes: false,
    };
    let (parsed, pid) = with_pid(options("status", args, &spec)?)?;
    let dir = RuntimeDir::new(config::runtime_dir(&env::process_env));
    let (_, record) = crate::status::read(&dir, pid)
        .map_err(|e| Failure::NotReached(format!("cannot read the status of PID {pid}: {e}")))?;
    let now = crate::status::now();
    if parsed.has("--json") {
        print(&record.to_json(now))
    } else {
        print(&record.describe(now))
    }
}

/// `odoo-init probe startup|ready|live [--pid PID] [--timeout S] [--grace S]`:
/// the probe's own 0 (pass) or 1 (fail).
fn probe(args: &[OsString]) -> Result<i32, Failure> {
    let spec = Spec {
        valued: &["--pid", "--timeout", "--grace"],
        flags: &[],
        words: 1,
        dashes: false,
    };
    let (parsed, pid) = with_pid(options("probe", args, &spec)?)?;
    let Some(kind) = parsed
        .words
        .first()
        .and_then(|w| crate::probe::Probe::parse(w))
    else {
        return Err(usage("probe takes one of startup, ready, live"));
    };
    let seconds = |option: &str, default: Duration| {
        match parsed.value(option) {
        None => Ok(default),
        Some(v) => match env::seconds(option, v) {
            Ok(d) if d.is_zero() => Err(usage(&format!(
                "{option}={v:?} is not valid: more than 0 seconds (a probe with no time always fails)"
            ))),
            Ok(d) => Ok(d),
            Err(e) => Err(usage(&e.to_string())),
        },
    }
    };
    let timeout = seconds("--timeout", crate::probe::DEFAULT_TIMEOUT)?;
    let grace = seconds("--grace", crate::probe::DEFAULT_GRACE)?;
    Ok(crate::probe::run(kind, pid, timeout, grace))
}

/// Writes a command's output; a closed stdout (`odoo-init state | head`)
/// ends the command quietly.
fn print(text: &str) -> Result<i32, Failure> {
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Os(format!("writing to standard output: {e}")))
        }
        _ => Ok(0),
    }
}

fn restart(args: &[OsString]) -> Result<i32, Failure> {
    let spec = Spec {
        valued: &["--pid"],
        flags: &[],
        words: 0,
        dashes: true,
    };
    let (parsed, pid) = with_pid(options("restart", args, &spec)?)?;
    let dir = RuntimeDir::new(config::runtime_dir(&env::process_env));
    restart::request(pid, parsed.after_dashes.as_deref(), &dir)
        .map_err(|e| Failure::NotReached(e.to_string()))?;
    log::info!("asked PID {pid} to restart");
    Ok(0)
}
