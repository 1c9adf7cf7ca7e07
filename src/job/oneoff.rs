//! One-off commands with the deployment's database settings: Odoo's own
//! subcommands (`odoo shell`, `odoo neutralize` ...), as the official
//! image runs them, and any other program (`bash`, a script). Each gets
//! the children's environment (libpq's variables, the password through the
//! password file, never on a command line), PID-1 duties, and one look at
//! the gate first: refused while another pod's step runs, unless `MODE` is
//! a Force mode. Standard input is the command's (`odoo shell < script.py`).

use std::ffi::OsString;

use super::connect::{connected, unavailable};
use crate::config;
use crate::db::conn::Target;
use crate::db::session::Session;
use crate::db::state::{Seen, Store};
use crate::db::verdict;
use crate::env::{self, seconds_or};
use crate::exit::Failure;
use crate::odoo::{args, command as odoo, rc};
use crate::pid1::launch::{Abort, ChildSpec, Launcher, Pause};
use crate::pid1::supervisor::{OnExit, Supervisor};
use crate::plan::Mode;
use crate::runtime::{Instance, RuntimeDir};

/// What to run once.
pub(crate) enum OneOff {
    /// `odoo SUBCOMMAND ARGS...`: Odoo's subcommand, with the database.
    Odoo(Vec<OsString>),
    /// Any other program with its arguments.
    Program(Vec<OsString>),
}

/// Odoo's subcommands that work on one database: they get `-d DB_NAME`
/// unless their arguments name one.
const ON_A_DATABASE: [&str; 5] = ["shell", "neutralize", "populate", "cloc", "obfuscate"];

/// Runs `what` once; its exit status, or odoo-init's code when it could
/// not be started.
pub(crate) fn one_off(what: OneOff) -> i32 {
    let env = &env::process_env;
    let settings = rc::locate(env).and_then(|(path, options)| {
        let database = config::database(env, (path.as_deref(), &options), true)?;
        let supervisor = config::supervisor(env)?;
        let wait = seconds_or("DB_WAIT_TIMEOUT", env, 120.0)?;
        Ok((database, supervisor, wait))
    });
    let (database, supervisor, wait) = match settings {
        Ok(s) => s,
        Err(e) => return Failure::Usage(e.to_string()).said(),
    };
    let argv = match command_line(what, &database, env) {
        Ok(argv) => argv,
        Err(failure) => return failure.said(),
    };
    let mut sup = match Supervisor::new(&supervisor) {
        Ok(s) => s,
        Err(e) => return Failure::Os(format!("cannot take over signals: {e}")).said(),
    };
    let instance = match Instance::create(&RuntimeDir::new(config::runtime_dir(env))) {
        Ok(instance) => Some(instance),
        Err(e) if database.password.is_none() => {
            log::warn!("{e}");
            None
        }
        Err(e) => {
            let failure = Failure::Usage(format!("{e}; the password file goes there"));
            return super::end(&mut sup, failure);
        }
    };
    let code = run(&mut sup, &database, argv, wait, instance.as_ref());
    if let Some(instance) = instance {
        instance.remove();
    }
    code
}

/// The command line: Odoo's subcommand with the database where it works
/// on one, and the environment's database settings where Odoo's config file
/// says otherwise; a program as it is.
fn command_line(
    what: OneOff,
    database: &config::Database,
    env: env::Lookup,
) -> Result<Vec<OsString>, Failure> {
    let rest = match what {
        OneOff::Program(argv) => return Ok(argv),
        OneOff::Odoo(rest) => rest,
    };
    let bin = env("ODOO_BIN").unwrap_or_else(|| "odoo".into());
    let bin = env::find_executable(&bin, env("PATH").as_deref())
        .map_err(|why| Failure::Usage(format!("ODOO_BIN={bin:?} is not valid: {why}")))?;
    let mut argv: Vec<OsString> = vec![bin.into()];
    let Some((sub, args)) = rest.split_first() else {
        return Ok(argv);
    };
    argv.push(sub.clone());
    let names_one = {
        let words: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args::value_of(&words, "--database", Some("-d")).is_some()
    };
    if ON_A_DATABASE.iter().any(|s| sub == s) {
        if !names_one {
            argv.extend(["-d".into(), database.db.name().into()]);
        }
        argv.extend(database.odoo_args.iter().map(OsString::from));
    }
    argv.extend(args.iter().cloned());
    Ok(argv)
}

/// One look at the gate, then the command under the supervisor.
fn run(
    sup: &mut Supervisor,
    database: &config::Database,
    argv: Vec<OsString>,
    wait: std::time::Duration,
    instance: Option<&Instance>,
) -> i32 {
    let passfile = match (&database.password, instance) {
        (Some(p), Some(instance)) => {
            match instance.write(
                "pgpass",
                odoo::passfile_line(&database.db.user, p).as_bytes(),
            ) {
                Ok(path) => Some(path),
                Err(e) => {
                    let failure = Failure::Os(format!("cannot write the password file: {e}"));
                    return super::end(sup, failure);
                }
            }
        }
        _ => None,
    };
    let forced = env::process_env("MODE")
        .and_then(|m| Mode::parse(&m))
        .is_some_and(Mode::is_forced);
    if let Err(failure) = look_at_the_gate(sup, database, wait, forced) {
        return super::end(sup, failure);
    }
    let mut once = Once(ChildSpec {
        shown: args::redacted(&argv),
        env: odoo::environment(&database.db, passfile.as_deref()),
        ..ChildSpec::new(argv)
    });
    sup.serve(&mut once, OnExit::Exit)
}

/// Refused while another pod's step holds the database, unless `MODE` is a
/// Force mode (the operator's explicit word); a database without a state
/// table (new, or not adopted yet) is no one's.
fn look_at_the_gate(
    sup: &mut Supervisor,
    database: &config::Database,
    wait: std::time::Duration,
    forced: bool,
) -> Result<(), Failure> {
    if forced {
        return Ok(());
    }
    let target = Target::of(
        &database.db,
        database.password.as_deref(),
        database.db.name(),
    )
    .minding(sup.meanwhile());
    let mut session = Session::new(target);
    let client = connected(&mut session, wait, &mut sup.pause()).map_err(unavailable)?;
    let store = Store::new(
        super::hostname(),
        "one-off",
        std::time::Duration::from_secs(60),
    );
    match store.peek(client) {
        Ok(Seen::Latest(latest)) if !verdict::is_ready(&latest.state) => Err(Failure::GateReset(format!(
            "a step runs on {}: '{}' (row {}, by {}); a one-off waits for no one: run it once that is Ready, or with MODE=ForceRunOnly",
            database.db.name(),
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
