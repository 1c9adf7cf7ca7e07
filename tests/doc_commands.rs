//! Every command block (```sh) of README.md and docs/*.md is run here
//! exactly as written, taken from the Markdown, or is marked as not run,
//! with the reason in the page's own words. The line before each block
//! says which (an HTML comment, not shown to readers):
//!
//! - `<!-- doc-test: run NAME -->`: the fixture NAME prepares what the
//!   page assumes (a database, the deployment's settings, an image), the
//!   block runs in `bash -e` as written, and the fixture checks what it did;
//! - `<!-- doc-test: not run: KEY -->`: [`NOT_RUN`] gives the words the
//!   page must say about it (a Kubernetes cluster, a registry).
//!
//! A new block without a marker, a command that fails or no longer does
//! what the fixture checks, and a marker naming no fixture all fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use common::addons;
use common::docker::{docker, images};
use common::pg::{Pg, DB, PASSWORD, USER};
use common::{odoo_init, path_str, Scratch};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Why a block is not run, and the words its page says it with.
const NOT_RUN: &[(&str, &str)] = &[
    ("no-cluster", "there is no Kubernetes cluster here"),
    ("benchmark", "a benchmark takes minutes"),
    ("no-registry", "they have no registry"),
    (
        "compose",
        "the test machines have Compose v1 (`docker-compose`) and no registry",
    ),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One command block: where it is, its marker, its text.
#[derive(Debug, Clone)]
struct Block {
    at: String,
    marker: Option<String>,
    text: String,
}

/// The `sh` blocks of a page, each with the marker on the line before it.
fn blocks(name: &str, page: &str) -> Vec<Block> {
    let lines: Vec<&str> = page.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let lang = lines[i].strip_prefix("```").map(str::trim);
        if !matches!(lang, Some("sh" | "bash" | "shell")) {
            i += 1;
            continue;
        }
        let marker = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix("<!-- doc-test:"))
            .and_then(|l| l.strip_suffix("-->"))
            .map(|m| m.trim().to_string());
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].starts_with("```"))
            .unwrap_or(lines.len());
        found.push(Block {
            at: format!("{name}:{}", i + 1),
            marker,
            text: lines[i + 1..end].join("\n"),
        });
        i = end + 1;
    }
    found
}

/// README.md and docs/*.md, name and text.
fn pages() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| format!("docs/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(repo().join(&n)).unwrap();
            (n, text)
        })
        .collect()
}

