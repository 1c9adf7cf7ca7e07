//! odoo-init: a small synchronous PID-1 init and supervisor for Odoo containers.
//! See ARCHITECTURE.md for how the modules fit together.

pub mod cli;
pub mod config;
pub mod db;
pub mod exit;
pub mod files;
pub mod heartbeat;
pub mod job;
pub mod logging;
pub mod odoo;
pub mod plan;
pub mod restart;
pub mod runtime;
pub mod signals;
pub mod state;
pub mod supervisor;
