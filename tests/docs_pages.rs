//! The docs read as pages (issue: docs written as pages): each page of
//! docs/ starts with its title and then says what it is for, never a
//! heading that repeats the title; it points at other sections with links
//! that resolve (the file, and the heading the anchor names), not with
//! "below" or a section's bare name; and it holds no words only the
//! project's history explains (issue and session numbers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    found.push(root().join("README.md"));
    found.push(root().join("ARCHITECTURE.md"));
    found.sort();
    found
}

/// The lines outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_`
/// dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim_start_matches('#')
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(page).unwrap();
    prose(&text)
        .iter()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l))
        .collect()
}

/// Every `](target)` of `line` that is a file of the project.
fn links(line: &str) -> Vec<String> {
    line.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|t| !t.starts_with("http"))
        .map(str::to_string)
        .collect()
}

#[test]
fn each_page_says_what_it_is_for_and_links_resolve() {
    let mut bad = Vec::new();
    for page in pages() {
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        let text = std::fs::read_to_string(&page).unwrap();
        let lines = prose(&text);
        let title = lines.first().copied().unwrap_or_default();
        if !title.starts_with("# ") {
            bad.push(format!("{name}: does not start with its title"));
        }
        let next = lines.iter().skip(1).find(|l| !l.trim().is_empty());
        if next.is_none_or(|l| l.starts_with('#')) {
            bad.push(format!(
                "{name}: no words on what it is for before its first section"
            ));
        }
        let again = format!("#{title}");
        if lines.contains(&again.as_str()) {
            bad.push(format!("{name}: a heading repeats the title"));
        }
        for line in &lines {
            let lower = line.to_lowercase();
            for word in [
                "(below)",
                ", below)",
                "(above)",
                "issue #",
                "design card",
                "the seed",
            ] {
                if lower.contains(word) {
                    bad.push(format!("{name}: {word:?} in {line:?}"));
                }
            }
            // "#20": an issue of the project's ("PKCS#1" is a standard's name).
            let issue = line.match_indices('#').any(|(at, _)| {
                line[at + 1..].starts_with(|c: char| c.is_ascii_digit())
                    && !line[..at].ends_with("PKCS")
            });
            if issue {
                bad.push(format!("{name}: an issue number in {line:?}"));
            }
            // "session 9": one of the project's, not a database's.
            let numbered = lower
                .match_indices("session ")
                .any(|(at, w)| lower[at + w.len()..].starts_with(|c: char| c.is_ascii_digit()));
            if numbered {
                bad.push(format!("{name}: a session of the project's in {line:?}"));
            }
            for target in links(line) {
                let (file, hash) = target.split_once('#').unwrap_or((&target, ""));
                let linked = match file {
                    "" => page.clone(),
                    f => page.parent().unwrap().join(f),
                };
                if !linked.exists() {
                    bad.push(format!("{name}: link to {target}: no such file"));
                } else if !hash.is_empty() && !anchors(&linked).contains(hash) {
                    bad.push(format!("{name}: link to {target}: no such heading"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(
        anchor("### Update only what changed (`UPDATE`)"),
        "update-only-what-changed-update"
    );
    assert_eq!(
        anchor("## `MODULES` is the set to have"),
        "modules-is-the-set-to-have"
    );
}
