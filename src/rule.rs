//! What makes a row expired: the `target` presets, and the SQL predicate the engine runs.
//!
//! A [`RuleSpec`] is what the configuration asks for (a table, its expiry column or columns in
//! order of precedence, and soft-delete columns); [`crate::table::inspect`] checks it against the
//! real table and resolves it into an [`ExpiryRule`], which knows each column's storage
//! ([`TimeKind`]) and renders the predicate with its parameters for a given [`Cutoff`].
//!
//! The predicate of a row is: its expiry is before the cutoff, **or** one of the soft-delete
//! columns is set. The expiry of a row is its first non-NULL expiry column (Keystone's trust
//! model reads `expires_at_int or expires_at`); a row whose expiry columns are all NULL never
//! expires. Every comparison is against a cutoff the server computed from `UTC_TIMESTAMP()`.

use mysql_async::Value;

use crate::ident::Ident;

/// The presets of the `target` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Keystone's `token` table, column `expires` (the default).
    KeystoneToken,
    /// Keystone's `trust` table: expired (`expires_at_int`, else `expires_at`) or soft-deleted
    /// (`deleted_at` set), as `keystone-manage trust_flush` deletes.
    KeystoneTrust,
    /// Any table, with the `table` and `expiry_column` parameters.
    Custom,
}

impl Target {
    pub const NAMES: &'static [&'static str] = &["keystone-token", "keystone-trust", "custom"];

    pub fn parse(s: &str) -> Option<Target> {
        match s.trim() {
            "keystone-token" => Some(Target::KeystoneToken),
            "keystone-trust" => Some(Target::KeystoneTrust),
            "custom" => Some(Target::Custom),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::KeystoneToken => "keystone-token",
            Target::KeystoneTrust => "keystone-trust",
            Target::Custom => "custom",
        }
    }

    /// The rule of a preset; `None` for [`Target::Custom`], whose rule comes from parameters.
    pub fn preset(self) -> Option<RuleSpec> {
        let id = Ident::known;
        match self {
            Target::KeystoneToken => Some(RuleSpec {
                table: id("token"),
                expiry: vec![ColSpec { name: id("expires"), optional: false }],
                deleted: vec![],
            }),
            Target::KeystoneTrust => Some(RuleSpec {
                table: id("trust"),
                // Queens and later write both; the model reads `expires_at_int or expires_at`.
                // Older schemas have no expires_at_int at all.
                expiry: vec![
                    ColSpec { name: id("expires_at_int"), optional: true },
                    ColSpec { name: id("expires_at"), optional: false },
                ],
                deleted: vec![id("deleted_at")],
            }),
            Target::Custom => None,
        }
    }
}

/// One expiry column the configuration names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColSpec {
    pub name: Ident,
    /// A column that may be missing from older schemas; it is then left out of the rule.
    pub optional: bool,
}

/// The rule as configured, before the table is inspected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub table: Ident,
    /// Expiry columns by precedence: a row's expiry is the first of them that is not NULL.
    pub expiry: Vec<ColSpec>,
    /// Soft-delete columns: a row where one of them is set goes whatever its expiry.
    pub deleted: Vec<Ident>,
}

impl RuleSpec {
    /// A custom rule: one expiry column, no soft delete.
    pub fn single(table: Ident, expiry: Ident) -> RuleSpec {
        RuleSpec { table, expiry: vec![ColSpec { name: expiry, optional: false }], deleted: vec![] }
    }

    /// The column named in messages and used to walk the table: the last required expiry column
    /// (or the first one when all are optional). `None` only for a rule without any.
    pub fn main_column(&self) -> Option<&Ident> {
        self.expiry.iter().rev().find(|c| !c.optional).or(self.expiry.first()).map(|c| &c.name)
    }
}

/// How a column stores a point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeKind {
    /// DATETIME: naive UTC, as Keystone writes it.
    DateTime,
    /// TIMESTAMP: compared in the session's time zone, which the agent sets to UTC.
    Timestamp,
    /// BIGINT of microseconds since 1970-01-01 UTC (Keystone's `DateTimeInt`).
    EpochMicros,
}

/// An expiry column as found in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryCol {
    pub name: Ident,
    pub kind: TimeKind,
}

/// The cutoff of one flush, read once from the server's clock.
#[derive(Clone, Debug)]
pub struct Cutoff {
    /// `UTC_TIMESTAMP() - grace` as the server returned it (a DATETIME value).
    pub datetime: Value,
    /// The same instant in microseconds since the epoch.
    pub micros: i64,
    /// The same instant as text, for reports.
    pub text: String,
}

