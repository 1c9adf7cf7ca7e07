//! The settings as data: every variable odoo-init reads, one row per
//! setting, with its line of `odoo-init --help`. [`variables`] (which the
//! examples and a unit test check against what the readers ask for), the
//! help's ENVIRONMENT section and the check of docs/configuration.md
//! (`tests/settings_doc.rs`: every variable named there, every name of its
//! table a variable) all come from [`SETTINGS`], so that a new setting is
//! one row here, its reader in `config/`, and its row in the docs, which
//! the test then asks for.

/// One setting: the variables it reads, and its help line.
pub struct Setting {
    /// Its variables (the `*_FILE` form of a secret, fallbacks read in its
    /// place, included).
    pub names: &'static [&'static str],
    /// `odoo-init --help`'s line: the left column and the text; `None`:
    /// in the docs only (a fallback, a rarely set path).
    pub help: Option<(&'static str, &'static str)>,
}

const fn row(names: &'static [&'static str], label: &'static str, text: &'static str) -> Setting {
    Setting {
        names,
        help: Some((label, text)),
    }
}

const fn docs_only(names: &'static [&'static str]) -> Setting {
    Setting { names, help: None }
}

/// Every setting, in the order of the help.
pub const SETTINGS: &[Setting] = &[
    row(
        &["MODE"],
        "MODE",
        "the mode (below): which steps run, then Odoo or not",
    ),
    row(
        &["MODULES"],
        "MODULES",
        "modules the database must have (installed by installs and updates)",
    ),
    row(
        &["SERVER_WIDE_MODULES"],
        "SERVER_WIDE_MODULES",
        "installed like MODULES and loaded with --load",
    ),
    row(
        &["LIST_DB"],
        "LIST_DB",
        "True: many databases (RunOnly serves them; UpdateOnly, InstallOnly work on each) (False)",
    ),
    row(
        &["DB_FILTER"],
        "DB_FILTER",
        "LIST_DB=True: the databases to work on, as Odoo's dbfilter (all it lists)",
    ),
    row(
        &["DB_NAMES"],
        "DB_NAMES",
        "LIST_DB=True: the databases to work on, by name, comma-separated",
    ),
    row(
        &["ON_FAILED_DATABASE"],
        "ON_FAILED_DATABASE",
        "LIST_DB=True, RunOnly: a database whose update failed: leave-out (of Odoo's dbfilter) or wait (leave-out)",
    ),
    row(
        &["TIMEOUT"],
        "TIMEOUT",
        "seconds a busy state without heartbeat may last before Reset (1800)",
    ),
    row(
        &["STATE_LEASE"],
        "STATE_LEASE",
        "seconds an owner's heartbeat may stay silent before Reset (60)",
    ),
    row(
        &[
            "DB_NAME",
            "DB_HOST",
            "DB_PORT",
            "DB_USER",
            "DB_PASSWORD",
            "DB_PASSWORD_FILE",
        ],
        "DB_NAME, DB_HOST, DB_PORT, DB_USER, DB_PASSWORD[_FILE]",
        "the database and its role (else the official image's names, PG*, Odoo's config)",
    ),
    // The official image's names, read where odoo-init's are not set.
    docs_only(&["HOST", "PORT", "USER", "PASSWORD", "PASSWORD_FILE"]),
    // libpq's, read as fallbacks.
    docs_only(&["PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"]),
    // Refused when set: odoo-init would not follow them, Odoo would.
    docs_only(&["PGSERVICE", "PGSERVICEFILE", "PGHOSTADDR"]),
    row(
        &[
            "DB_ADMIN_USER",
            "DB_ADMIN_PASSWORD",
            "DB_ADMIN_PASSWORD_FILE",
        ],
        "DB_ADMIN_USER, DB_ADMIN_PASSWORD[_FILE]",
        "the admin role of Init, Restore and rollbacks (postgres)",
    ),
    row(
        &["ADMIN_PASSWORD", "ADMIN_PASSWORD_FILE"],
        "ADMIN_PASSWORD[_FILE]",
        "Init, Restore: the password of Odoo's admin user on the new database",
    ),
    row(
        &["ADMIN_PASSWD", "ADMIN_PASSWD_FILE"],
        "ADMIN_PASSWD[_FILE]",
        "Odoo's master password (admin_passwd), as a hash in a private copy of ODOO_RC",
    ),
    row(
        &["DB_WAIT_TIMEOUT"],
        "DB_WAIT_TIMEOUT",
        "seconds to wait for PostgreSQL (120)",
    ),
    row(&["ODOO_BIN"], "ODOO_BIN", "the Odoo executable (odoo)"),
    row(
        &["ODOO_RC"],
        "ODOO_RC",
        "Odoo's config file (/etc/odoo/odoo.conf)",
    ),
    row(
        &["MAINTENANCE_SCRIPT"],
        "MAINTENANCE_SCRIPT",
        "the maintenance script (/etc/odoo/run.sh)",
    ),
    row(
        &["PRE_INIT_SCRIPT", "PRE_UPDATE_SCRIPT"],
        "PRE_INIT_SCRIPT, PRE_UPDATE_SCRIPT",
        "run under the claim before Odoo's install / update (/etc/odoo/pre-init.sh, pre-update.sh)",
    ),
    row(
        &["BACKUP_DIR", "BACKUP_KEEP"],
        "BACKUP_DIR, BACKUP_KEEP",
        "a backup (pg_dump, filestore, manifest) before every update; how many stay (3)",
    ),
    row(
        &["ON_UPDATE_FAILURE"],
        "ON_UPDATE_FAILURE",
        "stop | rollback: a failed update's owner restores its backup (stop)",
    ),
    row(
        &["RESTORE_FROM"],
        "RESTORE_FROM",
        "Restore: an odoo-init backup, an Odoo backup zip or a pg_dump custom file",
    ),
    row(
        &["RESTORE_NEUTRALIZE"],
        "RESTORE_NEUTRALIZE",
        "Restore: True runs Odoo's neutralize (16+) before the database is in place",
    ),
    row(
        &["STOP_TIMEOUT"],
        "STOP_TIMEOUT",
        "seconds between SIGTERM and the second SIGTERM (25); SIGKILL 3 s later",
    ),
    row(
        &["STOP_DELAY"],
        "STOP_DELAY",
        "seconds the first SIGTERM of the run phase waits, readiness down (0)",
    ),
    row(
        &["ON_EXIT"],
        "ON_EXIT",
        "exit | wait | restart: when the child exits by itself (exit)",
    ),
    row(
        &["DEMO"],
        "DEMO",
        "True: installs load Odoo's demo data (False: --without-demo=all)",
    ),
    row(
        &["UPDATE"],
        "UPDATE",
        "changed | all: what an update updates (changed: by module checksums)",
    ),
    row(
        &["ADDONS_PATH"],
        "ADDONS_PATH",
        "addon directories for the checksums (Odoo's own + addons_path)",
    ),
    row(
        &["ADDONS_CHECKSUMS_FILE"],
        "ADDONS_CHECKSUMS_FILE",
        "the image's checksums (write-checksums): read instead of hashing",
    ),
    row(
        &["ODOO_STEP_ARGS"],
        "ODOO_STEP_ARGS",
        "Odoo arguments for install and update only (shell words)",
    ),
    row(
        &["ODOO_INIT_RUNTIME_DIR"],
        "ODOO_INIT_RUNTIME_DIR",
        "private directory for runtime files (/tmp/odoo-init-UID)",
    ),
    row(
        &["DB_SSLMODE", "PGSSLMODE"],
        "DB_SSLMODE",
        "TLS to PostgreSQL, libpq's sslmode (prefer)",
    ),
    row(
        &["DB_SSLROOTCERT", "PGSSLROOTCERT", "SSL_CERT_FILE", "HOME"],
        "DB_SSLROOTCERT",
        "the CA certificate(s) the server's must lead to; system: the trust store",
    ),
    row(
        &["DB_SSLCERT", "DB_SSLKEY", "PGSSLCERT", "PGSSLKEY"],
        "DB_SSLCERT, DB_SSLKEY",
        "a client certificate and its key",
    ),
    row(
        &["DB_SSLCRL", "PGSSLCRL"],
        "DB_SSLCRL",
        "certificate revocation lists",
    ),
    row(
        &["DB_CHANNEL_BINDING", "PGCHANNELBINDING"],
        "DB_CHANNEL_BINDING",
        "disable | prefer | require: SCRAM bound to the TLS connection (prefer)",
    ),
    row(
        &[crate::logging::LEVEL_VARIABLE],
        crate::logging::LEVEL_VARIABLE,
        "log level: error, warn, info, debug (info)",
    ),
    row(
        &[crate::logging::FORMAT_VARIABLE],
        crate::logging::FORMAT_VARIABLE,
        "text | json: one JSON object per line for log aggregators (text)",
    ),
];

/// Every variable odoo-init itself reads.
pub fn variables() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().flat_map(|s| s.names.iter().copied())
}

/// The help's ENVIRONMENT section, one line per setting with a help line.
pub fn help() -> String {
    const WIDTH: usize = 22;
    let mut out = String::new();
    for (label, text) in SETTINGS.iter().filter_map(|s| s.help) {
        if label.len() <= WIDTH {
            out.push_str(&format!("    {label:<WIDTH$} {text}\n"));
        } else {
            out.push_str(&format!("    {label}\n    {:<WIDTH$} {text}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_variable_is_in_two_settings() {
        let mut all: Vec<&str> = variables().collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
