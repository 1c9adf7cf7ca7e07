//! `odoo-init supervise [--] COMMAND [ARGS...]`: PID-1 duties only, for any
//! command; a SIGHUP restarts it (with the arguments of `odoo-init restart
//! -- ARGS` when given).

use std::ffi::OsString;

use crate::config;
use crate::env;
use crate::exit::Failure;
use crate::pid1::launch::{Abort, ChildSpec, Launcher, Pause};
use crate::pid1::restart::ExtraArgs;
use crate::pid1::supervisor::Supervisor;
use crate::runtime::{Instance, RuntimeDir};

/// `supervise`: the command with its arguments; restart arguments replace ARGS.
struct FixedCommand {
    program: OsString,
    extra: ExtraArgs,
}

impl Launcher for FixedCommand {
    fn command(&mut self, _pause: &mut Pause) -> Result<ChildSpec, Abort> {
        self.extra.pick_up();
        Ok(self.spec())
    }

    fn arguments_refused(&mut self) -> Option<ChildSpec> {
        self.extra.revert().then(|| self.spec())
    }
}

impl FixedCommand {
    fn spec(&self) -> ChildSpec {
        let mut argv = vec![self.program.clone()];
        argv.extend_from_slice(self.extra.current());
        ChildSpec {
            shown: crate::odoo::args::redacted(&argv),
            ..ChildSpec::new(argv)
        }
    }
}

/// The command's status, once it ended and was not started again.
pub(super) fn supervise(args: &[OsString]) -> Result<i32, Failure> {
    let Some((program, program_args)) = super::strip_dashes(args).split_first() else {
        return Err(super::usage(
            "supervise needs a command: odoo-init supervise -- COMMAND [ARGS...]",
        ));
    };
    let settings =
        config::supervisor(&env::process_env).map_err(|e| Failure::Usage(e.to_string()))?;
    let instance = match Instance::create(&RuntimeDir::new(config::runtime_dir(&env::process_env)))
    {
        Ok(instance) => Some(instance),
        Err(e) => {
            log::warn!(
                "{e}; `odoo-init restart -- ARGS` cannot pass new arguments to this process"
            );
            None
        }
    };
    let code = supervise_with(program, program_args, settings, instance.clone());
    if let Some(instance) = instance {
        instance.remove();
    }
    code
}

fn supervise_with(
    program: &OsString,
    program_args: &[OsString],
    settings: crate::pid1::supervisor::Settings,
    instance: Option<Instance>,
) -> Result<i32, Failure> {
    let extra = ExtraArgs::new(program_args.to_vec(), instance.clone());
    let mut sup = Supervisor::new(&settings)
        .map_err(|e| Failure::Os(format!("cannot take over signals: {e}")))?;
    sup.announce();
    sup.status().keep_in(instance, "supervise", "");
    let mut launcher = FixedCommand {
        program: program.clone(),
        extra,
    };
    Ok(sup.serve(&mut launcher, settings.on_exit))
}
