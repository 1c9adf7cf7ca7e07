//! `MODE=Restore`: a backup (Odoo's zip as `dump_db` makes it, odoo-init's
//! own directory, a `pg_dump` custom file) becomes `DB_NAME` with its
//! filestore, neutralized on request, `Ready`; never over an existing
//! database, once for two pods, and nothing left by a corrupt backup or a
//! restorer killed midway. Judged from the databases, their tables and
//! the filestore directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::addons::{script, write};
use common::pg::{Pg, DB};
use common::*;
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The database the backups are restored as.
const COPY: &str = "copy";

/// `DB`, made by the stand-in's `Init` (Odoo's tables, `base` installed,
/// the module checksums stored), with one more row to compare.
fn source(pg: &Pg, series: &str) {
    let mut init = pg
        .job("Init")
        .env("DB_ADMIN_USER", "postgres")
        .env("DB_ADMIN_PASSWORD", common::pg::SUPERUSER_PASSWORD)
        .env("STANDIN_SERIES", series)
        .start();
    assert_eq!(init.wait_exit(LONG), 0, "{}", init.stderr());
    pg.superuser(DB)
        .batch_execute("UPDATE ir_module_module SET update_count = 41 WHERE name = 'base'")
        .unwrap();
}

/// Odoo's backup zip of `DB` as `dump_db` makes it: `pg_dump --no-owner`
/// (plain SQL) as `dump.sql` first, then the filestore and the manifest,
/// deflated by Python's `zipfile`. `extra_sql` is appended to the dump.
fn odoo_zip(pg: &Pg, scratch: &Scratch, files: &Path, extra_sql: &str) -> PathBuf {
    let sql = scratch.join("dump.sql");
    let dump = ["--no-owner", "--dbname", DB, "--file"].map(OsStr::new);
    pg.as_superuser("pg_dump", &[&dump[..], &[sql.as_os_str()]].concat());
    let mut text = std::fs::read_to_string(&sql).unwrap();
    text.push_str(extra_sql);
    std::fs::write(&sql, text).unwrap();
    let zip = scratch.join("odoo-backup.zip");
    let script = "import sys, os, json, zipfile\n\
        out, sql, files = sys.argv[1:4]\n\
        with zipfile.ZipFile(out, 'w', compression=zipfile.ZIP_DEFLATED, allowZip64=True) as z:\n\
        \x20   z.write(sql, 'dump.sql')\n\
        \x20   for root, dirs, names in os.walk(files):\n\
        \x20       for n in names:\n\
        \x20           p = os.path.join(root, n)\n\
        \x20           z.write(p, os.path.join('filestore', os.path.relpath(p, files)))\n\
        \x20   z.writestr('manifest.json', json.dumps({'odoo_dump': '1', 'db_name': 'odoo', 'version': '17.0'}))\n";
    let made = Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .arg(&sql)
        .arg(files)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    zip
}

/// `MODE=Restore` of `from` as `COPY`, Odoo's data in `data`, the server's
/// client programs on `PATH`.
fn restore<'a>(pg: &Pg, from: &Path, data: &Path) -> Setup<'a> {
    let mut s = pg
        .job("Restore")
        .env("DB_NAME", COPY)
        .env("DB_ADMIN_USER", "postgres")
        .env("DB_ADMIN_PASSWORD", common::pg::SUPERUSER_PASSWORD)
        .env("RESTORE_FROM", path_str(from))
        .env("PATH", pg.path_with_tools());
    s.args = vec!["--".into(), "--data-dir".into(), path_str(data)];
    s
}

fn exists(pg: &Pg, name: &str) -> bool {
    pg.superuser("postgres")
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .unwrap()
        .is_some()
}

/// The databases and filestore directories a restore may leave: none but
/// those named.
fn leftovers(pg: &Pg, data: &Path) -> (Vec<String>, Vec<String>) {
    let dbs = pg
        .superuser("postgres")
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'copy%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut dirs: Vec<String> = std::fs::read_dir(data.join("filestore"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    (dbs, dirs)
}

