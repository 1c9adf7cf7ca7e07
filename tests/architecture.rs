//! ARCHITECTURE.md's dependency rules, checked against the code: every
//! module of the crate a file of `src/` names (outside its unit tests)
//! must be one its module may use, and every module of `src/` must have a
//! rule. Files are read with a Rust parser (`syn`), as the compiler reads
//! them: `use` trees at any depth, `crate::`, `super::` and `self::` paths
//! resolved from the file's own module, in code and in macro arguments,
//! wherever they stand (also after a test module). Also the absences the
//! document states as invariants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

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

/// The module path of a file of `src/` (`src/job/mod.rs`: `job`;
/// `src/db/tls/stream.rs`: `db::tls::stream`); `None` for the binary's
/// `main.rs`, which is another crate.
fn module_path(file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(Path::new(ROOT).join("src")).unwrap();
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    match last.as_str() {
        "main.rs" if parts.is_empty() => return None,
        "lib.rs" if parts.is_empty() => {}
        "mod.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_string()),
    }
    Some(parts)
}

/// The top-level module of a file of `src/`; `None` for the crate root and `main.rs`.
fn module_of(file: &Path) -> Option<String> {
    module_path(file)?.into_iter().next()
}

/// `#[cfg(test)]` or `#[test]`: code the rules do not cover.
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg")
                && a.meta
                    .require_list()
                    .is_ok_and(|l| l.tokens.to_string().trim() == "test"))
    })
}

/// Every path into the crate that code names, resolved to where it leads
/// from the crate root, with its line.
struct Uses {
    /// The module the visitor is in (the file's, then inline modules).
    module: Vec<String>,
    found: Vec<(Vec<String>, usize)>,
}

