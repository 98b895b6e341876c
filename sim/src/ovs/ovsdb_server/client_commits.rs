//! What a client's committed transaction changed, for checks that run
//! after each one (the simulation's invariants on what the agent may
//! touch). Only clients are watched: the CNI, ovs-vswitchd and other
//! controllers act through hooks, not through a connection.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::database::Database;

/// A table's rows as OVSDB writes them (column to JSON value), by uuid.
pub type RowsJson = BTreeMap<String, Value>;

/// One committed client transaction: the database before and after.
#[derive(Clone, Copy, Debug)]
pub struct ClientCommit<'a> {
    pub(super) before: &'a Database,
    pub(super) after: &'a Database,
}

impl ClientCommit<'_> {
    /// `table`'s rows before the transaction.
    pub fn before(&self, table: &str) -> RowsJson {
        rows_json(self.before, table)
    }

    /// `table`'s rows after it.
    pub fn after(&self, table: &str) -> RowsJson {
        rows_json(self.after, table)
    }
}

fn rows_json(db: &Database, table: &str) -> RowsJson {
    db.table(table)
        .iter()
        .map(|(uuid, row)| {
            let columns: Map<String, Value> =
                row.iter().map(|(column, datum)| ((*column).to_owned(), datum.to_json())).collect();
            (uuid.clone(), Value::Object(columns))
        })
        .collect()
}

/// A check run after each committed client transaction.
pub type CommitCheck = Box<dyn FnMut(ClientCommit<'_>) + Send>;

/// The checks, in the order they were added.
#[derive(Default)]
pub(super) struct CommitChecks(pub Vec<CommitCheck>);

impl std::fmt::Debug for CommitChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} commit checks", self.0.len())
    }
}
