//! The objects a rebuild creates, named from the table alone so that any node finds them, and
//! what a set of them left behind means.

use crate::ident::Ident;

/// Every object of one table's rebuild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The table being rebuilt.
    pub table: String,
    /// The copy that becomes the table at the swap.
    pub new: String,
    /// The table as it was, after the swap, until it is dropped.
    pub old: String,
    /// One row: the phase and how far the copy got, updated in the copy's own transactions.
    pub state: String,
    /// The triggers that carry every write to the table into the copy.
    pub triggers: [String; 3],
}

impl Names {
    pub fn of(table: &Ident) -> Names {
        let t = table.as_str();
        Names {
            table: t.to_string(),
            new: aux(t, "new"),
            old: aux(t, "old"),
            state: aux(t, "state"),
            triggers: [aux(t, "ins"), aux(t, "upd"), aux(t, "del")],
        }
    }
}

/// `_<table>_tf<what>`, shortened with a hash when it would pass MariaDB's 64 characters.
fn aux(table: &str, what: &str) -> String {
    let name = format!("_{table}_tf{what}");
    if name.len() <= 64 {
        return name;
    }
    let hash = table.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    format!("_{}_{hash:016x}_tf{what}", &table[..40])
}

/// Which of a rebuild's objects exist, as the database says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub new: bool,
    pub old: bool,
    pub state: bool,
    /// How many of the three triggers are on the table.
    pub triggers: usize,
    /// The state row's phase, when the state table has one.
    pub phase: Option<String>,
}

/// What a flush must do about what an earlier rebuild left, whatever node ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// Nothing: no rebuild is under way.
    Nothing,
    /// The copy is under way and complete in its parts (copy table, all three triggers, state):
    /// a rebuild resumes it where the state says; any other flush undoes it.
    Copying,
    /// A rebuild died before its copy was set up whole: drop what there is and start again.
    Incomplete,
    /// The swap is done: drop the old table and the state.
    Swapped,
}

/// The atomic `RENAME TABLE` is the line: before it the table is the original (with the
/// triggers) and the copy exists; after it the old table exists and the copy does not.
pub fn recognise(f: &Found) -> Leftover {
    if f.old {
        return Leftover::Swapped;
    }
    if !f.new && f.triggers == 0 {
        return match (f.state, f.phase.as_deref()) {
            (false, _) => Leftover::Nothing,
            // The old table is dropped but the state is not: only the state is left to drop.
            (true, Some("swapped")) => Leftover::Swapped,
            (true, _) => Leftover::Incomplete,
        };
    }
    if f.new && f.state && f.triggers == 3 && f.phase.as_deref() == Some("copy") {
        Leftover::Copying
    } else {
        Leftover::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(new: bool, old: bool, state: bool, triggers: usize, phase: Option<&str>) -> Found {
        Found { new, old, state, triggers, phase: phase.map(str::to_string) }
    }

    #[test]
    fn names_follow_the_table_and_fit_mariadbs_limit() {
        let n = Names::of(&Ident::known("token"));
        assert_eq!(
            (n.new.as_str(), n.old.as_str(), n.state.as_str()),
            ("_token_tfnew", "_token_tfold", "_token_tfstate")
        );
        assert_eq!(n.triggers, ["_token_tfins", "_token_tfupd", "_token_tfdel"]);
        let long = "t".repeat(64);
        let n = Names::of(&Ident::parse("table", &long).unwrap());
        assert!(n.new.len() <= 64 && n.old.len() <= 64 && n.triggers.iter().all(|t| t.len() <= 64));
        assert_ne!(n.new, n.old);
    }

    #[test]
    fn every_state_a_killed_rebuild_leaves_has_one_meaning() {
        use Leftover::*;
        let cases = [
            (found(false, false, false, 0, None), Nothing, "nothing"),
            (found(false, false, true, 0, Some("copy")), Incomplete, "killed after creating the state"),
            (found(true, false, true, 0, Some("copy")), Incomplete, "killed after creating the copy"),
            (found(true, false, true, 2, Some("copy")), Incomplete, "killed between two triggers"),
            (found(true, false, true, 3, Some("copy")), Copying, "killed during the copy"),
            (found(false, true, true, 3, Some("copy")), Swapped, "killed right after the swap"),
            (found(false, true, true, 3, Some("swapped")), Swapped, "killed before dropping the old table"),
            (found(false, false, true, 0, Some("swapped")), Swapped, "killed before dropping the state"),
            (found(true, false, false, 3, None), Incomplete, "state dropped by hand"),
        ];
        for (f, want, when) in cases {
            assert_eq!(recognise(&f), want, "{when}");
        }
    }
}
