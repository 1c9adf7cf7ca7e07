//! The Odoo side: the command lines and environment of the Odoo processes
//! odoo-init starts ([`command`]), which of the user's arguments reach the
//! steps ([`args`]), and what Odoo's module table says after a step
//! ([`modules`]), and whether the running Odoo answers HTTP ([`http`]).

pub mod args;
pub mod command;
pub mod http;
pub mod modules;
