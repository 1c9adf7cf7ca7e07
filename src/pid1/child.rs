//! The supervised child's life at its two ends: started with a clean
//! signal state in a process group of its own, and reaped (with every
//! other zombie of the container) when it ends.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Instant;

use std::ffi::OsString;

use super::signals;
use crate::exit;

/// A command to start: its argv, how it may be shown, and the changes to
/// odoo-init's environment.
#[derive(Debug, Clone, Default)]
pub struct ChildSpec {
    pub argv: Vec<OsString>,
    /// The argv as the log and the status record show it (whoever made the
    /// command knows which of its words are secrets).
    pub shown: Vec<String>,
    /// `(name, Some(value))` sets, `(name, None)` removes.
    pub env: Vec<(OsString, Option<OsString>)>,
}

impl ChildSpec {
    /// `argv`, shown as it is (it holds no secret).
    pub fn new(argv: Vec<OsString>) -> ChildSpec {
        let shown = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        ChildSpec {
            argv,
            shown,
            env: Vec::new(),
        }
    }
}

/// The child being supervised: its PID, since when, and its status once reaped.
pub(super) struct Child {
    pub(super) pid: libc::pid_t,
    pub(super) started: Instant,
    pub(super) status: Option<i32>,
}

impl Child {
    /// No process: nothing was started, or it is long gone, with this status.
    pub(super) fn gone(status: i32) -> Child {
        Child {
            pid: 0,
            started: Instant::now(),
            status: Some(status),
        }
    }
}

/// Sends one signal to the child's PID (never its group: Odoo's prefork
/// master must drain its workers itself).
pub(super) fn forward(child: &Child, signo: i32) {
    if child.status.is_some() || child.pid <= 0 {
        return;
    }
    match signals::send(child.pid, signo) {
        Ok(()) => log::info!("forwarded {} to PID {}", signals::name(signo), child.pid),
        Err(e) => log::warn!(
            "cannot forward {} to PID {}: {e}",
            signals::name(signo),
            child.pid
        ),
    }
}

/// Starts `spec` (with the terminal's foreground when `terminal`); an
/// error is logged here ([`spawn_status`] gives its exit status).
pub(super) fn spawn(spec: &ChildSpec, terminal: bool) -> io::Result<Child> {
    let started = Instant::now();
    let argv = &spec.argv;
    let Some((program, args)) = argv.split_first() else {
        log::error!("nothing to start: empty command line");
        return Err(io::ErrorKind::NotFound.into());
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (name, value) in &spec.env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    // SAFETY: the closure only makes async-signal-safe calls (setpgid,
    // sigprocmask, tcsetpgrp), as required between fork and exec.
    unsafe { cmd.pre_exec(move || prepare_child(terminal)) };
    match cmd.spawn() {
        Ok(handle) => Ok(Child {
            pid: handle.id() as libc::pid_t,
            started,
            status: None,
        }),
        Err(e) => {
            log::error!(
                "cannot start {}: {e} (status {})",
                program.to_string_lossy(),
                spawn_status(&e)
            );
            Err(e)
        }
    }
}

/// The status of a child that ended with the wait status `raw`: its exit
/// code, or 128 + the signal that killed it; and how it ended, as words.
/// Without WUNTRACED, waitpid reports only processes that exited or were killed.
pub(super) fn ended(raw: i32) -> (i32, String) {
    if libc::WIFSIGNALED(raw) {
        (exit::for_signal(libc::WTERMSIG(raw)), describe(raw))
    } else {
        (libc::WEXITSTATUS(raw), String::new())
    }
}

/// In the child between fork and exec: its own process group in our session
/// (so a restart can clear up after it, and it keeps our terminal), the
/// terminal's foreground if we had it (Ctrl-C then reaches it once, from the
/// kernel), then an empty signal mask. Not a session of its own: where the
/// kernel schedules by session (autogroup), that slowed forwarding (docs/benchmark.md,
/// Benchmark), and it would lose the terminal.
fn prepare_child(terminal: bool) -> io::Result<()> {
    let own = nix::unistd::Pid::from_raw(0);
    nix::unistd::setpgid(own, own).map_err(io::Error::from)?;
    if terminal {
        // tcsetpgrp from a background group raises SIGTTOU unless it is blocked.
        signals::set_mask(libc::SIG_BLOCK, &[libc::SIGTTOU])?;
        let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
    }
    signals::set_mask(libc::SIG_SETMASK, &[])
}

/// The exit status for a command that could not be started: as a shell
/// gives it when `execve` refused the command (127 not found, 126 any
/// other refusal), odoo-init's own [`exit::OS_ERROR`] when no process
/// could be made at all (`fork`: the process limit, memory).
pub(super) fn spawn_status(e: &io::Error) -> i32 {
    match (e.raw_os_error(), e.kind()) {
        (Some(libc::EAGAIN | libc::ENOMEM), _) => exit::OS_ERROR,
        (_, io::ErrorKind::NotFound) => exit::NOT_FOUND,
        _ => exit::NOT_EXECUTABLE,
    }
}

fn describe(raw: i32) -> String {
    if libc::WIFSIGNALED(raw) {
        format!(" (killed by {})", signals::name(libc::WTERMSIG(raw)))
    } else {
        String::new()
    }
}
