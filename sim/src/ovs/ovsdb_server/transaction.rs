//! `transact` (RFC 7047 §4.1.3, §5.2): the operations run one by one on a
//! copy of the database; the first that fails ends the transaction and
//! nothing of it is kept. The results are ovsdb-server's: one per
//! operation, the failing one an error object and those after it `null`;
//! a failure at commit (integrity, garbage collection, indexes) is an
//! extra error result after the last operation.
//!
//! Named uuids (`uuid-name`) are allocated on first mention, so a
//! reference may come before the insert that names it. `wait` checks
//! once, whatever its timeout: the simulation has no clock to wait on.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::condition::{ConditionError, column_value, matching, parse_where};
use super::database::{Database, IntegrityError, Row};
use super::datum::{Datum, DatumError};
use super::mutation::{MutationError, parse_mutations};
use super::schema::{ColumnSchema, TableSchema, table};

/// Hands out uuids from a counter (`00000000-0000-4000-8000-` and the
/// count in hex): deterministic, and still shaped like real ones.
#[derive(Debug, Default)]
pub struct UuidSource {
    issued: u64,
}

impl UuidSource {
    /// The next uuid.
    pub fn next_uuid(&mut self) -> String {
        self.issued += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.issued)
    }
}

/// Why an operation (or the commit) failed; reported as `{"error": tag,
/// "details": message}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The operation is not the JSON it should be.
    #[error("{0}")]
    Syntax(String),
    /// `op` names no operation.
    #[error("no operation {0:?}")]
    UnknownOperation(String),
    /// `table` names no table.
    #[error("no table named {0}")]
    UnknownTable(String),
    /// A row names a column its table does not have.
    #[error("no column {column} in table {table}")]
    UnknownColumn {
        /// The table.
        table: &'static str,
        /// The column.
        column: String,
    },
    /// A row's value does not fit its column.
    #[error("table {table} column {column}")]
    Value {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Why.
        source: DatumError,
    },
    /// Two inserts with the same `uuid-name`.
    #[error("the transaction already inserted a row named {0}")]
    DuplicateUuidName(String),
    /// A bad `where`.
    #[error(transparent)]
    Condition(#[from] ConditionError),
    /// A bad or overfilling mutation.
    #[error(transparent)]
    Mutation(#[from] MutationError),
    /// A `wait` whose condition was false.
    #[error("\"wait\" timed out")]
    TimedOut,
    /// An `abort` operation.
    #[error("aborted by request")]
    Aborted,
    /// An operation this server does not implement.
    #[error("{0} is not supported by the simulated server")]
    NotSupported(&'static str),
    /// The transaction would break the database's rules.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
}

impl OpError {
    /// The RFC 7047 error tag.
    pub fn tag(&self) -> &'static str {
        match self {
            OpError::Syntax(_) => "syntax error",
            OpError::UnknownOperation(_) => "unknown operation",
            OpError::UnknownTable(_) => "unknown table",
            OpError::UnknownColumn { .. } => "unknown column",
            OpError::Value { source, .. } => source.tag(),
            OpError::DuplicateUuidName(_) => "duplicate uuid-name",
            OpError::Condition(error) => error.tag(),
            OpError::Mutation(error) => error.tag(),
            OpError::TimedOut => "timed out",
            OpError::Aborted => "aborted",
            OpError::NotSupported(_) => "not supported",
            OpError::Integrity(error) => error.tag(),
        }
    }

    /// The error object; its details carry every cause.
    pub fn to_json(&self) -> Value {
        let mut details = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            details.push_str(&format!(": {error}"));
            cause = error.source();
        }
        json!({"error": self.tag(), "details": details})
    }
}

/// What a transaction gave.
#[derive(Debug)]
pub struct Outcome {
    /// The `result` array.
    pub results: Vec<Value>,
    /// The database to commit, `None` when the transaction failed.
    pub committed: Option<Database>,
}

