//! What a newcomer sees first: --help and --version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::*;
use std::process::Command;

#[test]
fn help_lists_commands_modes_and_main_variables() {
    let out = Command::new(odoo_init()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let modes = odoo_init::plan::Mode::ALL.map(|m| m.name());
    let others = [
        "odoo-init supervise",
        "odoo-init restart",
        "odoo-init state",
        "DB_PASSWORD",
        "STOP_TIMEOUT",
        "ON_EXIT",
        "LIST_DB",
        "TIMEOUT",
    ];
    for needle in modes.iter().chain(others.iter()) {
        assert!(
            help.contains(needle),
            "{needle} missing from --help:\n{help}"
        );
    }
}
#[test]
fn version_prints_the_version() {
    let out = Command::new(odoo_init()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("odoo-init {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    let out = Command::new(odoo_init())
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command"));
}

#[test]
fn every_command_takes_help_and_odoos_arguments_need_no_double_dash() {
    for command in ["supervise", "restart", "state"] {
        let out = Command::new(odoo_init())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{command} --help");
        assert!(String::from_utf8_lossy(&out.stdout).contains("USAGE:"));
    }
    // Odoo's arguments without `--`, and the official image's `odoo ARGS`,
    // are the main job's: here it needs MODE, and says so.
    for args in [&["--workers", "2"][..], &["odoo", "--workers", "2"]] {
        let out = Command::new(odoo_init())
            .args(args)
            .env_remove("MODE")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("MODE is not set"), "{args:?}: {err}");
    }
}

/// A value or argument with line breaks cannot forge a log line of its own.
#[test]
fn line_breaks_in_arguments_and_values_stay_on_one_log_line() {
    let forged = "x\n[odoo-init] ERROR forged\r\nmore";
    let out = Command::new(odoo_init())
        .args(["supervise", "--", "/bin/sh", "-c", "exit 0", forged])
        .env("ODOO_INIT_RUNTIME_DIR", Scratch::new("lines").join("rt"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("x\\n[odoo-init] ERROR forged\\r\\nmore"),
        "{err}"
    );
    assert!(
        !err.lines().any(|l| l.starts_with("[odoo-init] ERROR")),
        "{err}"
    );
    let out = Command::new(odoo_init())
        .env_clear()
        .env("MODE", "Run\nOnly")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

/// `rust-version` in Cargo.toml (and the README's minimum) is not older
/// than what any locked dependency declares it needs.
#[test]
fn declared_rust_version_covers_every_locked_dependency() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // JSON is YAML: the dev-dependency that reads the examples reads this too.
    let docs =
        yaml_rust2::YamlLoader::load_from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let mut ours = None;
    let mut needed = (vec![0], String::new());
    for package in docs[0]["packages"].as_vec().unwrap() {
        let Some(rv) = package["rust_version"].as_str() else {
            continue;
        };
        let name = package["name"].as_str().unwrap_or("");
        if name == "odoo-init" {
            ours = Some(version(rv));
        } else if version(rv) > needed.0 {
            needed = (version(rv), name.to_string());
        }
    }
    let ours = ours.expect("rust-version in Cargo.toml");
    assert!(
        ours >= needed.0,
        "rust-version {ours:?} is older than {:?} of {}",
        needed.0,
        needed.1
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let stated: Vec<String> = ours.iter().map(u32::to_string).collect();
    assert!(
        readme.contains(&format!("Rust {} or newer", stated.join("."))),
        "README states the minimum"
    );
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(odoo_init())
        .args(args)
        .env_remove("ODOO_INIT_RUNTIME_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A PID no process has: Linux's pid_max is at most 2^22.
const NO_SUCH_PID: &str = "4194399";

#[test]
fn own_options_take_their_value_either_way() {
    for args in [
        ["status", "--pid", NO_SUCH_PID],
        ["status", &format!("--pid={NO_SUCH_PID}"), "--json"],
    ] {
        let (code, _, err) = run(&args.iter().map(|a| a.as_ref()).collect::<Vec<&str>>());
        assert_eq!(
            code, 77,
            "{args:?}: the option was understood, the process not found: {err}"
        );
    }
    let (code, _, err) = run(&["restart", &format!("--pid={NO_SUCH_PID}"), "--", "--pid=1"]);
    assert_eq!(code, 77, "{err}");
    for bad in [
        &["status", "--pid"][..],
        &["status", "--pid=x"],
        &["state", "--limit=0"],
        &["state", "--limit=3", "--changed"],
        &["probe", "ready", "--timeout=0"],
        &["probe", "ready", "--timeout", "0"],
        &["probe", "ready", "--grace=soon"],
        &["probe", "sideways"],
        &["restart", "extra"],
    ] {
        let (code, _, err) = run(bad);
        assert_eq!(code, 64, "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad:?}: one line: {err}");
    }
}

#[test]
fn each_command_has_its_own_help() {
    for (command, own, not) in [
        ("state", "--changed", "MODES"),
        ("status", "--json", "MODES"),
        ("probe", "--grace", "MODES"),
        ("restart", "--pid", "MODES"),
        ("supervise", "COMMAND", "MODES"),
    ] {
        let (code, out, _) = run(&[command, "--help"]);
        assert_eq!(code, 0, "{command}");
        assert!(
            out.starts_with(&format!("USAGE:\n    odoo-init {command}")),
            "{out}"
        );
        assert!(out.contains(own) && !out.contains(not), "{command}: {out}");
    }
}

/// `ODOO_INIT_LOG_FORMAT=json`: each of odoo-init's lines is one JSON
/// object with the time, level, message and the fields it is about; the
/// child's own lines pass through untouched.
#[test]
fn json_logs_are_one_object_per_line_and_leave_the_childs_lines_alone() {
    let out = Command::new(odoo_init())
        .args([
            "supervise",
            "--",
            "/bin/sh",
            "-c",
            "echo 'odoo says\\nhi' >&2; exit 3",
        ])
        .env("ODOO_INIT_LOG_FORMAT", "json")
        .env("MODE", "RunOnly")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    let mut ours = 0;
    for line in err.lines() {
        if line == "odoo says" || line == "hi" {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["time", "level", "message", "pid", "mode"] {
            assert!(v.get(key).is_some(), "{key} in {line}");
        }
        if v["message"]
            .as_str()
            .unwrap_or("")
            .contains("exited with status 3")
        {
            assert_eq!(v["status"], 3, "{line}");
            assert!(v["child_pid"].as_i64().is_some(), "{line}");
        }
        ours += 1;
    }
    assert!(ours >= 3, "{err}");
    assert!(
        err.contains("odoo says\nhi"),
        "the child's lines as they are: {err}"
    );
    let out = Command::new(odoo_init())
        .args(["supervise", "--", "true"])
        .env("ODOO_INIT_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
