//! `MODULES` is the set the database must have: an update installs the
//! listed modules the database lacks, in the same Odoo run and under the
//! same claim as what it updates; a name no addons directory holds is
//! refused before anything is claimed; `state --changed` lists what would
//! be installed. Judged from the database's module table and state rows,
//! and the stand-in's record of its command lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::addons::{installed, job, three, write};
use common::pg::{Pg, DB};
use common::*;
use std::path::{Path, PathBuf};

/// m1..m3 installed, with `base` and a fourth module `m4` on the path (so
/// that odoo-init sees Odoo's own addons and checks every name).
fn database(name: &str) -> (Pg, Scratch, PathBuf) {
    let pg = Pg::start();
    let scratch = Scratch::new(name);
    let dir = three(&scratch.path);
    for m in ["base", "m4"] {
        write(
            &dir.join(m).join("__manifest__.py"),
            &format!("{{'name': '{m}'}}"),
        );
    }
    installed(&pg, &dir);
    (pg, scratch, dir)
}

fn state_of(pg: &Pg, module: &str) -> Option<String> {
    pg.superuser(DB)
        .query_opt(
            "SELECT state::text FROM ir_module_module WHERE name = $1",
            &[&module],
        )
        .unwrap()
        .map(|r| r.get(0))
}

/// The Odoo steps the stand-in ran (`-i ...`/`-u ...`), as one line each.
fn steps(run: &Run) -> Vec<String> {
    run.starts()
        .into_iter()
        .filter(|s| !s.is_run_phase())
        .map(|s| s.argv)
        .collect()
}

fn changed(pg: &Pg, dir: &Path, modules: &str) -> String {
    let out = pg
        .state_command()
        .arg("--changed")
        .env("ADDONS_PATH", path_str(dir))
        .env("MODULES", modules)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_module_added_to_modules_is_installed_by_the_next_update() {
    let (pg, _scratch, dir) = database("modules-set");
    assert_eq!(state_of(&pg, "m4"), None);
    assert_eq!(changed(&pg, &dir, "m1,m2,m3,m4"), "m4 (to install)\n");
    let rows_before = pg.rows(DB).len();
    // UPDATE=changed, nothing changed: the claim installs m4 and updates nothing.
    let mut run = job(&pg, "UpdateOnly", &dir)
        .env("MODULES", "m1,m2,m3,m4")
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(state_of(&pg, "m4").as_deref(), Some("installed"));
    let ran = steps(&run);
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert!(ran[0].contains(" -i m4 "), "{ran:?}");
    assert!(!ran[0].contains(" -u "), "{ran:?}");
    let states: Vec<String> = pg.rows(DB)[rows_before..]
        .iter()
        .map(|r| r.1.clone())
        .collect();
    assert_eq!(states, ["Updating", "Ready"], "one claim");
    assert_eq!(changed(&pg, &dir, "m1,m2,m3,m4"), "");

    // UPDATE=all, with a change: one run installs m5 and updates the rest.
    write(&dir.join("m5/__manifest__.py"), "{'name': 'm5'}");
    let mut run = job(&pg, "UpdateOnly", &dir)
        .env("MODULES", "m1,m2,m3,m4,m5")
        .env("UPDATE", "all")
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(state_of(&pg, "m5").as_deref(), Some("installed"));
    let ran = steps(&run);
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert!(
        ran[0].contains(" -i m5 ") && ran[0].contains(" -u "),
        "{ran:?}"
    );
    // Installed modules not in MODULES are left alone.
    assert_eq!(state_of(&pg, "m4").as_deref(), Some("installed"));
}

#[test]
fn a_name_no_addons_directory_holds_is_refused_before_the_claim() {
    let (pg, _scratch, dir) = database("modules-absent");
    let rows_before = pg.rows(DB);
    for (mode, update) in [
        ("UpdateOnly", "changed"),
        ("UpdateOnly", "all"),
        ("InstallOnly", "changed"),
    ] {
        let mut run = job(&pg, mode, &dir)
            .env("MODULES", "m1,crm")
            .env("UPDATE", update)
            .start();
        assert_eq!(run.wait_exit(LONG), 64, "{mode}: {}", run.stderr());
        assert!(run.stderr().contains("crm"), "{}", run.stderr());
        assert!(steps(&run).is_empty(), "{mode}: an Odoo step ran");
    }
    assert_eq!(pg.rows(DB), rows_before, "nothing written");
}
