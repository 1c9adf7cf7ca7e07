//! Addons on disk and jobs that see them: for the tests of `UPDATE=changed`
//! (module checksums) and of fleets that update after one change.

use std::path::{Path, PathBuf};

use super::pg::{Pg, PASSWORD, USER};
use super::{path_str, Setup, LONG};

/// Writes `content` to `path`, making its directories.
pub fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// An executable script at `path` (a wrapper of a tool, a hook).
pub fn script(path: &Path, content: &str) {
    use std::os::unix::fs::PermissionsExt;
    write(path, content);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Three addons `m1`..`m3` under `root/addons`, each with a manifest, code,
/// static files and two languages.
pub fn three(root: &Path) -> PathBuf {
    let dir = root.join("addons");
    for m in ["m1", "m2", "m3"] {
        write(
            &dir.join(m).join("__manifest__.py"),
            &format!("{{'name': '{m}', 'depends': ['base']}}"),
        );
        write(&dir.join(m).join("models/main.py"), &format!("# {m}\n"));
        write(&dir.join(m).join("static/src/app.js"), "1\n");
        write(&dir.join(m).join("i18n/fr.po"), "fr\n");
        write(&dir.join(m).join("i18n/en.po"), "en\n");
    }
    dir
}

/// A job against `pg` with the addons path for odoo-init and for Odoo.
pub fn job<'a>(pg: &Pg, mode: &str, dir: &Path) -> Setup<'a> {
    let mut s = pg
        .job(mode)
        .env("MODULES", "m1,m2,m3")
        .env("ADDONS_PATH", path_str(dir))
        .env("STANDIN_RUN_EXIT", "0")
        .env("DB_ADMIN_USER", "postgres");
    s.args = vec!["--".into(), "--addons-path".into(), path_str(dir)];
    s
}

/// An installed database: role, database, `InstallOnly` of m1..m3.
pub fn installed(pg: &Pg, dir: &Path) {
    pg.role(USER, PASSWORD, true);
    let mut run = job(pg, "InstallOnly", dir).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
}

/// `names`, each a copy of one database `InstallOnly` of the addons in
/// `dir` made (`model`): the same tables, rows and checksums in each, at
/// the cost of a `CREATE DATABASE ... TEMPLATE` each.
pub fn installed_copies(pg: &Pg, dir: &Path, model: &str, names: &[String]) {
    let mut run = job(pg, "InstallOnly", dir).env("DB_NAME", model).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let mut admin = pg.superuser("postgres");
    for db in names {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {db} TEMPLATE {model} OWNER {USER}"
            ))
            .unwrap_or_else(|e| panic!("a copy of {model} as {db}: {e}"));
    }
}

/// A pod's `UpdateOnly` of what changed over the databases `filter`
/// (`DB_FILTER`) chooses with `LIST_DB`, none named.
pub fn update_over<'a>(pg: &Pg, dir: &Path, filter: &str) -> Setup<'a> {
    job(pg, "UpdateOnly", dir)
        .env("LIST_DB", "True")
        .env("DB_FILTER", filter)
        .env("DB_NAME", "")
        .env("UPDATE", "changed")
}
