//! The Docker engine for the container tests. The engine has no registry:
//! every image is made here from what the project builds, once per test
//! binary (and reused across runs while the binaries are the same: the tag
//! is their hash). Containers are removed by id when dropped.
//!
//! Images:
//! - `odoo-init-test/odoo-base:HASH`: an Odoo-like base made from nothing
//!   (`FROM scratch`): the stand-in Odoo as `/usr/bin/odoo`, an `odoo` user
//!   (uid 101, as the official image's), `/etc/odoo/odoo.conf`,
//!   `/var/lib/odoo`, `/mnt/extra-addons`, `/tmp`: the official image's layout.
//! - `odoo-init-test/odoo:HASH`: the repository's `Dockerfile` on that base,
//!   with the release binary the tests run (`ODOO_INIT_BINARY=prebuilt`).

use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::{standin, wait_until, Scratch};

/// The `odoo` user of the official image.
pub const ODOO_UID: u32 = 101;

/// The Docker client: Debian's (`/usr/bin/docker`, package docker.io)
/// where it is installed. Images are built with the legacy builder
/// (`DOCKER_BUILDKIT=0`), as a client without buildx builds them: the
/// README's commands must work there.
pub fn docker() -> Command {
    let client = Path::new("/usr/bin/docker");
    let mut cmd = Command::new(if client.is_file() {
        client
    } else {
        Path::new("docker")
    });
    cmd.env("DOCKER_BUILDKIT", "0");
    cmd
}

/// Runs `docker ARGS`; its stdout, trimmed. Panics with stderr on failure.
pub fn run_docker(args: &[&str]) -> String {
    let out = docker().args(args).output().expect("run docker");
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Fails loudly, saying how to get one, when no engine answers.
fn require_engine() {
    let out = docker()
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the container tests need a running Docker engine: apt-get install docker.io, then start it (service docker start, or systemctl start docker); docker info said: {}",
        out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_else(|e| e.to_string())
    );
}

pub struct Images {
    pub base: String,
    pub odoo: String,
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ is in the repository")
        .to_path_buf()
}

