//! `Init` with the admin a managed PostgreSQL gives (RDS's rds_superuser,
//! Cloud SQL's cloudsqlsuperuser, Azure's azure_pg_admin): `CREATEROLE` and
//! `CREATEDB`, no superuser. Against real clusters: Debian's 15, and 16 and
//! 18 from their wheels (scripts/test.sh), where role membership differs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB, USER};
use common::*;

const ADMIN: &str = "cloudadmin";
const ADMIN_PASSWORD: &str = "admin-Pw-7";

/// An admin with `privileges` (`CREATEROLE CREATEDB` ...).
fn admin(pg: &Pg, privileges: &str) {
    pg.superuser("postgres")
        .batch_execute(&format!(
            "CREATE ROLE {ADMIN} LOGIN PASSWORD '{ADMIN_PASSWORD}' NOSUPERUSER {privileges}"
        ))
        .unwrap();
}

fn init<'a>(pg: &Pg) -> Setup<'a> {
    pg.job("Init")
        .env("DB_ADMIN_USER", ADMIN)
        .env("DB_ADMIN_PASSWORD", ADMIN_PASSWORD)
}

/// The owner of `DB`, if it exists.
fn owner(pg: &Pg) -> Option<String> {
    pg.superuser("postgres")
        .query_opt(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&DB],
        )
        .unwrap()
        .map(|r| r.get(0))
}

#[test]
fn init_works_with_an_admin_that_has_createrole_and_createdb_but_is_no_superuser() {
    let pg = Pg::start();
    admin(&pg, "CREATEROLE CREATEDB");
    let mut run = init(&pg).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(owner(&pg).as_deref(), Some(USER));
    assert_eq!(pg.states(DB).unwrap()[..2], ["Creating", "Ready"]);
}

/// The server's version (`server_version_num`).
fn version(pg: &Pg) -> i32 {
    pg.superuser("postgres")
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .unwrap()
        .get(0)
}

/// A role someone else made (the superuser), and no database yet. Up to
/// PostgreSQL 15 a `CREATEROLE` admin may grant itself any role: the rerun
/// completes. From 16 on it may grant only a role it has `ADMIN OPTION`
/// on (its creator has it): refused in one line naming that, nothing made.
#[test]
fn a_role_made_before_by_someone_else_is_granted_or_refused_by_version() {
    let pg = Pg::start();
    admin(&pg, "CREATEROLE CREATEDB");
    pg.role(USER, common::pg::PASSWORD, false);
    let mut run = init(&pg).start();
    if version(&pg) >= 160_000 {
        assert_eq!(run.wait_exit(LONG), 64, "{}", run.stderr());
        assert!(run.stderr().contains("ADMIN OPTION"), "{}", run.stderr());
        assert_eq!(owner(&pg), None, "no database made");
    } else {
        assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
        assert_eq!(owner(&pg).as_deref(), Some(USER));
    }
}

#[test]
fn a_missing_privilege_is_a_configuration_error_naming_it() {
    let pg = Pg::start();
    admin(&pg, "CREATEDB");
    let mut run = init(&pg).start();
    assert_eq!(run.wait_exit(LONG), 64, "{}", run.stderr());
    assert!(run.stderr().contains("CREATEROLE"), "{}", run.stderr());
    assert_eq!(owner(&pg), None, "nothing made");
}

#[test]
fn no_database_is_made_for_a_role_that_cannot_log_in() {
    let pg = Pg::start();
    admin(&pg, "CREATEROLE CREATEDB");
    // The role exists with another password.
    pg.role(USER, "another-password", false);
    let mut run = init(&pg).start();
    assert_eq!(run.wait_exit(LONG), 69, "{}", run.stderr());
    assert_eq!(owner(&pg), None, "no empty database left behind");
    assert!(run.stderr().contains("cannot log in"), "{}", run.stderr());
}

/// `MODE=Restore` with the same admin: the restored database is made owned
/// by `DB_USER` and renamed into place (as a rollback renames), which the
/// admin may only as a member of that role.
#[test]
fn restore_works_with_the_managed_admin() {
    let pg = Pg::start();
    admin(&pg, "CREATEROLE CREATEDB");
    let mut run = init(&pg).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let scratch = Scratch::new("managed-restore");
    let dump = scratch.join("odoo.dump");
    let args =
        ["--format=custom", "--no-owner", "--dbname", DB, "--file"].map(std::ffi::OsStr::new);
    pg.as_superuser("pg_dump", &[&args[..], &[dump.as_os_str()]].concat());
    let mut restore = pg
        .job("Restore")
        .env("DB_NAME", "copy")
        .env("DB_ADMIN_USER", ADMIN)
        .env("DB_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RESTORE_FROM", path_str(&dump))
        .env("PATH", pg.path_with_tools());
    restore.args = vec![
        "--".into(),
        "--data-dir".into(),
        path_str(&scratch.join("data")),
    ];
    let mut restore = restore.start();
    assert_eq!(restore.wait_exit(LONG), 0, "{}", restore.stderr());
    let owner: String = pg
        .superuser("postgres")
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'copy'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, USER);
    assert_eq!(pg.states("copy").unwrap().last().unwrap(), "Ready");
}
