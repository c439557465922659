//! The README's crm and pcs commands are the files `tests/cluster/e2e.sh` runs against a real
//! cluster (`ocf/crm-example.sh`, `ocf/pcs-example.sh`) with their defaults. An operator who
//! copies the README gets exactly what was tested.

use std::fs;

/// The command starting with `head`, continuation lines joined, whitespace folded.
fn command(text: &str, head: &str) -> Option<String> {
    let start = text.find(head)?;
    let mut out = String::new();
    for line in text[start..].lines() {
        let line = line.trim_end();
        match line.strip_suffix('\\') {
            Some(part) => out.push_str(part),
            None => {
                out.push_str(line);
                break;
            }
        }
        out.push(' ');
    }
    Some(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `"${TF_X:-default}"` becomes `default`, and shell quotes go, as the shell would run it.
fn with_defaults(cmd: &str) -> String {
    let mut out = String::new();
    let mut rest = cmd;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').map(|j| i + j).expect("closing brace");
        let inner = &rest[i + 2..end];
        out.push_str(inner.split_once(":-").map(|(_, d)| d).unwrap_or(""));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out.replace(['"', '\''], "")
}

#[test]
fn readme_crm_and_pcs_examples_are_the_tested_scripts() {
    let readme = fs::read_to_string("README.md").unwrap();
    for (script, head) in
        [("ocf/crm-example.sh", "crm configure primitive"), ("ocf/pcs-example.sh", "pcs resource create")]
    {
        let text = fs::read_to_string(script).unwrap();
        let from_script = with_defaults(&command(&text, head).unwrap_or_else(|| panic!("{script} has no {head}")));
        let from_readme = command(&readme, head).unwrap_or_else(|| panic!("README has no {head}")).replace('\'', "");
        assert_eq!(from_readme, from_script, "README and {script} differ");
    }
}
