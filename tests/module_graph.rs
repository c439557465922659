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

/// Every module's path (`src/flush/rebuild/copy.rs` is `flush::rebuild::copy`, a `mod.rs` its
/// directory's module) and code: comments are left out, since a doc comment may point anywhere,
/// and tests inside a module count too. `lib.rs` and `main.rs` are not modules.
fn modules() -> Vec<(Vec<String>, String)> {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let m = module_path(src, &f);
        if m == ["lib"] || m == ["main"] {
            continue;
        }
        let code: String = fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        out.push((m, code));
    }
    out
}

/// Which top-level modules each top-level module uses.
fn uses() -> BTreeMap<String, Vec<String>> {
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, code) in modules() {
        let m = path[0].clone();
        let deps = graph.entry(m.clone()).or_default();
        for d in crate_refs(&code) {
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

/// A module's path from its file: `src/flush/rebuild/copy.rs` is `flush::rebuild::copy`, and a
/// `mod.rs` is its directory's module.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every path a file names from `crate::`, `super::` or `self::`, group items spelled out:
/// `use super::chunk::{self, Work}` names `super::chunk`, `super::chunk::self` and
/// `super::chunk::Work`.
fn relative_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in text.match_indices(start) {
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b'$') {
                continue;
            }
            if i >= 2 && &text[i - 2..i] == "::" {
                continue; // the middle of a longer path, `super::super::x`, seen from its start
            }
            let rest = &text[i..];
            let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
            let path: Vec<String> = rest[..len].split("::").filter(|p| !p.is_empty()).map(String::from).collect();
            if rest[len..].starts_with('{') {
                let group = &rest[len + 1..rest[len..].find('}').map_or(rest.len(), |e| len + e)];
                for item in group.split(',') {
                    let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        out.push(path.iter().cloned().chain([name]).collect());
                    }
                }
            }
            out.push(path);
        }
    }
    out
}

/// The module a path in `from` leads to: the longest known module it starts with.
fn resolve(from: &[String], path: &[String], known: &[Vec<String>]) -> Option<Vec<String>> {
    let (base, rest): (Vec<String>, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("self") => (from.to_vec(), &path[1..]),
        Some("super") => {
            let ups = path.iter().take_while(|p| *p == "super").count();
            (from[..from.len().saturating_sub(ups)].to_vec(), &path[ups..])
        }
        _ => return None,
    };
    (0..=rest.len())
        .rev()
        .map(|n| base.iter().chain(&rest[..n]).cloned().collect::<Vec<_>>())
        .find(|m| known.contains(m))
}

/// Which modules, at every depth, each module uses. A module using its own ancestor (a child's
/// `super::FlushOpts`) or descendant (a parent's `pub use child::X`) is how Rust nests modules,
/// not a dependency between two jobs, and is left out.
fn nested_uses() -> BTreeMap<Vec<String>, Vec<Vec<String>>> {
    let texts = modules();
    let known: Vec<Vec<String>> = texts.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = BTreeMap::new();
    for (m, text) in &texts {
        let mut deps: Vec<Vec<String>> = Vec::new();
        for p in relative_paths(text) {
            let Some(d) = resolve(m, &p, &known) else { continue };
            if !d.starts_with(m) && !m.starts_with(&d) && !deps.contains(&d) {
                deps.push(d);
            }
        }
        graph.insert(m.clone(), deps);
    }
    graph
}

/// A cycle in `graph`, as the modules on it, if there is one.
fn find_cycle(graph: &BTreeMap<Vec<String>, Vec<Vec<String>>>) -> Option<Vec<String>> {
    fn visit<'a>(
        m: &'a Vec<String>,
        graph: &'a BTreeMap<Vec<String>, Vec<Vec<String>>>,
        done: &mut Vec<&'a Vec<String>>,
        path: &mut Vec<&'a Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| *p == m) {
            return Some(path[at..].iter().chain([&m]).map(|p| p.join("::")).collect());
        }
        if done.contains(&m) {
            return None;
        }
        path.push(m);
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.push(m);
        None
    }
    let mut done = Vec::new();
    graph.keys().find_map(|m| visit(m, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_modules_at_any_depth_use_each_other_in_a_circle() {
    let graph = nested_uses();
    assert!(graph.contains_key(&vec!["flush".to_string(), "rebuild".to_string(), "copy".to_string()]));
    let cycle = find_cycle(&graph);
    assert!(cycle.is_none(), "modules use each other in a circle: {}", cycle.unwrap_or_default().join(" -> "));
}

#[test]
fn the_nested_scanner_resolves_relative_paths_and_finds_a_circle() {
    let known: Vec<Vec<String>> = [vec!["flush"], vec!["flush", "chunk"], vec!["flush", "sql"], vec!["db"]]
        .iter()
        .map(|m| m.iter().map(|s| s.to_string()).collect())
        .collect();
    let from = &known[1];
    let paths = relative_paths("use super::sql::{self, Cursor};\nlet d = crate::db::x(); super::super::db::y;");
    let resolved: Vec<String> = paths.iter().filter_map(|p| resolve(from, p, &known)).map(|m| m.join("::")).collect();
    assert_eq!(resolved, ["db", "flush::sql", "flush::sql", "flush::sql", "db"]);

    let mut graph = BTreeMap::new();
    graph.insert(known[1].clone(), vec![known[2].clone()]);
    graph.insert(known[2].clone(), vec![known[3].clone()]);
    assert_eq!(find_cycle(&graph), None);
    graph.insert(known[3].clone(), vec![known[1].clone()]);
    assert_eq!(find_cycle(&graph).unwrap(), ["db", "flush::chunk", "flush::sql", "db"]);
}