/// Runs `ops` against a copy of `db`.
pub fn execute(db: &Database, uuids: &mut UuidSource, ops: &[Value]) -> Outcome {
    let mut transaction = Transaction { db: db.clone(), names: Names { uuids, named: BTreeMap::new() } };
    let mut results = Vec::with_capacity(ops.len() + 1);
    for op in ops {
        match transaction.execute(op) {
            Ok(result) => results.push(result),
            Err(error) => {
                results.push(error.to_json());
                results.resize(ops.len(), Value::Null);
                return Outcome { results, committed: None };
            }
        }
    }
    match transaction.db.prepare_commit() {
        Ok(()) => Outcome { results, committed: Some(transaction.db) },
        Err(error) => {
            results.push(OpError::from(error).to_json());
            Outcome { results, committed: None }
        }
    }
}

/// The transaction's named uuids.
struct Names<'a> {
    uuids: &'a mut UuidSource,
    /// Name to (uuid, whether an insert used it yet).
    named: BTreeMap<String, (String, bool)>,
}

impl Names<'_> {
    fn resolve(&mut self, name: &str) -> String {
        let uuids = &mut *self.uuids;
        self.named.entry(name.to_owned()).or_insert_with(|| (uuids.next_uuid(), false)).0.clone()
    }

    fn declare(&mut self, name: &str) -> Result<String, OpError> {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(OpError::Syntax(format!("uuid-name {name:?} is not an <id>")));
        }
        let uuid = self.resolve(name);
        match self.named.get_mut(name) {
            Some((_, inserted)) if !*inserted => {
                *inserted = true;
                Ok(uuid)
            }
            _ => Err(OpError::DuplicateUuidName(name.to_owned())),
        }
    }
}

struct Transaction<'a> {
    db: Database,
    names: Names<'a>,
}

fn member<'v>(op: &'v Value, name: &str) -> Result<&'v Value, OpError> {
    op.get(name).ok_or_else(|| OpError::Syntax(format!("operation has no {name:?}: {op}")))
}

fn op_table(op: &Value) -> Result<&'static TableSchema, OpError> {
    let name =
        member(op, "table")?.as_str().ok_or_else(|| OpError::Syntax("table is not a string".into()))?;
    table(name).ok_or_else(|| OpError::UnknownTable(name.to_owned()))
}

fn count(n: usize) -> Value {
    json!({"count": n})
}

