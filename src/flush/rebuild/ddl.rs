//! The SQL text of a rebuild: the state table, the copy, the triggers, the copy chunks, the
//! swap and the clean-up. Only text is built here (with exact-SQL tests); `copy` runs it.

use super::names::Names;

/// A name quoted for SQL, whatever it holds.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// What the rebuild's statements are made of.
pub struct Ddl {
    pub n: Names,
    /// The primary key column, quoted.
    pk: String,
    /// The primary key's column type as the catalog gives it (`varchar(64)`, `int(11)`, ...),
    /// with its character set and collation, for the state's cursor.
    pk_type: String,
    /// The columns a row is copied with (generated columns left out), quoted.
    cols: Vec<String>,
}

impl Ddl {
    pub fn new(n: Names, pk: &str, pk_type: &str, cols: &[String]) -> Ddl {
        Ddl { n, pk: quote(pk), pk_type: pk_type.to_string(), cols: cols.iter().map(|c| quote(c)).collect() }
    }

    fn list(&self, prefix: &str) -> String {
        self.cols.iter().map(|c| format!("{prefix}{c}")).collect::<Vec<_>>().join(", ")
    }

    /// The state table, created first: its one row says the phase and how far the copy got.
    pub fn create_state(&self) -> [String; 2] {
        [
            format!(
                "CREATE TABLE {} (id TINYINT NOT NULL PRIMARY KEY, phase VARCHAR(16) NOT NULL, \
                 cursor_pk {} NULL, copied BIGINT UNSIGNED NOT NULL DEFAULT 0, started_at DATETIME NOT NULL) \
                 ENGINE=InnoDB",
                quote(&self.n.state),
                self.pk_type
            ),
            format!("INSERT INTO {} VALUES (1, 'copy', NULL, 0, UTC_TIMESTAMP())", quote(&self.n.state)),
        ]
    }

    pub fn create_new(&self) -> String {
        format!("CREATE TABLE {} LIKE {}", quote(&self.n.new), quote(&self.n.table))
    }

    /// The three triggers that carry every write into the copy, after it happened on the table,
    /// in the order they must be created: delete, update, insert. Until the insert trigger
    /// exists no trigger puts a row into the copy but the update trigger, which writes the row
    /// as it is now; so a row can never reach the copy and then miss a later update or delete
    /// because that trigger did not exist yet (the copy's `INSERT IGNORE` would keep the stale
    /// version). pt-online-schema-change creates its triggers in the same order.
    /// The delete trigger writes the row into the copy and removes it again: on Galera that puts
    /// the key into the delete's write-set even when the copy does not hold the row yet, so a
    /// copy chunk that read the row on another node conflicts with it in certification instead
    /// of bringing the deleted row back.
    pub fn create_triggers(&self) -> [String; 3] {
        let (t, new, pk) = (quote(&self.n.table), quote(&self.n.new), &self.pk);
        let cols = self.list("");
        [
            format!(
                "CREATE TRIGGER {} AFTER DELETE ON {t} FOR EACH ROW BEGIN \
                 INSERT INTO {new} ({cols}) VALUES ({}) ON DUPLICATE KEY UPDATE {pk} = {pk}; \
                 DELETE IGNORE FROM {new} WHERE {pk} <=> OLD.{pk}; END",
                quote(&self.n.triggers[2]),
                self.list("OLD.")
            ),
            format!(
                "CREATE TRIGGER {} AFTER UPDATE ON {t} FOR EACH ROW BEGIN \
                 DELETE IGNORE FROM {new} WHERE {pk} <=> OLD.{pk} AND NOT (OLD.{pk} <=> NEW.{pk}); \
                 REPLACE INTO {new} ({cols}) VALUES ({}); END",
                quote(&self.n.triggers[1]),
                self.list("NEW.")
            ),
            format!(
                "CREATE TRIGGER {} AFTER INSERT ON {t} FOR EACH ROW REPLACE INTO {new} ({cols}) VALUES ({})",
                quote(&self.n.triggers[0]),
                self.list("NEW.")
            ),
        ]
    }

