//! odoo-init: a small synchronous PID-1 init and supervisor for Odoo containers.
//! See ARCHITECTURE.md for how the modules fit together.

pub mod cli;
pub mod config;
pub mod exit;
pub mod logging;
pub mod restart;
pub mod signals;
pub mod supervisor;
