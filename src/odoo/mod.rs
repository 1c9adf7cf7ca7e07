//! The Odoo side: the command lines and environment of the Odoo processes
//! odoo-init starts ([`command`]).

pub mod command;
