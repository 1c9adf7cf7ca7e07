//! The exit codes of `odoo-init` itself. A supervised child's own status is
//! passed through unchanged (0-255, 128+N for signal N); these codes are
//! reserved for what `odoo-init` decides on its own and are listed in the README.

/// Bad command line or configuration; nothing was started, nothing was written.
pub const USAGE: i32 = 64;
/// An install, update or maintenance step failed or was interrupted.
pub const STEP_FAILED: i32 = 65;
/// PostgreSQL could not be reached in time, or refused the credentials.
pub const DB_UNREACHABLE: i32 = 69;
/// The operating system refused something `odoo-init` needs (signal mask, fork).
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
