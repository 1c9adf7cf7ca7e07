//! The backup before an update (`BACKUP_DIR`): made under the claim,
//! after the pre-hook and before Odoo's step, as `pg_dump`'s directory
//! format beside the filestore (hard-linked) and a manifest; recorded on
//! the busy row; a failed backup is a failed step and no update runs;
//! `BACKUP_KEEP` prunes. Judged from the backup directory, `pg_restore`,
//! a restore of the dump into a scratch database, and the state table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::addons::write;
use common::pg::{Pg, DB};
use common::*;
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An update of everything with a backup into `backups`, Odoo's data in `data`.
fn update<'a>(pg: &Pg, backups: &Path, data: &Path) -> Setup<'a> {
    let mut s = pg
        .job("UpdateOnly")
        .env("UPDATE", "all")
        .env("BACKUP_DIR", path_str(backups))
        // The server's own pg_dump: an older one refuses a newer server.
        .env("PATH", pg.path_with_tools());
    s.args = vec!["--".into(), "--data-dir".into(), path_str(data)];
    s
}

/// The complete backups of `DB` in `backups`, oldest first.
fn complete(backups: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(backups.join(DB))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| {
        let name = p.to_string_lossy();
        !name.ends_with(".partial") && !name.ends_with(".pruned")
    });
    // By time: by the state row they were made for (backups made in one
    // second too), else by name.
    found.sort_by_key(|p| {
        let name = p.to_string_lossy().into_owned();
        let row = name
            .rsplit("-state")
            .next()
            .and_then(|r| r.parse::<u64>().ok());
        (row, name)
    });
    found
}

/// `odoo-init backup ARGS` with the database's settings, `BACKUP_DIR`
/// `backups`, `HOME` `home` (where Odoo's default data directory is).
fn odoo_init_backup(pg: &Pg, args: &[&str], backups: &Path, home: &Path) -> Output {
    Command::new(odoo_init())
        .arg("backup")
        .args(args)
        .env("DB_NAME", DB)
        .env("DB_USER", common::pg::USER)
        .env("DB_PASSWORD", common::pg::PASSWORD)
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", pg.port.to_string())
        .env("BACKUP_DIR", path_str(backups))
        .env("PATH", pg.path_with_tools())
        .env("HOME", path_str(home))
        .env("ODOO_INIT_RUNTIME_DIR", home.join(".odoo-init-rt"))
        .env_remove("MODE")
        .output()
        .unwrap()
}

#[test]
fn a_backup_is_made_under_the_claim_before_odoos_update() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("backup");
    let (backups, data) = (scratch.join("backups"), scratch.join("data"));
    std::fs::create_dir(&backups).unwrap();
    let stored = data.join("filestore").join(DB).join("ab/abcdef0123");
    write(&stored, "an attachment\n");
    let before = pg.base_updates(DB);

    let mut run = update(&pg, &backups, &data).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let rows = pg.rows(DB);
    let claim = rows.iter().rfind(|r| r.1 == "Updating").unwrap().0;
    let made = complete(&backups);
    assert_eq!(made.len(), 1, "{made:?}");
    let backup = &made[0];
    assert!(
        backup
            .to_string_lossy()
            .ends_with(&format!("-state{claim}")),
        "{backup:?}"
    );

    // The dump reads back, and holds the database as it was before the update.
    let listed = Command::new(pg.tool("pg_restore"))
        .arg("--list")
        .arg(backup.join("dump"))
        .output()
        .unwrap();
    assert!(listed.status.success());
    pg.superuser("postgres")
        .batch_execute("CREATE DATABASE restored")
        .unwrap();
    let dump = backup.join("dump");
    let restore = [
        OsStr::new("--no-owner"),
        OsStr::new("-d"),
        OsStr::new("restored"),
    ];
    pg.as_superuser("pg_restore", &[&restore[..], &[dump.as_os_str()]].concat());
    assert_eq!(pg.base_updates("restored"), before);
    assert_eq!(pg.base_updates(DB), before + 1, "the update ran after it");

    // The filestore, hard-linked; the manifest, Odoo's fields and ours.
    let linked = backup.join("filestore/ab/abcdef0123");
    assert_eq!(
        std::fs::metadata(&linked).unwrap().ino(),
        std::fs::metadata(&stored).unwrap().ino()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["db_name"], DB);
    assert!(manifest["modules"].get("base").is_some(), "{manifest}");
    assert!(manifest["pg_version"]
        .as_str()
        .is_some_and(|v| v.contains('.')));
    assert_eq!(manifest["odoo_init"]["state_row"], claim);

    // Its path, size (every file's bytes) and time on the claim's row.
    let row = pg
        .superuser(DB)
        .query_one(
            "SELECT backup, backup_bytes, backup_seconds FROM curq_state_history WHERE id = $1",
            &[&claim],
        )
        .unwrap();
    let path: Option<String> = row.get(0);
    assert_eq!(path.as_deref(), Some(backup.to_string_lossy().as_ref()));
    assert_eq!(row.get::<_, Option<i64>>(1), Some(bytes_below(backup)));
    assert!(row.get::<_, Option<f64>>(2).is_some_and(|s| s > 0.0));
    // And in the history for people: `PATH (SIZE MB, TIME s)`.
    let out = pg.state_command().output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let shown = format!("| {} (", backup.display());
    assert!(text.contains(&shown) && text.contains(" MB, "), "{text}");
}

