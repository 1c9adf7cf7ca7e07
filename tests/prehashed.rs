//! The image's checksums file (`odoo-init write-checksums`,
//! `ADDONS_CHECKSUMS_FILE`): pods read a module's checksum from it instead
//! of hashing, where it holds (the same directory, on the file system of
//! the file); an addons directory mounted from elsewhere is hashed as ever.
//! Judged from the stand-in's record of `-u` and from the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::addons::write;
use common::pg::{Pg, PASSWORD, USER};
use common::*;

/// One module `name` in `dir`.
fn module(dir: &Path, name: &str) {
    write(
        &dir.join(name).join("__manifest__.py"),
        &format!("{{'name': '{name}', 'depends': ['base']}}"),
    );
    write(
        &dir.join(name).join("models/main.py"),
        &format!("# {name}\n"),
    );
}

/// A job with the addons path `path` (comma-separated) for odoo-init and Odoo.
fn job<'a>(pg: &Pg, mode: &str, path: &str) -> Setup<'a> {
    let mut s = pg
        .job(mode)
        .env("MODULES", "m1,m2,m3")
        .env("ADDONS_PATH", path)
        .env("STANDIN_RUN_EXIT", "0");
    s.args = vec!["--".into(), "--addons-path".into(), path.into()];
    s
}

/// `UpdateAndRun` with the checksums file; the modules it updated (`-u`).
fn update_and_run(pg: &Pg, path: &str, file: &Path) -> Vec<String> {
    let mut run = job(pg, "UpdateAndRun", path)
        .env("ADDONS_CHECKSUMS_FILE", path_str(file))
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    run.events()
        .iter()
        .filter_map(|e| e.split(" -u ").nth(1))
        .filter_map(|rest| rest.split(' ').next().map(str::to_string))
        .collect()
}

fn write_checksums(path: &str, file: &Path) {
    let out = Command::new(odoo_init())
        .arg("write-checksums")
        .arg(file)
        .env("ADDONS_PATH", path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("3 modules"), "{said}");
}

#[test]
fn a_checksums_file_is_read_where_it_holds_and_a_mounted_directory_is_hashed() {
    let pg = Pg::start();
    // The image's addons (m1, m2) and the file on one file system; m3 in a
    // directory on another (tmpfs), as a dev container mounts its code.
    let image = Scratch::new("prehashed");
    let shm = Path::new("/dev/shm");
    assert!(
        shm.is_dir(),
        "/dev/shm is missing: this test needs a tmpfs there (mount -t tmpfs tmpfs /dev/shm)"
    );
    let mounted = Scratch::under(shm, "prehashed");
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    assert_ne!(
        dev(&image.path),
        dev(&mounted.path),
        "/dev/shm and the temporary directory must be two file systems for this test"
    );
    let (a, b) = (image.join("addons"), mounted.join("addons"));
    module(&a, "m1");
    module(&a, "m2");
    module(&b, "m3");
    let path = format!("{},{}", path_str(&a), path_str(&b));
    pg.role(USER, PASSWORD, true);
    let mut install = job(&pg, "InstallOnly", &path)
        .env("DB_ADMIN_USER", "postgres")
        .start();
    assert_eq!(install.wait_exit(LONG), 0, "{}", install.stderr());

    // Written at the image's build: its sums are the ones hashing gives
    // (those the install stored), so nothing counts as changed.
    let file = image.join("checksums.json");
    write_checksums(&path, &file);
    assert_eq!(update_and_run(&pg, &path, &file), Vec::<String>::new());

    // A change to the image's m1 after the file was written is not seen:
    // the file is read, m1 is not hashed (the image's word; a new image
    // writes a new file). A change to m3, on the mounted directory, is.
    write(&a.join("m1/models/main.py"), "# m1, changed in place\n");
    write(&b.join("m3/models/main.py"), "# m3, changed\n");
    assert_eq!(update_and_run(&pg, &path, &file), ["m3"]);

    // Without the file, m1's change is seen by hashing; with a file written
    // again, too.
    let changed = pg
        .state_command()
        .arg("--changed")
        .env("ADDONS_PATH", &path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&changed.stdout), "m1\n");
    write_checksums(&path, &file);
    assert_eq!(update_and_run(&pg, &path, &file), ["m1"]);

    // A file that is not one: exit 64, naming the variable.
    std::fs::write(&file, "{}").unwrap();
    let mut run = job(&pg, "UpdateAndRun", &path)
        .env("ADDONS_CHECKSUMS_FILE", path_str(&file))
        .start();
    assert_eq!(run.wait_exit(LONG), 64, "{}", run.stderr());
    assert!(
        run.stderr().contains("ADDONS_CHECKSUMS_FILE"),
        "{}",
        run.stderr()
    );
}

