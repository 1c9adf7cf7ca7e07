//! Rollback of a failed update: by its owner (`ON_UPDATE_FAILURE=rollback`)
//! or by `odoo-init rollback`. The database is then exactly the backup
//! (compared table by table), the filestore as it was, the failed database
//! kept aside; the same image's update is not tried again by itself, a new
//! image's is. Judged from the databases, the tables and the files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::addons::{self, script, write};
use common::pg::{Pg, DB};
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Each table of `db` but the state table, with a digest of its rows.
fn tables(pg: &Pg, db: &str) -> BTreeMap<String, String> {
    let mut client = pg.superuser(db);
    let names: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
             AND tablename <> 'curq_state_history' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    names
        .into_iter()
        .map(|t| {
            let sql = format!(
                "SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM \"{t}\" x"
            );
            let digest: String = client.query_one(&sql, &[]).unwrap().get(0);
            (t, digest)
        })
        .collect()
}

/// Every file below `dir` with its content.
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                pending.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                found.insert(rel, std::fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    found
}

fn failed_databases(pg: &Pg) -> Vec<String> {
    pg.superuser("postgres")
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'odoo\\_failed\\_%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// An update of the addons in `dir` with a backup into `backups`, Odoo's
/// data in `data`, the admin's settings for a rollback.
fn update<'a>(pg: &Pg, dir: &Path, backups: &Path, data: &Path) -> Setup<'a> {
    let mut s = addons::job(pg, "UpdateOnly", dir)
        .env("BACKUP_DIR", path_str(backups))
        .env("DB_ADMIN_PASSWORD", common::pg::SUPERUSER_PASSWORD)
        .env("PATH", pg.path_with_tools());
    s.args.extend(["--data-dir".into(), path_str(data)]);
    s
}

/// A database with m1..m3 installed and one attachment; its addons, the
/// backup and data directories.
struct Deployment {
    scratch: Scratch,
    dir: std::path::PathBuf,
}

impl Deployment {
    fn new(pg: &Pg, name: &str) -> Deployment {
        let scratch = Scratch::new(name);
        let dir = addons::three(&scratch.path);
        addons::installed(pg, &dir);
        write(
            &scratch
                .join("data/filestore")
                .join(DB)
                .join("ab/abcdef0123"),
            "an attachment\n",
        );
        std::fs::create_dir_all(scratch.join("backups")).unwrap();
        Deployment { scratch, dir }
    }

    fn update<'a>(&self, pg: &Pg) -> Setup<'a> {
        update(
            pg,
            &self.dir,
            &self.scratch.join("backups"),
            &self.scratch.join("data"),
        )
    }

    fn filestore(&self) -> std::path::PathBuf {
        self.scratch.join("data/filestore").join(DB)
    }

    /// A new image: m1's code changed.
    fn change(&self, text: &str) {
        write(&self.dir.join("m1/models/main.py"), text);
    }
}

/// `odoo-init rollback` for `d`'s database, with `path` as PATH (where it
/// finds `pg_restore`).
fn rollback(pg: &Pg, d: &Deployment, path: &str) -> Command {
    let conf = d.scratch.join("odoo.conf");
    let data = path_str(&d.scratch.join("data"));
    std::fs::write(&conf, format!("[options]\ndata_dir = {data}\n")).unwrap();
    let mut c = Command::new(odoo_init());
    c.arg("rollback")
        .env("DB_NAME", DB)
        .env("DB_USER", common::pg::USER)
        .env("DB_PASSWORD", common::pg::PASSWORD)
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", pg.port.to_string())
        .env("DB_ADMIN_USER", "postgres")
        .env("DB_ADMIN_PASSWORD", common::pg::SUPERUSER_PASSWORD)
        .env("PATH", path)
        .env("HOME", &data)
        .env("ODOO_RC", path_str(&conf))
        .env("ODOO_INIT_RUNTIME_DIR", d.scratch.join("rt"))
        .env_remove("MODE");
    c
}

#[test]
fn a_failed_update_is_rolled_back_by_its_owner_and_not_tried_again() {
    let pg = Pg::start();
    let d = Deployment::new(&pg, "rollback-owner");
    let (before, files_before) = (tables(&pg, DB), files(&d.filestore()));
    d.change("# m1, version 2\n");

    let mut run = d
        .update(&pg)
        .env("ON_UPDATE_FAILURE", "rollback")
        .env("STANDIN_UPDATE_FAIL", "half")
        .start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    assert_eq!(
        tables(&pg, DB),
        before,
        "the database is the backup, table by table"
    );
    assert_eq!(
        files(&d.filestore()),
        files_before,
        "the files as they were"
    );
    let rows = pg.rows(DB);
    assert_eq!(rows.last().unwrap().1, "Force Ready", "{rows:?}");
    // The failed database is kept, with its half-done change and its files.
    let failed = failed_databases(&pg);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let kept = tables(&pg, &failed[0]);
    assert!(kept.contains_key("standin_half_done"), "{kept:?}");
    let kept_files = d.scratch.join("data/filestore").join(&failed[0]);
    assert!(kept_files.join("standin/half-done").exists());

    // The same image does not update again by itself.
    let mut again = d.update(&pg).start();
    assert_eq!(again.wait_exit(LONG), 65, "{}", again.stderr());
    assert_eq!(tables(&pg, DB), before);
    assert_eq!(pg.rows(DB).len(), rows.len(), "no claim written");

    // A new image does.
    d.change("# m1, version 3\n");
    let mut fixed = d.update(&pg).start();
    assert_eq!(fixed.wait_exit(LONG), 0, "{}", fixed.stderr());
    assert_eq!(pg.rows(DB).last().unwrap().1, "Ready");
}

#[test]
fn odoo_init_rollback_undoes_the_latest_failed_update_and_waits_for_no_live_owner() {
    let pg = Pg::start();
    let d = Deployment::new(&pg, "rollback-cli");
    let (before, files_before) = (tables(&pg, DB), files(&d.filestore()));
    let rollback = || rollback(&pg, &d, &pg.path_with_tools()).output().unwrap();
    // Nothing failed yet: nothing to roll back.
    let out = rollback();
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    d.change("# m1, version 2\n");
    let mut run = d.update(&pg).env("STANDIN_UPDATE_FAIL", "half").start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    assert_ne!(tables(&pg, DB), before, "half-done");

    let out = rollback();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tables(&pg, DB), before);
    assert_eq!(files(&d.filestore()), files_before);
    assert_eq!(failed_databases(&pg).len(), 1);
    let mut again = d.update(&pg).start();
    assert_eq!(
        again.wait_exit(LONG),
        65,
        "the same image is refused: {}",
        again.stderr()
    );

    // A live owner holds the gate: refused, nothing changed.
    let owner = pg.hanging_owner();
    let out = rollback();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(failed_databases(&pg).len(), 1);
    owner.signal(libc::SIGTERM);
}

