//! The demo, the first of the README's two commands, runs to its end (it
//! builds what it needs, starts its own PostgreSQL and removes it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn the_demo_runs() {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash")
        .arg(repo.join("scripts/demo.sh"))
        .output()
        .expect("bash");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("odoo-init state"), "{said}");
}
