//! The three speed figures of backups and restores, side by side in one run
//! on a database of a few hundred modules' tables and a filestore of a few
//! thousand files:
//!
//! - `odoo-init backup` next to a bare `pg_dump` of the same database in
//!   the same format; and the backup with files 16 times larger, same count
//!   (the filestore part is linked: it costs per file, not per byte);
//! - `MODE=Restore` of odoo-init's backup next to Odoo's own restore of its
//!   zip of the same database, done as `restore_db` does it (the zip
//!   extracted by Python's `zipfile`, `psql -f dump.sql`, the filestore
//!   moved into place);
//! - an update without `BACKUP_DIR` next to the same update with it, and,
//!   with `ODOO_INIT_BEFORE`, next to an earlier build's.
//!
//! Run alone: `cargo bench --bench inits -- backups` (scripts/bench.sh
//! runs it with the rest).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::{common, percentile};

/// Tables, as a few hundred modules' models make.
const TABLES: usize = 300;
const ROWS: usize = 400;
/// Files in the filestore.
const FILES: usize = 3000;
/// Files Odoo adds between two backups (1 %), and removes a third of that.
const CHURN: usize = 30;
/// Rounds of each measurement, interleaved; medians.
const ROUNDS: usize = 7;
/// Rounds of the backup's: a backup takes half a second, and this
/// machine's speed varies by a fifth from one to the next.
const BACKUP_ROUNDS: usize = 15;

