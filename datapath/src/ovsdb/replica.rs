//! A local copy of the monitored rows, kept current by `monitor_cond`
//! results and `update2` notifications (RFC 7047 with the OVS extension
//! documented in ovsdb-server(7)).
//!
//! A `modify` carries a diff, not the new row: for a set column the
//! elements to toggle, for a map column the pairs to add, remove (same
//! value) or change (other value), and for a scalar or optional column the
//! new value. A one-element set travels as a bare atom, so telling a set
//! from an optional column (a set of at most one) or a scalar needs the
//! schema: [`SET_COLUMNS`] lists the monitored set columns, whose diff
//! toggles elements, and [`OPTIONAL_COLUMNS`] the monitored columns of at
//! most one value, whose diff is the new value (ovsdb-server sends an
//! optional column's new value, `["set", []]` when it is cleared). Every
//! monitored column of either kind must be listed: read by its shape, a
//! one-element set diff looks like a new value and a cleared optional
//! column like an empty diff (the bug behind a second Mirror row making
//! the replica forget the first).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::datum::{map_pairs, set_elements};

/// Monitored columns that are sets of any size: a diff toggles elements.
pub const SET_COLUMNS: [(&str, &str); 6] = [
    ("Bridge", "ports"),
    ("Bridge", "mirrors"),
    ("Port", "interfaces"),
    ("Port", "trunks"),
    ("Mirror", "select_src_port"),
    ("Mirror", "select_dst_port"),
];
/// Monitored columns that hold at most one value: a diff replaces them.
pub const OPTIONAL_COLUMNS: [(&str, &str); 5] = [
    ("Interface", "ofport"),
    ("Interface", "error"),
    ("Port", "tag"),
    ("Port", "vlan_mode"),
    ("Mirror", "output_port"),
];

/// A row: column name to value, as OVSDB sends them.
pub type Row = Map<String, Value>;

/// The monitored tables, by table and row uuid.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replica {
    tables: BTreeMap<String, BTreeMap<String, Row>>,
}

/// A `table-updates2` object that does not have the documented shape.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed table update: {0}")]
pub struct UpdateError(pub String);

impl Replica {
    /// The rows of a table, by uuid.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&str, &Row)> {
        self.tables.get(table).into_iter().flatten().map(|(uuid, row)| (uuid.as_str(), row))
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    /// Forgets everything (before a new monitor after a reconnect).
    pub fn clear(&mut self) {
        self.tables.clear();
    }

    /// Applies a `table-updates2` object.
    ///
    /// # Errors
    /// [`UpdateError`] when it does not have the documented shape; rows
    /// before the bad one are applied.
    pub fn apply(&mut self, updates: &Value) -> Result<(), UpdateError> {
        let tables = updates.as_object().ok_or_else(|| UpdateError("not an object".into()))?;
        for (table, rows) in tables {
            let rows =
                rows.as_object().ok_or_else(|| UpdateError(format!("{table}: rows are not an object")))?;
            for (uuid, change) in rows {
                self.apply_row(table, uuid, change)?;
            }
        }
        Ok(())
    }

    fn apply_row(&mut self, table: &str, uuid: &str, change: &Value) -> Result<(), UpdateError> {
        let change =
            change.as_object().ok_or_else(|| UpdateError(format!("{table}/{uuid}: not an object")))?;
        let rows = self.tables.entry(table.to_owned()).or_default();
        let row_of = |v: &Value| {
            v.as_object().cloned().ok_or_else(|| UpdateError(format!("{table}/{uuid}: row is not an object")))
        };
        if let Some(row) = change.get("initial").or_else(|| change.get("insert")) {
            rows.insert(uuid.to_owned(), row_of(row)?);
        } else if let Some(diff) = change.get("modify") {
            let diff = row_of(diff)?;
            let row = rows.entry(uuid.to_owned()).or_default();
            for (column, delta) in diff {
                let key = (table, column.as_str());
                let kind = if SET_COLUMNS.contains(&key) {
                    Kind::Set
                } else if OPTIONAL_COLUMNS.contains(&key) {
                    Kind::Replace
                } else {
                    Kind::FromValue
                };
                let merged = merge(row.get(&column), &delta, kind);
                row.insert(column, merged);
            }
        } else if change.contains_key("delete") {
            rows.remove(uuid);
        } else {
            return Err(UpdateError(format!("{table}/{uuid}: no initial, insert, modify or delete")));
        }
        Ok(())
    }
}