#[test]
fn an_odoo_zip_made_as_dump_db_makes_it_restores_with_its_files() {
    let pg = Pg::start();
    source(&pg, "17");
    let scratch = Scratch::new("restore-zip");
    let (files, data) = (scratch.join("files"), scratch.join("data"));
    write(&files.join("ab/abcdef0123"), "an attachment\n");
    let zip = odoo_zip(&pg, &scratch, &files, "");
    let mut run = restore(&pg, &zip, &data).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());

    assert_eq!(pg.base_updates(COPY), 41, "the data of the backup");
    let owner: String = pg
        .superuser(COPY)
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'ir_module_module'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        owner,
        common::pg::USER,
        "owned by DB_USER, as Odoo's restore leaves it"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("filestore").join(COPY).join("ab/abcdef0123")).unwrap(),
        "an attachment\n"
    );
    let rows = pg.rows(COPY);
    assert_eq!(rows.last().unwrap().1, "Ready", "{rows:?}");
    assert_eq!(
        leftovers(&pg, &data),
        (vec![COPY.to_string()], vec![COPY.to_string()])
    );

    // Never over an existing database: a second Restore changes nothing.
    pg.superuser(COPY)
        .batch_execute("UPDATE ir_module_module SET update_count = 7 WHERE name = 'base'")
        .unwrap();
    let mut again = restore(&pg, &zip, &data).start();
    assert_eq!(again.wait_exit(LONG), 0, "{}", again.stderr());
    assert_eq!(pg.base_updates(COPY), 7);
}