/// The database's settings for odoo-init, as a pod has them.
fn env(pg: &common::pg::Pg, db: &str) -> Vec<(String, String)> {
    [
        ("DB_NAME", db.to_string()),
        ("DB_USER", "odoo".into()),
        ("DB_PASSWORD", "bench-pw".into()),
        ("DB_HOST", "127.0.0.1".into()),
        ("DB_PORT", pg.port.to_string()),
        ("DB_ADMIN_USER", "postgres".into()),
        ("DB_ADMIN_PASSWORD", common::pg::SUPERUSER_PASSWORD.into()),
        ("PATH", pg.path_with_tools()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Runs a command to its end, which must succeed; its time in ms.
fn timed(command: &mut Command) -> f64 {
    let t0 = Instant::now();
    let out = command.output().expect("spawn");
    let took = t0.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// `FILES` files of `size` bytes below `dir`, spread as Odoo's filestore
/// spreads them (two-character directories).
fn filestore(dir: &Path, size: usize) {
    let _ = std::fs::remove_dir_all(dir);
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    for i in 0..FILES {
        // A sha1's 40 hex digits, the first two spread over 256 values.
        let spread = (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
        let name = format!("{spread:032x}{i:08x}");
        let path = dir.join(&name[..2]).join(&name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &body).expect("write");
    }
}

/// Odoo's files changed as between two backups: `CHURN` new ones, a
/// third as many of the old ones removed.
fn churn(dir: &Path, size: usize, round: usize) {
    let body = vec![7u8; size];
    let mut old = walk(dir);
    old.sort();
    for path in old.iter().skip(round * CHURN / 3).take(CHURN / 3) {
        std::fs::remove_file(path).expect("remove");
    }
    for i in 0..CHURN {
        let name = format!("{:02x}new{round:04}{i:04}", (i * 37 + round) % 256);
        let path = dir.join(&name[..2]).join(&name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &body).expect("write");
    }
}

/// The files below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        match entry.file_type().expect("file type").is_dir() {
            true => found.extend(walk(&entry.path())),
            false => found.push(entry.path()),
        }
    }
    found
}

/// The database `db`: `TABLES` tables of `ROWS` rows with a primary key,
/// Odoo's module table, the state table at `Ready`.
fn database(pg: &common::pg::Pg, db: &str) {
    pg.database(db, "odoo");
    pg.superuser(db)
        .batch_execute(&format!(
            "SET ROLE odoo; \
             DO $$ BEGIN FOR i IN 1..{TABLES} LOOP \
               EXECUTE format('CREATE TABLE model_%s (id int PRIMARY KEY, name text, body text, \
                 write_date timestamp DEFAULT now())', i); \
               EXECUTE format('INSERT INTO model_%s (id, name, body) SELECT g, md5(g::text), \
                 repeat(md5(g::text), 6) FROM generate_series(1, {ROWS}) g', i); \
             END LOOP; END $$; \
             CREATE TABLE ir_module_module (name varchar PRIMARY KEY, state varchar NOT NULL, \
               update_count integer NOT NULL DEFAULT 0, write_date timestamptz NOT NULL DEFAULT now(), \
               latest_version varchar); \
             INSERT INTO ir_module_module (name, state, latest_version) VALUES ('base', 'installed', '17.0.1.3'); \
             CREATE TABLE curq_state_history (id serial PRIMARY KEY, state varchar NOT NULL, \
               write_date timestamptz NOT NULL DEFAULT now()); \
             INSERT INTO curq_state_history (state) VALUES ('Ready')"
        ))
        .expect("the database");
}

/// What the restore rounds restore, and where.
struct Restores<'a> {
    odoo_init: &'a Path,
    standin: &'a Path,
    /// odoo-init's backup directory, restored by `MODE=Restore`.
    backup: PathBuf,
    /// Odoo's zip of the same database, restored as `restore_db` does.
    zip: PathBuf,
    home: PathBuf,
    /// Odoo's data directory (`HOME/.local/share/Odoo`).
    data: PathBuf,
    runtime: PathBuf,
    /// Odoo's temporary directory ([`container_tmp`]).
    odoo_tmp: PathBuf,
}

impl Restores<'_> {
    /// `ROUNDS` of each side, interleaved, into the server `pg`; the row
    /// of medians, and each round's ratio.
    fn compare(&self, pg: &common::pg::Pg, server: &str) {
        let ours = |round: &str| {
            let db = format!("restored_{}_{round}", pg.port);
            let mut c = Command::new(self.odoo_init);
            c.envs(env(pg, &db).iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("MODE", "Restore")
                .env("RESTORE_FROM", &self.backup)
                .env("ODOO_BIN", self.standin)
                .env("HOME", &self.home)
                .env("ODOO_INIT_RUNTIME_DIR", &self.runtime)
                .env("ODOO_INIT_LOG", "warn")
                .env("MAINTENANCE_SCRIPT", "");
            timed(&mut c)
        };
        let theirs = |round: &str| {
            let db = format!("odoo_restored_{}_{round}", pg.port);
            let mut c = Command::new("python3");
            c.args(["-c", ODOO_RESTORE])
                .arg(&self.zip)
                .arg(&db)
                .arg(self.data.join("filestore").join(&db))
                .arg(&self.odoo_tmp)
                .env("PATH", pg.path_with_tools())
                .env("PGHOST", "127.0.0.1")
                .env("PGPORT", pg.port.to_string())
                .env("PGUSER", "odoo")
                .env("PGPASSWORD", "bench-pw");
            timed(&mut c)
        };
        // A round of each first, not counted (a server's first databases
        // are slower to make); then each side first in every other round,
        // so that the order favours neither, each from a quiet disk.
        ours("warm");
        theirs("warm");
        let (mut ours_ms, mut theirs_ms) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let name = round.to_string();
            for side in [round % 2, 1 - round % 2] {
                quiet();
                match side {
                    0 => ours_ms.push(ours(&name)),
                    _ => theirs_ms.push(theirs(&name)),
                }
            }
        }
        let (ours, theirs) = (ours_ms, theirs_ms);
        let each: Vec<String> = theirs
            .iter()
            .zip(&ours)
            .map(|(t, o)| format!("{:.1}", t / o))
            .collect();
        let (ours, theirs) = (median(ours), median(theirs));
        println!(
            "| restore ({server}): MODE=Restore of odoo-init's backup / Odoo's restore_db of its zip (each round: {}) | {ours:.0} | {theirs:.0} | {:.1}x faster | at least 2x |",
            each.join(" "),
            theirs / ours
        );
    }
}

