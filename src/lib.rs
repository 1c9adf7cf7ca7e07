//! odoo-init: a small synchronous PID-1 init and supervisor for Odoo containers.
//! See ARCHITECTURE.md for how the modules fit together: the PID-1 side
//! (`pid1`), the database side (`db`), the Odoo side (`odoo`), the runtime
//! directory and the status record kept in it, and the job
//! that ties them together from the configuration.
//!
//! Public only what the binary, the stand-in Odoo, the benchmark and the
//! integration tests use; everything else is `pub(crate)`.

pub mod cli;
pub(crate) mod clock;
pub mod config;
pub(crate) mod db;
pub(crate) mod env;
pub(crate) mod exit;
pub(crate) mod files;
pub(crate) mod helper;
pub(crate) mod job;
pub(crate) mod logging;
pub(crate) mod meanwhile;
pub mod odoo;
pub mod pid1;
pub mod plan;
pub(crate) mod probe;
pub(crate) mod reaper;
pub(crate) mod resolve;
pub(crate) mod runtime;
pub(crate) mod status;