#[test]
fn an_odoo_init_backup_restores_once_for_two_pods_with_its_files_linked() {
    let pg = Pg::start();
    source(&pg, "17");
    let scratch = Scratch::new("restore-dir");
    let (backups, data, home) = (
        scratch.join("backups"),
        scratch.join("data"),
        scratch.join("home"),
    );
    std::fs::create_dir_all(&backups).unwrap();
    let stored = home
        .join(".local/share/Odoo/filestore")
        .join(DB)
        .join("ab/abcdef0123");
    write(&stored, "an attachment\n");
    let out = Command::new(odoo_init())
        .arg("backup")
        .env("DB_NAME", DB)
        .env("DB_USER", common::pg::USER)
        .env("DB_PASSWORD", common::pg::PASSWORD)
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", pg.port.to_string())
        .env("BACKUP_DIR", path_str(&backups))
        .env("HOME", path_str(&home))
        .env("PATH", pg.path_with_tools())
        .env("ODOO_INIT_RUNTIME_DIR", home.join(".rt"))
        .env_remove("MODE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backup = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());

    let mut pods: Vec<Run> = (0..2)
        .map(|_| restore(&pg, &backup, &data).start())
        .collect();
    for pod in &mut pods {
        assert_eq!(pod.wait_exit(LONG), 0, "{}", pod.stderr());
    }
    assert_eq!(pg.base_updates(COPY), 41);
    let restores: i64 = pg
        .superuser(COPY)
        .query_one(
            "SELECT count(*) FROM curq_state_history WHERE mode = 'Restore'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(restores, 1, "one pod restored, the other found it done");
    let restored = data.join("filestore").join(COPY).join("ab/abcdef0123");
    assert_eq!(
        std::fs::metadata(&restored).unwrap().ino(),
        std::fs::metadata(backup.join("filestore/ab/abcdef0123"))
            .unwrap()
            .ino(),
        "hard-linked from the backup"
    );
    assert_eq!(
        leftovers(&pg, &data),
        (vec![COPY.to_string()], vec![COPY.to_string()])
    );
}

/// Objects of every kind a schema holds, beside Odoo's tables, with rows:
/// a schema, a type and a function a table uses, a serial and an identity
/// column, a child table, a standalone sequence as a default, a view over
/// two tables, a materialized view, a comment, a foreign key, an index.
const EVERY_KIND: &str = "\
    CREATE SCHEMA s2; CREATE TYPE mood AS ENUM ('a', 'b'); \
    CREATE FUNCTION plus1(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1'; \
    CREATE TABLE partner (id serial PRIMARY KEY, name varchar, m mood, c int CHECK (plus1(c) > 0)); \
    CREATE TABLE s2.child (extra int) INHERITS (partner); \
    CREATE SEQUENCE ir_sequence_001; \
    CREATE TABLE t2 (id int DEFAULT nextval('ir_sequence_001'), p int REFERENCES partner (id)); \
    CREATE TABLE t3 (id int GENERATED ALWAYS AS IDENTITY, n text); \
    CREATE VIEW v AS SELECT p.name, t2.id FROM partner p JOIN t2 ON t2.p = p.id; \
    CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM t3; \
    COMMENT ON TABLE t3 IS 'lone'; CREATE INDEX ON partner (name); \
    INSERT INTO partner (name, m, c) SELECT 'p' || g, 'a', g FROM generate_series(1, 50) g; \
    INSERT INTO s2.child (name, m, c, extra) VALUES ('c', 'b', 1, 7); \
    INSERT INTO t2 (p) SELECT id FROM ONLY partner; \
    INSERT INTO t3 (n) SELECT 'n' || g FROM generate_series(1, 20) g; \
    REFRESH MATERIALIZED VIEW mv;";

/// The schema of `db` as `pg_dump` writes it, without its comments and
/// session lines (PostgreSQL 18 writes a random key in `\restrict`).
fn schema_of(pg: &Pg, scratch: &Scratch, db: &str) -> String {
    let out = scratch.join(&format!("{db}.schema.sql"));
    let args = [
        "--schema-only",
        "--no-owner",
        "--no-acl",
        "--dbname",
        db,
        "--file",
    ];
    let args = args.map(OsStr::new);
    pg.as_superuser("pg_dump", &[&args[..], &[out.as_os_str()]].concat());
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("--") && !l.starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_schema_of_every_kind_restores_in_parts_at_once_as_it_was() {
    let pg = Pg::start();
    source(&pg, "17");
    pg.superuser(DB).batch_execute(EVERY_KIND).unwrap();
    let scratch = Scratch::new("restore-every-kind");
    let custom = scratch.join("custom.dump");
    let dump = ["--format=custom", "--no-owner", "--dbname", DB, "--file"].map(OsStr::new);
    pg.as_superuser("pg_dump", &[&dump[..], &[custom.as_os_str()]].concat());
    // pg_restore, its arguments written down.
    let (tools, calls) = (scratch.join("tools"), scratch.join("calls"));
    let wrapper = tools.join("pg_restore");
    script(
        &wrapper,
        &format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {} \"$@\"\n",
            calls.display(),
            pg.tool("pg_restore").display()
        ),
    );

    let mut run = restore(&pg, &custom, &scratch.join("data"))
        .env(
            "PATH",
            format!("{}:{}", tools.display(), pg.path_with_tools()),
        )
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let calls = std::fs::read_to_string(&calls).unwrap();
    let parts = calls.lines().filter(|l| l.contains("--use-list")).count();
    assert!(parts >= 2, "the schema restored in parts: {calls}");
    assert_eq!(schema_of(&pg, &scratch, COPY), schema_of(&pg, &scratch, DB));
    let count = |db: &str, table: &str| -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        pg.superuser(db).query_one(&sql, &[]).unwrap().get(0)
    };
    for table in ["partner", "s2.child", "t2", "t3", "v"] {
        assert_eq!(count(COPY, table), count(DB, table), "{table}");
    }
    let n: i64 = pg
        .superuser(COPY)
        .query_one("SELECT n FROM mv", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 20);
}

#[test]
fn a_corrupt_backup_fails_and_leaves_nothing() {
    let pg = Pg::start();
    source(&pg, "17");
    let scratch = Scratch::new("restore-corrupt");
    let (files, data) = (scratch.join("files"), scratch.join("data"));
    write(&files.join("ab/abcdef0123"), "an attachment\n");
    let zip = odoo_zip(&pg, &scratch, &files, "");
    let bytes = std::fs::read(&zip).unwrap();

    // A zip cut short, and one whose dump breaks halfway.
    let cut = scratch.join("cut.zip");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let broken = odoo_zip(
        &pg,
        &scratch,
        &files,
        "\nINSERT INTO no_such_table VALUES (1);\n",
    );
    for bad in [&cut, &broken] {
        let mut run = restore(&pg, bad, &data).start();
        assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
        assert!(!exists(&pg, COPY));
        assert_eq!(leftovers(&pg, &data), (vec![], vec![]), "{}", run.stderr());
    }
    // A pg_dump custom file cut short.
    let custom = scratch.join("custom.dump");
    let dump = ["--format=custom", "--no-owner", "--dbname", DB, "--file"].map(OsStr::new);
    pg.as_superuser("pg_dump", &[&dump[..], &[custom.as_os_str()]].concat());
    let whole = std::fs::read(&custom).unwrap();
    std::fs::write(&custom, &whole[..whole.len() * 2 / 3]).unwrap();
    let mut run = restore(&pg, &custom, &data).start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    assert_eq!(leftovers(&pg, &data), (vec![], vec![]));
    // Whole, it restores (without files).
    std::fs::write(&custom, &whole).unwrap();
    let mut run = restore(&pg, &custom, &data).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(pg.base_updates(COPY), 41);
}

#[test]
fn a_restorer_killed_midway_leaves_no_database_and_the_next_one_restores() {
    let pg = Pg::start();
    source(&pg, "17");
    let scratch = Scratch::new("restore-killed");
    let (files, data) = (scratch.join("files"), scratch.join("data"));
    write(&files.join("ab/abcdef0123"), "an attachment\n");
    // The dump ends with a long statement: the restore is under way until it ends.
    let slow = odoo_zip(&pg, &scratch, &files, "\nSELECT pg_sleep(60);\n");
    let run = restore(&pg, &slow, &data).start();
    wait_until(LONG, "the restore's last statement", || {
        let n: i64 = pg
            .superuser("postgres")
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'copy_restoring' \
                 AND query LIKE '%pg_sleep(60)%'",
                &[],
            )
            .unwrap()
            .get(0);
        (n == 1).then_some(())
    });
    send(run.pid, libc::SIGKILL);
    assert!(
        !exists(&pg, COPY),
        "never a half-restored database under its name"
    );

    let good = odoo_zip(&pg, &scratch, &files, "");
    let mut next = restore(&pg, &good, &data).start();
    assert_eq!(next.wait_exit(LONG), 0, "{}", next.stderr());
    assert_eq!(pg.base_updates(COPY), 41);
    assert_eq!(
        leftovers(&pg, &data),
        (vec![COPY.to_string()], vec![COPY.to_string()])
    );
}

