//! `odoo-init`'s own log lines: stderr, one line per event, prefixed so they
//! stand out from Odoo's lines (which pass through untouched).

use std::io::Write;

/// The variable that sets the level (`env_logger` syntax: error, warn, info, debug).
pub const LEVEL_VARIABLE: &str = "ODOO_INIT_LOG";

pub fn init() {
    let filter = std::env::var(LEVEL_VARIABLE).unwrap_or_else(|_| "info".to_string());
    env_logger::Builder::new()
        .parse_filters(&filter)
        .format(|buf, record| writeln!(buf, "[odoo-init] {:<5} {}", record.level(), record.args()))
        .target(env_logger::Target::Stderr)
        .init();
}