/// The block's lines, as a reader types them: comments dropped.
fn commands(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split("  #").next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// `text` run by `bash -e` in `dir` with `env` added.
fn bash(text: &str, dir: &Path, env: &[(&str, String)]) -> Output {
    Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", text])
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("bash")
}

fn ran(what: &str, out: &Output) -> Result<(), String> {
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// README.md's two commands: the first (the demo) run here to its end;
/// the second is the one `.ci/run` runs, which runs this test.
fn the_two_commands(text: &str) -> Result<(), String> {
    let [demo, all] = &commands(text)[..] else {
        return Err(format!("two commands expected: {text}"));
    };
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let ci_runs = ci.lines().filter_map(|l| l.trim().strip_prefix("exec "));
    if !ci_runs.clone().any(|c| c == all) {
        return Err(format!(".ci/run does not run `{all}`"));
    }
    let out = bash(demo, &repo(), &[]);
    ran(demo, &out)?;
    let said = String::from_utf8_lossy(&out.stdout);
    match said.contains("odoo-init state") {
        true => Ok(()),
        false => Err(format!("the demo did not show the state table: {said}")),
    }
}

/// An existing database (Odoo's tables, no state table) and a shell with
/// the deployment's settings and the image's `odoo-init` on PATH: adopted,
/// it is `Force Ready`.
fn adopt(text: &str) -> Result<(), String> {
    let pg = Pg::start();
    let scratch = Scratch::new("doc-adopt");
    let dir = addons::three(&scratch.path);
    addons::installed(&pg, &dir);
    pg.superuser(DB)
        .batch_execute(
            "DROP TABLE curq_state_history; \
             DELETE FROM ir_config_parameter WHERE key = 'module_auto_update.installed_checksums'",
        )
        .unwrap();
    let bin = odoo_init();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("DB_NAME", DB.to_string()),
        ("DB_USER", USER.to_string()),
        ("DB_PASSWORD", PASSWORD.to_string()),
        ("DB_HOST", "127.0.0.1".to_string()),
        ("DB_PORT", pg.port.to_string()),
        ("ADDONS_PATH", path_str(&dir)),
        ("PATH", path),
    ];
    ran(text, &bash(text, &scratch.path, &env))?;
    match pg.states(DB) {
        Some(states) if states == ["Force Ready"] => Ok(()),
        other => Err(format!("adopted, the states are {other:?}")),
    }
}

fn image_exists(name: &str) -> bool {
    docker()
        .args(["image", "inspect", "-f", "{{.Id}}", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The official image's build on top of `odoo:18`: no registry here, so
/// the tests' stand-in image is that image for the build (an `odoo:18`
/// already on the machine is used as it is); the image built must start
/// `odoo-init`.
fn image(text: &str) -> Result<(), String> {
    if image_exists("my-odoo") {
        return Err(
            "an image my-odoo exists already: the block builds it (docker rmi my-odoo)".into(),
        );
    }
    let official = image_exists("odoo:18");
    if !official {
        common::docker::run_docker(&["tag", &images().base, "odoo:18"]);
    }
    let built = ran(text, &bash(text, &repo(), &[]));
    let checked = built.and_then(|()| {
        let out = docker()
            .args(["run", "--rm", "my-odoo", "--version"])
            .output()
            .unwrap();
        ran("docker run --rm my-odoo --version", &out)?;
        let said = String::from_utf8_lossy(&out.stdout);
        match said.starts_with("odoo-init ") {
            true => Ok(()),
            false => Err(format!("my-odoo does not start odoo-init: {said}")),
        }
    });
    let _ = docker().args(["rmi", "my-odoo"]).output();
    if !official {
        let _ = docker().args(["rmi", "odoo:18"]).output();
    }
    checked
}

/// Runs one block by its marker.
fn check(block: &Block, page: &str) -> Result<(), String> {
    let marker = block.marker.as_deref().unwrap_or("");
    if let Some(key) = marker.strip_prefix("not run:") {
        let Some((_, words)) = NOT_RUN.iter().find(|(k, _)| *k == key.trim()) else {
            return Err(format!("no reason `{}` in NOT_RUN", key.trim()));
        };
        // The page's words with line breaks as spaces, as a reader reads them.
        let read = page.split_whitespace().collect::<Vec<_>>().join(" ");
        return match read.contains(words) {
            true => Ok(()),
            false => Err(format!("the page does not say why: \"{words}\"")),
        };
    }
    match marker.strip_prefix("run").map(str::trim) {
        Some("the-two-commands") => the_two_commands(&block.text),
        Some("adopt") => adopt(&block.text),
        Some("image") => image(&block.text),
        _ => Err(format!(
            "no `<!-- doc-test: run NAME -->` or `<!-- doc-test: not run: KEY -->` before it (found {marker:?})"
        )),
    }
}

#[test]
fn every_documented_command_block_runs_as_written_or_says_why_not() {
    let mut failed = Vec::new();
    let mut seen = 0;
    for (name, page) in pages() {
        for block in blocks(&name, &page) {
            seen += 1;
            if let Err(e) = check(&block, &page) {
                failed.push(format!("{}: {e}", block.at));
            }
        }
    }
    assert!(seen >= 10, "only {seen} blocks found");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// A broken copy of a page fails: its command misspelt, its marker gone.
#[test]
fn a_broken_command_in_a_copy_of_a_page_fails() {
    let page = std::fs::read_to_string(repo().join("docs/migrating.md")).unwrap();
    let adopt = blocks("docs/migrating.md", &page)
        .into_iter()
        .find(|b| b.marker.as_deref() == Some("run adopt"))
        .expect("docs/migrating.md runs odoo-init adopt");
    let broken = Block {
        text: adopt.text.replace("odoo-init adopt", "odoo-init adpot"),
        ..adopt.clone()
    };
    assert_ne!(broken.text, adopt.text);
    let said = check(&broken, &page).expect_err("a misspelt command fails");
    assert!(said.contains("adpot"), "{said}");
    let unmarked = page.replace("<!-- doc-test: run adopt -->", "");
    let block = blocks("docs/migrating.md", &unmarked)
        .into_iter()
        .find(|b| b.text == adopt.text)
        .unwrap();
    let said = check(&block, &unmarked).expect_err("a block without its marker fails");
    assert!(said.contains("no `<!-- doc-test"), "{said}");
}