#[test]
fn restore_neutralize_runs_odoos_neutralize_and_refuses_odoo_15() {
    let pg = Pg::start();
    source(&pg, "17");
    let scratch = Scratch::new("restore-neutralize");
    let (files, data) = (scratch.join("files"), scratch.join("data"));
    std::fs::create_dir_all(&files).unwrap();
    let zip = odoo_zip(&pg, &scratch, &files, "");
    let mut run = restore(&pg, &zip, &data)
        .env("RESTORE_NEUTRALIZE", "True")
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let flag: String = pg
        .superuser(COPY)
        .query_one(
            "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(flag, "True");

    // Odoo 15 has no neutralize: refused, nothing put in place.
    for db in [COPY, DB] {
        pg.superuser("postgres")
            .batch_execute(&format!("DROP DATABASE {db}"))
            .unwrap();
    }
    std::fs::remove_dir_all(data.join("filestore").join(COPY)).unwrap();
    source(&pg, "15");
    let zip = odoo_zip(&pg, &scratch, &files, "");
    let mut run = restore(&pg, &zip, &data)
        .env("RESTORE_NEUTRALIZE", "True")
        .env("STANDIN_SERIES", "15")
        .start();
    assert_eq!(run.wait_exit(LONG), 64, "{}", run.stderr());
    assert!(
        run.stderr().contains("Odoo 15 has no neutralize"),
        "{}",
        run.stderr()
    );
    assert_eq!(leftovers(&pg, &data), (vec![], vec![]));
}
