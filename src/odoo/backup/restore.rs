//! A restore, done by a child of PID 1 (`odoo-init restore-step`,
//! [`restore_main`]): a backup put into an empty database that no one
//! serves (PID 1 made it under a name of its own) and its files into a
//! filestore directory that no one uses yet. PID 1 puts both in place
//! only once this has succeeded; killed or failing, it leaves nothing a
//! pod would take for a database.
//!
//! What it reads, told apart by what it is:
//! - an odoo-init backup (a directory with `dump/`, `filestore/`,
//!   `manifest.json`): `pg_restore` of the directory format (the schema
//!   in one transaction, then rows and indexes with `--jobs N`), the files
//!   hard-linked (Odoo never rewrites a stored file, so sharing them with
//!   the backup is safe and costs no bytes);
//! - Odoo's backup zip (`dump.sql`, `filestore/`, `manifest.json`, as its
//!   database manager and `click-odoo-backupdb` write it): `dump.sql`
//!   streamed from the archive into `psql` (one transaction, stopping at
//!   the first error), the files extracted;
//! - a `pg_dump` custom-format file (Odoo's "pg_dump custom format"
//!   backup, without files): `pg_restore --jobs N`.
//!
//! Unlike Odoo's `restore_db`, a statement that fails fails the restore:
//! a database half-restored is never put in place.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use super::helper::{alongside, run, stopped};
use super::schema;
use super::unzip::Archive;

/// The hidden command: `odoo-init restore-step SOURCE FILESTORE DBNAME
/// PG_RESTORE PSQL JOBS`.
pub(crate) const RESTORE_COMMAND: &str = "restore-step";

/// What a backup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// odoo-init's own: a directory with `dump/` (pg_dump's directory format).
    Directory,
    /// Odoo's zip with `dump.sql`.
    OdooZip,
    /// `pg_dump --format=custom`, no files.
    Custom,
}

impl Kind {
    /// What `path` holds, from its first bytes; `None`: no backup this
    /// reads, or none complete (a `.partial` or `.pruned` one).
    pub(crate) fn of(path: &Path) -> io::Result<Option<Kind>> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(super::PARTIAL) || name.ends_with(super::PRUNED) {
            return Ok(None);
        }
        if path.is_dir() {
            return Ok(path.join("dump").is_dir().then_some(Kind::Directory));
        }
        let mut head = [0u8; 5];
        let n = File::open(path)?.read(&mut head)?;
        Ok(match &head[..n] {
            [b'P', b'K', 3, 4, ..] => Some(Kind::OdooZip),
            b"PGDMP" => Some(Kind::Custom),
            _ => None,
        })
    }
}

/// `restore-step ...`: 0 when the database and the files are restored; 1
/// (said) otherwise.
pub(crate) fn restore_main(args: &[OsString]) -> i32 {
    let [source, filestore, dbname, pg_restore, psql, jobs] = args else {
        log::error!("{RESTORE_COMMAND}: SOURCE FILESTORE DBNAME PG_RESTORE PSQL JOBS expected");
        return crate::exit::USAGE;
    };
    let jobs: u32 = jobs.to_str().and_then(|j| j.parse().ok()).unwrap_or(1);
    let (source, filestore) = (Path::new(source), Path::new(filestore));
    let conninfo = format!("dbname={}", conninfo_value(&dbname.to_string_lossy()));
    let tools = Tools {
        pg_restore: Path::new(pg_restore),
        psql: Path::new(psql),
        conninfo: &conninfo,
        jobs,
    };
    let started = Instant::now();
    if let Some(parent) = filestore.parent() {
        if let Err(e) = fs::create_dir_all(parent) {
            log::error!("making {}: {e}", parent.display());
            return 1;
        }
    }
    let restored = match Kind::of(source) {
        Ok(Some(Kind::Directory)) => directory(source, filestore, &tools),
        Ok(Some(Kind::OdooZip)) => {
            odoo_zip(source, filestore, &tools).and_then(|()| sync_all_below(filestore))
        }
        // An empty directory: its name is synced with the parent's, when
        // PID 1 renames it into place.
        Ok(Some(Kind::Custom)) => fs::create_dir(filestore).and_then(|()| tools.pg_restore(source)),
        Ok(None) => Err(io::Error::other(
            "neither an odoo-init backup, an Odoo backup zip nor a pg_dump custom-format file",
        )),
        Err(e) => Err(e),
    };
    match restored {
        Ok(()) => {
            log::info!(
                "restored {} in {:.1}s",
                source.display(),
                started.elapsed().as_secs_f64()
            );
            0
        }
        Err(e) => {
            log::error!("restoring {} failed: {e}", source.display());
            1
        }
    }
}