impl Transaction<'_> {
    fn execute(&mut self, op: &Value) -> Result<Value, OpError> {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| OpError::Syntax(format!("no \"op\" in {op}")))?;
        match name {
            "insert" => self.insert(op),
            "select" => self.select(op),
            "update" => self.update(op),
            "mutate" => self.mutate(op),
            "delete" => self.delete(op),
            "wait" => self.wait(op),
            "comment" | "commit" => Ok(json!({})),
            "abort" => Err(OpError::Aborted),
            "assert" => Err(OpError::NotSupported("assert")),
            other => Err(OpError::UnknownOperation(other.to_owned())),
        }
    }

    /// The rows `op`'s `where` selects, in uuid order.
    fn matching(&mut self, table: &'static TableSchema, op: &Value) -> Result<Vec<String>, OpError> {
        let conditions = parse_where(table, member(op, "where")?, &mut |name| self.names.resolve(name))?;
        Ok(matching(self.db.table(table.name), &conditions))
    }

    /// Reads a `row` object: the columns it sets, each checked against
    /// its type.
    fn parse_row(&mut self, table: &'static TableSchema, json: &Value) -> Result<Row, OpError> {
        let object =
            json.as_object().ok_or_else(|| OpError::Syntax(format!("row is not an object: {json}")))?;
        let mut row = Row::new();
        for (name, value) in object {
            let column = table
                .data_column(name)
                .ok_or_else(|| OpError::UnknownColumn { table: table.name, column: name.clone() })?;
            let datum = Datum::from_json(value, &column.ty, &mut |n| self.names.resolve(n))
                .map_err(|source| OpError::Value { table: table.name, column: column.name, source })?;
            row.insert(column.name, datum);
        }
        Ok(row)
    }

    fn insert(&mut self, op: &Value) -> Result<Value, OpError> {
        let table = op_table(op)?;
        let uuid = match op.get("uuid-name") {
            None => self.names.uuids.next_uuid(),
            Some(Value::String(name)) => self.names.declare(name)?,
            Some(other) => return Err(OpError::Syntax(format!("uuid-name is not a string: {other}"))),
        };
        let given = self.parse_row(table, op.get("row").unwrap_or(&json!({})))?;
        let mut row: Row = table.columns.iter().map(|c| (c.name, Datum::default_of(&c.ty))).collect();
        row.extend(given);
        self.db.table_mut(table).insert(uuid.clone(), row);
        Ok(json!({"uuid": ["uuid", uuid]}))
    }

    fn select(&mut self, op: &Value) -> Result<Value, OpError> {
        let table = op_table(op)?;
        let columns = selected_columns(table, op.get("columns"))?;
        let rows: Vec<Value> = self
            .matching(table, op)?
            .iter()
            .filter_map(|uuid| Some(project(uuid, self.db.row(table.name, uuid)?, &columns)))
            .map(|row| {
                Value::Object(
                    row.into_iter().map(|(name, datum)| (name.to_owned(), datum.to_json())).collect(),
                )
            })
            .collect();
        Ok(json!({"rows": rows}))
    }

    fn update(&mut self, op: &Value) -> Result<Value, OpError> {
        let table = op_table(op)?;
        let changes = self.parse_row(table, member(op, "row")?)?;
        let uuids = self.matching(table, op)?;
        let rows = self.db.table_mut(table);
        for uuid in &uuids {
            if let Some(row) = rows.get_mut(uuid) {
                row.extend(changes.iter().map(|(k, v)| (*k, v.clone())));
            }
        }
        Ok(count(uuids.len()))
    }

    fn mutate(&mut self, op: &Value) -> Result<Value, OpError> {
        let table = op_table(op)?;
        let mutations = parse_mutations(table, member(op, "mutations")?, &mut |n| self.names.resolve(n))?;
        let uuids = self.matching(table, op)?;
        let rows = self.db.table_mut(table);
        for uuid in &uuids {
            if let Some(row) = rows.get_mut(uuid) {
                for mutation in &mutations {
                    mutation.apply(row)?;
                }
            }
        }
        Ok(count(uuids.len()))
    }

    fn delete(&mut self, op: &Value) -> Result<Value, OpError> {
        let table = op_table(op)?;
        let uuids = self.matching(table, op)?;
        let rows = self.db.table_mut(table);
        for uuid in &uuids {
            rows.remove(uuid);
        }
        Ok(count(uuids.len()))
    }

    fn wait(&mut self, op: &Value) -> Result<Value, OpError> {
        let table = op_table(op)?;
        let columns = selected_columns(table, Some(member(op, "columns")?))?;
        let until_equal = match member(op, "until")?.as_str() {
            Some("==") => true,
            Some("!=") => false,
            _ => return Err(OpError::Syntax(format!("wait: until must be \"==\" or \"!=\": {op}"))),
        };
        let expected_json = member(op, "rows")?
            .as_array()
            .ok_or_else(|| OpError::Syntax("wait: rows is not an array".into()))?;
        let mut expected = Vec::new();
        for json in expected_json {
            let mut row: Row = table.columns.iter().map(|c| (c.name, Datum::default_of(&c.ty))).collect();
            row.extend(self.parse_row(table, json)?);
            expected.push(project("", &row, &columns));
        }
        let mut actual: Vec<_> = self
            .matching(table, op)?
            .iter()
            .filter_map(|uuid| Some(project(uuid, self.db.row(table.name, uuid)?, &columns)))
            .collect();
        expected.sort();
        actual.sort();
        if (actual == expected) == until_equal { Ok(json!({})) } else { Err(OpError::TimedOut) }
    }
}

/// The columns a `select` or `wait` names (all of them, `_uuid` first,
/// when it names none).
fn selected_columns(
    table: &'static TableSchema,
    json: Option<&Value>,
) -> Result<Vec<&'static ColumnSchema>, OpError> {
    let Some(json) = json else {
        let uuid = table.column("_uuid");
        return Ok(uuid.into_iter().chain(table.columns.iter()).collect());
    };
    let names = json.as_array().ok_or_else(|| OpError::Syntax(format!("columns is not an array: {json}")))?;
    names
        .iter()
        .map(|name| {
            let name = name
                .as_str()
                .ok_or_else(|| OpError::Syntax(format!("column name is not a string: {name}")))?;
            table
                .column(name)
                .ok_or_else(|| OpError::UnknownColumn { table: table.name, column: name.to_owned() })
        })
        .collect()
}

