//! The module graph is a DAG, and `src/lib.rs` lists the modules lowest layer first: each module
//! uses only modules declared above it. A newcomer reads the table top to bottom and never meets
//! a module that depends on one further down.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The top-level modules in the order `src/lib.rs` declares them.
fn declared_order() -> Vec<String> {
    let lib = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';').to_string()).collect()
}

/// Every `crate::<module>` a file names, in `use` lines or inline paths.
fn crate_refs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` in a macro, or part of a longer name
        }
        let rest = &text[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if rest[name.len()..].starts_with('!') {
            out.push("log".to_string()); // `crate::error!(...)`: the logging macros live in `log`
        } else if !name.is_empty() {
            out.push(name);
        }
    }
    // `use crate::{a, b::c}`
    for (i, _) in text.match_indices("crate::{") {
        let rest = &text[i + "crate::{".len()..];
        let group = &rest[..rest.find('}').unwrap_or(rest.len())];
        for item in group.split(',') {
            let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

/// Which top-level modules each module uses (tests inside a module count too).
fn uses() -> BTreeMap<String, Vec<String>> {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files {
        let m = module_of(src, &f);
        if m == "lib" || m == "main" {
            continue;
        }
        // Code only: a doc comment may point anywhere.
        let text: String = fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = graph.entry(m.clone()).or_default();
        for d in crate_refs(&text) {
            if d != m && !deps.contains(&d) {
                deps.push(d);
            }
        }
    }
    graph
}

#[test]
fn each_module_uses_only_modules_declared_above_it() {
    let order = declared_order();
    assert!(order.len() > 10, "{order:?}");
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut wrong = Vec::new();
    for (m, deps) in uses() {
        let Some(r) = rank(&m) else {
            wrong.push(format!("{m} is not declared in lib.rs"));
            continue;
        };
        for d in deps {
            match rank(&d) {
                // Macros (`info!`, ...) are exported at the crate root and live in `log`.
                None if ["info", "warn", "error", "debug"].contains(&d.as_str()) => {
                    if rank("log").is_some_and(|l| l > r) {
                        wrong.push(format!("{m} logs, but log is declared below it"));
                    }
                }
                None => wrong.push(format!("{m} uses crate::{d}, which lib.rs does not declare")),
                Some(rd) if rd >= r => wrong.push(format!("{m} uses {d}, which lib.rs declares below it")),
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "the module graph does not follow lib.rs's order:\n{}", wrong.join("\n"));
}

#[test]
fn the_reference_scanner_sees_use_groups_and_paths() {
    let mut refs = crate_refs(
        "use crate::{db, flush::End};\nlet x = crate::text::one_line(s); $crate::log::log; crate::error!(x)",
    );
    refs.sort();
    assert_eq!(refs, ["db", "flush", "log", "text"]);
}
