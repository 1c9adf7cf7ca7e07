//! The PID-1 side: signals, the supervised child, restarts in place, and
//! its own memory. Knows nothing of databases or of Odoo: what
//! to start, and any gate before a start, comes from a
//! [`launch::Launcher`].

pub(crate) mod child;
pub(crate) mod launch;
pub(crate) mod memory;
pub(crate) mod restart;
pub(crate) mod serve;
pub mod signals;
pub(crate) mod step;
pub(crate) mod stop;
pub(crate) mod supervisor;