fn project(uuid: &str, row: &Row, columns: &[&'static ColumnSchema]) -> Vec<(&'static str, Datum)> {
    columns.iter().map(|column| (column.name, column_value(uuid, row, column))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with the root row and bridge `br-int`, and the uuid
    /// source that made them.
    fn bridge() -> (Database, UuidSource) {
        let mut uuids = UuidSource::default();
        let ops = [
            json!({"op": "insert", "table": "Open_vSwitch", "row": {"bridges": ["named-uuid", "br"]}}),
            json!({"op": "insert", "table": "Bridge", "row": {"name": "br-int"}, "uuid-name": "br"}),
        ];
        let outcome = execute(&Database::empty(), &mut uuids, &ops);
        (outcome.committed.expect("commits"), uuids)
    }

    fn add_port(name: &str, bridge: &str) -> Vec<Value> {
        vec![
            json!({"op": "insert", "table": "Interface", "row": {"name": name, "type": "internal"}, "uuid-name": "iface"}),
            json!({"op": "insert", "table": "Port", "row": {"name": name, "interfaces": ["named-uuid", "iface"]}, "uuid-name": "port"}),
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
                   "mutations": [["ports", "insert", ["set", [["named-uuid", "port"]]]]]}),
        ]
    }

    fn run(db: &Database, uuids: &mut UuidSource, ops: &[Value]) -> (Vec<Value>, Option<Database>) {
        let outcome = execute(db, uuids, ops);
        (outcome.results, outcome.committed)
    }

    #[test]
    fn uuids_count_up_and_look_like_uuids() {
        let mut uuids = UuidSource::default();
        assert_eq!(uuids.next_uuid(), "00000000-0000-4000-8000-000000000001");
        assert!(super::super::datum::is_uuid(&uuids.next_uuid()));
    }

    #[test]
    fn named_uuids_link_rows_inserted_in_one_transaction() {
        let (db, mut uuids) = bridge();
        let (results, committed) = run(&db, &mut uuids, &add_port("tap0", "br-int"));
        let db = committed.expect("commits");
        assert_eq!(results[2], json!({"count": 1}));
        let iface = results[0]["uuid"][1].as_str().expect("uuid");
        let port = results[1]["uuid"][1].as_str().expect("uuid");
        assert_eq!(db.row("Port", port).map(|r| r["interfaces"].to_json()), Some(json!(["uuid", iface])));
    }

    #[test]
    fn a_named_uuid_may_be_used_before_its_insert() {
        let (db, mut uuids) = bridge();
        let mut ops = add_port("tap0", "br-int");
        ops.rotate_left(2);
        let (results, committed) = run(&db, &mut uuids, &ops);
        assert!(committed.is_some(), "{results:?}");
    }

    #[test]
    fn a_mutate_that_matches_no_bridge_counts_zero_and_the_orphans_are_collected() {
        let (db, mut uuids) = bridge();
        let (results, committed) = run(&db, &mut uuids, &add_port("tap0", "br-missing"));
        assert_eq!(results[2], json!({"count": 0}));
        let db = committed.expect("not an error");
        assert!(db.table("Port").is_empty() && db.table("Interface").is_empty());
    }

    #[test]
    fn the_first_failing_operation_aborts_everything_and_later_results_are_null() {
        let (db, mut uuids) = bridge();
        let mut ops = add_port("tap0", "br-int");
        ops.insert(2, json!({"op": "update", "table": "Interface", "where": [], "row": {"ofport": "x"}}));
        let (results, committed) = run(&db, &mut uuids, &ops);
        assert!(committed.is_none());
        assert_eq!(results.len(), 4);
        assert_eq!(results[2]["error"], "syntax error");
        assert_eq!(results[3], Value::Null);
    }

    #[test]
    fn a_reference_to_a_missing_row_fails_at_commit_after_the_last_result() {
        let (db, mut uuids) = bridge();
        let missing = "00000000-0000-4000-8000-0000000000ff";
        let ops = [json!({"op": "mutate", "table": "Bridge", "where": [],
                          "mutations": [["ports", "insert", ["uuid", missing]]]})];
        let (results, committed) = run(&db, &mut uuids, &ops);
        assert!(committed.is_none());
        assert_eq!(results.len(), 2);
        assert_eq!(results[1]["error"], "referential integrity violation");
    }

    #[test]
    fn deleting_a_referenced_bridge_is_an_integrity_violation() {
        let (db, mut uuids) = bridge();
        let (results, committed) =
            run(&db, &mut uuids, &[json!({"op": "delete", "table": "Bridge", "where": []})]);
        assert!(committed.is_none());
        assert_eq!(results[1]["error"], "referential integrity violation");
    }

    #[test]
    fn a_second_port_with_the_same_name_breaks_the_index() {
        let (db, mut uuids) = bridge();
        let db = run(&db, &mut uuids, &add_port("tap0", "br-int")).1.expect("first");
        let (results, committed) = run(&db, &mut uuids, &add_port("tap0", "br-int"));
        assert!(committed.is_none());
        assert_eq!(results[3]["error"], "constraint violation");
    }

    #[test]
    fn a_uuid_name_inserted_twice_is_refused() {
        let (db, mut uuids) = bridge();
        let mut ops = add_port("tap0", "br-int");
        ops.push(ops[0].clone());
        let (results, _) = run(&db, &mut uuids, &ops);
        assert_eq!(results[3]["error"], "duplicate uuid-name");
    }

    #[test]
    fn select_reads_the_named_columns_and_uuid() {
        let (db, mut uuids) = bridge();
        let db = run(&db, &mut uuids, &add_port("tap0", "br-int")).1.expect("commits");
        let select = json!({"op": "select", "table": "Interface", "where": [["name", "==", "tap0"]],
                            "columns": ["name", "type", "ofport"]});
        let (results, _) = run(&db, &mut uuids, &[select]);
        assert_eq!(
            results[0],
            json!({"rows": [{"name": "tap0", "type": "internal", "ofport": ["set", []]}]})
        );
        let all = json!({"op": "select", "table": "Bridge", "where": []});
        let (results, _) = run(&db, &mut uuids, &[all]);
        let row = &results[0]["rows"][0];
        assert_eq!((row["name"].as_str(), row["_uuid"][0].as_str()), (Some("br-int"), Some("uuid")));
    }

    #[test]
    fn wait_checks_once_and_times_out_when_false() {
        let (db, mut uuids) = bridge();
        let wait = |until: &str, name: &str| {
            json!({"op": "wait", "table": "Bridge", "where": [], "columns": ["name"], "until": until,
                   "rows": [{"name": name}], "timeout": 0})
        };
        assert_eq!(run(&db, &mut uuids, &[wait("==", "br-int")]).0, [json!({})]);
        assert_eq!(run(&db, &mut uuids, &[wait("!=", "br-other")]).0, [json!({})]);
        assert_eq!(run(&db, &mut uuids, &[wait("==", "br-other")]).0[0]["error"], "timed out");
    }

    #[test]
    fn malformed_operations_are_errors_with_tags() {
        let (db, mut uuids) = bridge();
        for (op, tag) in [
            (json!({"op": "frobnicate"}), "unknown operation"),
            (json!({"op": "insert", "table": "Nope"}), "unknown table"),
            (json!({"op": "insert", "table": "Bridge", "row": {"nope": 1}}), "unknown column"),
            (json!({"op": "delete", "table": "Bridge"}), "syntax error"),
            (json!("insert"), "syntax error"),
            (json!({"op": "abort"}), "aborted"),
        ] {
            let (results, committed) =
                run(&db, &mut uuids, &[json!({"op": "comment", "comment": "x"}), op.clone()]);
            assert!(committed.is_none(), "{op}");
            assert_eq!(results[1]["error"], tag, "{op}");
        }
    }
}
