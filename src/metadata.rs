//! What is rendered from the parameter and action tables: the meta-data XML (valid against
//! ra-api-1.dtd, which ocf-tester checks, and metadata.rng) and the README's parameter table.

use std::fmt::Write as _;

use crate::action::ACTIONS;
use crate::params::PARAMS;
use crate::text::one_line;

pub const AGENT_LONGDESC: &str = "tokenflush keeps OpenStack Keystone's SQL token table (or any table of expiring rows) free of \
expired rows. It runs as one cluster resource, so it is active on exactly one node. Each recurring monitor runs a flush when \
the interval is due: it deletes rows whose expiry is older than the database server's UTC clock minus the grace period, in \
small chunks that each commit on their own, and stops at a chunk boundary within its time budget. A failed flush makes the \
monitor report degraded (190) without triggering recovery.";

/// The meta-data XML.
pub fn metadata_xml() -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n");
    let _ = writeln!(x, "<resource-agent name=\"tokenflush\" version=\"{}\">", env!("CARGO_PKG_VERSION"));
    x.push_str("<version>1.1</version>\n");
    let _ = writeln!(x, "<longdesc lang=\"en\">\n{}\n</longdesc>", escape(AGENT_LONGDESC));
    x.push_str("<shortdesc lang=\"en\">Flushes expired Keystone tokens in small committed chunks</shortdesc>\n");
    x.push_str("<parameters>\n");
    for p in PARAMS {
        let _ = writeln!(
            x,
            "<parameter name=\"{}\" unique=\"{}\" required=\"{}\">",
            p.name,
            u8::from(p.unique),
            u8::from(p.required)
        );
        let _ = writeln!(x, "<longdesc lang=\"en\">\n{}\n</longdesc>", escape(p.long));
        let _ = writeln!(x, "<shortdesc lang=\"en\">{}</shortdesc>", escape(p.short));
        let default = p.default.map(|d| format!(" default=\"{}\"", escape(d))).unwrap_or_default();
        let _ = writeln!(x, "<content type=\"{}\"{default} />", p.kind.content_type());
        x.push_str("</parameter>\n");
    }
    x.push_str("</parameters>\n<actions>\n");
    for a in ACTIONS {
        let Some(timeout) = a.timeout else { continue };
        match a.interval {
            Some(i) => {
                let _ =
                    writeln!(x, "<action name=\"{}\" timeout=\"{timeout}\" interval=\"{i}\" depth=\"0\" />", a.name);
            }
            None => {
                let _ = writeln!(x, "<action name=\"{}\" timeout=\"{timeout}\" />", a.name);
            }
        }
    }
    x.push_str("</actions>\n</resource-agent>\n");
    x
}

/// The README's parameter table (a test keeps README.md equal to it; `cargo run --example docs
/// -- readme` prints it). The long descriptions are in the meta-data and the man page.
pub fn markdown_table() -> String {
    let mut t = String::from("| name | type | default | description |\n|---|---|---|---|\n");
    for p in PARAMS {
        let default = p.default.map(|d| format!("`{d}`")).unwrap_or_default();
        let short = p.short.replace('|', "\\|");
        let _ = writeln!(t, "| `{}` | {} | {default} | {short} |", p.name, p.kind.content_type());
    }
    t
}

fn escape(s: &str) -> String {
    one_line(s).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_documented_once() {
        let xml = metadata_xml();
        for p in PARAMS {
            assert_eq!(xml.matches(&format!("<parameter name=\"{}\"", p.name)).count(), 1, "{}", p.name);
        }
    }

    #[test]
    fn every_advertised_action_is_in_the_meta_data() {
        let xml = metadata_xml();
        for a in ACTIONS.iter().filter(|a| a.timeout.is_some()) {
            assert_eq!(xml.matches(&format!("<action name=\"{}\"", a.name)).count(), 1, "{}", a.name);
        }
        assert!(xml.contains("<action name=\"monitor\" timeout=\"60s\" interval=\"60s\" depth=\"0\" />"));
        assert!(!xml.contains("\"notify\""));
    }
}
