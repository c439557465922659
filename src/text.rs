//! Text for one-line messages: exit reasons, log lines and quoted parameter values.

/// `s` with every run of whitespace (newlines included) collapsed to one space: an exit reason
/// or a log line must stay on one line whatever the server or a file put in it.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value made safe to quote in a one-line message: printable ASCII, at most 40 characters.
pub fn shown(value: &str) -> String {
    let mut s: String =
        value.chars().take(40).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    if value.chars().count() > 40 {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("  Access denied\n for user\t'ks' "), "Access denied for user 'ks'");
    }

    #[test]
    fn shown_values_are_printable_and_short() {
        assert_eq!(shown("a\nb"), "a?b");
        assert_eq!(shown(&"x".repeat(50)), format!("{}...", "x".repeat(40)));
    }
}