/// The bytes of the files below `dir`.
fn bytes_below(dir: &Path) -> i64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| match e.file_type().unwrap().is_dir() {
            true => bytes_below(&e.path()),
            false => e.metadata().unwrap().len() as i64,
        })
        .sum()
}

/// A state table of the shell image's three columns that this role may
/// not alter (another role owns it): the backup is made and the update
/// runs; nothing of the backup can be recorded on the row, and that is no
/// error. `state` shows the three columns.
#[test]
fn a_legacy_state_table_we_may_not_alter_takes_a_backup_unrecorded() {
    let pg = Pg::start();
    pg.ready_database();
    pg.superuser(DB)
        .batch_execute(
            "ALTER TABLE curq_state_history OWNER TO postgres; \
             GRANT SELECT, INSERT, UPDATE ON curq_state_history TO odoo; \
             GRANT USAGE, SELECT ON SEQUENCE curq_state_history_id_seq TO odoo",
        )
        .unwrap();
    let scratch = Scratch::new("backup-legacy");
    let (backups, data) = (scratch.join("backups"), scratch.join("data"));
    std::fs::create_dir(&backups).unwrap();
    let before = pg.base_updates(DB);
    let mut run = update(&pg, &backups, &data).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(complete(&backups).len(), 1);
    assert_eq!(pg.base_updates(DB), before + 1, "the update ran");
    assert_eq!(
        pg.states(DB).unwrap(),
        ["Creating", "Ready", "Updating", "Ready"]
    );
    let out = pg.state_command().output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap()
        .split('|')
        .map(str::trim)
        .collect();
    assert_eq!(header, ["id", "state", "write_date"], "{text}");
}

#[test]
fn a_failed_backup_is_a_failed_step_and_no_update_runs() {
    let pg = Pg::start();
    pg.ready_database();
    // A table the role may not read: pg_dump as the role fails.
    pg.superuser(DB)
        .batch_execute("CREATE TABLE not_yours (x int); REVOKE ALL ON not_yours FROM PUBLIC")
        .unwrap();
    let scratch = Scratch::new("backup-fails");
    let (backups, data) = (scratch.join("backups"), scratch.join("data"));
    std::fs::create_dir(&backups).unwrap();
    let before = pg.base_updates(DB);
    let mut run = update(&pg, &backups, &data).start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    assert!(run.stderr().contains("backup"), "{}", run.stderr());
    assert_eq!(pg.base_updates(DB), before, "the update ran");
    assert!(complete(&backups).is_empty(), "{:?}", complete(&backups));
    let last = pg.rows(DB).pop().unwrap();
    assert_eq!(last.1, "Updating");
    assert!(last.4.is_some_and(|s| s != 0), "{last:?}");
}

