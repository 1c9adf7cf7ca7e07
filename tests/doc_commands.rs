//! Every command the docs give is run by a test, or its page says why not
//! (issue: docs an operator reads). Each command line of a `sh` block in
//! README.md and docs/*.md must be in `COVERED`: either a file of the
//! project that runs it (and holds the given text, the proof that it does)
//! or the words on its page that say why it is not run here. A new command
//! in the docs fails this test until it is one or the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

enum By {
    /// This file runs it; the text shows where.
    Run(&'static str, &'static str),
    /// Not run by the tests; the page says so in these words.
    NotRun(&'static str),
}
use By::{NotRun, Run};

const COMPOSE_SECRETS: &str = "mkdir -p secrets && openssl rand -hex 24 > secrets/postgres_password && openssl rand -hex 24 > secrets/odoo_db_password";
const NO_CLUSTER: &str = "not run by the tests: there is no Kubernetes cluster here";

/// Command (its comment dropped) → what covers it.
const COVERED: &[(&str, By)] = &[
    ("bash scripts/demo.sh", Run("tests/demo.rs", "scripts/demo.sh")),
    ("bash scripts/test.sh", Run(".ci/run", "scripts/test.sh")),
    (
        "cargo build --release --locked --bin odoo-init",
        Run(
            "scripts/test.sh",
            "cargo build --release --locked --bin odoo-init",
        ),
    ),
    ("cd examples/compose", Run("tests/docker.rs", "examples/compose")),
    ("mkdir -p secrets", Run("tests/docker.rs", COMPOSE_SECRETS)),
    (
        "openssl rand -hex 24 > secrets/postgres_password",
        Run("tests/docker.rs", COMPOSE_SECRETS),
    ),
    (
        "openssl rand -hex 24 > secrets/odoo_db_password",
        Run("tests/docker.rs", COMPOSE_SECRETS),
    ),
    (
        "docker compose up -d",
        Run("tests/docker.rs", "&[\"up\", \"-d\"]"),
    ),
    (
        "kubectl create secret generic odoo-db --from-literal=password=\"$(openssl rand -hex 24)\"",
        NotRun(NO_CLUSTER),
    ),
    (
        "kubectl create secret generic odoo-db-admin --from-literal=admin-password=\"<the admin's password>\"",
        NotRun(NO_CLUSTER),
    ),
    (
        "kubectl apply -f examples/kubernetes/odoo.yaml",
        NotRun(NO_CLUSTER),
    ),
    (
        "kubectl set image deployment/odoo '*=registry.example.com/odoo-init-odoo:18-2'",
        NotRun(NO_CLUSTER),
    ),
    (
        "bash scripts/bench.sh",
        NotRun("not run by the tests: a benchmark takes minutes"),
    ),
    (
        "docker build -t my-odoo .",
        Run("testkit/src/docker.rs", "ODOO_IMAGE={}"),
    ),
    (
        "docker build -f Dockerfile.build -t odoo-init-build .",
        NotRun("not run by the tests: they have no registry"),
    ),
    (
        "docker build --build-arg ODOO_INIT_BINARY=odoo-init-build -t my-odoo .",
        NotRun("not run by the tests: they have no registry"),
    ),
    (
        "docker compose -f docker-compose.yml -f docker-compose.dev.yml up -d",
        Run("tests/docker.rs", "\"docker-compose.dev.yml\""),
    ),
    (
        "docker compose exec odoo odoo-init restart -- --addons-path /mnt/extra-addons --dev=xml -u my_module",
        Run(
            "tests/docker.rs",
            "fn odoo_init_restart_through_docker_exec_passes_new_arguments",
        ),
    ),
    (
        "docker compose exec odoo odoo-init restart",
        Run(
            "tests/docker.rs",
            "fn odoo_init_restart_through_docker_exec_passes_new_arguments",
        ),
    ),
    (
        "docker compose exec odoo odoo-init restart --",
        Run(
            "tests/docker.rs",
            "fn odoo_init_restart_through_docker_exec_passes_new_arguments",
        ),
    ),
    (
        "docker compose exec odoo odoo-init status",
        Run("tests/docker.rs", "\"exec\", \"-T\", \"odoo\", \"odoo-init\", \"status\""),
    ),
    ("odoo-init adopt", Run("tests/checksums.rs", "cmd.arg(\"adopt\")")),
    ("kubectl scale deployment/odoo --replicas=0", NotRun(NO_CLUSTER)),
    (
        "kubectl create -f examples/kubernetes/backups.yaml",
        NotRun(NO_CLUSTER),
    ),
    (
        "kubectl wait --for=condition=complete job -l app=odoo-rollback --timeout=1h",
        NotRun(NO_CLUSTER),
    ),
    (
        "kubectl set image deployment/odoo odoo=registry.example.com/odoo-init-odoo:PREVIOUS",
        NotRun(NO_CLUSTER),
    ),
    ("kubectl scale deployment/odoo --replicas=2", NotRun(NO_CLUSTER)),
    ("docker compose stop odoo", NotRun(BY_ROLLBACK_TEST)),
    ("docker compose run --rm init rollback", NotRun(BY_ROLLBACK_TEST)),
    ("docker compose up -d odoo", NotRun(BY_ROLLBACK_TEST)),
];

const BY_ROLLBACK_TEST: &str = "not run by the tests as written: tests/rollback.rs runs the same";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The command lines of the `sh` blocks of `page`, comments dropped.
fn commands(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut in_sh = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            in_sh = !in_sh && matches!(lang.trim(), "sh" | "bash" | "shell");
            continue;
        }
        let command = line.split("  #").next().unwrap_or("").trim();
        if in_sh && !command.is_empty() && !command.starts_with('#') {
            found.push(command.to_string());
        }
    }
    found
}

#[test]
fn every_documented_command_is_run_by_a_test_or_its_page_says_why_not() {
    let mut pages = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut seen = 0;
    for page in &pages {
        // Its words with line breaks as spaces, as a reader reads them.
        let text = std::fs::read_to_string(page)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for command in commands(page) {
            seen += 1;
            let Some((_, by)) = COVERED.iter().find(|(c, _)| *c == command) else {
                panic!(
                    "{}: `{command}` is neither run by a test nor said not to be",
                    page.display()
                );
            };
            match by {
                Run(file, text) => {
                    let runner = std::fs::read_to_string(repo().join(file)).unwrap();
                    assert!(runner.contains(text), "{file} does not run `{command}`");
                }
                NotRun(why) => assert!(
                    text.contains(why),
                    "{} gives `{command}` without saying \"{why}\"",
                    page.display()
                ),
            }
        }
    }
    assert!(seen >= COVERED.len(), "{seen} commands found");
}