/// A temporary directory for Odoo's side on another file system than
/// `data` (the filestore's), as a container's `/tmp` is to its volume: the
/// shared-memory file system, which is this machine's other one.
fn container_tmp(data: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let dir = PathBuf::from(format!("/dev/shm/odoo-init-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory in /dev/shm (a tmpfs) for Odoo's /tmp");
    let device = |p: &Path| std::fs::metadata(p).expect("stat").dev();
    assert_ne!(
        device(&dir),
        device(data),
        "/dev/shm must be another file system than the filestore's for Odoo's restore_db to copy"
    );
    dir
}

/// What the run before left to write out, written (`sync`, not timed):
/// each run starts from a quiet disk, as a pod's restore or backup does,
/// and not in the writes of the other side's run just before.
fn quiet() {
    let synced = Command::new("sync").status().expect("sync (coreutils)");
    assert!(synced.success(), "sync");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    percentile(&v, 0.5)
}

/// Odoo's `restore_db` of `zip` as `db`, written in Python as Odoo does it:
/// the zip extracted into a temporary directory (`tmp`: in a container, its
/// own `/tmp`, another file system than the filestore's volume, so that
/// `shutil.move` copies the files).
const ODOO_RESTORE: &str = r#"
import os, shutil, subprocess, sys, tempfile, zipfile
zip_path, db, filestore_dest, tmp = sys.argv[1:5]
subprocess.run(['createdb', '--template=template0', db], check=True)
with tempfile.TemporaryDirectory(dir=tmp) as dump_dir:
    with zipfile.ZipFile(zip_path, 'r') as z:
        filestore = [m for m in z.namelist() if m.startswith('filestore/')]
        z.extractall(dump_dir, ['dump.sql'] + filestore)
    subprocess.run(['psql', '-q', '-d', db, '-f', os.path.join(dump_dir, 'dump.sql')],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.move(os.path.join(dump_dir, 'filestore'), filestore_dest)
"#;

/// Prints the three figures.
pub(super) fn backup_costs(odoo_init: &Path, standin: &Path) {
    eprintln!("backups: starting a throwaway PostgreSQL, {TABLES} tables, {FILES} files ...");
    let pg = common::pg::Pg::start();
    pg.role("odoo", "bench-pw", true);
    database(&pg, "bk");
    let scratch = common::Scratch::new("bench-backups");
    let home = scratch.join("home");
    let data = home.join(".local/share/Odoo");
    let backups = scratch.join("backups");
    std::fs::create_dir_all(&backups).expect("mkdir");
    let vars = env(&pg, "bk");
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let odoo_init_backup = |zip: bool| {
        let mut c = Command::new(odoo_init);
        c.arg("backup")
            .args(zip.then_some("--zip"))
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BACKUP_DIR", &backups)
            .env("BACKUP_KEEP", "3")
            .env("HOME", &home)
            .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"))
            .env("ODOO_INIT_LOG", "warn");
        c
    };
    let bare_dump = |round: usize| {
        let mut c = Command::new(pg.tool("pg_dump"));
        c.args(["-h", "127.0.0.1", "-U", "odoo", "-p", &pg.port.to_string()])
            .arg("--format=directory")
            .arg(format!("--jobs={jobs}"))
            .arg("--file")
            .arg(scratch.join(&format!("bare-{round}")))
            .arg("bk")
            .env("PGPASSWORD", "bench-pw");
        c
    };

    // 1. A backup next to a bare pg_dump; small files, then 16x larger ones.
    let (mut ours, mut bare, mut large) = (Vec::new(), Vec::new(), Vec::new());
    let files = data.join("filestore/bk");
    for size in [4_096, 65_536] {
        filestore(&files, size);
        // A deployment's steady state: BACKUP_KEEP backups there already, and
        // one pruned whose files the next backup removes (or takes over).
        for _ in 0..4 {
            timed(&mut odoo_init_backup(false));
        }
        for round in 0..BACKUP_ROUNDS {
            // Odoo's files between two backups: new ones, some removed.
            churn(&files, size, round);
            // Each first in every other round, each from a quiet disk.
            for side in [round % 2, 1 - round % 2] {
                quiet();
                match (side, size) {
                    (0, 4_096) => ours.push(timed(&mut odoo_init_backup(false))),
                    (0, _) => large.push(timed(&mut odoo_init_backup(false))),
                    (_, 4_096) => bare.push(timed(&mut bare_dump(round))),
                    _ => {}
                }
            }
        }
    }
    let each: Vec<String> = (ours.iter().zip(&bare))
        .map(|(o, b)| format!("{:.2}", o / b))
        .collect();
    let (ours, bare, large) = (median(ours), median(bare), median(large));
    println!();
    println!(
        "| backups: {TABLES} tables x {ROWS} rows, {FILES} files (ms, median of {BACKUP_ROUNDS} backups, {ROUNDS} restores) | odoo-init | the other | ratio | target |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| backup (dump, files linked, manifest, read back, the oldest pruned; {CHURN} files new since the last) / bare pg_dump, same format, {jobs} jobs (each round: {}) | {ours:.0} | {bare:.0} | {:.2}x | at most 1.1x |",
        each.join(" "),
        ours / bare
    );
    println!(
        "| backup with 64 KiB files / with 4 KiB files (same count; 16x the bytes) | {large:.0} | {ours:.0} | {:.2}x | ~1x (per file, not per byte) |",
        large / ours
    );

    // 2. Restore: odoo-init's backup (MODE=Restore) next to Odoo's restore_db
    // of its zip, both made now of the same database and files.
    filestore(&files, 4_096);
    let zip_out = odoo_init_backup(true).output().expect("backup --zip");
    assert!(zip_out.status.success(), "{zip_out:?}");
    let zip = PathBuf::from(String::from_utf8_lossy(&zip_out.stdout).trim());
    timed(&mut odoo_init_backup(false));
    let restores = Restores {
        odoo_init,
        standin,
        backup: newest(&backups.join("bk"), false),
        zip,
        home: home.clone(),
        data: data.clone(),
        runtime: scratch.join("rt"),
        odoo_tmp: container_tmp(&data),
    };
    restores.compare(&pg, "fsync off, as the tests run it");
    // The same on a server as production runs one: each of Odoo's `psql`
    // statements is its own commit, and a commit waits for the disk.
    eprintln!("backups: starting a second PostgreSQL, with fsync on ...");
    let mut durable = common::pg::Pg::init();
    durable.fsync = true;
    durable.start_on_a_free_port();
    durable.role("odoo", "bench-pw", true);
    restores.compare(&durable, "fsync on, as production runs it");
    let _ = std::fs::remove_dir_all(&restores.odoo_tmp);

    // 3. The update path without BACKUP_DIR, with it, and an earlier build's.
    let update = |binary: &Path, backup: bool| {
        let mut c = Command::new(binary);
        c.envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("MODE", "UpdateOnly")
            .env("UPDATE", "all")
            .env("ODOO_BIN", standin)
            .env("HOME", &home)
            .env("ODOO_INIT_RUNTIME_DIR", scratch.join("rt"))
            .env("ODOO_INIT_LOG", "warn")
            .env("MAINTENANCE_SCRIPT", "");
        if backup {
            c.env("BACKUP_DIR", &backups).env("BACKUP_KEEP", "1");
        }
        c
    };
    let before = std::env::var_os("ODOO_INIT_BEFORE").map(PathBuf::from);
    let (mut without, mut with, mut earlier) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        without.push(timed(&mut update(odoo_init, false)));
        with.push(timed(&mut update(odoo_init, true)));
        if let Some(before) = &before {
            earlier.push(timed(&mut update(before, false)));
        }
    }
    let (without, with) = (median(without), median(with));
    match before {
        Some(_) => {
            let earlier = median(earlier);
            println!(
                "| update (UPDATE=all) without BACKUP_DIR / the same with ODOO_INIT_BEFORE | {without:.0} | {earlier:.0} | {:.2}x | ~1x |",
                without / earlier
            );
        }
        None => println!(
            "| update (UPDATE=all) without BACKUP_DIR / an earlier build's (set ODOO_INIT_BEFORE) | {without:.0} | - | - | ~1x |"
        ),
    }
    println!(
        "| update with BACKUP_DIR / without (what the backup adds) | {with:.0} | {without:.0} | {:.2}x | - |",
        with / without
    );
}

/// The newest complete backup in `dir` (a directory, or with `zip` a zip).
fn newest(dir: &Path, zip: bool) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("backups")
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.to_string_lossy().ends_with(".partial"))
        .filter(|p| p.is_dir() != zip)
        .collect();
    found.sort();
    found.pop().expect("a backup")
}
