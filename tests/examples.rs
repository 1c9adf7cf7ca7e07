//! The examples cannot rot: every YAML file under examples/ parses, and every
//! variable it gives to an odoo-init container is one odoo-init understands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use odoo_init::config::variables;
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
                // Where Odoo runs with workers, its websocket port is published too.
                for service in services.values() {
                    let command = service["command"].as_vec().cloned().unwrap_or_default();
                    let workers = command.iter().any(|w| w.as_str() == Some("--workers"));
                    let ports = service["ports"].as_vec().cloned().unwrap_or_default();
                    if workers && !ports.is_empty() {
                        assert!(
                            ports
                                .iter()
                                .any(|p| p.as_str().is_some_and(|p| p.ends_with(":8072"))),
                            "{}: --workers without port 8072 published",
                            file.display()
                        );
                    }
                }
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
                    variables().any(|v| v == name),
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

/// The env value of `name` in a container, if set.
fn env_of<'y>(container: &'y Yaml, name: &str) -> Option<&'y str> {
    container["env"]
        .as_vec()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str())
}

fn seconds(value: Option<&str>, default: i64) -> i64 {
    value
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(default, |v| v.ceil() as i64)
}

/// What an SRE would check before merging the Kubernetes examples: every
/// container hardened, requests and a memory limit, a grace period above
/// odoo-init's own stop, a shared filestore and a disruption budget for
/// several replicas, probes that tolerate one slow answer, only `Init`
/// seeing the admin's password, and an update Job that never runs twice
/// by itself.
#[test]
fn the_kubernetes_examples_follow_the_projects_production_rules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let file = entry.path();
        let name = file.display().to_string();
        let docs = YamlLoader::load_from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        for doc in &docs {
            let kind = doc["kind"].as_str().unwrap_or_default();
            // A CronJob's Job is held to a Job's rules.
            let (kind, doc) = match kind {
                "CronJob" => ("Job", &doc["spec"]["jobTemplate"]),
                "Deployment" | "Job" => (kind, doc),
                _ => continue,
            };
            let pod = &doc["spec"]["template"]["spec"];
            let security = &pod["securityContext"];
            assert_eq!(security["runAsNonRoot"].as_bool(), Some(true), "{name}");
            assert_eq!(
                security["runAsUser"].as_i64(),
                Some(101),
                "{name}: numeric user"
            );
            assert_eq!(security["runAsGroup"].as_i64(), Some(101), "{name}");
            assert_eq!(
                security["seccompProfile"]["type"].as_str(),
                Some("RuntimeDefault"),
                "{name}"
            );
            let volumes = pod["volumes"].as_vec().cloned().unwrap_or_default();
            let empty_dirs: Vec<&str> = volumes
                .iter()
                .filter(|v| !v["emptyDir"].is_badvalue())
                .filter_map(|v| v["name"].as_str())
                .collect();
            let containers: Vec<&Yaml> = ["initContainers", "containers"]
                .iter()
                .flat_map(|list| {
                    pod[*list]
                        .as_vec()
                        .map(|v| v.iter().collect::<Vec<_>>())
                        .unwrap_or_default()
                })
                .collect();
            // The directories the admin's password is mounted from.
            let admin_dirs: Vec<String> = containers
                .iter()
                .filter_map(|c| env_of(c, "DB_ADMIN_PASSWORD_FILE"))
                .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d.to_string()))
                .collect();
            let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
            for c in &containers {
                let what = format!("{name}: {}", c["name"].as_str().unwrap_or("?"));
                let sc = &c["securityContext"];
                assert_eq!(
                    sc["allowPrivilegeEscalation"].as_bool(),
                    Some(false),
                    "{what}"
                );
                assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{what}");
                let drops = sc["capabilities"]["drop"]
                    .as_vec()
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    drops.iter().any(|d| d.as_str() == Some("ALL")),
                    "{what}: drop ALL"
                );
                let mounts = c["volumeMounts"].as_vec().cloned().unwrap_or_default();
                assert!(
                    mounts
                        .iter()
                        .any(|m| m["mountPath"].as_str() == Some("/tmp")
                            && m["name"].as_str().is_some_and(|n| empty_dirs.contains(&n))),
                    "{what}: a writable /tmp (emptyDir) beside the read-only root"
                );
                assert!(
                    !c["resources"]["requests"]["memory"].is_badvalue(),
                    "{what}: requests"
                );
                assert!(
                    !c["resources"]["limits"]["memory"].is_badvalue(),
                    "{what}: a memory limit"
                );
                if env_of(c, "DB_ADMIN_PASSWORD_FILE").is_none() {
                    for m in &mounts {
                        let path = m["mountPath"].as_str().unwrap_or_default();
                        assert!(
                            !admin_dirs.iter().any(|d| d == path),
                            "{what}: sees the admin's password"
                        );
                    }
                }
                // odoo-init's own stop ends before Kubernetes' SIGKILL.
                let stop = seconds(env_of(c, "STOP_DELAY"), 0)
                    + seconds(env_of(c, "STOP_TIMEOUT"), 25)
                    + 3;
                assert!(
                    grace > stop,
                    "{what}: terminationGracePeriodSeconds {grace} <= {stop}"
                );
                // A pod that waits at the gate (up to TIMEOUT) for another
                // pod's step is not killed by its startup probe.
                if !c["startupProbe"].is_badvalue() {
                    let probe = &c["startupProbe"];
                    let allowed = probe["failureThreshold"].as_i64().unwrap_or(3)
                        * probe["periodSeconds"].as_i64().unwrap_or(10);
                    let timeout = seconds(env_of(c, "TIMEOUT"), 1800);
                    assert!(
                        allowed > timeout,
                        "{what}: the startup probe allows {allowed} s, TIMEOUT is {timeout} s"
                    );
                }
                if !c["readinessProbe"].is_badvalue() {
                    let threshold = c["readinessProbe"]["failureThreshold"]
                        .as_i64()
                        .unwrap_or(3);
                    assert!(
                        threshold >= 2,
                        "{what}: one slow answer must not drop the pod"
                    );
                }
                if c["ports"]
                    .as_vec()
                    .is_some_and(|p| p.iter().any(|p| p["containerPort"].as_i64() == Some(8072)))
                {
                    let service = docs.iter().find(|d| d["kind"].as_str() == Some("Service"));
                    if let Some(service) = service {
                        let ports = service["spec"]["ports"]
                            .as_vec()
                            .cloned()
                            .unwrap_or_default();
                        assert!(
                            ports.iter().any(|p| p["port"].as_i64() == Some(8072)),
                            "{name}: the websocket in the Service"
                        );
                    }
                }
                checked += 1;
            }
            if kind == "Deployment" && doc["spec"]["replicas"].as_i64().unwrap_or(1) > 1 {
                let claims: Vec<&str> = volumes
                    .iter()
                    .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
                    .collect();
                let shared = docs.iter().any(|d| {
                    d["kind"].as_str() == Some("PersistentVolumeClaim")
                        && claims.contains(&d["metadata"]["name"].as_str().unwrap_or_default())
                        && d["spec"]["accessModes"]
                            .as_vec()
                            .is_some_and(|m| m.iter().any(|m| m.as_str() == Some("ReadWriteMany")))
                });
                assert!(
                    shared,
                    "{name}: several replicas share a ReadWriteMany filestore"
                );
                assert!(
                    kinds.contains(&"PodDisruptionBudget"),
                    "{name}: a PodDisruptionBudget"
                );
            }
            if kind == "Job" {
                let spec = &doc["spec"];
                assert_eq!(
                    spec["backoffLimit"].as_i64(),
                    Some(0),
                    "{name}: never re-run by itself"
                );
                assert!(spec["activeDeadlineSeconds"].as_i64().is_some(), "{name}");
                assert!(spec["ttlSecondsAfterFinished"].as_i64().is_some(), "{name}");
                // A CronJob names its Jobs itself.
                assert!(
                    doc["metadata"]["generateName"].as_str().is_some()
                        || doc["metadata"].is_badvalue(),
                    "{name}: a name per run"
                );
            }
        }
    }
    assert!(checked >= 6, "only {checked} containers checked");
}

