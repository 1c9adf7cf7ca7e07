//! Module checksums, `UPDATE=changed`: odoo-init's hash against
//! click-odoo-contrib's `addon_hash` (the reference, run in the virtual
//! environment scripts/venv.sh makes), and what an update then touches,
//! judged from the database and the stand-in's own record of `-u`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::addons::{installed, job, write};
use common::pg::{Pg, DB, PASSWORD, USER};
use common::*;
use odoo_init::odoo::addons::{checksum, Rules, DEFAULT_EXCLUDE};

/// click-odoo-contrib's Python (`CLICK_ODOO_PYTHON`, set by scripts/venv.sh).
fn reference_python() -> PathBuf {
    let python = std::env::var_os("CLICK_ODOO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/click-venv/bin/python")
        });
    assert!(
        python.is_file(),
        "{} is missing: run `. scripts/venv.sh` (python3 -m venv, then pip install --no-deps click-odoo-contrib; apt-get install python3-venv)",
        python.display()
    );
    python
}

/// click-odoo-contrib's `addon_hash(dir, patterns, langs)`, or its error.
fn reference(dir: &Path, exclude: &str, langs: &[&str]) -> Result<String, String> {
    let patterns: Vec<String> = exclude.split(',').map(|p| p.trim().to_string()).collect();
    let out = Command::new(reference_python())
        .arg("-c")
        .arg(
            "import sys, json; from click_odoo_contrib._addon_hash import addon_hash; \
              print(addon_hash(sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])))",
        )
        .arg(dir)
        .arg(serde_json::to_string(&patterns).unwrap())
        .arg(serde_json::to_string(&langs).unwrap())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ours(dir: &Path, exclude: &str, langs: &[&str]) -> String {
    let langs: Vec<String> = langs.iter().map(|l| l.to_string()).collect();
    checksum(dir, &Rules::new(exclude, &langs)).unwrap()
}

/// An addon that hits every rule: excluded patterns, nested directories,
/// empty files, links to files and directories, languages, sort order.
fn every_rule(root: &Path) -> PathBuf {
    let a = root.join("rules");
    for (file, text) in [
        ("__manifest__.py", "{'name': 'rules', 'depends': ['base']}"),
        ("__init__.py", "from . import models\n"),
        ("models/__init__.py", ""),
        ("models/a.py", "class A: pass\n"),
        ("models/B.py", "class B: pass\n"),
        ("models/a b.py", "# a space\n"),
        ("models/x.py", "x = 1\n"),
        ("models/x/inner.py", "inner = 1\n"),
        ("models/é.py", "# not ASCII\n"),
        ("views/v.xml", "<odoo/>\n"),
        ("data/empty.csv", ""),
        ("data/i18n/de.po", "# not the i18n directory itself\n"),
        ("static/src/js/app.js", "console.log(1)\n"),
        ("static/description/icon.png", "PNG"),
        ("a.pyc", "bytecode"),
        ("sub/deep/er/x.pyo", "bytecode"),
        ("sub/deep/er/kept.txt", "kept\n"),
        ("i18n/fr.po", "msgid fr\n"),
        ("i18n/fr_BE.po", "msgid fr_BE\n"),
        ("i18n/de.po", "msgid de\n"),
        ("i18n/en.po", "msgid en\n"),
        ("i18n/rules.pot", "template\n"),
        ("i18n/.po", "only an extension\n"),
        ("i18n/notes.txt", "not a po\n"),
        ("i18n_extra/es.po", "msgid es\n"),
        ("i18n_extra/x.pot", "template\n"),
        ("tests/test_a.py", "def test(): pass\n"),
        (
            "models/tests/kept.py",
            "# tests/* matches only at the top\n",
        ),
    ] {
        write(&a.join(file), text);
    }
    write(&root.join("outside.py"), "outside = 1\n");
    std::os::unix::fs::symlink(root.join("outside.py"), a.join("models/linked.py")).unwrap();
    std::os::unix::fs::symlink(a.join("views"), a.join("linked_views")).unwrap();
    a
}

#[test]
fn the_checksum_is_click_odoo_contribs_under_every_rule() {
    let scratch = Scratch::new("hash");
    let addon = every_rule(&scratch.path);
    let mut cases = 0;
    for exclude in [
        DEFAULT_EXCLUDE,
        "*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*",
        "*.xml, data/*, [a-c]*.py,models/?.py",
        "",
    ] {
        for langs in [
            &[][..],
            &["en_US"][..],
            &["fr_FR"][..],
            &["fr_BE", "de_DE", "es_ES"][..],
        ] {
            let want = reference(&addon, exclude, langs).unwrap();
            assert_eq!(
                ours(&addon, exclude, langs),
                want,
                "exclude {exclude:?}, langs {langs:?}"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 16);
    // The rules do matter: an inactive language's .po changes nothing, an
    // active one's does; an excluded file changes nothing, a kept one does.
    let before = ours(&addon, DEFAULT_EXCLUDE, &["fr_FR"]);
    write(&addon.join("i18n/de.po"), "changed\n");
    write(&addon.join("static/src/js/app.js"), "changed\n");
    write(&addon.join("a.pyc"), "changed");
    assert_eq!(ours(&addon, DEFAULT_EXCLUDE, &["fr_FR"]), before);
    write(&addon.join("i18n/fr_BE.po"), "changed\n");
    assert_ne!(ours(&addon, DEFAULT_EXCLUDE, &["fr_FR"]), before);
    let before = ours(&addon, DEFAULT_EXCLUDE, &["fr_FR"]);
    write(&addon.join("data/empty2.csv"), "");
    assert_ne!(
        ours(&addon, DEFAULT_EXCLUDE, &["fr_FR"]),
        before,
        "an empty file counts by its name"
    );
    assert_eq!(
        ours(&addon, DEFAULT_EXCLUDE, &["fr_FR"]),
        reference(&addon, DEFAULT_EXCLUDE, &["fr_FR"]).unwrap()
    );
}

#[test]
fn a_file_name_that_is_not_utf8_is_hashed_by_its_bytes() {
    let scratch = Scratch::new("bytes");
    let addon = scratch.join("m");
    write(&addon.join("__manifest__.py"), "{}");
    let plain = ours(&addon, DEFAULT_EXCLUDE, &[]);
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.xml");
    std::fs::write(addon.join(name), "<odoo/>").unwrap();
    // click-odoo-contrib cannot hash it at all.
    let err = reference(&addon, DEFAULT_EXCLUDE, &[]).unwrap_err();
    assert!(err.contains("UnicodeEncodeError"), "{err}");
    // odoo-init: the name's bytes, as they are; stable, and it counts.
    let with = ours(&addon, DEFAULT_EXCLUDE, &[]);
    assert_ne!(with, plain);
    assert_eq!(ours(&addon, DEFAULT_EXCLUDE, &[]), with);
    let mut sha = <sha1::Sha1 as sha1::Digest>::new();
    sha1::Digest::update(&mut sha, b"__manifest__.py{}");
    sha1::Digest::update(&mut sha, b"caf\xe9.xml<odoo/>");
    let hex: String = sha1::Digest::finalize(sha)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(with, hex);
}

/// Three addons on a path of their own.
/// `(name, update_count)` of every module.
fn updates(pg: &Pg) -> Vec<(String, i32)> {
    pg.superuser(DB)
        .query(
            "SELECT name::text, update_count FROM ir_module_module ORDER BY name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn count(pg: &Pg, module: &str) -> i32 {
    updates(pg)
        .into_iter()
        .find(|(m, _)| m == module)
        .map(|(_, c)| c)
        .unwrap_or(-1)
}

fn stored(pg: &Pg) -> serde_json::Value {
    let row = pg
        .superuser(DB)
        .query_one(
            "SELECT value FROM ir_config_parameter WHERE key = 'module_auto_update.installed_checksums'",
            &[],
        )
        .unwrap();
    serde_json::from_str(&row.get::<_, String>(0)).unwrap()
}

/// `odoo-init state --changed` with `dir` as the addons path.
fn state_changed(pg: &Pg, dir: &Path) -> std::process::Output {
    pg.state_command()
        .arg("--changed")
        .env("ADDONS_PATH", path_str(dir))
        .output()
        .unwrap()
}

/// `state --changed` lists `listed`, and exits 0 when that is nothing, 1 otherwise.
fn changed_are(pg: &Pg, dir: &Path, listed: &str) {
    let out = state_changed(pg, dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(i32::from(!listed.is_empty())),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), listed);
}

/// A database with `m1`..`m3` installed from a scratch directory of their own.
fn three_installed(name: &str) -> (Pg, Scratch, PathBuf) {
    let pg = Pg::start();
    let scratch = Scratch::new(name);
    let dir = common::addons::three(&scratch.path);
    installed(&pg, &dir);
    (pg, scratch, dir)
}

fn update_and_run(pg: &Pg, dir: &Path) -> Run {
    let mut run = job(pg, "UpdateAndRun", dir).start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    run
}

#[test]
fn an_update_touches_only_what_changed() {
    let (pg, _scratch, dir) = three_installed("changed");
    // Stored by odoo-init after the install, as click-odoo-contrib computes them.
    let sums = stored(&pg);
    for m in ["m1", "m2", "m3"] {
        let want = reference(&dir.join(m), DEFAULT_EXCLUDE, &["en_US"]).unwrap();
        assert_eq!(sums[m].as_str(), Some(want.as_str()), "{m}: {sums}");
    }
    assert_eq!(
        sums["base"],
        serde_json::Value::Bool(false),
        "base is on no path here"
    );
    let states = pg.states(DB).unwrap();

    // The first UpdateAndRun after the install updates nothing, writes nothing.
    let run = update_and_run(&pg, &dir);
    assert_eq!(run.count(&[" -u "]), 0, "{:?}", run.events());
    assert_eq!(pg.states(DB).unwrap(), states, "no busy state written");
    assert!(updates(&pg).iter().all(|(_, c)| *c == 0));

    // Excluded changes: static/, a .pyc, the .po of an inactive language.
    write(&dir.join("m1/static/src/app.js"), "2\n");
    write(&dir.join("m1/models/main.pyc"), "bytecode");
    write(&dir.join("m2/i18n/fr.po"), "changed\n");
    let run = update_and_run(&pg, &dir);
    assert_eq!(run.count(&[" -u "]), 0, "{:?}", run.events());

    // A file of m2: exactly m2 is updated, and the new checksums stored.
    write(&dir.join("m2/models/main.py"), "# m2, changed\n");
    let run = update_and_run(&pg, &dir);
    let argv: Vec<String> = run
        .events()
        .into_iter()
        .filter(|e| e.contains(" -u "))
        .collect();
    assert_eq!(argv.len(), 1, "{argv:?}");
    assert!(argv[0].contains(" -u m2 "), "{argv:?}");
    assert_eq!(
        (count(&pg, "m1"), count(&pg, "m2"), count(&pg, "m3")),
        (0, 1, 0)
    );
    assert_eq!(
        stored(&pg)["m2"].as_str().unwrap(),
        reference(&dir.join("m2"), DEFAULT_EXCLUDE, &["en_US"]).unwrap()
    );

    // The .po of an active language (en_US: "en") does count.
    write(&dir.join("m3/i18n/en.po"), "en, changed\n");
    update_and_run(&pg, &dir);
    assert_eq!(
        (count(&pg, "m1"), count(&pg, "m2"), count(&pg, "m3")),
        (0, 1, 1)
    );

    // Checksums written by click-odoo-contrib's algorithm are honoured.
    write(&dir.join("m1/models/main.py"), "# m1, changed\n");
    let mut sums = stored(&pg);
    sums["m1"] = reference(&dir.join("m1"), DEFAULT_EXCLUDE, &["en_US"])
        .unwrap()
        .into();
    pg.superuser(DB)
        .execute(
            "UPDATE ir_config_parameter SET value = $1 WHERE key = 'module_auto_update.installed_checksums'",
            &[&sums.to_string()],
        )
        .unwrap();
    let run = update_and_run(&pg, &dir);
    assert_eq!(run.count(&[" -u "]), 0, "{:?}", run.events());

    // `state --changed` says what an update would touch, and writes nothing;
    // its exit code says whether anything changed (0 none, 1 some).
    changed_are(&pg, &dir, "");
    write(&dir.join("m3/models/main.py"), "# m3, changed\n");
    let states = pg.states(DB).unwrap();
    changed_are(&pg, &dir, "m3\n");
    assert_eq!(pg.states(DB).unwrap(), states);

    // UPDATE=all: as before checksums, every module named.
    let mut run = job(&pg, "UpdateAndRun", &dir).env("UPDATE", "all").start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(run.count(&["-u m1,m2,m3 "]), 1, "{:?}", run.events());
}

#[test]
fn the_databases_own_exclude_patterns_are_honoured() {
    let (pg, _scratch, dir) = three_installed("exclude");
    pg.superuser(DB)
        .execute(
            "INSERT INTO ir_config_parameter (key, value) VALUES ('module_auto_update.exclude_patterns', '*.pyc,static/*,models/*')",
            &[],
        )
        .unwrap();
    // Other rules: every stored checksum is out of date once, as with click-odoo-update.
    let run = update_and_run(&pg, &dir);
    assert_eq!(run.count(&[" -u m1,m2,m3 "]), 1, "{:?}", run.events());
    assert_eq!(
        stored(&pg)["m1"].as_str().unwrap(),
        reference(&dir.join("m1"), "*.pyc,static/*,models/*", &["en_US"]).unwrap()
    );
    // What the patterns exclude no longer counts; the rest does.
    write(&dir.join("m1/models/main.py"), "# m1, changed\n");
    let run = update_and_run(&pg, &dir);
    assert_eq!(run.count(&[" -u "]), 0, "{:?}", run.events());
    write(&dir.join("m1/views/v.xml"), "<odoo/>\n");
    let run = update_and_run(&pg, &dir);
    assert_eq!(run.count(&[" -u m1 "]), 1, "{:?}", run.events());
}

#[test]
fn eight_pods_after_one_change_run_one_update() {
    let (pg, _scratch, dir) = three_installed("pods");
    write(&dir.join("m2/models/main.py"), "# changed\n");
    let mark = "checksum-pods";
    let sampler = StepSampler::start(mark);
    let mut pods: Vec<Run> = (0..8)
        .map(|_| {
            job(&pg, "UpdateAndRun", &dir)
                .env("STANDIN_STEP_MS", "1500")
                .env("STANDIN_RUN_EXIT", "")
                .env(StepSampler::VARIABLE, StepSampler::mark(mark))
                .start()
        })
        .collect();
    // Every pod ends running Odoo (the run phase's stand-in started).
    for pod in &pods {
        pod.wait_events("Odoo running", |ev| {
            starts(ev).iter().any(Start::is_run_phase)
        });
    }
    let seen = sampler.finish();
    assert_eq!(seen.most, 1, "{seen:?}");
    let updates: usize = pods.iter().map(|p| p.count(&[" -u "])).sum();
    assert_eq!(updates, 1, "exactly one pod ran -u");
    assert_eq!(count(&pg, "m2"), 1);
    for pod in &mut pods {
        pod.signal(libc::SIGTERM);
        assert_eq!(pod.wait_exit(LONG), 0);
    }
}

#[test]
fn a_pod_with_nothing_changed_still_waits_while_another_pods_step_runs() {
    let (pg, _scratch, dir) = three_installed("unchanged");
    // Another pod's update under way (UPDATE=all: it runs although nothing changed).
    let mut owner = job(&pg, "UpdateOnly", &dir)
        .env("UPDATE", "all")
        .env("STANDIN_UPDATE_HANG", "1")
        .start();
    owner.wait_events("the update to hang", |ev| {
        count_in(ev, &["update hanging"]) == 1
    });
    // This pod's image changed nothing, but it is not let through: an
    // UpdateOnly pod (a Job before a rollout) waits for the step, rather
    // than ending at once as if the database were up to date.
    let mut pod = job(&pg, "UpdateOnly", &dir).start();
    let waited = wait_until(LONG, "the pod to wait at the gate or end", || {
        if !pod.alive() {
            Some(false)
        } else {
            pod.stderr().contains("waiting since").then_some(true)
        }
    });
    assert!(waited, "ended while a step ran: {}", pod.stderr());
    assert_eq!(pod.count(&[" -u "]), 0, "{:?}", pod.events());
    for run in [&mut pod, &mut owner] {
        run.signal(libc::SIGTERM);
        run.wait_exit(LONG);
    }
}

#[test]
fn a_bad_update_value_or_addons_path_stops_before_the_database() {
    let pg = Pg::start();
    pg.ready_database();
    let scratch = Scratch::new("bad");
    let file = scratch.join("a-file");
    write(&file, "");
    let states = pg.states(DB);
    for (var, value) in [
        ("UPDATE", "sometimes".to_string()),
        ("ADDONS_PATH", "/nonexistent/addons".to_string()),
        ("ADDONS_PATH", path_str(&file)),
    ] {
        let mut run = pg.job("UpdateOnly").env(var, value.clone()).start();
        assert_eq!(run.wait_exit(LONG), 64, "{var}={value}: {}", run.stderr());
        let err = run.stderr();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(var), "{err}");
    }
    // A wrong --addons-path among Odoo's arguments: the same, before the database.
    let mut setup = pg.job("UpdateOnly");
    setup.args = vec!["--".into(), "--addons-path".into(), "/nonexistent".into()];
    let mut run = setup.start();
    assert_eq!(run.wait_exit(LONG), 64, "{}", run.stderr());
    assert!(run.stderr().contains("--addons-path"), "{}", run.stderr());
    assert_eq!(pg.states(DB), states, "nothing written");
}

#[test]
fn with_no_addons_directory_known_an_update_updates_everything() {
    let (pg, _scratch, _) = three_installed("nowhere");
    // Checksums are stored; this pod knows no addons directory at all.
    let mut setup = pg
        .job("UpdateAndRun")
        .env("MODULES", "m1,m2,m3")
        .env("STANDIN_RUN_EXIT", "0");
    setup.args = vec!["--".into()];
    let mut run = setup.start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    assert_eq!(run.count(&[" -u m1,m2,m3 "]), 1, "{:?}", run.events());
    let warned: Vec<String> = run
        .stderr()
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("no addons directory"))
        .map(str::to_string)
        .collect();
    assert_eq!(warned.len(), 1, "{}", run.stderr());
}

#[test]
fn many_addons_are_shared_out_to_helper_processes_with_the_same_sums() {
    let pg = Pg::start();
    let scratch = Scratch::new("many");
    let dir = scratch.join("addons");
    let names: Vec<String> = (0..40).map(|i| format!("mod{i:02}")).collect();
    for (i, m) in names.iter().enumerate() {
        write(
            &dir.join(m).join("__manifest__.py"),
            &format!("{{'name': '{m}', 'depends': ['base']}}"),
        );
        write(
            &dir.join(m).join("models/main.py"),
            &"x = 1\n".repeat(i + 1),
        );
        write(&dir.join(m).join("i18n/fr.po"), "fr\n");
        write(&dir.join(m).join("static/app.js"), "1\n");
    }
    pg.role(USER, PASSWORD, true);
    let modules = names.join(",");
    let mut run = job(&pg, "InstallOnly", &dir)
        .env("MODULES", &modules)
        .env("ODOO_INIT_LOG", "debug")
        .start();
    assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    // One process per CPU the tests may use (at most 4) hashed them.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let said = format!("40 addons hashed by {} processes", cpus.min(4));
    assert!(run.stderr().contains(&said), "{said}:\n{}", run.stderr());
    // What they stored is click-odoo-contrib's checksum of every one.
    let sums = stored(&pg);
    for m in &names {
        let want = reference(&dir.join(m), DEFAULT_EXCLUDE, &["en_US"]).unwrap();
        assert_eq!(sums[m.as_str()], want.as_str(), "{m}");
    }
    // Changes in every helper's share are found.
    for m in ["mod00", "mod05", "mod38"] {
        write(&dir.join(m).join("models/main.py"), "changed\n");
    }
    let out = state_changed(&pg, &dir);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "mod00\nmod05\nmod38\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A database the official image made (Odoo's tables, no state table) is
/// refused at once, naming `odoo-init adopt`; adopted, it is `Force Ready`
/// with this image's checksums, so that nothing counts as changed and the
/// next pods pass the gate without updating.
#[test]
fn an_existing_database_is_adopted_in_one_step() {
    let (pg, _scratch, dir) = three_installed("adopt");
    pg.superuser(DB)
        .batch_execute(
            "DROP TABLE curq_state_history; \
             DELETE FROM ir_config_parameter WHERE key = 'module_auto_update.installed_checksums'",
        )
        .unwrap();
    for mode in ["RunOnly", "UpdateAndRun"] {
        let mut run = job(&pg, mode, &dir).env("TIMEOUT", "600").start();
        assert_eq!(
            run.wait_exit(LONG),
            64,
            "{mode}: at once, not after TIMEOUT"
        );
        assert!(run.stderr().contains("odoo-init adopt"), "{}", run.stderr());
        assert_eq!(run.starts().len(), 0, "nothing started");
    }
    assert_eq!(pg.states(DB), None, "nothing written");

    let adopt = |args: &[&str]| {
        let mut cmd = Command::new(odoo_init());
        cmd.arg("adopt")
            .args(args)
            .env("DB_NAME", DB)
            .env("DB_USER", USER)
            .env("DB_PASSWORD", PASSWORD)
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", pg.port.to_string())
            .env("ADDONS_PATH", path_str(&dir))
            .env_remove("MODE")
            .output()
            .unwrap()
    };
    let out = adopt(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pg.states(DB).unwrap(), ["Force Ready"]);
    assert_eq!(
        stored(&pg).as_object().map(|o| o.len()),
        Some(4),
        "base, m1..m3"
    );
    changed_are(&pg, &dir, "");
    let before = updates(&pg);
    let run = update_and_run(&pg, &dir);
    assert_eq!(
        run.count(&[" -u "]),
        0,
        "nothing to update: {:?}",
        run.events()
    );
    assert_eq!(updates(&pg), before);

    // Adopted already, with a change pending: adopt again is refused and
    // writes nothing (the change stays to be updated); --force records.
    std::fs::write(dir.join("m1/pending.py"), "# a change\n").unwrap();
    changed_are(&pg, &dir, "m1\n");
    let (states, sums) = (pg.states(DB), stored(&pg));
    let out = adopt(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!((pg.states(DB), stored(&pg)), (states, sums));
    changed_are(&pg, &dir, "m1\n");
    let out = adopt(&["--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    changed_are(&pg, &dir, "");
}
