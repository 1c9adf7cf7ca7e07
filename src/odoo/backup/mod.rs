//! Backups of an Odoo database: what one holds and where it goes. A backup
//! is a directory `BACKUP_DIR/DB/NAME` with `dump/` (`pg_dump`'s directory
//! format, which `pg_restore` restores in parallel), `filestore/` (Odoo's
//! files of the database, hard-linked where the file system allows: Odoo
//! never rewrites a stored file, so a link is a consistent copy that costs
//! no bytes) and `manifest.json` (what Odoo's own backups hold, and
//! odoo-init's own: the state row it was made for, the stored module
//! checksums). It is made under a temporary name by a helper process
//! ([`helper`]) and renamed only once complete, synced and read back: a
//! directory without the `.partial` ending is a good backup.
//!
//! PID 1 reads the manifest's facts from the database ([`manifest`]) and
//! hands them to the helper, which runs `pg_dump` and copies the files.

mod helper;
mod manifest;
mod restore;
mod schema;
mod unzip;
mod zip;

pub(crate) use helper::{helper_main, HELPER_COMMAND};
pub(crate) use manifest::manifest;
pub(crate) use restore::{restore_main, Kind, RESTORE_COMMAND};

/// The ending of a backup that is not complete (never to be restored).
pub(crate) const PARTIAL: &str = ".partial";

/// The name of a backup of `db` made at `at`: `DB-YYYYMMDDTHHMMSSZ-FOR`,
/// `FOR` being `stateROW` (the update of that state row) or `manual`
/// (`odoo-init backup`), so that the names of one database sort by time.
pub(crate) fn name(db: &str, made_for: &str, at: std::time::SystemTime) -> String {
    format!("{db}-{}-{made_for}", crate::clock::compact(at))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_sort_by_time() {
        let at = |s: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(
            super::name("odoo", "state12", at(1_796_233_501)),
            "odoo-20261202T174501Z-state12"
        );
        assert!(
            super::name("odoo", "manual", at(1_000)) < super::name("odoo", "state9", at(1_001))
        );
    }
}