/// The database out of reach while the backup reads what its manifest
/// holds (here a lock held from outside, past `DB_WAIT_TIMEOUT`): the
/// database's absence (69, the claim left to its lease), not a failed
/// backup that waits for a person (65); no backup, no update.
#[test]
fn the_database_out_of_reach_during_the_backup_is_not_a_failed_backup() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("backup-unreachable");
    let (backups, data) = (scratch.join("backups"), scratch.join("data"));
    std::fs::create_dir(&backups).unwrap();
    // The pre-update hook (run under the claim, just before the backup)
    // says it runs and waits until the test holds the lock.
    let (fifo, started) = (scratch.join("go"), scratch.join("started"));
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo (coreutils)");
    let hook = scratch.join("pre-update.sh");
    let text = format!(
        "#!/bin/sh\ntouch {}\nread -r line < {}\n",
        started.display(),
        fifo.display()
    );
    common::addons::script(&hook, &text);
    let before = pg.base_updates(DB);
    let mut run = update(&pg, &backups, &data)
        .env("PRE_UPDATE_SCRIPT", path_str(&hook))
        .env("DB_WAIT_TIMEOUT", "2")
        .start();
    wait_until(LONG, "the pre-update hook", || {
        started.exists().then_some(())
    });
    let mut holder = pg.superuser(DB);
    let mut lock = holder.transaction().unwrap();
    lock.batch_execute("LOCK TABLE ir_module_module IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    std::fs::write(&fifo, "go\n").unwrap();
    assert_eq!(run.wait_exit(LONG), 69, "{}", run.stderr());
    lock.rollback().unwrap();
    assert_eq!(pg.base_updates(DB), before, "the update ran");
    assert!(complete(&backups).is_empty(), "{:?}", complete(&backups));
    let last = pg.rows(DB).pop().unwrap();
    assert_eq!(last.1, "Updating");
    assert_eq!(last.4, None, "no failure recorded: {last:?}");
}

/// `BACKUP_DIR` on another file system than the filestore (a tmpfs): the
/// files are copied, not linked, and the backup is whole and restorable.
#[test]
fn a_backup_on_another_file_system_copies_the_files() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("backup-elsewhere");
    let stored = scratch
        .join(".local/share/Odoo/filestore")
        .join(DB)
        .join("ab/abcdef0123");
    write(&stored, "an attachment\n");
    let shm = Path::new("/dev/shm");
    let device = |p: &Path| std::fs::metadata(p).unwrap().dev();
    assert!(
        shm.is_dir() && device(shm) != device(&scratch.path),
        "/dev/shm (a tmpfs, as Debian mounts it) is needed as another file system"
    );
    let backups = shm.join(format!("odoo-init-test-backups-{}", std::process::id()));
    std::fs::create_dir(&backups).unwrap();
    let out = odoo_init_backup(&pg, &[], &backups, &scratch.path);
    // What is seen is taken before the directory (ours, on a shared
    // file system) is removed; judged after.
    let made = complete(&backups);
    let listed = made.first().map(|b| {
        let list = Command::new(pg.tool("pg_restore"))
            .arg("--list")
            .arg(b.join("dump"))
            .output();
        list.is_ok_and(|o| o.status.success())
    });
    let copy = made.first().map(|b| b.join("filestore/ab/abcdef0123"));
    let content = copy.as_ref().and_then(|c| std::fs::read_to_string(c).ok());
    let inode = copy
        .as_ref()
        .and_then(|c| std::fs::metadata(c).ok())
        .map(|m| m.ino());
    if backups.exists() {
        std::fs::remove_dir_all(&backups).unwrap();
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(listed, Some(true), "one backup, its dump listed: {made:?}");
    assert_eq!(content.as_deref(), Some("an attachment\n"));
    let linked = std::fs::metadata(&stored).unwrap().ino();
    assert!(inode.is_some_and(|i| i != linked), "copied, not linked");
}

