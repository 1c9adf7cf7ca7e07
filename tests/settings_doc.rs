//! docs/configuration.md and the settings table agree (issue: settings
//! as data): every variable odoo-init reads (`config::SETTINGS`) is named
//! on the page, and every name in the first column of its table is one of
//! them, so that a setting added, renamed or dropped in one place and not
//! the other fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init::config::variables;

fn page() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap()
}

/// The names in backticks of the first cell of each row of the page's
/// first table.
fn table_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if !line.starts_with('|') {
            if in_table {
                break;
            }
            continue;
        }
        in_table = true;
        let first = line.split('|').nth(1).unwrap_or_default();
        names.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
    }
    names
}

#[test]
fn every_setting_is_on_the_page_and_every_row_is_a_setting() {
    let text = page();
    let missing: Vec<&str> = variables()
        .filter(|v| !text.contains(&format!("`{v}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md: {missing:?}"
    );
    let names = table_names(&text);
    assert!(names.len() > 30, "{names:?}");
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !variables().any(|v| v == n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "in the table, read by nothing: {unknown:?}"
    );
}

/// The check itself fails on a page that lacks a setting or names one
/// that does not exist.
#[test]
fn the_check_catches_a_missing_and_an_unknown_setting() {
    let text = page();
    let without = text.replace("`STOP_DELAY`", "`STOP-DELAY`");
    assert!(!without.contains("`STOP_DELAY`"));
    let names = table_names(&without);
    assert!(names.iter().any(|n| n == "STOP-DELAY"));
    assert!(!variables().any(|v| v == "STOP-DELAY"));
}
