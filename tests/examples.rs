//! The examples cannot rot: every YAML file under examples/ parses, and every
//! variable it gives to an odoo-init container is one odoo-init understands.

use std::path::{Path, PathBuf};

use odoo_init::config::VARIABLES;
use odoo_init::plan::Mode;
use yaml_rust2::{Yaml, YamlLoader};

fn yaml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("examples/ readable")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            found.push(path);
        }
    }
}

fn is_ours(node: &Yaml) -> bool {
    node["image"]
        .as_str()
        .is_some_and(|i| i.contains("odoo-init"))
}

/// `environment:` of a Compose service: a mapping or a list of `K=V`.
fn compose_env(service: &Yaml) -> Vec<(String, String)> {
    match &service["environment"] {
        Yaml::Hash(map) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => String::new(),
                };
                (k.as_str().unwrap_or_default().to_string(), value)
            })
            .collect(),
        Yaml::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `env:` of every odoo-init (init) container in a Kubernetes object.
fn kubernetes_env(doc: &Yaml) -> Vec<Vec<(String, String)>> {
    let pod = if doc["spec"]["template"]["spec"].is_badvalue() {
        &doc["spec"]
    } else {
        &doc["spec"]["template"]["spec"]
    };
    let mut all = Vec::new();
    for list in ["containers", "initContainers"] {
        for c in pod[list].as_vec().map(Vec::as_slice).unwrap_or_default() {
            if is_ours(c) {
                let env = c["env"]
                    .as_vec()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|e| {
                        (
                            e["name"].as_str().unwrap_or_default().to_string(),
                            e["value"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                all.push(env);
            }
        }
    }
    all
}

#[test]
fn every_variable_in_the_examples_is_one_odoo_init_understands() {
    let mut files = Vec::new();
    yaml_files(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .as_path(),
        &mut files,
    );
    assert!(
        files.len() >= 4,
        "compose and kubernetes examples: {files:?}"
    );
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let docs = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let mut envs: Vec<Vec<(String, String)>> = Vec::new();
        for doc in &docs {
            if let Yaml::Hash(services) = &doc["services"] {
                // A dev override names no image: it extends an odoo-init service.
                envs.extend(
                    services
                        .values()
                        .filter(|s| {
                            is_ours(s)
                                || s["image"].is_badvalue() && !s["environment"].is_badvalue()
                        })
                        .map(compose_env),
                );
            } else {
                envs.extend(kubernetes_env(doc));
            }
        }
        assert!(
            !envs.is_empty(),
            "{}: no odoo-init container found",
            file.display()
        );
        for env in envs {
            for (name, value) in env {
                assert!(
                    VARIABLES.contains(&name.as_str()),
                    "{}: {name} is not a variable odoo-init understands",
                    file.display()
                );
                if name == "MODE" {
                    assert!(
                        Mode::parse(&value).is_some(),
                        "{}: MODE={value}",
                        file.display()
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} variables checked");
}
