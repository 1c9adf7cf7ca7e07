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
mod tree;
mod unzip;
mod zip;

pub(crate) use helper::{helper_main, HELPER_COMMAND};
pub(crate) use manifest::manifest;
pub(crate) use restore::{restore_main, Kind, RESTORE_COMMAND};

/// The ending of a backup that is not complete (never to be restored).
pub(crate) const PARTIAL: &str = ".partial";

/// The ending of a backup pruned (beyond `BACKUP_KEEP`), whose files the
/// next backup removes: no backup any more.
pub(crate) const PRUNED: &str = ".pruned";

/// The name of a backup of `db` made at `at`: `DB-YYYYMMDDTHHMMSSZ-FOR`,
/// `FOR` being `stateROW` (the update of that state row) or `manual`
/// (`odoo-init backup`), so that the names of one database sort by time
/// ([`by_time`]).
pub(crate) fn name(db: &str, made_for: &str, at: std::time::SystemTime) -> String {
    format!("{db}-{}-{made_for}", crate::clock::compact(at))
}

/// A key that sorts the backup names of one database by time: its runs of
/// digits compared as numbers, so that within one second `state9` comes
/// before `state11`, and `manual` before `manual.2`.
pub(crate) fn by_time(name: &str) -> String {
    let mut key = String::new();
    let mut digits = String::new();
    for c in name.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            key.push_str(&format!("{digits:0>20}"));
            digits.clear();
        }
        key.push(c);
    }
    key
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
        let mut names = [
            super::name("odoo", "state11", at(1_000)),
            super::name("odoo", "state9", at(1_000)),
            super::name("odoo", "manual.10", at(1_000)),
            super::name("odoo", "manual.2", at(1_000)),
            super::name("odoo", "state2", at(999)),
        ];
        names.sort_by_key(|n| super::by_time(n));
        assert_eq!(
            names.map(|n| n[5..].to_string()),
            [
                "19700101T001639Z-state2",
                "19700101T001640Z-manual.2",
                "19700101T001640Z-manual.10",
                "19700101T001640Z-state9",
                "19700101T001640Z-state11",
            ]
        );
    }
}
