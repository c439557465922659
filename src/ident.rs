//! A plain SQL identifier: a table or column name that can be put into SQL without escaping.

use std::fmt;

use crate::text::shown;

/// Letters, digits, `_` and `$`, not starting with a digit, at most 64 characters. Anything else
/// (quotes, backticks, spaces, dots, Unicode) is refused, so an identifier can be put into SQL
/// between backticks without escaping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident(String);

/// A name that is not a plain identifier; the message names the parameter it came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{param} '{shown}' is not a plain SQL identifier (letters, digits, _ and $, at most 64)")]
pub struct BadIdent {
    pub param: String,
    pub shown: String,
}

impl Ident {
    pub fn parse(param: &str, s: &str) -> Result<Ident, BadIdent> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            && !s.starts_with(|c: char| c.is_ascii_digit());
        if ok {
            Ok(Ident(s.to_string()))
        } else {
            Err(BadIdent { param: param.to_string(), shown: shown(s) })
        }
    }

    /// An identifier written in this program's source (a preset's table or column): known to be
    /// plain, so it needs no validation at run time. A unit test in `rule.rs` checks every one.
    pub fn known(s: &'static str) -> Ident {
        Ident(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    /// Quoted for SQL. Safe because the characters are restricted in [`Ident::parse`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_carrying_sql_are_refused() {
        for bad in ["token`; DROP TABLE token; --", "to ken", "a.b", "tökén", "1abc", "`t`", &"x".repeat(65)] {
            let e = Ident::parse("table", bad).unwrap_err();
            assert!(e.to_string().starts_with("table '"), "{e}");
        }
        assert_eq!(Ident::parse("table", "token$2").unwrap().to_string(), "`token$2`");
    }
}
