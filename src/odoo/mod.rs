//! The Odoo side: the command lines and environment of the Odoo processes
//! odoo-init starts ([`command`]), which of the user's arguments reach the
//! steps ([`args`]), and what Odoo's module table says after a step
//! ([`modules`]), whether the running Odoo answers HTTP ([`http`]), and the
//! addons on disk with their checksums ([`addons`]) as stored in the
//! database ([`checksums`]) or written into the image beforehand
//! ([`prehashed`]); backups of the database and its filestore ([`backup`]).

pub mod addons;
pub mod args;
pub(crate) mod backup;
pub(crate) mod checksums;
pub(crate) mod command;
pub(crate) mod http;
pub(crate) mod modules;
pub mod optparse;
pub(crate) mod prehashed;
pub mod rc;
pub(crate) mod users;
