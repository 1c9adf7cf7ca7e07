//! The claim's pre-hooks: `PRE_UPDATE_SCRIPT` before Odoo's update and
//! `PRE_INIT_SCRIPT` before its install, each under the claim (the latest
//! row is the claim's busy row while it runs), with the database settings
//! and the password as the maintenance script gets them, before Odoo's
//! step; a hook that fails is a failed step: recorded on the row, exit 65,
//! Odoo's step never started. Judged from the stand-in's event log (the
//! hook writes to it too), the files the hook leaves and the state table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Pg, DB, PASSWORD, USER};
use common::*;
use std::os::unix::fs::PermissionsExt;

/// A hook that records the latest state row as libpq sees it (so: through
/// the password file) into `out/NAME`, says so in the stand-in's log, and
/// exits with `status`.
fn hook(scratch: &Scratch, name: &str, status: i32) -> String {
    let path = scratch.join(&format!("{name}.sh"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n\
             psql -X -At -v ON_ERROR_STOP=1 -c \"SELECT state || ' ' || id FROM curq_state_history ORDER BY id DESC LIMIT 1\" > {out}/{name}.tmp || exit 9\n\
             mv {out}/{name}.tmp {out}/{name}\n\
             echo \"$$ hook {name}\" >> \"$STANDIN_LOG\"\n\
             exit {status}\n",
            out = scratch.path.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path_str(&path)
}

/// Where in the event log `line` stands first (containing it).
fn position(events: &[String], part: &str) -> Option<usize> {
    events.iter().position(|l| l.contains(part))
}

fn recorded(scratch: &Scratch, name: &str) -> String {
    std::fs::read_to_string(scratch.join(name))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn the_pre_update_hook_runs_under_the_claim_before_odoos_update() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("hooks");
    let mut run = pg
        .job("UpdateOnly")
        .env("UPDATE", "all")
        .env("PRE_UPDATE_SCRIPT", hook(&scratch, "pre-update", 0))
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let rows = pg.rows(DB);
    let claim = rows.iter().rfind(|r| r.1 == "Updating").unwrap().0;
    assert_eq!(
        recorded(&scratch, "pre-update"),
        format!("Updating {claim}")
    );
    let events = run.events();
    let hook_at = position(&events, "hook pre-update").expect("the hook ran");
    let update_at = position(&events, " -u ").expect("Odoo's update ran");
    assert!(hook_at < update_at, "{events:?}");
    assert_eq!(rows.last().unwrap().1, "Ready");
    assert!(!run.stderr().contains(PASSWORD));
}

#[test]
fn a_failing_pre_update_hook_is_a_failed_step_and_odoo_never_updates() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("hooks-fail");
    let mut run = pg
        .job("UpdateOnly")
        .env("UPDATE", "all")
        .env("PRE_UPDATE_SCRIPT", hook(&scratch, "pre-update", 3))
        .start();
    assert_eq!(run.wait_exit(LONG), 65, "{}", run.stderr());
    assert!(
        run.stderr().contains("PRE_UPDATE_SCRIPT"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        position(&run.events(), " -u "),
        None,
        "Odoo's update started"
    );
    let last = pg.rows(DB).pop().unwrap();
    assert_eq!((last.1.as_str(), last.4), ("Updating", Some(3)));
}

#[test]
fn the_pre_init_hook_runs_under_the_install_claim_before_odoos_install() {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("hooks-init");
    let mut run = pg
        .job("InstallOnly")
        .env("MODULES", "crm")
        .env("PRE_INIT_SCRIPT", hook(&scratch, "pre-init", 0))
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let claim = pg.rows(DB).iter().rfind(|r| r.1 == "Creating").unwrap().0;
    assert_eq!(recorded(&scratch, "pre-init"), format!("Creating {claim}"));
    let events = run.events();
    let hook_at = position(&events, "hook pre-init").expect("the hook ran");
    let install_at = position(&events, " -i ").expect("Odoo's install ran");
    assert!(hook_at < install_at, "{events:?}");
}