/// libpq's quoting of a value in a connection string.
fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

struct Tools<'a> {
    pg_restore: &'a Path,
    psql: &'a Path,
    conninfo: &'a str,
    jobs: u32,
}

impl Tools<'_> {
    /// `pg_restore` of a directory or custom-format dump, owned by the user
    /// it connects as (`--no-owner`, `--no-acl`: the source's roles need
    /// not exist here), stopping at the first error: the schema
    /// ([`Self::start_schema`]), then the rows and the indexes in parallel
    /// ([`Self::rows`]).
    fn pg_restore(&self, dump: &Path) -> io::Result<()> {
        alongside(self.start_schema(dump)?, "pg_restore of the schema", Ok(()))?;
        run(&mut self.rows(dump))
    }

    /// The restore of the schema (`pre-data`: a few statements per table,
    /// each its own commit otherwise) started in transactions of its own:
    /// what no relation depends on restored first, then the parts of
    /// [`schema::split`] at once, or all in one when it does not split.
    /// Measured on a few hundred tables: one transaction took a third less
    /// time than a commit per statement, and two parts a third less than
    /// one (docs/benchmark.md).
    fn start_schema(&self, dump: &Path) -> io::Result<Vec<Child>> {
        let script = Command::new(self.pg_restore)
            .args([
                "--verbose",
                "--no-owner",
                "--no-acl",
                "--section=pre-data",
                "--file=-",
            ])
            .arg(dump)
            .stdin(Stdio::null())
            .output()?;
        if !script.status.success() {
            return Err(io::Error::other(format!(
                "pg_restore could not read the dump's schema ({}): {}",
                script.status,
                String::from_utf8_lossy(&script.stderr).trim()
            )));
        }
        let jobs = usize::try_from(self.jobs).unwrap_or(1);
        let Some(split) = schema::split(&String::from_utf8_lossy(&script.stdout), jobs) else {
            return Ok(vec![self.schema(dump).spawn()?]);
        };
        if !split.first.is_empty() {
            let first = self.schema_part(dump, &split.first)?;
            alongside(
                vec![first],
                "pg_restore of the schema's shared part",
                Ok(()),
            )?;
        }
        let mut parts = Vec::new();
        for ids in &split.parts {
            match self.schema_part(dump, ids) {
                Ok(part) => parts.push(part),
                Err(e) => return Err(stopped(parts, e)),
            }
        }
        Ok(parts)
    }

    /// The entries `ids` of the schema restored in one transaction, their
    /// list given on standard input (`--use-list`; pg_restore reads it
    /// whole before it connects).
    fn schema_part(&self, dump: &Path, ids: &[u32]) -> io::Result<Child> {
        let mut part = self
            .schema(dump)
            .arg("--use-list=/dev/stdin")
            .stdin(Stdio::piped())
            .spawn()?;
        let written = match part.stdin.take() {
            Some(mut stdin) => stdin.write_all(schema::list(ids).as_bytes()),
            None => Err(io::Error::other("pg_restore's standard input")),
        };
        match written {
            Ok(()) => Ok(part),
            Err(e) => Err(stopped(vec![part], e)),
        }
    }

    fn schema(&self, dump: &Path) -> Command {
        self.sections(dump, &["pre-data"], None)
    }

    fn rows(&self, dump: &Path) -> Command {
        self.sections(dump, &["data", "post-data"], Some(self.jobs))
    }

    fn sections(&self, dump: &Path, sections: &[&str], jobs: Option<u32>) -> Command {
        let mut command = Command::new(self.pg_restore);
        command.args(["--no-owner", "--no-acl", "--exit-on-error"]);
        command.args(sections.iter().map(|s| format!("--section={s}")));
        match jobs {
            Some(jobs) => command.arg(format!("--jobs={jobs}")),
            None => command.arg("--single-transaction"),
        };
        command.arg("--dbname").arg(self.conninfo).arg(dump);
        command.stdin(Stdio::null());
        command
    }
}

