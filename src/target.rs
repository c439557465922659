//! The `target` presets: what each one flushes, table by table, and the official purge it
//! replaces (docs/presets.md has the official tools' SQL, read in their code).
//!
//! A preset names its tables, or says how to find them (nova's `shadow_*` tables, cinder's
//! soft-deleted tables), and how old a row must be: `grace` past an expiry, or an age from the
//! parameter named as the official tool names it. [`crate::plan`] resolves them against the
//! database and orders them children first.

use std::time::Duration;

use crate::ident::Ident;
use crate::rule::{ColSpec, Dependent, Orphan, RuleSpec, Via};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Keystone's `token` table, column `expires` (the default).
    KeystoneToken,
    /// Keystone's `trust` table as `keystone-manage trust_flush` flushes it, then the
    /// `trust_role` rows whose trust is gone (which Keystone never deletes).
    KeystoneTrust,
    /// Keystone's `revocation_event`, with Keystone's own cutoff from keystone.conf.
    KeystoneRevocation,
    /// Nova's `shadow_*` tables, as `nova-manage db purge --before` dates them.
    NovaShadow,
    /// Cinder's soft-deleted rows in every table, as `cinder-manage db purge` deletes them.
    Cinder,
    /// Glance's soft-deleted rows, as `glance-manage db purge` deletes them; never `images`.
    Glance,
    /// Aodh's `alarm_history`, as `aodh-expirer` expires it.
    AodhAlarmHistory,
    /// Any table, with the `table` and `expiry_column` parameters.
    Custom,
}

/// How old a row must be to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Age {
    /// `grace` seconds past its expiry.
    Grace,
    /// `age_in_days` days (cinder, glance, nova: the official tools take days).
    Days,
    /// `time_to_live` seconds (aodh's `alarm_history_time_to_live`).
    TimeToLive,
    /// Keystone's `[token] expiration` + `[revoke] expiration_buffer`, read from keystone.conf.
    KeystoneRevocation,
}

/// How a preset finds its tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tables {
    /// These, in this order (children first).
    Fixed(Vec<RuleSpec>),
    /// Every `shadow_*` table, dated by `deleted_at`, except the ones nova dates by another column.
    NovaShadow,
    /// Every table with a `deleted` column: `deleted <> 0 AND deleted_at < cutoff`.
    SoftDeleted,
}

/// A target's tables and how old their rows must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSpec {
    pub tables: Tables,
    pub age: Age,
}

impl Target {
    pub const NAMES: &'static [&'static str] = &[
        "keystone-token",
        "keystone-trust",
        "keystone-revocation",
        "nova-shadow",
        "cinder",
        "glance",
        "aodh-alarm-history",
        "custom",
    ];

    const ALL: [Target; 8] = [
        Target::KeystoneToken,
        Target::KeystoneTrust,
        Target::KeystoneRevocation,
        Target::NovaShadow,
        Target::Cinder,
        Target::Glance,
        Target::AodhAlarmHistory,
        Target::Custom,
    ];

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s.trim())
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::KeystoneToken => "keystone-token",
            Target::KeystoneTrust => "keystone-trust",
            Target::KeystoneRevocation => "keystone-revocation",
            Target::NovaShadow => "nova-shadow",
            Target::Cinder => "cinder",
            Target::Glance => "glance",
            Target::AodhAlarmHistory => "aodh-alarm-history",
            Target::Custom => "custom",
        }
    }

    /// A preset's tables; `None` for [`Target::Custom`], whose table comes from parameters.
    pub fn preset(self) -> Option<TargetSpec> {
        let fixed = |tables: Vec<RuleSpec>, age| Some(TargetSpec { tables: Tables::Fixed(tables), age });
        match self {
            Target::KeystoneToken => fixed(vec![RuleSpec::older("token", "expires")], Age::Grace),
            Target::KeystoneTrust => fixed(vec![trust(), trust_roles()], Age::Grace),
            Target::KeystoneRevocation => {
                fixed(vec![RuleSpec::older("revocation_event", "revoked_at")], Age::KeystoneRevocation)
            }
            Target::NovaShadow => Some(TargetSpec { tables: Tables::NovaShadow, age: Age::Days }),
            Target::Cinder => Some(TargetSpec { tables: Tables::SoftDeleted, age: Age::Days }),
            Target::Glance => fixed(glance(), Age::Days),
            Target::AodhAlarmHistory => fixed(vec![RuleSpec::older("alarm_history", "timestamp")], Age::TimeToLive),
            Target::Custom => None,
        }
    }

    /// The table named in messages: the preset's first, or what it looks for.
    pub fn describe(self) -> &'static str {
        match self {
            Target::KeystoneToken => "token",
            Target::KeystoneTrust => "trust",
            Target::KeystoneRevocation => "revocation_event",
            Target::NovaShadow => "shadow_*",
            Target::Cinder => "every table with a deleted column",
            Target::Glance => "image_properties, image_tags, image_locations, image_members, tasks, task_info",
            Target::AodhAlarmHistory => "alarm_history",
            Target::Custom => "the table parameter's",
        }
    }
}

