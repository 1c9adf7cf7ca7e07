//! The exit codes of `odoo-init` itself. A supervised child's own status is
//! passed through unchanged (0-255, 128+N for signal N); these codes are
//! reserved for what `odoo-init` decides on its own and are listed in docs/signals-exit-codes-logging.md.

/// `odoo-init state --changed`: installed modules changed (they are listed).
pub const CHANGED: i32 = 1;
/// Bad command line or configuration; nothing was started, nothing was written.
pub const USAGE: i32 = 64;
/// An install, update or maintenance step failed or was interrupted.
pub const STEP_FAILED: i32 = 65;
/// PostgreSQL could not be reached in time, or refused the credentials.
pub const DB_UNREACHABLE: i32 = 69;
/// The operating system refused something `odoo-init` needs (signal mask,
/// a process for a command: `fork` failed).
pub const OS_ERROR: i32 = 71;
/// The state gate timed out and wrote `Reset`; the orchestrator should restart us.
pub const GATE_RESET: i32 = 75;
/// The owner of a busy state lost its claim (another pod wrote `Reset` or a
/// newer state after it): its step was stopped, `Ready` was not written.
pub const CLAIM_LOST: i32 = 76;
/// `odoo-init restart` / `status`: the running odoo-init could not be
/// reached or asked (no such process, not an odoo-init, another user, an
/// insecure runtime directory, no readable record); nothing was signalled.
pub const NOT_REACHED: i32 = 77;
/// The command exists but could not be executed (shell convention).
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found (shell convention).
pub const NOT_FOUND: i32 = 127;

/// Status a shell would report for a process killed by `signo`.
pub fn for_signal(signo: i32) -> i32 {
    128 + signo
}

/// Why odoo-init, or one of its commands, ends on its own: what failed, in
/// one line, and by its kind the documented exit code (the one mapping,
/// [`Failure::code`]). Said once, by whoever ends the process
/// ([`Failure::say`]); nothing logs while making or converting one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Bad command line or configuration ([`USAGE`]).
    Usage(String),
    /// A step failed or was interrupted ([`STEP_FAILED`]).
    StepFailed(String),
    /// The database could not be reached, refused us, or failed a statement ([`DB_UNREACHABLE`]).
    Db(String),
    /// The operating system refused something ([`OS_ERROR`]).
    Os(String),
    /// The gate timed out and wrote `Reset`, or waited `TIMEOUT` in vain ([`GATE_RESET`]).
    GateReset(String),
    /// The owner of a busy state lost its claim ([`CLAIM_LOST`]).
    ClaimLost(String),
    /// `LIST_DB`: another pod's step holds this database now, so this pod
    /// gives way and comes back to it; the queue takes it back, so it ends
    /// no process (were it to, as [`GATE_RESET`]: a temporary failure).
    Held(String),
    /// `restart`, `status`: the running odoo-init could not be asked ([`NOT_REACHED`]).
    NotReached(String),
    /// SIGTERM/SIGINT before anything was started: exit as a process
    /// stopped by that signal would (the supervisor knows which:
    /// `stopped_status`; [`Failure::code`] says SIGTERM's), with nothing
    /// more to say.
    Stopped,
}

impl Failure {
    /// The documented exit code.
    pub(crate) fn code(&self) -> i32 {
        match self {
            Failure::Usage(_) => USAGE,
            Failure::StepFailed(_) => STEP_FAILED,
            Failure::Db(_) => DB_UNREACHABLE,
            Failure::Os(_) => OS_ERROR,
            Failure::GateReset(_) | Failure::Held(_) => GATE_RESET,
            Failure::ClaimLost(_) => CLAIM_LOST,
            Failure::NotReached(_) => NOT_REACHED,
            Failure::Stopped => for_signal(libc::SIGTERM),
        }
    }

    /// The exit code, a stop's being `stopped` (the signal's status,
    /// which only the supervisor knows): the one place `Stopped` is mapped.
    pub(crate) fn code_stopped_as(&self, stopped: i32) -> i32 {
        match self {
            Failure::Stopped => stopped,
            other => other.code(),
        }
    }

    /// Says what failed; its exit code.
    pub(crate) fn said(self) -> i32 {
        self.say();
        self.code()
    }

    /// Says what failed, once, as an error line (a stop says nothing).
    pub(crate) fn say(&self) {
        if !matches!(self, Failure::Stopped) {
            log::error!("{}", self.message());
        }
    }

    /// What failed, as the line says it.
    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Usage(why)
            | Failure::StepFailed(why)
            | Failure::Db(why)
            | Failure::Os(why)
            | Failure::GateReset(why)
            | Failure::Held(why)
            | Failure::ClaimLost(why)
            | Failure::NotReached(why) => why,
            Failure::Stopped => "stopped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_documented_code() {
        let said = || "x".to_string();
        assert_eq!(Failure::Usage(said()).code(), 64);
        assert_eq!(Failure::StepFailed(said()).code(), 65);
        assert_eq!(Failure::Db(said()).code(), 69);
        assert_eq!(Failure::Os(said()).code(), 71);
        assert_eq!(Failure::GateReset(said()).code(), 75);
        assert_eq!(Failure::Held(said()).code(), 75);
        assert_eq!(Failure::ClaimLost(said()).code(), 76);
        assert_eq!(Failure::NotReached(said()).code(), 77);
        assert_eq!(Failure::Stopped.code(), 143);
    }
}
