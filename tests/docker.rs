//! odoo-init under a real Docker engine: the repository's Dockerfile built
//! (on an Odoo-like base made here: no registry) and run as a container's
//! ENTRYPOINT. Judged from outside: `docker inspect`, `docker top`, the
//! stand-in's event log on a mounted host directory, the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::docker::{docker, images, run_docker, Container, ODOO_UID};
use common::pg::{Pg, DB, PASSWORD, USER};
use common::*;

/// A container of the image in `ForceRunOnly` (Odoo at once, no database
/// needed), with `options` and Odoo's `args`.
fn odoo(options: &[&str], args: &[&str]) -> Container {
    let mut all = vec!["-e", "MODE=ForceRunOnly", "-e", "DB_NAME=odoo"];
    all.extend_from_slice(options);
    Container::start(&all, &images().odoo, args)
}

fn started(ev: &[String]) -> usize {
    starts(ev).len()
}

#[test]
fn the_image_is_the_dockerfile_built_for_real() {
    let c = run_docker(&[
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}} {{json .Config.Healthcheck.Test}}",
        &images().odoo,
    ]);
    // No CMD: BuildKit records it as null, the legacy builder as [].
    let no_cmd = |cmd: &str| {
        format!(
            r#"["/usr/local/bin/odoo-init"] {cmd} odoo ["CMD","/usr/local/bin/odoo-init","probe","ready"]"#
        )
    };
    assert!(c == no_cmd("null") || c == no_cmd("[]"), "{c}");
    let env = run_docker(&[
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        &images().odoo,
    ]);
    for want in [
        "MODE=RunOnly",
        "STOP_TIMEOUT=25",
        "ODOO_RC=/etc/odoo/odoo.conf",
    ] {
        assert!(env.contains(want), "{want} in {env}");
    }
    // Nothing of its own where users mount their config.
    assert!(!env.contains("MAINTENANCE_SCRIPT"), "{env}");
    let version = run_docker(&["run", "--rm", &images().odoo, "--version"]);
    assert_eq!(version, format!("odoo-init {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn docker_stop_drains_odoo_and_the_container_exits_0() {
    let c = odoo(&[], &["--", "--workers", "2"]);
    c.wait_events("the workers", |ev| count_in(ev, &["worker start"]) == 2);
    let asked = Instant::now();
    run_docker(&["stop", "-t", "60", &c.id]);
    // Docker would have sent SIGKILL only after 60 s: odoo-init ended first.
    assert!(asked.elapsed() < Duration::from_secs(60));
    assert_eq!(c.wait_exit(LONG), 0, "{}", c.logs());
    let ev = c.events();
    assert_eq!(count_in(&ev, &["master signal SIGTERM"]), 1, "{ev:?}");
    assert_eq!(
        count_in(&ev, &["worker signal SIGINT"]),
        2,
        "drained: {ev:?}"
    );
    assert_eq!(count_in(&ev, &["master exit 0"]), 1, "{ev:?}");
}

#[test]
fn odoo_inits_own_escalation_ends_a_child_that_ignores_term_before_docker_does() {
    let c = odoo(
        &["-e", "STANDIN_IGNORE_TERM=1", "-e", "STOP_TIMEOUT=1"],
        &[],
    );
    c.wait_events("Odoo", |ev| started(ev) == 1);
    let asked = Instant::now();
    run_docker(&["stop", "-t", "60", &c.id]);
    assert!(
        asked.elapsed() < Duration::from_secs(60),
        "docker's own SIGKILL ended it"
    );
    // The child's status: killed by odoo-init's SIGKILL (docs/signals-exit-codes-logging.md, Exit status).
    assert_eq!(c.wait_exit(LONG), 137, "{}", c.logs());
    let ev = c.events();
    assert_eq!(
        count_in(&ev, &["signal SIGTERM"]),
        2,
        "TERM, then the second TERM: {ev:?}"
    );
}

#[test]
fn docker_kill_hup_restarts_odoo_in_place_and_leaves_no_zombie() {
    let c = odoo(&["-e", "STANDIN_ORPHANS=3"], &[]);
    c.wait_events("Odoo", |ev| started(ev) == 1);
    let before = c.inspect("{{.State.Pid}} {{.State.StartedAt}}");
    run_docker(&["kill", "--signal", "HUP", &c.id]);
    let ev = c.wait_events("a new Odoo", |ev| started(ev) == 2);
    let pids = starts(&ev).into_iter().map(|s| s.pid).collect::<Vec<_>>();
    assert_ne!(pids[0], pids[1], "{ev:?}");
    assert_eq!(c.inspect("{{.State.Pid}} {{.State.StartedAt}}"), before);
    assert!(c.running());
    wait_until(LONG, "no zombie in docker top", || {
        c.zombies().is_empty().then_some(())
    });
    let top = c.top();
    assert_eq!(top.len(), 2, "odoo-init and Odoo only: {top:?}");
    run_docker(&["stop", "-t", "60", &c.id]);
    assert_eq!(c.wait_exit(LONG), 0);
}

#[test]
fn odoo_init_restart_through_docker_exec_passes_new_arguments() {
    let c = odoo(&[], &[]);
    c.wait_events("Odoo", |ev| started(ev) == 1);
    // As the image's user (docker exec's default here).
    let out = c.exec(&["odoo-init", "restart", "--", "--workers", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = c.wait_events("the new Odoo", |ev| started(ev) == 2);
    let last = starts(&ev).pop().unwrap();
    assert!(last.argv.ends_with("--workers 2"), "{last:?}");
    // As root: refused, nothing signalled (the record is odoo's).
    let out = docker()
        .args(["exec", "-u", "0", &c.id, "odoo-init", "restart"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77));
    // And what it does now, asked the same way.
    let out = c.exec(&["odoo-init", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("phase      running"), "{text}");
    assert!(text.contains("restarts   1"), "{text}");
}

/// `docker run -it` of the image in `ForceRunOnly` (no database) and
/// `env`, on a fresh pseudo-terminal, as a person types it: the container,
/// the client, the master to type into and what the terminal shows.
fn on_terminal(
    name: &str,
    env: &[&str],
) -> (
    Container,
    std::process::Child,
    std::fs::File,
    std::thread::JoinHandle<String>,
) {
    require("setsid", "util-linux");
    let events = common::docker::events_dir();
    let name = format!("odoo-init-test-{}-{name}", std::process::id());
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let fd = || Stdio::from(pty.slave.try_clone().expect("dup pty"));
    let client = std::process::Command::new("setsid")
        .arg("--ctty")
        .arg(docker().get_program())
        .args(["run", "-it", "--name", &name])
        .args(["-e", "MODE=ForceRunOnly", "-e", "DB_NAME=odoo"])
        .args(Container::event_options(&events))
        .args(env.iter().flat_map(|e| ["-e", e]))
        .arg(&images().odoo)
        .env("DOCKER_BUILDKIT", "1")
        .stdin(fd())
        .stdout(fd())
        .stderr(fd())
        .spawn()
        .expect("docker run -it");
    let master = std::fs::File::from(pty.master);
    let screen = screen_of(&master);
    let id = wait_until(LONG, "the container", || {
        let out = docker()
            .args(["inspect", "--format", "{{.Id}}", &name])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    (Container { id, events }, client, master, screen)
}

#[test]
fn ctrl_c_in_docker_run_it_reaches_odoo_once() {
    let (c, mut client, mut master, screen) = on_terminal("tty", &[]);
    c.wait_events("Odoo", |ev| started(ev) == 1);
    master.write_all(b"\x03").unwrap();
    assert_eq!(c.wait_exit(LONG), 0, "{}", c.logs());
    let _ = client.wait();
    let ev = c.events();
    // From the terminal (the kernel, sender 0), once.
    assert_eq!(count_in(&ev, &["signal SIGINT"]), 1, "{ev:?}");
    assert_eq!(count_in(&ev, &["signal SIGINT from 0"]), 1, "{ev:?}");
    let screen = screen.join().unwrap();
    assert!(screen.contains("exiting with status 0"), "{screen}");
}

#[test]
fn with_on_exit_wait_ctrl_c_stops_odoo_and_the_container_stays_up() {
    let (c, _client, mut master, _screen) = on_terminal("tty-wait", &["ON_EXIT=wait"]);
    c.wait_events("Odoo", |ev| started(ev) == 1);
    master.write_all(b"\x03").unwrap();
    c.wait_events("Odoo's exit", |ev| count_in(ev, &["server exit 0"]) == 1);
    wait_until(LONG, "odoo-init to wait", || {
        let out = c.exec(&["odoo-init", "status", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .contains("\"phase\":\"stopped-waiting\"")
            .then_some(())
    });
    assert!(c.running());
    // Started again in place.
    run_docker(&["kill", "--signal", "HUP", &c.id]);
    c.wait_events("Odoo again", |ev| started(ev) == 2);
    run_docker(&["stop", "-t", "60", &c.id]);
    assert_eq!(c.wait_exit(LONG), 0);
}

#[test]
fn under_docker_run_init_odoo_init_reaps_and_restarts_as_a_child() {
    let c = odoo(&["--init", "-e", "STANDIN_ORPHANS=3"], &[]);
    c.wait_events("Odoo", |ev| started(ev) == 1);
    let top = c.top();
    let init = top
        .iter()
        .find(|(_, _, comm)| comm == "odoo-init")
        .expect("odoo-init in docker top");
    assert_ne!(ns_pid(init.0), 1, "Docker's init is PID 1: {top:?}");
    assert!(
        top.iter()
            .any(|(pid, _, comm)| ns_pid(*pid) == 1 && comm != "odoo-init"),
        "{top:?}"
    );
    // PID 1 is not an odoo-init: refused, with the hint.
    let out = c.exec(&["odoo-init", "restart"]);
    assert_eq!(out.status.code(), Some(77));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pid"));
    let pid = ns_pid(init.0).to_string();
    let out = c.exec(&["odoo-init", "restart", "--pid", &pid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.wait_events("a new Odoo", |ev| started(ev) == 2);
    wait_until(LONG, "no zombie", || c.zombies().is_empty().then_some(()));
    run_docker(&["stop", "-t", "60", &c.id]);
    assert_eq!(c.wait_exit(LONG), 0, "{}", c.logs());
}

#[test]
fn read_only_with_a_tmpfs_works_and_without_one_says_what_must_be_writable() {
    let c = odoo(&["--read-only", "--tmpfs", "/tmp"], &[]);
    c.wait_events("Odoo", |ev| started(ev) == 1);
    let out = c.exec(&["odoo-init", "restart", "--", "--workers", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.wait_events("the new Odoo", |ev| started(ev) == 2);

    // No writable /tmp: Odoo still runs; one line names the directory.
    let c = odoo(&["--read-only"], &[]);
    c.wait_events("Odoo", |ev| started(ev) == 1);
    let logs = c.logs();
    let named: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(&format!("/tmp/odoo-init-{ODOO_UID}")))
        .collect();
    assert_eq!(named.len(), 1, "{logs}");
    assert!(named[0].contains("Read-only file system"), "{logs}");
    // The line says what is lost: the status record, and so the probes.
    assert!(named[0].contains("every probe fail"), "{logs}");
}

#[test]
fn the_healthcheck_goes_starting_healthy_unhealthy() {
    let c = odoo(
        &[
            "--network",
            "none",
            "-e",
            "STANDIN_HTTP_STALL=/events/stall",
            "--health-interval",
            "1s",
            "--health-timeout",
            "4s",
            "--health-retries",
            "1",
        ],
        &[],
    );
    let health = || c.inspect("{{.State.Health.Status}}");
    assert_eq!(health(), "starting");
    wait_until(LONG, "healthy", || (health() == "healthy").then_some(()));
    // The stand-in stops answering HTTP: the probe's 2 s timeout, then unhealthy.
    std::fs::write(c.events.join("stall"), "").unwrap();
    wait_until(LONG, "unhealthy", || {
        (health() == "unhealthy").then_some(())
    });
    std::fs::remove_file(c.events.join("stall")).unwrap();
    wait_until(LONG, "healthy again", || {
        (health() == "healthy").then_some(())
    });
}

#[test]
fn the_gate_through_a_container_against_postgres_on_the_host() {
    let pg = Pg::start();
    pg.ready_database();
    let port = pg.port.to_string();
    let c = Container::start(
        &[
            "--network",
            "host",
            "-e",
            &format!("DB_NAME={DB}"),
            "-e",
            &format!("DB_USER={USER}"),
            "-e",
            &format!("DB_PASSWORD={PASSWORD}"),
            "-e",
            "DB_HOST=127.0.0.1",
            "-e",
            &format!("DB_PORT={port}"),
            "-e",
            "TIMEOUT=600",
        ],
        &images().odoo,
        // Its own port, not the host's 8069.
        &["--", "-p", &free_port().to_string()],
    );
    c.wait_events("Odoo", |ev| started(ev) == 1);
    // Another pod's update: a restart now waits at the gate.
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Updating')")
        .unwrap();
    run_docker(&["kill", "--signal", "HUP", &c.id]);
    wait_until(LONG, "the restart to wait at the gate", || {
        let out = c.exec(&["odoo-init", "status", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .contains("\"phase\":\"gate\"")
            .then_some(())
    });
    assert_eq!(started(&c.events()), 1, "no Odoo while the gate is closed");
    pg.superuser(DB)
        .batch_execute("INSERT INTO curq_state_history (state) VALUES ('Ready')")
        .unwrap();
    c.wait_events("Odoo after the gate", |ev| started(ev) == 2);
    run_docker(&["stop", "-t", "60", &c.id]);
    assert_eq!(c.wait_exit(LONG), 0, "{}", c.logs());
}

/// `docker compose` (Compose v2) or `docker-compose` (v1, Debian's), in
/// `dir`, as project `project`.
fn compose(dir: &std::path::Path, project: &str, args: &[&str]) -> std::process::Output {
    let v1 = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("docker-compose").is_file()));
    let mut cmd = if v1 {
        std::process::Command::new("docker-compose")
    } else {
        let mut c = docker();
        c.arg("compose");
        c
    };
    cmd.current_dir(dir)
        .args(["-p", project])
        .args(args)
        .output()
        .expect("docker compose: apt-get install docker-compose")
}

/// Takes a Compose project down (its containers, network and volumes) when dropped.
struct Project<'a> {
    dir: &'a std::path::Path,
    name: String,
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = compose(
            self.dir,
            &self.name,
            &[
                "-f",
                "docker-compose.yml",
                "-f",
                "docker-compose.dev.yml",
                "down",
                "-v",
            ],
        );
    }
}

#[test]
fn the_documented_compose_commands_run_as_far_as_the_engine_allows() {
    require("openssl", "openssl");
    // The examples as a user has them, in a copy (the secrets stay out of the repository).
    let scratch = Scratch::new("compose");
    let status = std::process::Command::new("cp")
        .args(["-r"])
        .arg(common::docker::repo().join("examples/compose"))
        .arg(&scratch.path)
        .status()
        .unwrap();
    assert!(status.success());
    let dir = scratch.join("compose");
    // docs/images-and-containers.md, "In your image": the secrets the files name, made as it says.
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg("mkdir -p secrets && openssl rand -hex 24 > secrets/postgres_password && openssl rand -hex 24 > secrets/odoo_db_password")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(made.success());
    let project = format!("odoo-init-test-{}", std::process::id());
    let _down = Project {
        dir: &dir,
        name: project.clone(),
    };
    for files in [
        &["-f", "docker-compose.yml"][..],
        &["-f", "docker-compose.yml", "-f", "docker-compose.dev.yml"][..],
        &["-f", "docker-compose.yml", "-f", "docker-compose.many.yml"][..],
    ] {
        let out = compose(&dir, &project, &[files, &["config", "-q"]].concat());
        assert!(
            out.status.success(),
            "{files:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // PostgreSQL's image cannot be pulled here: the Odoo service alone, with
    // the image the files name made from this build.
    run_docker(&["tag", &images().odoo, "odoo-init-odoo:18"]);
    let dev = ["-f", "docker-compose.yml", "-f", "docker-compose.dev.yml"];
    let out = compose(
        &dir,
        &project,
        &[&dev[..], &["up", "-d", "--no-deps", "odoo"]].concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It reads its secret, and waits for the database the file names.
    let record = wait_until(LONG, "odoo-init to wait for PostgreSQL", || {
        let out = compose(
            &dir,
            &project,
            &[
                &dev[..],
                &["exec", "-T", "odoo", "odoo-init", "status", "--json"],
            ]
            .concat(),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("PostgreSQL at odoo@db:5432/odoo")
            .then_some(text)
    });
    assert!(record.contains("\"mode\":\"UpdateAndRun\""), "{record}");
    assert!(record.contains("\"phase\":\"gate\""), "{record}");
    let _ = docker().args(["rmi", "odoo-init-odoo:18"]).output();
}

/// The mounts official-image users make: their own `/etc/odoo` (only an
/// `odoo.conf` in it), a read-only root with a writable `/tmp`, and an
/// arbitrary uid with group 0 (OpenShift): Odoo runs, the password is
/// scrubbed from PID 1's environment, `status` and `restart` answer
/// through `docker exec` as that user.
#[test]
fn the_image_survives_the_mounts_and_the_uid_its_users_give_it() {
    let config = Scratch::new("etc-odoo");
    std::fs::write(
        config.join("odoo.conf"),
        "[options]\naddons_path = /mnt/extra-addons\ndata_dir = /var/lib/odoo\n",
    )
    .unwrap();
    std::fs::set_permissions(&config.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        config.join("odoo.conf"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let mount = format!("{}:/etc/odoo:ro", config.path.display());
    let c = odoo(
        &[
            "-v",
            &mount,
            "--read-only",
            "--tmpfs",
            "/tmp:mode=1777",
            "--user",
            "12345:0",
            "-e",
            "DB_PASSWORD=container-secret-4711",
        ],
        &["--", "--workers", "1"],
    );
    c.wait_events("Odoo", |ev| started(ev) == 1);
    // As that user, on that read-only root, the password is scrubbed from
    // PID 1's environment block (read here as root, who may read it).
    let pid = c.inspect("{{.State.Pid}}");
    let environ = std::fs::read(format!("/proc/{}/environ", pid.trim())).unwrap();
    let text = String::from_utf8_lossy(&environ);
    assert!(text.contains("DB_PASSWORD="), "{text}");
    assert!(!text.contains("container-secret-4711"), "{text}");
    let out = c.exec(&["odoo-init", "status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = c.exec(&["odoo-init", "restart"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.wait_events("the restarted Odoo", |ev| started(ev) == 2);
    let logs = c.logs();
    assert!(!logs.contains("ERROR"), "{logs}");
}

/// A Compose file written for the official image (its variables, its
/// `/etc/odoo` mount, `command: odoo --workers 2`), changed only in its
/// image and by `MODE` and `DB_NAME`: Odoo runs behind the gate, against
/// PostgreSQL on the host (its image cannot be pulled here).
#[test]
fn a_compose_file_for_the_official_image_runs_with_the_image_changed_and_a_mode() {
    let pg = Pg::start();
    pg.ready_database();
    let dir = Scratch::new("official-compose");
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(
        dir.join("config/odoo.conf"),
        "[options]\naddons_path = /mnt/extra-addons\ndata_dir = /var/lib/odoo\n; admin_passwd = admin\ndb_host = False\n",
    )
    .unwrap();
    std::fs::write(dir.join("secrets/odoo_pw"), format!("{PASSWORD}\n")).unwrap();
    for (path, mode) in [
        ("config", 0o755),
        ("config/odoo.conf", 0o644),
        ("secrets", 0o755),
        ("secrets/odoo_pw", 0o644),
    ] {
        std::fs::set_permissions(dir.join(path), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let events = common::docker::events_dir();
    let http = free_port();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"3.7\"\n\
             services:\n\
             \x20 web:\n\
             \x20   image: {image}\n\
             \x20   network_mode: host\n\
             \x20   environment:\n\
             \x20     HOST: 127.0.0.1\n\
             \x20     PORT: \"{port}\"\n\
             \x20     USER: {USER}\n\
             \x20     PASSWORD_FILE: /run/secrets/odoo_pw\n\
             \x20     MODE: RunOnly\n\
             \x20     DB_NAME: {DB}\n\
             \x20     STANDIN_LOG: /events/events.log\n\
             \x20   volumes:\n\
             \x20     - ./config:/etc/odoo\n\
             \x20     - ./secrets/odoo_pw:/run/secrets/odoo_pw:ro\n\
             \x20     - {events}:/events\n\
             \x20   command: odoo --workers 2 -p {http}\n",
            image = images().odoo,
            port = pg.port,
            events = events.path.display(),
        ),
    )
    .unwrap();
    let project = format!("odoo-init-official-{}", std::process::id());
    let up = compose(&dir.path, &project, &["up", "-d"]);
    let down = || compose(&dir.path, &project, &["down", "-v"]);
    if !up.status.success() {
        down();
        panic!("{}", String::from_utf8_lossy(&up.stderr));
    }
    let read = || {
        std::fs::read_to_string(events.join("events.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let started = wait_until(LONG, "Odoo behind the gate", || {
        starts(&read()).into_iter().find(Start::is_run_phase)
    });
    let logs = compose(&dir.path, &project, &["logs", "--no-color"]);
    down();
    assert!(
        started.argv.starts_with("-d odoo --no-database-list"),
        "{started:?}"
    );
    assert!(started.argv.contains("--workers 2"), "{started:?}");
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(!logs.contains(PASSWORD), "{logs}");
}
