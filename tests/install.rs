//! Install and update see what Odoo needs: the user's arguments that locate
//! code, configuration and data reach the steps (serving ones do not), no
//! demo data unless asked, and an install that installed nothing fails.
//! Judged from the stand-in's command lines and the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB, PASSWORD, USER};
use common::*;

/// The arguments of each Odoo start, in order.
fn argv_of_starts(run: &Run) -> Vec<String> {
    run.starts().into_iter().map(|s| s.argv).collect()
}

/// An addons directory holding `module` (a manifest is what Odoo looks for).
fn addons_with(scratch: &Scratch, module: &str) -> String {
    let dir = scratch.join("addons");
    std::fs::create_dir_all(dir.join(module)).unwrap();
    std::fs::write(
        dir.join(module).join("__manifest__.py"),
        "{'name': 'x', 'depends': ['base']}\n",
    )
    .unwrap();
    path_str(&dir)
}

/// Modules installed with demo data, as the database records it.
fn with_demo(pg: &Pg) -> Vec<String> {
    pg.superuser(DB)
        .query(
            "SELECT name::text FROM ir_module_module WHERE demo ORDER BY name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn job<'a>(pg: &Pg, mode: &str, extra: &[&str]) -> Setup<'a> {
    let mut setup = pg.job(mode);
    setup.args = std::iter::once("--")
        .chain(extra.iter().copied())
        .map(String::from)
        .collect();
    setup
}

#[test]
fn locating_arguments_reach_the_steps_serving_ones_stay_with_the_run_phase() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("addons");
    let addons = addons_with(&scratch, "my_module");
    let extra = ["--addons-path", &addons, "--workers", "2"];
    let mut run = job(&pg, "InstallAndRun", &extra)
        .env("MODULES", "my_module")
        .env("ODOO_STEP_ARGS", "--log-level=debug")
        .start();
    run.wait_events("the run phase", |ev| {
        starts(ev).iter().any(|s| s.role == "master")
    });
    let argv = argv_of_starts(&run);
    let install = argv.iter().find(|a| a.contains(" -i ")).expect("install");
    assert!(
        install.contains(&format!("--addons-path {addons}")),
        "{install}"
    );
    assert!(install.contains("--log-level=debug"), "{install}");
    assert!(!install.contains("--workers"), "{install}");
    let serve = argv
        .iter()
        .find(|a| !a.contains("--stop-after-init"))
        .unwrap();
    assert!(
        serve.contains(&format!("--addons-path {addons} --workers 2")),
        "{serve}"
    );
    assert!(
        !serve.contains("--log-level=debug"),
        "step arguments only: {serve}"
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());

    // The update of the next pod gets the same locating arguments (an
    // update even with nothing changed since the install: UPDATE=all).
    let mut update = job(&pg, "UpdateOnly", &extra)
        .env("MODULES", "my_module")
        .env("UPDATE", "all")
        .start();
    assert_eq!(update.wait_exit(LONG), 0, "{}", update.stderr());
    let argv = argv_of_starts(&update);
    assert_eq!(argv.len(), 1, "{argv:?}");
    assert!(argv[0].contains(" -u my_module"), "{argv:?}");
    assert!(
        argv[0].contains(&format!("--addons-path {addons}")),
        "{argv:?}"
    );
    assert!(!argv[0].contains("--workers"), "{argv:?}");
    assert!(
        !argv[0].contains("--without-demo"),
        "updates load no demo data anyway"
    );
}

#[test]
fn installs_load_no_demo_data_unless_asked() {
    // InstallOnly on a fresh server: no demo data.
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let mut run = pg.job("InstallOnly").env("MODULES", "sale").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert!(
        argv_of_starts(&run)[0].ends_with("--without-demo=all"),
        "{:?}",
        argv_of_starts(&run)
    );
    assert_eq!(with_demo(&pg), Vec::<String>::new());

    // DEMO=True: Odoo's own default, demo data for what it installs.
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let mut run = pg
        .job("InstallOnly")
        .env("MODULES", "sale")
        .env("DEMO", "True")
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert!(!argv_of_starts(&run)[0].contains("--without-demo"));
    assert_eq!(with_demo(&pg), ["base", "sale"]);

    // The config file decides (here: load them): odoo-init adds nothing.
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("rc-demo");
    let rc = scratch.join("odoo.conf");
    std::fs::write(&rc, "[options]\nwithout_demo = False\n").unwrap();
    let mut run = pg
        .job("InstallOnly")
        .env("MODULES", "crm")
        .env("ODOO_RC", path_str(&rc))
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert!(!argv_of_starts(&run)[0].contains("--without-demo"));
    assert_eq!(with_demo(&pg), ["base", "crm"]);
}

#[test]
fn init_installs_without_demo_data() {
    let pg = Pg::start();
    let mut run = pg
        .job("Init")
        .env("DB_ADMIN_USER", "postgres")
        .env("DB_ADMIN_PASSWORD", common::pg::SUPERUSER_PASSWORD)
        .env("MODULES", "sale")
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(with_demo(&pg), Vec::<String>::new());
    let installed: i64 = pg
        .superuser(DB)
        .query_one(
            "SELECT count(*) FROM ir_module_module WHERE state = 'installed'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(installed, 2, "base and sale");
}

#[test]
fn a_module_the_addons_path_lacks_fails_the_install() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("lacking");
    let addons = addons_with(&scratch, "my_module");
    let mut run = job(&pg, "InstallOnly", &["--addons-path", &addons])
        .env("MODULES", "my_module,not_there")
        .start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    // Odoo's own behaviour, kept by the stand-in: a warning and exit 0.
    assert!(run.count(&["invalid module names, ignored: not_there"]) == 1);
    assert!(run.count(&["exit 0"]) == 1, "{:?}", run.events());
    let err = run.stderr();
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one line: {err}");
    assert!(errors[0].contains("not_there (not found)"), "{err}");
    assert!(!errors[0].contains("my_module"), "{err}");
    // The busy state stays, marked as failed, as for a failed step.
    let rows = pg.rows(DB);
    let (_, state, _, _, exit_status) = rows.last().unwrap();
    assert_eq!(state, "Creating");
    assert_eq!(*exit_status, Some(65));
}
