//! The rebuild strategy: copy the rows that stay into a new table and swap it in for the old
//! one, as pt-online-schema-change keeps a table online, but copying only the unexpired rows.
//! It returns the space a delete never gives back, and on a mostly expired table it is faster.
//!
//! 1. **Preconditions** ([`preflight`]), before anything is created: an InnoDB base table, a
//!    primary key, no foreign key to or from it, no trigger of its own, and the privileges.
//! 2. **Set-up** ([`copy::Rebuilder::set_up`]): the state table (one row: phase and the copy's
//!    cursor), `CREATE TABLE _<t>_tfnew LIKE <t>`, and three triggers that carry every insert,
//!    update and delete on the table into the copy; on Galera, then, every node is asked whether
//!    it has the triggers ([`nodes`]), and a set-up some node missed is made again.
//! 3. **Copy**: the rows the rule keeps, in primary-key order, in committed chunks sized like
//!    the delete's ([`crate::flush::size`]), each chunk share-locking what it reads and saving
//!    its cursor in the state in the same transaction, so a copy resumes exactly where its last
//!    committed chunk ended, on any node.
//! 4. **Swap**: one atomic `RENAME TABLE <t> TO _<t>_tfold, _<t>_tfnew TO <t>`, with
//!    `lock_wait_timeout` at its minimum and retried, so that a long Keystone transaction delays
//!    the swap instead of every request queueing behind it.
//! 5. **Clean-up**: drop the old table (its triggers go with it) and the state.
//!
//! Every statement that changes the schema is short, since Galera replicates each in total
//! order and blocks the cluster while it runs: the copy is DML, chunk by chunk, and each schema
//! step runs through [`step::ddl`], which waits for a metadata lock only briefly and again. A
//! rebuild killed at any step leaves the table correct (the original until the swap, the
//! complete copy after it) and leaves objects from which the next flush on any node reads what
//! happened ([`names::recognise`]): a rebuild resumes a copy under way, a delete flush undoes
//! it, and anyone finishes a swap that was done.

pub mod copy;
pub mod ddl;
pub mod names;
pub mod nodes;
pub mod preflight;
pub mod state;
pub mod step;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use crate::db::{within, DbError, Deadline, Session};
use crate::flush::report::{End, FlushReport};
use crate::flush::size::ChunkSize;
use crate::flush::FlushOpts;
use crate::shutdown::Stop;
use crate::table::TablePlan;

/// The part of a flush a rebuild does, once the cutoff is read and the named lock taken.
pub struct Job<'a> {
    pub s: &'a mut Session,
    pub plan: &'a TablePlan,
    pub opts: &'a FlushOpts,
    pub pred: &'a str,
    pub params: &'a [Value],
    pub deadline: Deadline,
    pub stop: &'a Stop,
    pub on_chunk: &'a mut dyn FnMut(u64),
    pub report: &'a mut FlushReport,
    pub galera_cap: Option<u32>,
}

pub async fn rebuild(job: Job<'_>) -> Result<End, DbError> {
    let ddl = preflight::check(job.s, job.plan, job.deadline).await?;
    // DDL that would wait for a metadata lock fails at once instead, and is retried.
    let minimum = if job.s.mariadb { 0 } else { 1 };
    within(job.deadline, std::time::Duration::from_secs(5), "set lock_wait_timeout", async {
        job.s.conn.query_drop(format!("SET SESSION lock_wait_timeout = {minimum}")).await
    })
    .await?;
    let resume = state::settle(job.s, &ddl.n, true, job.deadline).await?;
    let size = ChunkSize::new(job.opts.batch_size, job.galera_cap, job.plan.avg_row_length);
    let mut r = copy::Rebuilder {
        s: job.s,
        ddl,
        pred: job.pred.to_string(),
        params: job.params.to_vec(),
        deadline: job.deadline,
        stop: job.stop,
        on_chunk: job.on_chunk,
        report: job.report,
        size,
        sleep: job.opts.sleep,
        throttle: Default::default(),
    };
    set_up_everywhere(&mut r, resume).await?;
    if let Some(end) = r.copy().await? {
        return Ok(end);
    }
    r.swap().await?;
    Ok(End::Complete)
}

/// How many times a set-up that a Galera node missed is undone and made again.
const SETUP_ATTEMPTS: u32 = 3;

/// The set-up (unless a copy is under way), then the check that every Galera node has its
/// triggers ([`nodes`]). A set-up some node missed is undone and made again; a copy under way
/// that a node's writes have been missing is undone and started over.
async fn set_up_everywhere(r: &mut copy::Rebuilder<'_>, mut resume: bool) -> Result<(), DbError> {
    let n = r.ddl.n.clone();
    for attempt in 1..=SETUP_ATTEMPTS {
        let checked = match resume {
            true => nodes::triggers(r.s, &n, r.deadline).await,
            false => match r.set_up().await {
                Ok(()) => nodes::triggers(r.s, &n, r.deadline).await,
                Err(e) => Err(e),
            },
        };
        let missing_on = match checked {
            Ok(nodes::Triggers::Everywhere) => return Ok(()),
            Ok(nodes::Triggers::MissingOn(node)) => node,
            Err(e) => {
                let _ = state::drop_everything(r.s, &n, r.deadline).await;
                return Err(e);
            }
        };
        crate::warn!(
            "Galera node {missing_on} lacks the rebuild's triggers on {} (it failed to apply one); undoing the \
             rebuild's set-up{}",
            n.table,
            if attempt < SETUP_ATTEMPTS { " and making it again" } else { "" }
        );
        state::drop_everything(r.s, &n, r.deadline).await?;
        resume = false;
    }
    Err(DbError::Misconfigured(format!(
        "cannot rebuild {}: a Galera node failed to create the rebuild's triggers {SETUP_ATTEMPTS} times",
        n.table
    )))
}

/// Whether the table can be rebuilt, for `auto`: the preconditions hold.
pub async fn rebuildable(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> bool {
    preflight::check(s, plan, deadline).await.is_ok()
}
