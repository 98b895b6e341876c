//! Monitors: `monitor_cond` (notifications are `update2`, the form the
//! agent's replica reads) and plain `monitor` (`update`, RFC 7047's
//! old/new rows). A monitor answers with the initial rows and then, after
//! each commit, with what changed in the columns it watches, composed the
//! way ovsdb-server's `monitor.c` does it:
//!
//! - `initial`/`insert` rows leave out columns holding their default
//!   (`""`, `0`, empty), as ovsdb-server does in `update2`;
//! - `modify` carries only the changed columns, each as
//!   [`Datum::diff`](super::datum::Datum::diff): elements that toggle for
//!   sets, pairs added, removed or changed for maps, the new value for
//!   scalars and optional columns;
//! - a change to columns the monitor does not watch sends nothing.
//!
//! Conditions (`where` in a `monitor_cond` request) are accepted and
//! ignored: every row is monitored, which is what the agent asks for.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::database::{Database, Row};
use super::datum::Datum;
use super::schema::{ColumnSchema, TableSchema, table};

/// Which notifications a monitor sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `monitor`: `update` with `old`/`new` rows.
    Update,
    /// `monitor_cond`: `update2` with `initial`/`insert`/`modify`/`delete`.
    Update2,
}

/// A monitor request that cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    /// Not the documented shape.
    #[error("{0}")]
    Shape(String),
    /// The request names a table the database does not have.
    #[error("no table named {0}")]
    UnknownTable(String),
    /// The request names a column its table does not have.
    #[error("{column} is not a valid column name in table {table}")]
    UnknownColumn {
        /// The table.
        table: &'static str,
        /// The column.
        column: String,
    },
}

#[derive(Clone, Copy, Debug, Default)]
struct Select {
    initial: bool,
    insert: bool,
    delete: bool,
    modify: bool,
}

#[derive(Debug)]
struct TableMonitor {
    /// In schema order.
    columns: Vec<&'static ColumnSchema>,
    select: Select,
}

/// One monitor of one connection.
#[derive(Debug)]
pub struct Monitor {
    id: Value,
    flavor: Flavor,
    tables: BTreeMap<&'static str, TableMonitor>,
}

impl Monitor {
    /// Reads the `monitor-requests` object (table name to one request or
    /// an array of them).
    ///
    /// # Errors
    /// [`MonitorError`] when it names unknown tables or columns or is not
    /// shaped as documented.
    pub fn parse(id: Value, requests: &Value, flavor: Flavor) -> Result<Monitor, MonitorError> {
        let requests = requests
            .as_object()
            .ok_or_else(|| MonitorError::Shape(format!("monitor-requests must be an object: {requests}")))?;
        let mut tables = BTreeMap::new();
        for (name, request) in requests {
            let schema = table(name).ok_or_else(|| MonitorError::UnknownTable(name.clone()))?;
            tables.insert(schema.name, TableMonitor::parse(schema, request)?);
        }
        Ok(Monitor { id, flavor, tables })
    }

    /// The monitor's id, as the client gave it.
    pub fn id(&self) -> &Value {
        &self.id
    }

    /// The reply to the monitor request: every row, as `initial` (or
    /// `new` for a plain monitor).
    pub fn initial(&self, db: &Database) -> Value {
        let mut updates = Map::new();
        for (name, monitor) in self.tables.iter().filter(|(_, m)| m.select.initial) {
            let rows: Map<String, Value> = db
                .table(name)
                .iter()
                .map(|(uuid, row)| (uuid.clone(), monitor.created(row, self.flavor, true)))
                .collect();
            if !rows.is_empty() {
                updates.insert((*name).to_owned(), Value::Object(rows));
            }
        }
        Value::Object(updates)
    }

    /// The notification for a commit from `old` to `new`, if any watched
    /// column changed.
    pub fn notification(&self, old: &Database, new: &Database) -> Option<Value> {
        let mut updates = Map::new();
        for (name, monitor) in &self.tables {
            let rows = monitor.changes(old.table(name), new.table(name), self.flavor);
            if !rows.is_empty() {
                updates.insert((*name).to_owned(), Value::Object(rows));
            }
        }
        if updates.is_empty() {
            return None;
        }
        let method = match self.flavor {
            Flavor::Update => "update",
            Flavor::Update2 => "update2",
        };
        Some(json!({"method": method, "params": [self.id, updates], "id": null}))
    }
}

