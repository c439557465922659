//! The source stays readable in pieces: no file under `src/` is longer than 400 lines, and no
//! function on the flush path (`src/flush/`, `src/job.rs`, `src/schedule.rs`, `src/agent/`)
//! is longer than 60. A module that outgrows them has grown a second job.

use std::fs;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 400;
const MAX_FN_LINES: usize = 60;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Each function outside `mod tests` with its length in lines: from its `fn` line to the
/// closing brace at the same indentation.
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines.iter().position(|l| l.trim_start().starts_with("mod tests")).unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let body = body.strip_prefix("pub ").or_else(|| body.strip_prefix("pub(crate) ")).unwrap_or(body);
        let body = body.strip_prefix("async ").unwrap_or(body);
        let Some(rest) = body.strip_prefix("fn ") else { continue };
        if line.trim_end().ends_with(';') || line.trim_end().ends_with('}') {
            continue; // a declaration, or a one-line function
        }
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let close = format!("{indent}}}");
        let len = lines[i..end].iter().position(|l| *l == close).map_or(0, |n| n + 1);
        out.push((name, len));
    }
    out
}

#[test]
fn no_source_file_is_longer_than_400_lines() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    assert!(files.len() > 30);
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_FILE_LINES)
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(long.is_empty(), "split these by their jobs:\n{}", long.join("\n"));
}

#[test]
fn no_function_on_the_flush_path_is_longer_than_60_lines() {
    let mut files = Vec::new();
    for part in ["flush", "agent"] {
        sources(&src().join(part), &mut files);
    }
    files.extend(["job.rs", "schedule.rs"].map(|f| src().join(f)));
    let mut long = Vec::new();
    for f in &files {
        for (name, n) in functions(&fs::read_to_string(f).unwrap()) {
            if n > MAX_FN_LINES {
                long.push(format!("{}: fn {name} is {n} lines", f.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these into steps:\n{}", long.join("\n"));
}

#[test]
fn the_function_scanner_measures_from_fn_to_its_closing_brace() {
    let text =
        "pub async fn a() {\n    x;\n}\n\nimpl S {\n    fn b(&self) -> u8 {\n        1\n    }\n    fn c() {}\n}\n\
                #[cfg(test)]\nmod tests {\n    fn long() {\n    }\n}\n";
    assert_eq!(functions(text), [("a".to_string(), 3), ("b".to_string(), 3)]);
}
