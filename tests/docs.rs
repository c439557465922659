//! The documentation that must agree with the code: the README's parameter table and the man
//! page are both rendered from `tokenflush::params::PARAMS` (and the clap definitions), like the
//! meta-data, so an operator never reads a default or a parameter the agent does not have.

#[path = "../examples/docs.rs"]
mod docs;

use std::process::Command;

use tokenflush::metadata::{markdown_table, metadata_xml};
use tokenflush::params::PARAMS;

const BEGIN: &str = "<!-- params:begin -->";
const END: &str = "<!-- params:end -->";

/// README.md's parameter table, between the params markers, is exactly the table rendered from
/// PARAMS. To fix a failure, paste the output of `cargo run --example docs -- readme` between the
/// markers.
#[test]
fn readme_parameter_table_matches_the_parameter_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let expected = markdown_table();
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no {BEGIN} ... {END} section; put this table between them:\n\n{expected}");
    };
    assert!(b < e, "{BEGIN} comes after {END}");
    let actual = readme[b + BEGIN.len()..e].trim();
    assert!(
        actual == expected.trim(),
        "README.md's parameter table drifted from src/params.rs; replace it with \
         (cargo run --example docs -- readme):\n\n{expected}"
    );
}

/// The rendered table names every parameter once, with its default.
#[test]
fn markdown_table_lists_every_parameter_with_its_default() {
    let t = markdown_table();
    for p in PARAMS {
        assert_eq!(t.matches(&format!("| `{}` |", p.name)).count(), 1, "{}", p.name);
        if let Some(d) = p.default {
            assert!(t.contains(&format!("`{d}`")), "{}", p.name);
        }
        assert!(metadata_xml().contains(&format!("<parameter name=\"{}\"", p.name)));
    }
}

/// tokenflush(8) renders without a single groff warning and documents every parameter, every
/// human command and their options.
#[test]
fn man_page_renders_cleanly_and_documents_everything() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("tokenflush.8");
    std::fs::write(&page, docs::man_page()).unwrap();
    let out =
        Command::new("groff").args(["-man", "-Tutf8", "-ww", "-P-cbou"]).arg(&page).output().expect("groff (man-db)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "groff warnings:\n{stderr}");
    let text = String::from_utf8_lossy(&out.stdout).replace('\u{2010}', "-").replace("‐\n", "");
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in PARAMS {
        assert!(flat.contains(p.name), "man page lacks {}", p.name);
    }
    for word in ["tokenflush flush", "tokenflush status", "--dry-run", "--state-dir", "--target", "EXIT STATUS", "190"]
    {
        assert!(flat.contains(word), "man page lacks {word}");
    }
}
