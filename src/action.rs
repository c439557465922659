//! The OCF actions, declared once: the table the dispatcher in `main` reads, the usage text and
//! the meta-data's `<actions>` are all rendered from [`ACTIONS`].

/// What `main` runs for an action word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Monitor,
    ValidateAll,
    MetaData,
    Usage,
    /// Actions the OCF API defines that this agent does not implement (exit 3).
    Unimplemented,
}

/// One action word.
#[derive(Clone, Copy, Debug)]
pub struct ActionSpec {
    pub name: &'static str,
    pub action: Action,
    /// The timeout the meta-data suggests; `None` for words the meta-data does not advertise.
    pub timeout: Option<&'static str>,
    /// The interval the meta-data suggests (recurring monitors).
    pub interval: Option<&'static str>,
    /// Shown in the usage line.
    pub in_usage: bool,
}

const fn word(name: &'static str, action: Action, timeout: Option<&'static str>, in_usage: bool) -> ActionSpec {
    ActionSpec { name, action, timeout, interval: None, in_usage }
}

pub const ACTIONS: &[ActionSpec] = &[
    word("start", Action::Start, Some("20s"), true),
    word("stop", Action::Stop, Some("20s"), true),
    ActionSpec {
        name: "monitor",
        action: Action::Monitor,
        timeout: Some("60s"),
        interval: Some("60s"),
        in_usage: true,
    },
    word("validate-all", Action::ValidateAll, Some("20s"), true),
    word("meta-data", Action::MetaData, Some("5s"), true),
    word("usage", Action::Usage, None, true),
    word("help", Action::Usage, None, false),
    word("notify", Action::Unimplemented, None, false),
    word("promote", Action::Unimplemented, None, false),
    word("demote", Action::Unimplemented, None, false),
    word("migrate_to", Action::Unimplemented, None, false),
    word("migrate_from", Action::Unimplemented, None, false),
    word("reload", Action::Unimplemented, None, false),
    word("reload-agent", Action::Unimplemented, None, false),
    word("recover", Action::Unimplemented, None, false),
];

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        ACTIONS.iter().find(|a| a.name == s).map(|a| a.action)
    }
}

/// The usage text: the OCF actions from [`ACTIONS`], then the human commands.
pub fn usage() -> String {
    let words: Vec<&str> = ACTIONS.iter().filter(|a| a.in_usage).map(|a| a.name).collect();
    format!(
        "usage: tokenflush {{{}}}  (OCF resource agent)\n       \
         tokenflush flush [--connection URL | --config FILE] [OPTIONS]  (tokenflush flush --help lists them)\n       \
         tokenflush status [--instance NAME] [--state-dir DIR] [--json]\n       \
         tokenflush --help",
        words.join("|")
    )
}

/// The words that exit 3, for the man page.
pub fn unimplemented_names() -> Vec<&'static str> {
    ACTIONS.iter().filter(|a| a.action == Action::Unimplemented).map(|a| a.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_parses_to_its_action() {
        for a in ACTIONS {
            assert_eq!(Action::parse(a.name), Some(a.action), "{}", a.name);
        }
        assert_eq!(Action::parse("flush"), None, "flush is a CLI command, not an OCF action");
        assert_eq!(Action::parse("START"), None);
    }

    #[test]
    fn the_usage_line_lists_the_implemented_actions() {
        assert!(
            usage().starts_with("usage: tokenflush {start|stop|monitor|validate-all|meta-data|usage}"),
            "{}",
            usage()
        );
    }
}