impl TableMonitor {
    fn parse(schema: &'static TableSchema, request: &Value) -> Result<TableMonitor, MonitorError> {
        let requests = match request {
            Value::Array(requests) => requests.as_slice(),
            single => std::slice::from_ref(single),
        };
        let mut wanted = BTreeSet::new();
        let mut select = Select::default();
        for request in requests {
            let request = request
                .as_object()
                .ok_or_else(|| MonitorError::Shape(format!("{}: request must be an object", schema.name)))?;
            match request.get("columns") {
                None => wanted.extend(schema.columns.iter().map(|c| c.name)),
                Some(Value::Array(columns)) => {
                    for column in columns {
                        let found = column.as_str().and_then(|name| schema.data_column(name));
                        let column = found.ok_or_else(|| MonitorError::UnknownColumn {
                            table: schema.name,
                            column: column.as_str().map_or_else(|| column.to_string(), str::to_owned),
                        })?;
                        wanted.insert(column.name);
                    }
                }
                Some(other) => return Err(MonitorError::Shape(format!("columns must be an array: {other}"))),
            }
            let flag = |name: &str| {
                request.get("select").and_then(|s| s.get(name)).and_then(Value::as_bool).unwrap_or(true)
            };
            select.initial |= flag("initial");
            select.insert |= flag("insert");
            select.delete |= flag("delete");
            select.modify |= flag("modify");
        }
        let columns = schema.columns.iter().filter(|c| wanted.contains(c.name)).collect();
        Ok(TableMonitor { columns, select })
    }

    /// A row that appeared (`initial` or `insert`).
    fn created(&self, row: &Row, flavor: Flavor, initial: bool) -> Value {
        match flavor {
            Flavor::Update2 => {
                let columns =
                    self.columns.iter().filter(|c| row.get(c.name) != Some(&Datum::default_of(&c.ty)));
                let op = if initial { "initial" } else { "insert" };
                json!({op: self.row_json(row, columns)})
            }
            Flavor::Update => json!({"new": self.row_json(row, self.columns.iter())}),
        }
    }

    fn row_json<'c>(&self, row: &Row, columns: impl Iterator<Item = &'c &'static ColumnSchema>) -> Value {
        let values = columns.filter_map(|c| Some((c.name.to_owned(), row.get(c.name)?.to_json())));
        Value::Object(values.collect())
    }

    /// What changed in this table, by row uuid.
    fn changes(
        &self,
        old: &BTreeMap<String, Row>,
        new: &BTreeMap<String, Row>,
        flavor: Flavor,
    ) -> Map<String, Value> {
        let uuids: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        let mut rows = Map::new();
        for uuid in uuids {
            let update = match (old.get(uuid), new.get(uuid)) {
                (None, Some(row)) if self.select.insert => self.created(row, flavor, false),
                (Some(row), None) if self.select.delete => match flavor {
                    Flavor::Update2 => json!({"delete": null}),
                    Flavor::Update => json!({"old": self.row_json(row, self.columns.iter())}),
                },
                (Some(before), Some(after)) if self.select.modify => {
                    let changed: Vec<_> =
                        self.columns.iter().filter(|c| before.get(c.name) != after.get(c.name)).collect();
                    if changed.is_empty() {
                        continue;
                    }
                    match flavor {
                        Flavor::Update2 => json!({"modify": self.diff(before, after, &changed)}),
                        Flavor::Update => json!({
                            "old": self.row_json(before, changed.iter().copied()),
                            "new": self.row_json(after, self.columns.iter()),
                        }),
                    }
                }
                _ => continue,
            };
            rows.insert(uuid.clone(), update);
        }
        rows
    }

    fn diff(&self, before: &Row, after: &Row, changed: &[&&'static ColumnSchema]) -> Value {
        let default = |c: &ColumnSchema| Datum::default_of(&c.ty);
        let diffs = changed.iter().map(|c| {
            let old = before.get(c.name).cloned().unwrap_or_else(|| default(c));
            let new = after.get(c.name).cloned().unwrap_or_else(|| default(c));
            (c.name.to_owned(), Datum::diff(&old, &new, &c.ty).to_json())
        });
        Value::Object(diffs.collect())
    }
}
