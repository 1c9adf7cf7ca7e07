//! ARCHITECTURE.md's dependency rules, checked against the code: every
//! `crate::MODULE` a file of `src/` names (outside its unit tests) must be
//! one its module may use, and every module of `src/` must have a rule.
//! Also the absences the document states as invariants.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The table between the `dependency-rules` markers: module → what it may use.
fn rules() -> BTreeMap<String, BTreeSet<String>> {
    let doc = fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let start = doc
        .find("<!-- dependency-rules -->")
        .expect("ARCHITECTURE.md has a <!-- dependency-rules --> table");
    let end = doc[start..]
        .find("<!-- /dependency-rules -->")
        .expect("the dependency-rules table ends with <!-- /dependency-rules -->");
    let mut rules = BTreeMap::new();
    for line in doc[start..start + end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let names = |cell: &str| -> BTreeSet<String> {
            cell.split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .filter(|n| !n.is_empty() && n != "—")
                .collect()
        };
        for module in names(cells[1]) {
            rules.insert(module, names(cells[2]));
        }
    }
    assert!(rules.len() > 8, "too few rules read: {rules:?}");
    rules
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module of a file of `src/`; `None` for the crate root and `main.rs`.
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(Path::new(ROOT).join("src")).unwrap();
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    match first.as_str() {
        "lib.rs" | "main.rs" => None,
        name => Some(name.trim_end_matches(".rs").to_string()),
    }
}

/// The code of a file without its unit tests and its comment lines.
fn code(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names through `crate::`.
fn named(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for part in code.split("crate::").skip(1) {
        if let Some(group) = part.strip_prefix('{') {
            // `use crate::{a, b::c};`
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                names.insert(head(item.trim()));
            }
        } else {
            names.insert(head(part));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn head(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_module_uses_only_what_architecture_md_allows() {
    let rules = rules();
    let mut files = Vec::new();
    sources(&Path::new(ROOT).join("src"), &mut files);
    let mut broken = Vec::new();
    let mut modules = BTreeSet::new();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        modules.insert(module.clone());
        let Some(allowed) = rules.get(&module) else {
            broken.push(format!("{module}: no rule in ARCHITECTURE.md"));
            continue;
        };
        for used in named(&code(file)) {
            if used != module && !allowed.contains(&used) && !allowed.contains("*") {
                let rel = file.strip_prefix(ROOT).unwrap().display().to_string();
                broken.push(format!(
                    "{rel} uses crate::{used}; {module} may use only {allowed:?}"
                ));
            }
        }
    }
    for module in rules.keys() {
        if !modules.contains(module) {
            broken.push(format!(
                "ARCHITECTURE.md has a rule for {module}, which src/ does not have"
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// What ARCHITECTURE.md says a side knows nothing of, beyond the table.
#[test]
fn the_sides_know_nothing_of_what_they_must_not() {
    let mut files = Vec::new();
    sources(&Path::new(ROOT).join("src"), &mut files);
    for file in files {
        let rel = file.strip_prefix(ROOT).unwrap().display().to_string();
        let code = code(&file);
        if rel.starts_with("src/pid1/") {
            for what in ["postgres", "Odoo", "odoo::"] {
                assert!(
                    !code.contains(what),
                    "{rel}: pid1 knows nothing of databases or Odoo ({what})"
                );
            }
        }
        if rel.starts_with("src/db/") {
            for what in [
                "libc::kill",
                "sigtimedwait",
                "process::Command",
                "thread::sleep",
            ] {
                assert!(
                    !code.contains(what),
                    "{rel}: db neither signals, starts processes nor sleeps ({what})"
                );
            }
        }
        if rel == "src/odoo/http.rs" {
            let named = named(&code);
            assert!(
                named.is_empty(),
                "{rel} uses only std and odoo::args: {named:?}"
            );
        }
    }
}

/// A rule the test reads must name modules that exist: the parser is checked.
#[test]
fn the_rule_parser_reads_what_the_document_says() {
    let rules = rules();
    assert!(rules["pid1"].contains("exit"), "{:?}", rules["pid1"]);
    assert!(!rules["pid1"].contains("db"));
    assert_eq!(
        named("use crate::{a, b::c};\nlet x = crate::d::e(); crate::f;"),
        ["a", "b", "d", "f"].map(String::from).into()
    );
}