    /// The key of the `limit`-th row of the table after the cursor, expired or not.
    pub fn copy_boundary(&self, after: bool, limit: u32) -> String {
        let pk = &self.pk;
        let cond = if after { format!(" WHERE {pk} > ?") } else { String::new() };
        format!(
            "SELECT {pk} FROM {} FORCE INDEX (PRIMARY){cond} ORDER BY {pk} LIMIT 1 OFFSET {}",
            quote(&self.n.table),
            limit.saturating_sub(1)
        )
    }

    /// The rows of `(cursor, upto]` the swap will drop: expired, and not in the copy already.
    /// Run first in the chunk's transaction, it share-locks them, so no write can change them
    /// before the chunk commits; a row inserted into the range after it reaches the copy through
    /// its trigger. So the count is exact, whatever the writers do.
    pub fn count_dropped(&self, pred: &str, after: bool, upto: bool) -> String {
        let pk = &self.pk;
        format!(
            "SELECT COUNT(*) FROM {} t FORCE INDEX (PRIMARY) WHERE ({pred}) IS TRUE{} \
             AND NOT EXISTS (SELECT 1 FROM {} c WHERE c.{pk} = t.{pk}) LOCK IN SHARE MODE",
            quote(&self.n.table),
            range(pk, after, upto),
            quote(&self.n.new)
        )
    }

    /// Copies the rows of `(cursor, upto]` that the rule keeps. `(pred) IS NOT TRUE` keeps a row
    /// whose expiry is NULL, where `NOT (pred)` would drop it. The rows read are share-locked
    /// until the chunk commits, so that a concurrent delete waits for the chunk and its trigger
    /// then removes the copied row; an existing copy of a row (written by a trigger, newer than
    /// the table's) is left as it is.
    pub fn copy_chunk(&self, pred: &str, after: bool, upto: bool) -> String {
        let cols = self.list("");
        format!(
            "INSERT IGNORE INTO {} ({cols}) SELECT {cols} FROM {} FORCE INDEX (PRIMARY) \
             WHERE ({pred}) IS NOT TRUE{} LOCK IN SHARE MODE",
            quote(&self.n.new),
            quote(&self.n.table),
            range(&self.pk, after, upto)
        )
    }

    /// Records the copy's progress, in the chunk's own transaction.
    pub fn save_cursor(&self) -> String {
        format!("UPDATE {} SET cursor_pk = ?, copied = copied + ? WHERE id = 1", quote(&self.n.state))
    }

    pub fn read_state(&self) -> String {
        format!("SELECT phase, cursor_pk, copied FROM {} WHERE id = 1", quote(&self.n.state))
    }

    /// The swap: one atomic statement. The rebuild's session has `lock_wait_timeout` at its
    /// minimum, so it fails at once rather than queueing Keystone's requests behind it when a
    /// transaction holds the table, and is retried.
    pub fn swap(&self) -> String {
        format!(
            "RENAME TABLE {} TO {}, {} TO {}",
            quote(&self.n.table),
            quote(&self.n.old),
            quote(&self.n.new),
            quote(&self.n.table)
        )
    }

    pub fn mark_swapped(&self) -> String {
        format!("UPDATE {} SET phase = 'swapped' WHERE id = 1", quote(&self.n.state))
    }
}

/// ` AND pk > ?` and ` AND pk <= ?`, as the chunk has a start and an end.
fn range(pk: &str, after: bool, upto: bool) -> String {
    let mut r = String::new();
    if after {
        r.push_str(&format!(" AND {pk} > ?"));
    }
    if upto {
        r.push_str(&format!(" AND {pk} <= ?"));
    }
    r
}

