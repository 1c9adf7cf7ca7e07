//! One-off commands with the deployment's database settings: Odoo's own
//! subcommands (`odoo shell`, `odoo neutralize` ...), as the official
//! image runs them, and any other program (`bash`, a script). Each gets
//! the children's environment (libpq's variables, the password through the
//! password file, never on a command line), PID-1 duties, and one look at
//! the gate first: refused while another pod's step runs, unless `MODE` is
//! a Force mode. Standard input is the command's (`odoo shell < script.py`).

use std::ffi::OsString;

use super::connect::{connected, unavailable};
use super::Prepared;
use crate::config::{Config, Entry};
use crate::db::session::Session;
use crate::db::state::{Seen, Store};
use crate::db::verdict;
use crate::exit::Failure;
use crate::odoo::{args, command as odoo};
use crate::pid1::launch::{Abort, ChildSpec, Launcher, Pause};
use crate::pid1::supervisor::OnExit;

/// What to run once.
pub(crate) enum OneOff {
    /// `odoo SUBCOMMAND ARGS...`: Odoo's subcommand, with the database.
    Odoo(Vec<OsString>),
    /// Any other program with its arguments.
    Program(Vec<OsString>),
}

/// Odoo's subcommands that work on one database: they get `-d DB_NAME`
/// unless their arguments name one, and look at the gate first.
const ON_A_DATABASE: [&str; 5] = ["shell", "neutralize", "populate", "cloc", "obfuscate"];

/// Runs `what` once; its exit status, or odoo-init's code when it could
/// not be started.
pub(crate) fn one_off(what: OneOff) -> i32 {
    let entry = match what {
        OneOff::Odoo(_) => Entry::OdooOneOff,
        OneOff::Program(_) => Entry::OneOff,
    };
    let mut prepared = match Prepared::new(entry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // Only Odoo's subcommands that work on a database wait for it and look
    // at the gate: `odoo --help`, `odoo scaffold` and any other program
    // start at once.
    let on_database = match &what {
        OneOff::Odoo(rest) => rest
            .first()
            .is_some_and(|sub| ON_A_DATABASE.iter().any(|s| sub == s)),
        OneOff::Program(_) => false,
    };
    let argv = command_line(what, &prepared.cfg);
    let code = run(&mut prepared, argv, on_database);
    prepared.finish(code)
}

/// The command line: Odoo's subcommand with the database where it works
/// on one, and the environment's database settings where Odoo's config file
/// says otherwise; a program as it is.
fn command_line(what: OneOff, cfg: &Config) -> Vec<OsString> {
    let rest = match what {
        OneOff::Program(argv) => return argv,
        OneOff::Odoo(rest) => rest,
    };
    let mut argv: Vec<OsString> = vec![cfg.odoo.bin.clone().into()];
    let Some((sub, args)) = rest.split_first() else {
        return argv;
    };
    argv.push(sub.clone());
    let names_one = {
        let words: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args::value_of(&words, "--database").is_some()
    };
    if ON_A_DATABASE.iter().any(|s| sub == s) {
        if !names_one {
            argv.extend(["-d".into(), cfg.db.name().into()]);
        }
        argv.extend(cfg.odoo.db_args.iter().map(OsString::from));
    }
    argv.extend(args.iter().cloned());
    argv
}

/// One look at the gate where the command works on the database, then
/// the command under the supervisor.
fn run(prepared: &mut Prepared, argv: Vec<OsString>, on_database: bool) -> i32 {
    if on_database {
        if let Err(failure) = look_at_the_gate(prepared) {
            return super::end(&mut prepared.sup, failure);
        }
    }
    let mut once = Once(ChildSpec {
        shown: args::redacted(&argv),
        env: odoo::environment(&prepared.cfg.db, prepared.passfile.as_deref()),
        ..ChildSpec::new(argv)
    });
    prepared.sup.serve(&mut once, OnExit::Exit)
}

/// Refused while another pod's step holds the database, unless `MODE` is a
/// Force mode (the operator's explicit word); a database without a state
/// table (new, or not adopted yet) is no one's.
fn look_at_the_gate(prepared: &mut Prepared) -> Result<(), Failure> {
    let cfg = &prepared.cfg;
    if cfg.mode.is_forced() {
        return Ok(());
    }
    let mut session = Session::new(prepared.target());
    let wait = cfg.db_wait_timeout;
    let client = connected(&mut session, wait, &mut prepared.sup.pause()).map_err(unavailable)?;
    let store = Store::new(
        super::hostname(),
        "one-off",
        std::time::Duration::from_secs(60),
    );
    let name = cfg.db.name();
    match store.peek(client) {
        Ok(Seen::Latest(latest)) if !verdict::is_ready(&latest.state) => Err(Failure::GateReset(format!(
            "a step runs on {name}: '{}' (row {}, by {}); a one-off waits for no one: run it once that is Ready, or with MODE=ForceRunOnly",
            latest.state,
            latest.id,
            latest.owner.as_deref().unwrap_or("the old implementation")
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(super::connect::db_failure("reading the state", &e)),
    }
}

/// The one command, started once (and again on SIGHUP, as `supervise`).
struct Once(ChildSpec);

impl Launcher for Once {
    fn command(&mut self, _pause: &mut Pause) -> Result<ChildSpec, Abort> {
        Ok(self.0.clone())
    }
}
