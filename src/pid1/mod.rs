//! The PID-1 side: signals, the supervised child, restarts in place and the
//! runtime directory they use. Knows nothing of databases or of Odoo: what
//! to start, and any gate before a start, comes from a
//! [`supervisor::Launcher`].

pub(crate) mod memory;
pub(crate) mod restart;
pub(crate) mod runtime;
pub mod signals;
pub(crate) mod status;
pub(crate) mod supervisor;