/// The resolved rule: what the engine deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryRule {
    /// Present expiry columns by precedence (at least one).
    pub expiry: Vec<ExpiryCol>,
    pub deleted: Vec<Ident>,
}

impl ExpiryRule {
    /// Whether the rule is one column compared with the cutoff, so that an index on that column
    /// bounds every chunk's scan (the keyset walk on `(expiry, pk)`).
    pub fn is_simple(&self) -> bool {
        self.expiry.len() == 1 && self.deleted.is_empty()
    }

    /// The predicate "this row may go", with its positional parameters.
    pub fn predicate(&self, cutoff: &Cutoff) -> (String, Vec<Value>) {
        let mut parts = Vec::new();
        let mut params = Vec::new();
        let cut = |c: &ExpiryCol| match c.kind {
            TimeKind::EpochMicros => Value::Int(cutoff.micros),
            TimeKind::DateTime | TimeKind::Timestamp => cutoff.datetime.clone(),
        };
        // Expiry i applies when every column before it is NULL.
        for (i, c) in self.expiry.iter().enumerate() {
            let mut conds: Vec<String> = self.expiry[..i].iter().map(|p| format!("{} IS NULL", p.name)).collect();
            conds.push(format!("{} < ?", c.name));
            params.push(cut(c));
            parts.push(if conds.len() == 1 { conds.remove(0) } else { format!("({})", conds.join(" AND ")) });
        }
        for d in &self.deleted {
            parts.push(format!("{d} IS NOT NULL"));
        }
        let sql = if parts.len() == 1 { parts.remove(0) } else { format!("({})", parts.join(" OR ")) };
        (sql, params)
    }

    /// A SQL expression showing a row's expiry as a DATETIME (for `--dry-run`'s oldest expiry).
    pub fn display_expr(&self) -> String {
        let shown: Vec<String> = self
            .expiry
            .iter()
            .map(|c| match c.kind {
                TimeKind::EpochMicros => format!("FROM_UNIXTIME({} DIV 1000000)", c.name),
                _ => c.name.to_string(),
            })
            .collect();
        if shown.len() == 1 {
            shown[0].clone()
        } else {
            format!("COALESCE({})", shown.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Ident {
        Ident::parse("t", s).unwrap()
    }

    fn cutoff() -> Cutoff {
        Cutoff { datetime: Value::from("2024-01-01 00:00:00"), micros: 1_704_067_200_000_000, text: String::new() }
    }

    #[test]
    fn a_single_column_is_a_plain_comparison() {
        let r =
            ExpiryRule { expiry: vec![ExpiryCol { name: id("expires"), kind: TimeKind::DateTime }], deleted: vec![] };
        let (sql, params) = r.predicate(&cutoff());
        assert_eq!(sql, "`expires` < ?");
        assert_eq!(params, vec![Value::from("2024-01-01 00:00:00")]);
        assert!(r.is_simple());
    }

    #[test]
    fn trust_reads_the_integer_first_then_the_datetime_or_the_soft_delete() {
        let r = ExpiryRule {
            expiry: vec![
                ExpiryCol { name: id("expires_at_int"), kind: TimeKind::EpochMicros },
                ExpiryCol { name: id("expires_at"), kind: TimeKind::DateTime },
            ],
            deleted: vec![id("deleted_at")],
        };
        let (sql, params) = r.predicate(&cutoff());
        assert_eq!(
            sql,
            "(`expires_at_int` < ? OR (`expires_at_int` IS NULL AND `expires_at` < ?) OR `deleted_at` IS NOT NULL)"
        );
        assert_eq!(params, vec![Value::Int(1_704_067_200_000_000), Value::from("2024-01-01 00:00:00")]);
        assert!(!r.is_simple());
        assert_eq!(r.display_expr(), "COALESCE(FROM_UNIXTIME(`expires_at_int` DIV 1000000), `expires_at`)");
    }

    #[test]
    fn targets_parse_by_their_documented_names() {
        for n in Target::NAMES {
            assert_eq!(Target::parse(n).unwrap().name(), *n);
        }
        assert_eq!(Target::parse("token"), None);
        assert_eq!(Target::KeystoneTrust.preset().unwrap().main_column().unwrap().as_str(), "expires_at");
    }

    #[test]
    fn every_preset_identifier_passes_validation() {
        for t in [Target::KeystoneToken, Target::KeystoneTrust] {
            let spec = t.preset().unwrap();
            let names =
                std::iter::once(&spec.table).chain(spec.expiry.iter().map(|c| &c.name)).chain(spec.deleted.iter());
            for name in names {
                assert!(Ident::parse("preset", name.as_str()).is_ok(), "{}", name.as_str());
            }
        }
    }
}