/// odoo-init's backup: the dump restored and the files linked, done while
/// `pg_restore` works in the server: the links made and synced while the
/// schema is restored, which on a few hundred tables and a few thousand
/// files hides the files' time entirely (docs/benchmark.md).
fn directory(source: &Path, filestore: &Path, tools: &Tools) -> io::Result<()> {
    let dump = source.join("dump");
    let files = source.join("filestore");
    let started = Instant::now();
    let schema = tools.start_schema(&dump)?;
    let mut copied = Default::default();
    let linked = match files.is_dir() {
        true => super::tree::link_tree(&files, filestore, &mut copied),
        false => fs::create_dir(filestore),
    };
    alongside(
        schema,
        "pg_restore of the schema",
        linked.and_then(|()| copied.sync()),
    )?;
    let schema_done = Instant::now();
    run(&mut tools.rows(&dump))?;
    log::info!(
        "schema and files {:.2}s, rows and indexes {:.2}s",
        (schema_done - started).as_secs_f64(),
        schema_done.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Odoo's zip: the files extracted, then `dump.sql` streamed into `psql`.
fn odoo_zip(source: &Path, filestore: &Path, tools: &Tools) -> io::Result<()> {
    let mut archive = Archive::open(source)?;
    let dump = archive
        .find("dump.sql")
        .ok_or_else(|| io::Error::other("the zip holds no dump.sql: not an Odoo backup"))?;
    fs::create_dir(filestore)?;
    let files: Vec<(usize, PathBuf)> = archive
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_dir())
        .filter_map(|(i, e)| e.name.strip_prefix("filestore/").map(|rest| (i, rest)))
        .map(|(i, rest)| inside(filestore, rest).map(|p| (i, p)))
        .collect::<io::Result<_>>()?;
    for (index, path) in files {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out = File::create(&path)?;
        archive.copy_to(index, &mut out)?;
    }
    let mut child = Command::new(tools.psql)
        .args(["--no-psqlrc", "--quiet", "--single-transaction"])
        .args(["--set", "ON_ERROR_STOP=1", "--file", "-", "--dbname"])
        .arg(tools.conninfo)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let streamed = match child.stdin.take() {
        Some(mut stdin) => archive
            .copy_to(dump, &mut stdin)
            .and_then(|_| stdin.flush()),
        None => Err(io::Error::other("psql's standard input")),
    };
    // psql gone early (an error) closes the pipe: its status says why.
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "psql of dump.sql failed ({status})"
        )));
    }
    streamed.map(drop)
}

/// Everything written below `dir` made durable: one `syncfs` of its file
/// system, for the files extracted from a zip (new bytes each, where a
/// sync per file would wait for the disk once per file).
fn sync_all_below(dir: &Path) -> io::Result<()> {
    nix::unistd::syncfs(File::open(dir)?).map_err(io::Error::from)
}

/// `rest` (a name in the archive below `filestore/`) as a path below
/// `root`; a name that would leave it (`..`, absolute) is refused.
fn inside(root: &Path, rest: &str) -> io::Result<PathBuf> {
    let rel = Path::new(rest);
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(root.join(rel))
    } else {
        Err(io::Error::other(format!(
            "the zip names filestore/{rest}, outside the filestore"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_leaving_the_filestore_are_refused() {
        let root = Path::new("/fs");
        assert_eq!(inside(root, "ab/abcd").unwrap(), Path::new("/fs/ab/abcd"));
        assert!(inside(root, "../etc/passwd").is_err());
        assert!(inside(root, "/etc/passwd").is_err());
        assert!(inside(root, "ab/../../x").is_err());
    }

    #[test]
    fn a_backup_not_complete_is_no_backup() -> io::Result<()> {
        let root = std::env::temp_dir().join(format!("kind-of-{}", std::process::id()));
        for name in [
            "odoo-T-state1",
            "odoo-T-state1.partial",
            "odoo-T-state1.pruned",
        ] {
            fs::create_dir_all(root.join(name).join("dump"))?;
        }
        let kind = |name: &str| Kind::of(&root.join(name));
        assert_eq!(kind("odoo-T-state1")?, Some(Kind::Directory));
        assert_eq!(kind("odoo-T-state1.partial")?, None);
        assert_eq!(kind("odoo-T-state1.pruned")?, None);
        fs::remove_dir_all(&root)
    }

    #[test]
    fn conninfo_values_are_quoted() {
        assert_eq!(conninfo_value("a b'c\\"), r"'a b\'c\\'");
    }
}
