//! odoo-init: a small synchronous PID-1 init and supervisor for Odoo containers.
//! See ARCHITECTURE.md for how the modules fit together: the PID-1 side
//! (`pid1`), the database side (`db`), the Odoo side (`odoo`), and the job
//! that ties them together from the configuration.

pub mod cli;
pub mod config;
pub mod db;
pub mod exit;
pub mod files;
pub mod job;
pub mod logging;
pub mod odoo;
pub mod pid1;
pub mod plan;
pub mod probe;
