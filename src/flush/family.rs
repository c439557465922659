//! Chunks of a table whose rows take others with them (step 5, for a table with a
//! [`Member`]): `trust_role` rows with their trust, children by `ON DELETE CASCADE`. One
//! transaction locks the range's rows, counts what goes with each, takes the longest run of
//! them that keeps the whole transaction within the bound, deletes the dependents and then
//! the rows, and commits ([`super::chunk::exec_chunk`]). A bare DELETE cannot know what its
//! cascades will touch, and its affected-rows count leaves them out.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::cursor::Cursor;
use super::sql::Statements;
use crate::plan::Member;

/// What a committed chunk deleted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Deleted {
    /// The table's rows.
    pub rows: u64,
    /// Rows of other tables that went with them: dependents, and what cascades changed.
    pub with: u64,
    /// The key of the last row taken, when a family chunk took fewer than its range holds.
    pub upto: Option<Cursor>,
}

/// One family chunk: the range `(cursor, upto]` of the walk, at most `limit` of its rows.
pub struct Family<'a> {
    pub sql: &'a Statements,
    pub members: &'a [Member],
    pub cursor: Option<&'a Cursor>,
    pub upto: Option<&'a Cursor>,
    pub params: &'a [Value],
    pub limit: u32,
    /// The most rows the transaction may change, its family included (`batch_size`, or less
    /// under Galera's limits).
    pub bound: u64,
}

impl Family<'_> {
    /// The chunk's statements, each wrapped by `bounded`; `check` is set to what counts the
    /// taken rows still there, should the client give up on the COMMIT.
    pub async fn delete(
        &self,
        conn: &mut Conn,
        bounded: &dyn Fn(&str) -> String,
        check: &mut Option<(String, Vec<Value>)>,
    ) -> Result<Deleted, mysql_async::Error> {
        let (text, args) = self.sql.lock_range(self.cursor, self.upto, self.params, self.limit);
        let rows: Vec<Row> = conn.exec(bounded(&text), args).await?;
        let keys: Vec<Cursor> = rows.into_iter().filter_map(Cursor::from_row).collect();
        if keys.is_empty() {
            return Ok(Deleted::default());
        }
        let pks: Vec<Value> = keys.iter().map(|k| k.pk.clone()).collect();
        // What goes with each row, for the bound; and of it, what the server's cascades change.
        let (mut with, mut cascaded) = (vec![0u64; pks.len()], vec![0u64; pks.len()]);
        for m in self.members {
            let counts: Vec<(Value, u64)> =
                conn.exec(bounded(&self.sql.count_members(m, pks.len())), pks.clone()).await?;
            for (key, n) in counts {
                if let Some(i) = pks.iter().position(|p| *p == key) {
                    with[i] += n;
                    cascaded[i] += if m.ours { 0 } else { n };
                }
            }
        }
        let take = prefix(&with, self.bound);
        let taken = pks[..take].to_vec();
        let mut along: u64 = cascaded[..take].iter().sum();
        for m in self.members.iter().filter(|m| m.ours) {
            conn.exec_drop(bounded(&self.sql.delete_members(m, take)), taken.clone()).await?;
            along += conn.affected_rows();
        }
        *check = Some((self.sql.count_keys(take), taken.clone()));
        let mut args = self.params.to_vec();
        args.extend(taken);
        conn.exec_drop(bounded(&self.sql.delete_keys(take)), args).await?;
        let upto = (take < keys.len()).then(|| keys[take - 1].clone());
        Ok(Deleted { rows: conn.affected_rows(), with: along, upto })
    }
}

/// How many of the rows, in walk order, one transaction takes: the longest run whose rows and
/// family (`with[i]` rows go with row `i`) stay within `bound`, and never none, so that a row
/// with a family larger than the bound still goes (alone) rather than stopping the flush.
pub fn prefix(with: &[u64], bound: u64) -> usize {
    let mut total = 0u64;
    let mut n = 0;
    for w in with {
        total += 1 + w;
        if total > bound && n > 0 {
            break;
        }
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_takes_the_rows_whose_families_fit_in_the_bound() {
        assert_eq!(prefix(&[0, 0, 0], 10), 3, "no family: every row");
        assert_eq!(prefix(&[4, 4, 4], 10), 2, "two families of five");
        assert_eq!(prefix(&[4, 4, 4], 9), 1);
        assert_eq!(prefix(&[50, 0], 10), 1, "a family past the bound goes alone: progress");
        assert_eq!(prefix(&[], 10), 0);
    }
}