/// How a column's diff applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Toggle the diff's elements.
    Set,
    /// The diff is the new value.
    Replace,
    /// Maps and `set`-tagged values by their shape; anything else replaced.
    FromValue,
}

/// The new value of a column from its old value and a `modify` diff.
fn merge(old: Option<&Value>, delta: &Value, kind: Kind) -> Value {
    if let Some(pairs) = map_pairs(delta) {
        let mut map: Vec<(&Value, &Value)> = old.and_then(map_pairs).unwrap_or_default();
        for (key, value) in pairs {
            match map.iter().position(|(k, _)| *k == key) {
                Some(at) if map[at].1 == value => {
                    map.remove(at);
                }
                Some(at) => map[at].1 = value,
                None => map.push((key, value)),
            }
        }
        let pairs: Vec<Value> =
            map.into_iter().map(|(k, v)| Value::Array(vec![k.clone(), v.clone()])).collect();
        return serde_json::json!(["map", pairs]);
    }
    let tagged_set = delta.as_array().is_some_and(|a| a.first().is_some_and(|t| t == "set"));
    if kind == Kind::Replace || (kind == Kind::FromValue && !tagged_set) {
        return delta.clone();
    }
    let mut elements = old.map(set_elements).map(<[Value]>::to_vec).unwrap_or_default();
    for element in set_elements(delta) {
        match elements.iter().position(|e| e == element) {
            Some(at) => {
                elements.remove(at);
            }
            None => elements.push(element.clone()),
        }
    }
    serde_json::json!(["set", elements])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::to_string_map;
    use serde_json::json;

    #[test]
    fn initial_insert_modify_and_delete_keep_the_copy_current() {
        let mut replica = Replica::default();
        replica
            .apply(&json!({"Interface": {"u1": {"initial": {"name": "tap0", "ofport": ["set", []]}}}}))
            .unwrap();
        replica.apply(&json!({"Interface": {"u2": {"insert": {"name": "tap1"}}}})).unwrap();
        replica.apply(&json!({"Interface": {"u1": {"modify": {"ofport": 7}}}})).unwrap();
        assert_eq!(replica.row("Interface", "u1").unwrap()["ofport"], json!(7));
        replica.apply(&json!({"Interface": {"u1": {"modify": {"ofport": ["set", []]}}}})).unwrap();
        assert_eq!(replica.row("Interface", "u1").unwrap()["ofport"], json!(["set", []]));
        replica.apply(&json!({"Interface": {"u2": {"delete": null}}})).unwrap();
        assert_eq!(replica.rows("Interface").count(), 1);
    }

    #[test]
    fn a_set_diff_toggles_elements() {
        let old = json!(["set", [["uuid", "a"], ["uuid", "b"]]]);
        let merged = merge(Some(&old), &json!(["set", [["uuid", "b"], ["uuid", "c"]]]), Kind::Set);
        assert_eq!(merged, json!(["set", [["uuid", "a"], ["uuid", "c"]]]));
        // A one-element diff travels as a bare atom and still toggles.
        assert_eq!(merge(Some(&merged), &json!(["uuid", "a"]), Kind::Set), json!(["set", [["uuid", "c"]]]));
        // A one-element old value too.
        assert_eq!(
            merge(Some(&json!(["uuid", "c"])), &json!(["uuid", "d"]), Kind::Set),
            json!(["set", [["uuid", "c"], ["uuid", "d"]]])
        );
    }

    #[test]
    fn a_map_diff_adds_removes_and_changes_pairs() {
        let old = json!(["map", [["a", "1"], ["b", "2"], ["c", "3"]]]);
        let merged =
            merge(Some(&old), &json!(["map", [["a", "1"], ["b", "9"], ["d", "4"]]]), Kind::FromValue);
        let map = to_string_map(&merged);
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            [
                ("b".to_owned(), "9".to_owned()),
                ("c".to_owned(), "3".to_owned()),
                ("d".to_owned(), "4".to_owned()),
            ]
        );
    }

    #[test]
    fn malformed_updates_are_errors() {
        let mut replica = Replica::default();
        assert!(replica.apply(&json!([])).is_err());
        assert!(replica.apply(&json!({"T": {"u": {"frobnicate": {}}}})).is_err());
        assert!(replica.apply(&json!({"T": {"u": {"insert": 5}}})).is_err());
    }
}