/// The Kubernetes versions the examples are validated against, strictly
/// (unknown fields refused): three recent ones.
const KUBERNETES: [&str; 3] = ["1.30", "1.33", "1.37"];

fn kubernetes_validate() -> std::path::PathBuf {
    let path = std::env::var_os("KUBERNETES_VALIDATE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/click-venv/bin/kubernetes-validate")
        });
    assert!(
        path.is_file(),
        "{} is missing: `. scripts/venv.sh` installs kubernetes-validate (pip) into the tests' virtual environment",
        path.display()
    );
    path
}

#[test]
fn the_kubernetes_examples_pass_the_strict_schemas_of_three_versions() {
    let validate = kubernetes_validate();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    for version in KUBERNETES {
        let out = std::process::Command::new(&validate)
            .args(["--strict", "--quiet", "-k", version])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "Kubernetes {version}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The validator refuses what it should: a field Kubernetes does not know.
    let scratch = odoo_init_testkit::Scratch::new("k8s-typo");
    let typo = scratch.join("typo.yaml");
    let text = std::fs::read_to_string(dir.join("update-job.yaml")).unwrap();
    std::fs::write(&typo, text.replace("backoffLimit", "backofLimit")).unwrap();
    let out = std::process::Command::new(&validate)
        .args(["--strict", "--quiet", "-k", KUBERNETES[2]])
        .arg(&typo)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt field passed");
}
