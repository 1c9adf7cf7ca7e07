//! Fencing (issue: an owner that was reset can write nothing): the sessions
//! of a claimed step carry the claim's tag, and the pod that resets a silent
//! owner ends them before its `Reset` commits. Asserted from outside: the
//! database's commit times and the process table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::pg::{Bouncer, Pg, DB};
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// A maintenance script whose one session writes a row every 0.2 s, each in
/// a transaction of its own, until it is ended: an Odoo that keeps writing.
fn writing_script(scratch: &Scratch) -> String {
    let path = scratch.join("run.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE TABLE IF NOT EXISTS fence_probe (id serial, app text DEFAULT current_setting($$application_name$$))'\n\
         exec psql -X -q -v ON_ERROR_STOP=1 -c 'DO $$ BEGIN LOOP INSERT INTO fence_probe DEFAULT VALUES; COMMIT; PERFORM pg_sleep(0.2); END LOOP; END $$'\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path_str(&path)
}

fn count(pg: &Pg, sql: &str) -> i64 {
    pg.superuser(DB)
        .query_one(sql, &[])
        .map(|r| r.get(0))
        .unwrap_or(-1)
}

/// The owner's odoo-init frozen while its step writes; a waiter resets it
/// after the lease. Nothing the step wrote commits after the `Reset`, its
/// session is gone (the script ended while its odoo-init is still frozen),
/// and the owner, thawed, finds its claim lost (76).
fn reset_owner_commits_nothing_after_the_reset(pg: &Pg, job: &dyn Fn(&str) -> Setup<'static>) {
    let scratch = Scratch::new("fence");
    let script = writing_script(&scratch);
    let mut owner = job("UpdateOnly")
        .env("MAINTENANCE_SCRIPT", script.clone())
        .env("STATE_LEASE", "5")
        .start();
    wait_until(LONG, "the maintenance step to write", || {
        (count(pg, "SELECT count(*) FROM fence_probe") >= 3).then_some(())
    });
    // The step's session carries its claim's tag.
    let tagged = count(
        pg,
        "SELECT count(*) FROM fence_probe WHERE app ~ '^odoo-init-claim-[0-9]+$'",
    );
    assert!(tagged >= 3, "untagged rows: {tagged}");
    // Only odoo-init stops: its step goes on writing, as a cut-off pod's would.
    send(owner.pid, libc::SIGSTOP);
    let mut waiter = job("RunOnly").env("STATE_LEASE", "5").start();
    assert_eq!(
        waiter.wait_exit(Duration::from_secs(60)),
        75,
        "{}",
        waiter.stderr()
    );
    // The script ends by itself once its session is ended: only a zombie
    // (its parent is frozen) or nothing is left of it.
    wait_until(LONG, "the step's script to end", || {
        let running = owner
            .procs()
            .iter()
            .any(|p| p.state != 'Z' && p.comm == "psql");
        (!running).then_some(())
    });
    let after = count(
        pg,
        "SELECT count(*) FROM fence_probe WHERE pg_xact_commit_timestamp(xmin) > \
         (SELECT pg_xact_commit_timestamp(xmin) FROM curq_state_history WHERE state = 'Reset')",
    );
    assert_eq!(after, 0, "rows committed after the Reset");
    send(owner.pid, libc::SIGCONT);
    assert_eq!(owner.wait_exit(LONG), 76, "{}", owner.stderr());
    assert_eq!(
        pg.states(DB).unwrap(),
        [
            "Creating",
            "Ready",
            "Updating",
            "Ready",
            "Maintenance",
            "Reset"
        ]
    );
}

fn fenced_cluster() -> Pg {
    let mut pg = Pg::init();
    // The commit time of every row, to order them against the Reset's.
    pg.configure("track_commit_timestamp = on");
    pg.start_on_a_free_port();
    pg.ready_database();
    pg
}

#[test]
fn a_reset_owners_step_commits_nothing_after_the_reset() {
    let pg = fenced_cluster();
    let host = pg.host_env();
    reset_owner_commits_nothing_after_the_reset(&pg, &|mode| {
        let mut s = Setup::main_job(mode)
            .env("DB_NAME", DB)
            .env("DB_USER", common::pg::USER)
            .env("DB_PASSWORD", common::pg::PASSWORD);
        for (k, v) in host.clone() {
            s = s.env(k, v);
        }
        s
    });
}

/// Behind PgBouncer in transaction pooling: the server connection that runs
/// the step's statement carries its tag while it does (PgBouncer sets the
/// client's `application_name` on it), so the statement in flight is ended
/// with it. What PgBouncer cannot give: a later transaction of the same
/// client gets another server connection (docs/modes-and-state.md).
#[test]
fn behind_pgbouncer_the_reset_owners_statement_in_flight_is_ended() {
    let pg = fenced_cluster();
    let bouncer = Bouncer::start(&pg, 4);
    reset_owner_commits_nothing_after_the_reset(&pg, &|mode| bouncer.job(mode));
}

/// A reset owner's step that connects again after the sweeps of the
/// `Reset` (here once, a second after its first session was ended) writes
/// until anyone looks at the state again: the next pod's look (a peek, a
/// locked look, an owner's beat) ends every session of a claim that is not
/// the latest busy row. Asserted from the database and the process table:
/// no session of the claim is left, and the script (whose last session it
/// was) ends while its odoo-init is still frozen.
#[test]
fn a_reset_claims_session_opened_after_the_reset_is_ended_by_the_next_look() {
    let pg = fenced_cluster();
    let scratch = Scratch::new("fence-again");
    let path = scratch.join("run.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE TABLE IF NOT EXISTS fence_probe (id serial, app text DEFAULT current_setting($$application_name$$))'\n\
         loop='DO $$ BEGIN LOOP INSERT INTO fence_probe DEFAULT VALUES; COMMIT; PERFORM pg_sleep(0.2); END LOOP; END $$'\n\
         psql -X -q -c \"$loop\"\n\
         sleep 1\n\
         exec psql -X -q -c \"$loop\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut owner = pg
        .job("UpdateOnly")
        .env("MAINTENANCE_SCRIPT", path_str(&path))
        .env("STATE_LEASE", "5")
        .start();
    wait_until(LONG, "the maintenance step to write", || {
        (count(&pg, "SELECT count(*) FROM fence_probe") >= 3).then_some(())
    });
    send(owner.pid, libc::SIGSTOP);
    let mut waiter = pg.job("RunOnly").env("STATE_LEASE", "5").start();
    assert_eq!(
        waiter.wait_exit(Duration::from_secs(60)),
        75,
        "{}",
        waiter.stderr()
    );
    let after_reset = "SELECT count(*) FROM fence_probe WHERE pg_xact_commit_timestamp(xmin) > \
         (SELECT pg_xact_commit_timestamp(xmin) FROM curq_state_history WHERE state = 'Reset')";
    // Its second session, opened after the Reset, writes: nobody looked yet.
    wait_until(LONG, "the step's second session to write", || {
        (count(&pg, after_reset) >= 3).then_some(())
    });
    // The next pod's look ends it.
    let mut next = pg.job("RunOnly").start();
    next.wait_events("Odoo to start", |ev| !starts(ev).is_empty());
    let tagged =
        "SELECT count(*) FROM pg_stat_activity WHERE application_name ~ '^odoo-init-claim-'";
    wait_until(LONG, "no session of the reset claim", || {
        (count(&pg, tagged) == 0).then_some(())
    });
    // Its session ended, the script ends: only a zombie (its parent is
    // frozen) or nothing is left of it, and nothing more is written.
    wait_until(LONG, "the step's script to end", || {
        let running = owner
            .procs()
            .iter()
            .any(|p| p.state != 'Z' && (p.comm == "psql" || p.comm == "run.sh"));
        (!running).then_some(())
    });
    next.signal(libc::SIGTERM);
    next.wait_exit(LONG);
    send(owner.pid, libc::SIGCONT);
    assert_eq!(owner.wait_exit(LONG), 76, "{}", owner.stderr());
}