#[test]
fn a_rollback_killed_during_its_restore_leaves_the_failed_database_and_the_next_one_finishes() {
    let pg = Pg::start();
    let d = Deployment::new(&pg, "rollback-killed");
    let (before, files_before) = (tables(&pg, DB), files(&d.filestore()));
    d.change("# m1, version 2\n");
    let mut run = d.update(&pg).env("STANDIN_UPDATE_FAIL", "half").start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    let failed = tables(&pg, DB);
    assert_ne!(failed, before, "half-done");

    // A pg_restore that restores the schema (empty tables: a half-restored
    // database), then, asked for the rows, says so and waits on a FIFO
    // until the test lets it fail.
    let tools = d.scratch.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let (fifo, started) = (tools.join("go"), tools.join("started"));
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo (coreutils)");
    let wrapper = tools.join("pg_restore");
    script(
        &wrapper,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *post-data*) \
             touch {}; read -r line < {}; exit 1;; esac\nexec {} \"$@\"\n",
            started.display(),
            fifo.display(),
            pg.tool("pg_restore").display()
        ),
    );
    let path = format!("{}:{}", tools.display(), pg.path_with_tools());
    let mut killed = rollback(&pg, &d, &path).spawn().unwrap();
    wait_until(LONG, "the rollback's restore under way", || {
        started.exists().then_some(())
    });
    killed.kill().unwrap();
    killed.wait().unwrap();
    // Let the waiting pg_restore fail (its parent, restore-step, then ends).
    std::fs::write(&fifo, "fail\n").unwrap();

    assert_eq!(
        tables(&pg, DB),
        failed,
        "the database is still the failed one"
    );
    assert!(failed_databases(&pg).is_empty(), "nothing swapped");

    let out = rollback(&pg, &d, &pg.path_with_tools()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tables(&pg, DB), before, "the next rollback finishes it");
    assert_eq!(files(&d.filestore()), files_before);
    assert_eq!(failed_databases(&pg).len(), 1);
}