/// `keystone-manage trust_flush`: soft-deleted trusts whatever their dates, and trusts whose
/// `expires_at_int` is before the cutoff. Keystone's filter compiles to `expires_at_int` alone
/// (its hybrid property's `or` picks the first column at class level), so a trust with only
/// `expires_at` never expires for it, nor here; `expires_at` counts only in a schema from before
/// Queens, which has no `expires_at_int`.
fn trust() -> RuleSpec {
    RuleSpec {
        expiry: vec![
            ColSpec { name: Ident::known("expires_at_int"), optional: true, fallback: false },
            ColSpec { name: Ident::known("expires_at"), optional: false, fallback: true },
        ],
        deleted: vec![Ident::known("deleted_at")],
        dependents: vec![Dependent { table: Ident::known("trust_role"), col: Ident::known("trust_id") }],
        ..RuleSpec::older("trust", "expires_at")
    }
}

/// Beyond Keystone: the roles of trusts already gone (deleted by Keystone, or by hand), which
/// nothing in Keystone deletes.
fn trust_roles() -> RuleSpec {
    let orphan = Orphan { fk: Ident::known("trust_id"), parent: Ident::known("trust"), parent_pk: Ident::known("id") };
    RuleSpec { optional: true, ..RuleSpec::orphans("trust_role", orphan) }
}

/// `glance-manage db purge`: `deleted_at` before the cutoff (glance tests only that, not
/// `deleted`), the `task_info` of such tasks first, `tasks` last, and never `images`.
fn glance() -> Vec<RuleSpec> {
    let task_info = RuleSpec::via(
        "task_info",
        Via {
            fk: Ident::known("task_id"),
            parent: Ident::known("tasks"),
            parent_pk: Ident::known("id"),
            parent_col: Ident::known("deleted_at"),
        },
    );
    let mut tables = vec![task_info];
    for t in ["image_properties", "image_tags", "image_locations", "image_members", "tasks"] {
        tables.push(RuleSpec::older(t, "deleted_at"));
    }
    tables
}

/// The column nova's purge dates a shadow table by: its override, else the first of
/// `deleted_at`, `updated_at`, `created_at` the table has; `None`: nova skips the table.
pub fn nova_shadow_column(table: &str, has: impl Fn(&str) -> bool) -> Option<&'static str> {
    let overridden = match table {
        "shadow_instance_actions" | "shadow_instance_actions_events" => Some("created_at"),
        "shadow_task_log" => Some("updated_at"),
        _ => None,
    };
    overridden.or_else(|| ["deleted_at", "updated_at", "created_at"].into_iter().find(|c| has(c)))
}

/// The age for a target, from the parameters (and keystone.conf's options for revocations).
pub fn age_of(age: Age, grace: Duration, days: u64, ttl: u64, keystone: Duration) -> Duration {
    match age {
        Age::Grace => grace,
        Age::Days => Duration::from_secs(days * 86_400),
        Age::TimeToLive => Duration::from_secs(ttl),
        Age::KeystoneRevocation => keystone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_by_their_documented_names() {
        for n in Target::NAMES {
            assert_eq!(Target::parse(n).unwrap().name(), *n);
        }
        assert_eq!(Target::parse("token"), None);
    }

    #[test]
    fn every_preset_identifier_passes_validation() {
        for t in Target::ALL {
            let Some(TargetSpec { tables: Tables::Fixed(specs), .. }) = t.preset() else { continue };
            for spec in specs {
                let names = std::iter::once(&spec.table)
                    .chain(spec.expiry.iter().map(|c| &c.name))
                    .chain(spec.deleted.iter())
                    .chain(spec.soft_delete.iter());
                for name in names {
                    assert!(Ident::parse("preset", name.as_str()).is_ok(), "{}", name.as_str());
                }
            }
        }
    }

    #[test]
    fn nova_dates_its_shadow_tables_as_its_purge_does() {
        let all = |_: &str| true;
        assert_eq!(nova_shadow_column("shadow_instances", all), Some("deleted_at"));
        assert_eq!(nova_shadow_column("shadow_instance_actions", all), Some("created_at"));
        assert_eq!(nova_shadow_column("shadow_task_log", all), Some("updated_at"));
        assert_eq!(nova_shadow_column("shadow_x", |c| c == "created_at"), Some("created_at"));
        assert_eq!(nova_shadow_column("shadow_alembic_version", |_| false), None);
    }

    #[test]
    fn ages_come_from_the_parameter_each_tool_uses() {
        let s = Duration::from_secs;
        assert_eq!(age_of(Age::Grace, s(60), 30, 0, s(5400)), s(60));
        assert_eq!(age_of(Age::Days, s(60), 30, 0, s(5400)), s(30 * 86_400));
        assert_eq!(age_of(Age::TimeToLive, s(60), 30, 3600, s(5400)), s(3600));
        assert_eq!(age_of(Age::KeystoneRevocation, s(60), 30, 0, s(5400)), s(5400));
    }
}