#[test]
fn backup_keep_prunes_the_oldest() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("backup-keep");
    let (backups, data) = (scratch.join("backups"), scratch.join("data"));
    std::fs::create_dir(&backups).unwrap();
    let stored = data.join("filestore").join(DB).join("ab/abcdef0123");
    write(&stored, "an attachment\n");
    let mut names = Vec::new();
    let pruned = |n: &PathBuf| PathBuf::from(format!("{}.pruned", n.display()));
    for _ in 0..3 {
        let mut run = update(&pg, &backups, &data).env("BACKUP_KEEP", "2").start();
        assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
        names.push(complete(&backups).pop().unwrap());
    }
    // The oldest out of the set at once; its files removed by the next backup.
    assert_eq!(complete(&backups), names[1..].to_vec());
    assert!(pruned(&names[0]).join("dump/toc.dat").is_file());
    let first_tree = std::fs::metadata(pruned(&names[0]).join("filestore"))
        .unwrap()
        .ino();

    // Odoo's files change: one removed, one added, one name now another
    // file. The next backup takes the pruned one's tree of links and holds
    // exactly Odoo's files as they are now.
    let files = data.join("filestore").join(DB);
    write(&files.join("cd/cdef"), "kept\n");
    write(&files.join("ef/ef01"), "to be removed\n");
    let mut run = update(&pg, &backups, &data).env("BACKUP_KEEP", "2").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    names.push(complete(&backups).pop().unwrap());
    std::fs::remove_file(files.join("ef/ef01")).unwrap();
    write(&files.join("01/0123"), "new\n");
    std::fs::remove_file(&stored).unwrap();
    write(&stored, "another attachment\n");
    let mut run = update(&pg, &backups, &data).env("BACKUP_KEEP", "2").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    names.push(complete(&backups).pop().unwrap());
    assert_eq!(complete(&backups), names[3..].to_vec());
    assert!(!pruned(&names[0]).exists(), "removed by the next backup");
    assert!(!pruned(&names[1]).exists(), "taken and removed by the last");
    assert!(pruned(&names[2]).is_dir());
    let left = std::fs::read_dir(backups.join(DB)).unwrap().count();
    assert_eq!(left, 3, "two backups and one pruned, nothing else");
    let newest = names[4].join("filestore");
    assert_eq!(
        files_below(&newest),
        files_below(&files),
        "Odoo's files now"
    );
    assert_eq!(
        std::fs::read_to_string(newest.join("ab/abcdef0123")).unwrap(),
        "another attachment\n"
    );
    let previous = names[3].join("filestore");
    assert!(previous.join("ef/ef01").is_file(), "the one before kept it");
    assert_eq!(
        std::fs::read_to_string(previous.join("ab/abcdef0123")).unwrap(),
        "an attachment\n"
    );
    // The pruned backups' trees were taken (a renamed directory keeps its
    // inode), not made anew: the first one's went to the fourth backup.
    let tree = |n: &PathBuf| std::fs::metadata(n.join("filestore")).unwrap().ino();
    assert_eq!(tree(&names[3]), first_tree);
    // Odoo's own files are untouched by the removal of their links.
    assert_eq!(
        std::fs::read_to_string(files.join("cd/cdef")).unwrap(),
        "kept\n"
    );
}

/// A pruned backup whose `filestore` is a symbolic link (to a directory
/// outside): never taken over, so nothing there is changed; the backup
/// links Odoo's files anew.
#[test]
fn a_pruned_filestore_that_is_a_link_elsewhere_is_not_followed() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("backup-pruned-link");
    let (backups, data) = (scratch.join("backups"), scratch.join("data"));
    let stored = data.join("filestore").join(DB).join("ab/abcdef0123");
    write(&stored, "an attachment\n");
    let outside = scratch.join("outside");
    write(&outside.join("ab/not-odoos"), "elsewhere\n");
    let pruned = backups
        .join(DB)
        .join(format!("{DB}-20000101T000000Z-state1.pruned"));
    std::fs::create_dir_all(&pruned).unwrap();
    std::os::unix::fs::symlink(&outside, pruned.join("filestore")).unwrap();

    let mut run = update(&pg, &backups, &data).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert!(outside.join("ab/not-odoos").is_file(), "left alone");
    assert!(
        !pruned.exists(),
        "the pruned one removed, not what it pointed to"
    );
    let made = complete(&backups);
    assert_eq!(made.len(), 1, "{made:?}");
    let files = data.join("filestore").join(DB);
    assert_eq!(files_below(&made[0].join("filestore")), files_below(&files));
}

/// Each file below `dir` (its path inside) with its inode, sorted.
fn files_below(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        match entry.file_type().unwrap().is_dir() {
            true => found.extend(
                files_below(&entry.path())
                    .into_iter()
                    .map(|(p, i)| (Path::new(&entry.file_name()).join(p), i)),
            ),
            false => found.push((entry.file_name().into(), entry.metadata().unwrap().ino())),
        }
    }
    found.sort();
    found
}

/// `odoo-init backup` (a CronJob's): the same backup now, named `manual`;
/// refused while a step runs, with nothing made.
#[test]
fn odoo_init_backup_makes_one_now_and_waits_for_no_step() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("backup-now");
    let backups = scratch.join("backups");
    std::fs::create_dir(&backups).unwrap();
    let backup = || odoo_init_backup(&pg, &[], &backups, &scratch.path);
    let out = backup();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(said.ends_with("-manual"), "{said}");
    assert_eq!(complete(&backups), [PathBuf::from(&said)]);
    assert!(Path::new(&said).join("dump/toc.dat").is_file());

    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    let out = backup();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(complete(&backups).len(), 1, "nothing more made");
}

