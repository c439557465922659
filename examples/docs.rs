//! Generates the documentation that must agree with the code: the man page tokenflush(8) and the
//! README's parameter table, both from the clap definitions and the one parameter table.
//!
//!     cargo run --example docs -- man > tokenflush.8
//!     cargo run --example docs -- readme     # the table between the README's params markers
//!
//! Why an example rather than a `tokenflush man` subcommand: clap_mangen (and roff) then stay a
//! dev-dependency, out of the binary Pacemaker forks every few seconds; scripts/package.sh runs it
//! at build time. Why not build.rs: the clap definitions live in the library, which build.rs
//! cannot use.

use std::io::Write;

use clap::CommandFactory;
use tokenflush::action::{self, ACTIONS};
use tokenflush::metadata;
use tokenflush::params::{Kind, PARAMS};

#[allow(dead_code)]
fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let out = match what.as_str() {
        "man" => man_page(),
        "readme" => metadata::markdown_table(),
        _ => {
            eprintln!("usage: cargo run --example docs -- man|readme");
            std::process::exit(2);
        }
    };
    std::io::stdout().write_all(out.as_bytes()).unwrap();
}

/// The OCF actions from the action table: the implemented ones, then those that exit 3.
fn actions_line() -> String {
    let implemented: Vec<&str> = ACTIONS.iter().filter(|a| a.in_usage).map(|a| a.name).collect();
    format!("Actions: {}. {} exit 3 (unimplemented).", implemented.join(", "), action::unimplemented_names().join(", "))
}

/// Escapes text for roff: backslashes, hyphens (so they stay hyphens), and a leading dot or quote.
fn roff(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ").replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// tokenflush(8): clap_mangen renders the title, name, synopsis, description and options from the
/// clap definitions; the subcommands' options, the OCF actions, the parameters (from PARAMS),
/// exit status and files are added here.
pub fn man_page() -> String {
    let cmd = tokenflush::cli::Cli::command().long_about(metadata::AGENT_LONGDESC).version(env!("CARGO_PKG_VERSION"));
    let man = clap_mangen::Man::new(cmd.clone()).section("8").manual("System Administration");
    let mut buf: Vec<u8> = Vec::new();
    man.render_title(&mut buf).unwrap();
    man.render_name_section(&mut buf).unwrap();
    man.render_synopsis_section(&mut buf).unwrap();
    man.render_description_section(&mut buf).unwrap();
    let mut s = String::from_utf8(buf).unwrap();

    s.push_str(".SH \"OCF RESOURCE AGENT\"\n");
    s.push_str(&format!(
        "{}\n.PP\nPacemaker runs it as \\fBocf:openstack:tokenflush\\fR \
         (/usr/lib/ocf/resource.d/openstack/tokenflush), with the action as the first argument and the \
         parameters below as OCF_RESKEY_<name> environment variables.\n",
        roff(&actions_line())
    ));
    s.push_str(".SH \"OCF PARAMETERS\"\n");
    for p in PARAMS {
        let kind = match p.kind {
            Kind::Integer { min, max, unit } => format!("integer, {min} to {max} {}", unit.plural()),
            Kind::Choice(words) => format!("one of {}", words.join(", ")),
            k => k.content_type().to_string(),
        };
        let default = p.default.map(|d| format!(", default {d}")).unwrap_or_default();
        s.push_str(&format!(".TP\n\\fB{}\\fR ({}{})\n{}\n", roff(p.name), roff(&kind), roff(&default), roff(p.long)));
    }
    s.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        s.push_str(&format!(".SS \"tokenflush {name}\"\n"));
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            s.push_str(&format!("{}\n", roff(&about.to_string())));
        }
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let value = match arg.get_value_names() {
                Some(v) if arg.get_action().takes_values() => format!(" \\fI{}\\fR", roff(&v[0])),
                _ => String::new(),
            };
            let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
            s.push_str(&format!(".TP\n\\fB\\-\\-{}\\fR{value}\n{}\n", roff(long), roff(&help)));
        }
    }
    s.push_str(
        ".SH \"EXIT STATUS\"\n\
         As an OCF agent: 0 success, 1 generic error, 2 bad arguments, 3 unimplemented action, 4 insufficient \
         privileges, 5 not installed (a configured file is missing), 6 not configured, 7 not running, 190 degraded \
         (running, but the last flush failed). Each failure prints one line \\fBocf\\-exit\\-reason:\\fR\\fIreason\\fR \
         on standard error.\n.PP\n\
         \\fBtokenflush flush\\fR exits 0 on success, else with the status of its error, as the OCF actions do: \
         4 access denied, 5 a configured file missing, 6 a configuration or schema error, 1 other failures. \
         \\fBtokenflush status\\fR exits 0 when an instance is running, 7 when none (or the named one) is not.\n",
    );
    s.push_str(
        ".SH FILES\n.TP\n/run/resource\\-agents/tokenflush\\-\\fIinstance\\fR.state\n\
         The state file of a running instance (directory: state_dir, default $HA_RSCTMP).\n\
         .TP\n/etc/keystone/keystone.conf, /etc/keystone/keystone.conf.d/*.conf\n\
         Where [database] connection is read when the connection parameter is unset.\n\
         .SH \"SEE ALSO\"\n\\fBcrm\\fR(8), \\fBcrm_mon\\fR(8), \\fBattrd_updater\\fR(8), \\fBocf\\-tester\\fR(8), \
         /usr/share/doc/tokenflush/README.md\n",
    );
    s
}