impl Uses {
    /// `segments` as written, resolved from the current module; `None`
    /// for a path that does not start at `crate`, `super` or `self`.
    fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let mut base = match segments.first()?.as_str() {
            "crate" => Vec::new(),
            "super" | "self" => self.module.clone(),
            _ => return None,
        };
        let mut rest = &segments[1.min(segments.len())..];
        if segments[0] == "super" {
            base.pop();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn note(&mut self, segments: &[String], line: usize) {
        if let Some(path) = self.resolve(segments) {
            self.found.push((path, line));
        }
    }

    /// Every full path of a `use` tree (`a::{b, c::{d}}`: `a::b`, `a::c::d`).
    fn tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, line: usize) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.tree(prefix, &p.tree, line);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.note(&prefix.clone(), line);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.note(&prefix.clone(), line);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.note(&prefix.clone(), line),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.tree(prefix, item, line);
                }
            }
        }
    }

    /// `crate :: a`, `super :: a` in a macro's tokens (`log::info!(...)`).
    fn tokens(&mut self, tokens: TokenStream) {
        let list: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, t) in list.iter().enumerate() {
            match t {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id)
                    if ["crate", "super", "self"].contains(&id.to_string().as_str()) =>
                {
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    while let (
                        Some(TokenTree::Punct(a)),
                        Some(TokenTree::Punct(b)),
                        Some(TokenTree::Ident(next)),
                    ) = (list.get(j), list.get(j + 1), list.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segments.push(next.to_string());
                        j += 3;
                    }
                    if segments.len() > 1 {
                        self.note(&segments, id.span().start().line);
                    }
                }
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for Uses {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test(&m.attrs) {
            return;
        }
        self.module.push(m.ident.to_string());
        visit::visit_item_mod(self, m);
        self.module.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test(&f.attrs) {
            visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if !is_test(&i.attrs) {
            visit::visit_item_impl(self, i);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if !is_test(&u.attrs) {
            let line = u.use_token.span.start().line;
            self.tree(&mut Vec::new(), &u.tree, line);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let line = p
            .segments
            .first()
            .map_or(0, |s| s.ident.span().start().line);
        // `self` alone is the receiver, not a path into the crate.
        if segments.len() > 1 {
            self.note(&segments, line);
        }
        visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(m.tokens.clone());
        visit::visit_macro(self, m);
    }
}

/// The paths into the crate that `source`, the file of module `module`,
/// names outside its tests.
fn uses_in(source: &str, module: &[String]) -> Vec<(Vec<String>, usize)> {
    let file = syn::parse_file(source).expect("a file of src/ parses");
    let mut uses = Uses {
        module: module.to_vec(),
        found: Vec::new(),
    };
    uses.visit_file(&file);
    uses.found
}

/// The top-level modules a file of module `module` names.
fn named_in(source: &str, module: &[String]) -> BTreeSet<String> {
    uses_in(source, module)
        .into_iter()
        .filter_map(|(path, _)| path.into_iter().next())
        .collect()
}

/// The code of a file without its tests (every item under `#[cfg(test)]`
/// or `#[test]`, wherever it stands) and its comment lines.
fn code(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap();
    let parsed = syn::parse_file(&text).expect("a file of src/ parses");
    let mut tests: Vec<(usize, usize)> = Vec::new();
    for item in &parsed.items {
        // Its attributes and the line it ends on.
        let (attrs, end): (&[syn::Attribute], usize) = match item {
            syn::Item::Mod(m) => (
                &m.attrs,
                m.content.as_ref().map_or_else(
                    || m.semi.as_ref().map_or(0, |s| s.span.end().line),
                    |(brace, _)| brace.span.close().end().line,
                ),
            ),
            syn::Item::Fn(f) => (&f.attrs, f.block.brace_token.span.close().end().line),
            syn::Item::Impl(i) => (&i.attrs, i.brace_token.span.close().end().line),
            syn::Item::Use(u) => (&u.attrs, u.semi_token.span.end().line),
            _ => (&[], 0),
        };
        if is_test(attrs) {
            if let Some(first) = attrs.first() {
                tests.push((first.pound_token.span.start().line, end));
            }
        }
    }
    text.lines()
        .enumerate()
        .filter(|(i, _)| !tests.iter().any(|(a, b)| (a..=b).contains(&&(i + 1))))
        .map(|(_, l)| l)
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
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
        let source = fs::read_to_string(file).unwrap();
        let path = module_path(file).unwrap_or_default();
        for used in named_in(&source, &path) {
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
            for what in ["Lookup", "env::var", "std::env"] {
                assert!(
                    !code.contains(what),
                    "{rel}: db reads no variable; config/ hands it values ({what})"
                );
            }
        }
        if rel == "src/odoo/http.rs" {
            let source = fs::read_to_string(&file).unwrap();
            let others: Vec<Vec<String>> = uses_in(&source, &module_path(&file).unwrap())
                .into_iter()
                .map(|(path, _)| path)
                .filter(|path| !path.starts_with(&["odoo".to_string(), "args".to_string()]))
                .collect();
            assert!(
                others.is_empty(),
                "{rel} uses only std and odoo::args: {others:?}"
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
    let here = |m: &str| m.split("::").map(String::from).collect::<Vec<_>>();
    assert_eq!(
        named_in(
            "use crate::{a, b::c};\nfn f() { let x = crate::d::e(); crate::f(); log::info!(\"{}\", crate::g::h()); }",
            &here("x")
        ),
        ["a", "b", "d", "f", "g"].map(String::from).into()
    );
}

/// Each way around a reader of text that the parser closes: a relative
/// path up and across, a nested group, an import after a test module.
#[test]
fn the_bypasses_of_a_text_reader_are_seen() {
    let here = |m: &str| m.split("::").map(String::from).collect::<Vec<_>>();
    let cases = [
        ("use super::super::job::hostname;", "db::x", "job"),
        (
            "use super::super::super::job::hostname;",
            "db::tls::x",
            "job",
        ),
        (
            "use crate::{meanwhile::{Meanwhile}, job::hostname};",
            "db::x",
            "job",
        ),
        (
            "#[cfg(test)]\nmod tests {}\nuse crate::job::hostname;",
            "db::x",
            "job",
        ),
        ("fn f() { super::super::job::hostname(); }", "db::x", "job"),
        (
            "use self::inner::x; mod inner { pub use crate::cli::x; }",
            "db::x",
            "cli",
        ),
    ];
    for (source, module, leads_to) in cases {
        let named = named_in(source, &here(module));
        assert!(
            named.contains(leads_to),
            "{source:?} in {module}: {named:?}"
        );
    }
    // Tests are still not covered.
    let named = named_in(
        "#[cfg(test)]\nmod tests { use crate::job::x; }",
        &here("db::x"),
    );
    assert!(named.is_empty(), "{named:?}");
}

/// The files of `src/` and the files each one's code leads to.
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&Path::new(ROOT).join("src"), &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .filter_map(|f| {
            Some((
                module_path(f)?,
                f.strip_prefix(ROOT).unwrap().display().to_string(),
            ))
        })
        .collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let Some(path) = module_path(file) else {
            continue;
        };
        let me = modules[&path].clone();
        let source = fs::read_to_string(file).unwrap();
        let mut targets = BTreeSet::new();
        for (used, _) in uses_in(&source, &path) {
            // The file of the longest module prefix of what is used.
            let target = (0..=used.len())
                .rev()
                .find_map(|n| modules.get(&used[..n]))
                .cloned();
            if let Some(target) = target.filter(|t| *t != me && !t.ends_with("lib.rs")) {
                targets.insert(target);
            }
        }
        graph.insert(me, targets);
    }
    graph
}

/// Groups of files that lead to each other (strongly connected, more than one).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(f) = todo.pop() {
            for t in graph.get(&f).into_iter().flatten() {
                if seen.insert(t.clone()) {
                    todo.push(t.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|f| (f, reach(f))).collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for (f, r) in &reaches {
        if !r.contains(*f) || groups.iter().any(|g| g.contains(*f)) {
            continue;
        }
        let group: BTreeSet<String> = r
            .iter()
            .filter(|t| reaches.get(t).is_some_and(|back| back.contains(*f)))
            .cloned()
            .collect();
        groups.push(group);
    }
    groups
}

/// No two files lead to each other (a file's code names the other's
/// items, both ways): pid1's supervisor is a core (`supervisor.rs`, the
/// child's two ends in `child.rs`) that the stop sequence, the run phase,
/// the steps and the launcher's pause are built on, never the reverse.
#[test]
fn no_files_lead_to_each_other() {
    let found = cycles(&file_graph());
    assert!(found.is_empty(), "files that lead to each other: {found:?}");
    // The finder finds one where there is one.
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(f, to)| (f.to_string(), to.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        cycles(&graph),
        vec![["a", "b", "c"].map(String::from).into()]
    );
}