/// Undoing or finishing, which needs no column list: triggers first (while a trigger names a
/// copy that is gone, every write to the table fails), then the copy, then the state.
pub fn drop_all(n: &Names) -> Vec<String> {
    let mut v: Vec<String> = n.triggers.iter().map(|t| format!("DROP TRIGGER IF EXISTS {}", quote(t))).collect();
    v.push(format!("DROP TABLE IF EXISTS {}", quote(&n.new)));
    v.push(format!("DROP TABLE IF EXISTS {}", quote(&n.old)));
    v.push(format!("DROP TABLE IF EXISTS {}", quote(&n.state)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::Ident;

    fn ddl() -> Ddl {
        Ddl::new(
            Names::of(&Ident::known("token")),
            "id",
            "varchar(64)",
            &["id".into(), "expires".into(), "valid".into()],
        )
    }

    #[test]
    fn the_copy_is_made_like_the_table_and_the_state_keeps_a_typed_cursor() {
        let d = ddl();
        assert_eq!(d.create_new(), "CREATE TABLE `_token_tfnew` LIKE `token`");
        assert!(d.create_state()[0].contains("cursor_pk varchar(64) NULL"), "{}", d.create_state()[0]);
    }

    #[test]
    fn triggers_carry_inserts_updates_and_deletes() {
        let [del, upd, ins] = ddl().create_triggers();
        assert_eq!(
            ins,
            "CREATE TRIGGER `_token_tfins` AFTER INSERT ON `token` FOR EACH ROW REPLACE INTO `_token_tfnew` \
             (`id`, `expires`, `valid`) VALUES (NEW.`id`, NEW.`expires`, NEW.`valid`)"
        );
        assert_eq!(
            upd,
            "CREATE TRIGGER `_token_tfupd` AFTER UPDATE ON `token` FOR EACH ROW BEGIN \
             DELETE IGNORE FROM `_token_tfnew` WHERE `id` <=> OLD.`id` AND NOT (OLD.`id` <=> NEW.`id`); \
             REPLACE INTO `_token_tfnew` (`id`, `expires`, `valid`) VALUES (NEW.`id`, NEW.`expires`, NEW.`valid`); END"
        );
        assert_eq!(
            del,
            "CREATE TRIGGER `_token_tfdel` AFTER DELETE ON `token` FOR EACH ROW BEGIN \
             INSERT INTO `_token_tfnew` (`id`, `expires`, `valid`) VALUES (OLD.`id`, OLD.`expires`, OLD.`valid`) \
             ON DUPLICATE KEY UPDATE `id` = `id`; DELETE IGNORE FROM `_token_tfnew` WHERE `id` <=> OLD.`id`; END"
        );
    }

    #[test]
    fn a_copy_chunk_keeps_null_expiries_and_share_locks_what_it_reads() {
        assert_eq!(
            ddl().copy_chunk("`expires` < ?", true, true),
            "INSERT IGNORE INTO `_token_tfnew` (`id`, `expires`, `valid`) SELECT `id`, `expires`, `valid` \
             FROM `token` FORCE INDEX (PRIMARY) WHERE (`expires` < ?) IS NOT TRUE AND `id` > ? AND `id` <= ? \
             LOCK IN SHARE MODE"
        );
        assert_eq!(
            ddl().copy_boundary(false, 1000),
            "SELECT `id` FROM `token` FORCE INDEX (PRIMARY) ORDER BY `id` LIMIT 1 OFFSET 999"
        );
    }

    #[test]
    fn the_rows_a_chunk_drops_are_counted_under_lock() {
        assert_eq!(
            ddl().count_dropped("`expires` < ?", true, false),
            "SELECT COUNT(*) FROM `token` t FORCE INDEX (PRIMARY) WHERE (`expires` < ?) IS TRUE AND `id` > ? \
             AND NOT EXISTS (SELECT 1 FROM `_token_tfnew` c WHERE c.`id` = t.`id`) LOCK IN SHARE MODE"
        );
    }

    #[test]
    fn the_swap_is_one_rename_that_never_queues() {
        assert_eq!(ddl().swap(), "RENAME TABLE `token` TO `_token_tfold`, `_token_tfnew` TO `token`");
    }

    #[test]
    fn clean_up_drops_the_triggers_before_the_copy() {
        let v = drop_all(&Names::of(&Ident::known("token")));
        assert!(v[..3].iter().all(|s| s.starts_with("DROP TRIGGER IF EXISTS")));
        assert_eq!(v[3], "DROP TABLE IF EXISTS `_token_tfnew`");
        assert_eq!(quote("we`ird"), "`we``ird`");
    }
}