/// The owner killed (SIGKILL, as a node loss does) while its backup is
/// being written: what is left is a `.partial` directory, never a backup
/// taken for a good one (none complete, none on the row), and the next
/// update makes a complete one.
#[test]
fn an_owner_killed_during_its_backup_leaves_no_backup_taken_for_good() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("backup-killed");
    let (backups, data) = (scratch.join("backups"), scratch.join("data"));
    std::fs::create_dir(&backups).unwrap();
    // A pg_dump that dumps, then stays: the backup is half made.
    let tools = scratch.join("bin");
    std::fs::create_dir(&tools).unwrap();
    let real = pg.tool("pg_dump");
    std::fs::write(
        tools.join("pg_dump"),
        format!(
            "#!/bin/sh\n{} \"$@\" || exit $?\nexec sleep 600\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        tools.join("pg_dump"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", path_str(&tools), pg.path_with_tools());
    let mut run = update(&pg, &backups, &data).env("PATH", &path).start();
    let dumped = wait_until(LONG, "the dump written into the partial backup", || {
        std::fs::read_dir(backups.join(DB))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("dump/toc.dat").is_file())
    });
    assert!(dumped.to_string_lossy().ends_with(".partial"), "{dumped:?}");
    send(run.pid, libc::SIGKILL);
    run.wait_exit(LONG);
    assert!(complete(&backups).is_empty(), "{:?}", complete(&backups));
    let recorded: Vec<Option<String>> = pg
        .superuser(DB)
        .query("SELECT backup FROM curq_state_history", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(recorded.iter().all(Option::is_none), "{recorded:?}");
    // The busy row is the dead owner's: ForceUpdateOnly goes on (as a person would).
    let mut again = update(&pg, &backups, &data)
        .env("MODE", "ForceUpdateOnly")
        .start();
    assert_eq!(again.wait_exit(LONG), 0, "{}", again.stderr());
    assert_eq!(complete(&backups).len(), 1);
}

/// `odoo-init backup --zip` writes Odoo's own zip, and it passes what
/// Odoo's `restore_db` does with one: Python's `zipfile` reads it (every
/// CRC checked), `dump.sql` and `filestore/` are extracted, and `psql -f
/// dump.sql` into a new empty database restores the data.
#[test]
fn odoo_init_backup_zip_restores_as_odoos_restore_db_does() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("backup-zip");
    let (backups, home) = (scratch.join("backups"), scratch.join("home"));
    std::fs::create_dir(&backups).unwrap();
    // Odoo's default data directory for a user whose home exists.
    let stored = home
        .join(".local/share/Odoo/filestore")
        .join(DB)
        .join("ab/abcdef0123");
    write(&stored, "an attachment\n");
    let out = odoo_init_backup(&pg, &["--zip"], &backups, &home);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(zip.ends_with("-manual.zip"), "{zip}");
    let extracted = scratch.join("extracted");
    let script = "import sys, zipfile, json\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        assert z.testzip() is None\n\
        names = z.namelist()\n\
        assert names[0] == 'dump.sql', names\n\
        filestore = [m for m in names if m.startswith('filestore/')]\n\
        z.extractall(sys.argv[2], ['dump.sql'] + filestore)\n\
        print(json.loads(z.read('manifest.json'))['db_name'])\n\
        print(' '.join(filestore))\n";
    let read = Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .arg(&extracted)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let said = String::from_utf8_lossy(&read.stdout).into_owned();
    assert_eq!(said, format!("{DB}\nfilestore/ab/abcdef0123\n"));
    assert_eq!(
        std::fs::read_to_string(extracted.join("filestore/ab/abcdef0123")).unwrap(),
        "an attachment\n"
    );
    pg.superuser("postgres")
        .batch_execute("CREATE DATABASE from_zip")
        .unwrap();
    let sql = extracted.join("dump.sql");
    let run = ["-q", "-v", "ON_ERROR_STOP=1", "--dbname=from_zip", "-f"].map(OsStr::new);
    pg.as_superuser("psql", &[&run[..], &[sql.as_os_str()]].concat());
    assert_eq!(pg.base_updates("from_zip"), pg.base_updates(DB));
}