/// An addons path without a single module writes no file: a checksums file
/// of no module would tell every pod that the image has none.
#[test]
fn write_checksums_with_nothing_to_hash_is_an_error() {
    let empty = Scratch::new("no-modules");
    std::fs::create_dir(empty.join("addons")).unwrap();
    let file = empty.join("checksums.json");
    let out = Command::new(odoo_init())
        .arg("write-checksums")
        .arg(&file)
        .env("ADDONS_PATH", empty.join("addons"))
        .env_remove("ODOO_BIN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("no module"), "{err}");
    assert!(!file.exists());
}

/// A module that reaches outside itself is hashed, not read from the file:
/// one with a symbolic link out of it when the file was written (its
/// target may change with no change to the image), and one with a file
/// mounted over one of its own at start (a ConfigMap's `subPath`).
#[test]
fn a_module_with_a_link_out_or_a_mount_inside_is_hashed() {
    assert!(
        is_root(),
        "this test mounts a file inside odoo-init's mount namespace: run it as root"
    );
    require("mount", "mount");
    let pg = Pg::start();
    let image = Scratch::new("prehashed-out");
    let outside = Scratch::under(Path::new("/dev/shm"), "prehashed-out");
    let a = image.join("addons");
    for m in ["m1", "m2", "m3"] {
        module(&a, m);
    }
    write(&outside.join("linked.xml"), "<odoo/>\n");
    std::os::unix::fs::symlink(outside.join("linked.xml"), a.join("m2/linked.xml")).unwrap();
    let path = path_str(&a);
    pg.role(USER, PASSWORD, true);
    let mut install = job(&pg, "InstallOnly", &path)
        .env("DB_ADMIN_USER", "postgres")
        .start();
    assert_eq!(install.wait_exit(LONG), 0, "{}", install.stderr());
    let file = image.join("checksums.json");
    write_checksums(&path, &file);
    assert_eq!(update_and_run(&pg, &path, &file), Vec::<String>::new());

    // The link's target changed: m2 is hashed, so it is seen.
    write(
        &outside.join("linked.xml"),
        "<odoo><!-- changed --></odoo>\n",
    );
    assert_eq!(update_and_run(&pg, &path, &file), ["m2"]);

    // Another m1/models/main.py mounted over the image's at start.
    write(&outside.join("main.py"), "# m1, from a ConfigMap\n");
    let mut setup = job(&pg, "UpdateAndRun", &path).env("ADDONS_CHECKSUMS_FILE", path_str(&file));
    setup.inner = vec![
        "sh".into(),
        "-c".into(),
        "mount --bind \"$0\" \"$1\" && shift && exec \"$@\"".into(),
        path_str(&outside.join("main.py")),
        path_str(&a.join("m1/models/main.py")),
    ];
    let mut run = setup.start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    let updated: Vec<String> = run
        .events()
        .iter()
        .filter_map(|e| e.split(" -u ").nth(1))
        .filter_map(|rest| rest.split(' ').next().map(str::to_string))
        .collect();
    assert_eq!(updated, ["m1"]);
}