/// The release binary `scripts/test.sh` builds before the tests (what ships).
pub fn release_binary() -> PathBuf {
    let path = repo().join("target/x86_64-unknown-linux-gnu/release/odoo-init");
    assert!(
        path.is_file(),
        "{} is missing: cargo build --release --locked --bin odoo-init (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The images, built on first use.
pub fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(build_images)
}

fn build_images() -> Images {
    require_engine();
    let binary = release_binary();
    let odoo = standin();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in [
        &binary,
        &odoo,
        &repo().join("Dockerfile"),
        &repo().join("examples/run.sh"),
    ] {
        std::fs::read(file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .hash(&mut hasher);
    }
    let tag = format!("{:016x}", hasher.finish());
    let images = Images {
        base: format!("odoo-init-test/odoo-base:{tag}"),
        odoo: format!("odoo-init-test/odoo:{tag}"),
    };
    remove_older(&tag);
    if !exists(&images.base) {
        let ctx = Scratch::new("base-image");
        let root = ctx.join("rootfs");
        for dir in ["usr/bin", "etc/odoo", "mnt/extra-addons", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        std::fs::copy(&odoo, root.join("usr/bin/odoo")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            format!("root:x:0:0:root:/root:/bin/sh\nodoo:x:{ODOO_UID}:{ODOO_UID}::/var/lib/odoo:/bin/sh\n"),
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            format!("root:x:0:\nodoo:x:{ODOO_UID}:\n"),
        )
        .unwrap();
        std::fs::write(
            root.join("etc/odoo/odoo.conf"),
            "[options]\naddons_path = /mnt/extra-addons\ndata_dir = /var/lib/odoo\n",
        )
        .unwrap();
        std::fs::create_dir_all(ctx.join("home")).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            format!(
                "FROM scratch\n\
                 COPY rootfs/ /\n\
                 COPY --chown={ODOO_UID}:{ODOO_UID} home/ /var/lib/odoo/\n\
                 ENV ODOO_RC=/etc/odoo/odoo.conf PATH=/usr/local/bin:/usr/bin:/bin\n\
                 USER odoo\n\
                 EXPOSE 8069\n\
                 CMD [\"odoo\"]\n"
            ),
        )
        .unwrap();
        run_docker(&[
            "build",
            "-q",
            "-t",
            &images.base,
            &ctx.path.display().to_string(),
        ]);
    }
    if !exists(&images.odoo) {
        // The README's command, with the base made here.
        run_docker(&[
            "build",
            "-q",
            "--build-arg",
            &format!("ODOO_IMAGE={}", images.base),
            "-t",
            &images.odoo,
            &repo().display().to_string(),
        ]);
    }
    images
}

/// Images of earlier binaries (another tag) go; one still used by a
/// container (another run's) is left, as `docker rmi` without `-f` does.
fn remove_older(tag: &str) {
    for repository in ["odoo-init-test/odoo", "odoo-init-test/odoo-base"] {
        let listed = docker()
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}", repository])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for image in listed.lines().filter(|i| !i.ends_with(&format!(":{tag}"))) {
            let _ = docker()
                .args(["rmi", image])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn exists(image: &str) -> bool {
    docker()
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A container this test started, removed (by id) when dropped; with a
/// directory of the host mounted at `/events` (the stand-in's event log,
/// writable by the image's user).
pub struct Container {
    pub id: String,
    pub events: Scratch,
}

impl Container {
    /// `docker run -d` with `options` (before the image) and `args` (after it).
    pub fn start(options: &[&str], image: &str, args: &[&str]) -> Container {
        let events = events_dir();
        let out = docker()
            .args(["run", "-d"])
            .args(Self::event_options(&events))
            .args(options)
            .arg(image)
            .args(args)
            .output()
            .expect("docker run");
        assert!(
            out.status.success(),
            "docker run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Container {
            id: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            events,
        }
    }

    /// The options that mount `events` and point the stand-in's log there.
    pub fn event_options(events: &Scratch) -> Vec<String> {
        vec![
            "-v".into(),
            format!("{}:/events", events.path.display()),
            "-e".into(),
            "STANDIN_LOG=/events/events.log".into(),
            "-e".into(),
            "STANDIN_DRAIN_MS=300".into(),
        ]
    }

    pub fn inspect(&self, format: &str) -> String {
        run_docker(&["inspect", "--format", format, &self.id])
    }

    pub fn running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// Waits until the container has exited; its exit code.
    pub fn wait_exit(&self, timeout: Duration) -> i32 {
        wait_until(timeout, "the container to exit", || {
            (!self.running()).then_some(())
        });
        self.inspect("{{.State.ExitCode}}").parse().unwrap()
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        docker()
            .arg("exec")
            .arg(&self.id)
            .args(args)
            .output()
            .expect("docker exec")
    }

    pub fn logs(&self) -> String {
        let out = docker().args(["logs", &self.id]).output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The stand-in's event lines.
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.events.join("events.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn wait_events(&self, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        wait_until(super::LONG, what, || {
            let ev = self.events();
            if pred(&ev) {
                return Some(ev);
            }
            assert!(
                self.running(),
                "the container ended while waiting for {what}\nlogs:\n{}\nevents:\n{}",
                self.logs(),
                ev.join("\n")
            );
            None
        })
    }

    /// `docker top`: (host PID, state, command) of every process in it.
    pub fn top(&self) -> Vec<(i32, String, String)> {
        run_docker(&["top", &self.id, "-o", "pid,stat,comm"])
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((
                    f.next()?.parse().ok()?,
                    f.next()?.to_string(),
                    f.next()?.to_string(),
                ))
            })
            .collect()
    }

    pub fn zombies(&self) -> Vec<(i32, String, String)> {
        self.top()
            .into_iter()
            .filter(|(_, stat, _)| stat.starts_with('Z'))
            .collect()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker()
            .args(["rm", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A host directory for `/events`, writable by the image's user.
pub fn events_dir() -> Scratch {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Scratch::new(&format!("events-{}", N.fetch_add(1, Ordering::SeqCst)));
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}
