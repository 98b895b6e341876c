//! Transaction operations (RFC 7047 §5.2): insert, select, update, mutate,
//! delete and wait, built as the JSON the server reads.

use serde_json::{Value, json};

/// A condition `[column, function, value]` (`==`, `!=`, `includes`, ...).
pub fn condition(column: &str, function: &str, value: Value) -> Value {
    json!([column, function, value])
}

/// Inserts `row`; `uuid_name` lets later operations of the same
/// transaction refer to it as `["named-uuid", name]`.
pub fn insert(table: &str, row: Value, uuid_name: Option<&str>) -> Value {
    let mut op = json!({"op": "insert", "table": table, "row": row});
    if let Some(name) = uuid_name {
        op["uuid-name"] = json!(name);
    }
    op
}

/// Reads `columns` of the rows matching `conditions`.
pub fn select(table: &str, conditions: Vec<Value>, columns: &[&str]) -> Value {
    json!({"op": "select", "table": table, "where": conditions, "columns": columns})
}

/// Sets columns of the rows matching `conditions`.
pub fn update(table: &str, conditions: Vec<Value>, row: Value) -> Value {
    json!({"op": "update", "table": table, "where": conditions, "row": row})
}

/// Applies `mutations` (`[column, mutator, value]`, e.g. `insert` or
/// `delete` on a set or map) to the rows matching `conditions`.
pub fn mutate(table: &str, conditions: Vec<Value>, mutations: Vec<Value>) -> Value {
    json!({"op": "mutate", "table": table, "where": conditions, "mutations": mutations})
}

/// Deletes the rows matching `conditions`.
pub fn delete(table: &str, conditions: Vec<Value>) -> Value {
    json!({"op": "delete", "table": table, "where": conditions})
}

/// Aborts the transaction unless the rows matching `conditions`, read as
/// `columns`, are (`until` `==`) or are not (`!=`) exactly `rows`; waits up
/// to `timeout_ms` for that to become true (0: check once).
pub fn wait(
    table: &str,
    conditions: Vec<Value>,
    columns: &[&str],
    until: &str,
    rows: Vec<Value>,
    timeout_ms: u64,
) -> Value {
    json!({
        "op": "wait",
        "table": table,
        "where": conditions,
        "columns": columns,
        "until": until,
        "rows": rows,
        "timeout": timeout_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_have_the_rfc_shape() {
        assert_eq!(insert("QoS", json!({"type": "linux-htb"}), Some("q"))["uuid-name"], "q");
        assert!(insert("QoS", json!({}), None).get("uuid-name").is_none());
        let w = wait(
            "Bridge",
            vec![condition("name", "==", json!("br"))],
            &["name"],
            "==",
            vec![json!({"name": "br"})],
            0,
        );
        assert_eq!(w["where"], json!([["name", "==", "br"]]));
        assert_eq!((w["until"].as_str(), w["timeout"].as_u64()), (Some("=="), Some(0)));
        assert_eq!(delete("QoS", vec![])["op"], "delete");
    }
}
