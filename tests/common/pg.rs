//! A throwaway PostgreSQL cluster: `initdb` + `pg_ctl` from Debian's
//! `postgresql` package, on a free loopback port, removed when dropped.
//! As root, the server runs as the `postgres` user.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use super::{require, Scratch, Setup};

/// The Odoo database and role the mode tests use.
pub const DB: &str = "odoo";
pub const USER: &str = "odoo";
pub const PASSWORD: &str = "Pw-4-odoo-SECRET";

pub const SUPERUSER_PASSWORD: &str = "super secret";

pub struct Pg {
    pub port: u16,
    scratch: Scratch,
    bin: PathBuf,
    ids: Option<(u32, u32)>,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path().join("bin"))).collect())
        .unwrap_or_default();
    found.retain(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file());
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL server binaries not found under /usr/lib/postgresql: apt-get install postgresql")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Pg {
    pub fn start() -> Pg {
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
        pg.start_again();
        pg
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

    pub fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.scratch.path.display()
        );
        let log = self.scratch.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-o", &opts, "-w", "start"],
        );
    }

    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    pub fn superuser(&self, dbname: &str) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .password(SUPERUSER_PASSWORD)
            .dbname(dbname)
            .connect(postgres::NoTls)
            .expect("superuser connection")
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

    /// The states in `curq_state_history`, oldest first; `None` without table or database.
    pub fn states(&self, db: &str) -> Option<Vec<String>> {
        let mut c = postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .password(SUPERUSER_PASSWORD)
            .dbname(db)
            .connect(postgres::NoTls)
            .ok()?;
        let rows = c
            .query("SELECT state FROM curq_state_history ORDER BY id", &[])
            .ok()?;
        Some(rows.iter().map(|r| r.get(0)).collect())
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
