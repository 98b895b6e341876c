//! `where` clauses (RFC 7047 §5.1 `<condition>`): `[column, function,
//! value]` with `==`, `!=`, `includes`, `excludes`, and the ordered
//! comparisons on integer scalars; `_uuid` is a column like the others.

use serde_json::Value;

use super::database::{Row, Table};
use super::datum::{Datum, DatumError, NamedUuids};
use super::schema::{AtomType, ColumnSchema, TableSchema};

/// A `where` clause that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// Not `[column, function, value]`, or `where` is not an array.
    #[error("expected [column, function, value], found {0}")]
    Shape(String),
    /// The column is not in the table.
    #[error("no column {column} in table {table}")]
    UnknownColumn {
        /// The table.
        table: &'static str,
        /// The column asked for.
        column: String,
    },
    /// A function this server does not know, or one that does not apply to
    /// the column (`<` on a string).
    #[error("function {function:?} does not apply to column {column}")]
    Function {
        /// The function.
        function: String,
        /// The column.
        column: &'static str,
    },
    /// The value does not fit the column.
    #[error("column {column}")]
    Value {
        /// The column.
        column: &'static str,
        /// Why.
        source: DatumError,
    },
}

impl ConditionError {
    /// The RFC 7047 error tag.
    pub fn tag(&self) -> &'static str {
        match self {
            ConditionError::UnknownColumn { .. } => "unknown column",
            ConditionError::Value { source, .. } => source.tag(),
            _ => "syntax error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Equal,
    NotEqual,
    Includes,
    Excludes,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Function {
    fn parse(name: &str) -> Option<Function> {
        Some(match name {
            "==" => Function::Equal,
            "!=" => Function::NotEqual,
            "includes" => Function::Includes,
            "excludes" => Function::Excludes,
            "<" => Function::Less,
            "<=" => Function::LessOrEqual,
            ">" => Function::Greater,
            ">=" => Function::GreaterOrEqual,
            _ => return None,
        })
    }

    fn is_ordered(self) -> bool {
        matches!(self, Function::Less | Function::LessOrEqual | Function::Greater | Function::GreaterOrEqual)
    }
}

/// One condition, read against its table's schema.
#[derive(Clone, Debug)]
pub struct Condition {
    column: &'static ColumnSchema,
    function: Function,
    value: Datum,
}

/// The value of `column` in a row (`_uuid` included).
pub fn column_value(uuid: &str, row: &Row, column: &ColumnSchema) -> Datum {
    match row.get(column.name) {
        Some(datum) => datum.clone(),
        None if column.name == super::schema::UUID_COLUMN.name => Datum::uuid(uuid),
        None => Datum::default_of(&column.ty),
    }
}

/// Reads a `where` array.
///
/// # Errors
/// [`ConditionError`] for the first clause that cannot be read.
pub fn parse_where(
    table: &'static TableSchema,
    json: &Value,
    names: &mut NamedUuids<'_>,
) -> Result<Vec<Condition>, ConditionError> {
    let clauses = json.as_array().ok_or_else(|| ConditionError::Shape(json.to_string()))?;
    clauses.iter().map(|clause| Condition::parse(table, clause, names)).collect()
}

/// The uuids of the rows every condition holds for, in uuid order.
pub fn matching(rows: &Table, conditions: &[Condition]) -> Vec<String> {
    rows.iter()
        .filter(|(uuid, row)| conditions.iter().all(|c| c.holds(uuid, row)))
        .map(|(uuid, _)| uuid.clone())
        .collect()
}

impl Condition {
    fn parse(
        table: &'static TableSchema,
        json: &Value,
        names: &mut NamedUuids<'_>,
    ) -> Result<Condition, ConditionError> {
        let Some([Value::String(column), Value::String(function), value]) =
            json.as_array().map(Vec::as_slice)
        else {
            return Err(ConditionError::Shape(json.to_string()));
        };
        let column = table
            .column(column)
            .ok_or_else(|| ConditionError::UnknownColumn { table: table.name, column: column.clone() })?;
        let bad_function = || ConditionError::Function { function: function.clone(), column: column.name };
        let function = Function::parse(function).ok_or_else(bad_function)?;
        let scalar = column.ty.min == 1 && column.ty.max == 1 && !column.ty.is_map();
        if function.is_ordered() && !(scalar && column.ty.key == AtomType::Integer) {
            return Err(bad_function());
        }
        let ty = match function {
            Function::Includes | Function::Excludes => column.ty.unbounded(),
            _ => column.ty,
        };
        let value = Datum::from_json(value, &ty, names)
            .map_err(|source| ConditionError::Value { column: column.name, source })?;
        Ok(Condition { column, function, value })
    }

    /// Whether the condition holds for this row.
    pub fn holds(&self, uuid: &str, row: &Row) -> bool {
        let actual = column_value(uuid, row, self.column);
        match self.function {
            Function::Equal => actual == self.value,
            Function::NotEqual => actual != self.value,
            Function::Includes => match (&actual, &self.value) {
                (Datum::Set(have), Datum::Set(want)) => want.is_subset(have),
                (Datum::Map(have), Datum::Map(want)) => want.iter().all(|(k, v)| have.get(k) == Some(v)),
                _ => false,
            },
            Function::Excludes => match (&actual, &self.value) {
                (Datum::Set(have), Datum::Set(want)) => want.is_disjoint(have),
                (Datum::Map(have), Datum::Map(want)) => want.iter().all(|(k, v)| have.get(k) != Some(v)),
                _ => false,
            },
            ordered => {
                let (Some(a), Some(b)) = (actual.as_integer(), self.value.as_integer()) else { return false };
                match ordered {
                    Function::Less => a < b,
                    Function::LessOrEqual => a <= b,
                    Function::Greater => a > b,
                    _ => a >= b,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovs::ovsdb_server::schema::table;
    use serde_json::json;

    const U: &str = "00000000-0000-4000-8000-000000000007";

    fn interface() -> (&'static TableSchema, Row) {
        let schema = table("Interface").expect("Interface");
        let mut row: Row = schema.columns.iter().map(|c| (c.name, Datum::default_of(&c.ty))).collect();
        let mut none = |_: &str| String::new();
        let mut set = |column: &str, value: Value| {
            let ty = schema.column(column).expect("column").ty;
            Datum::from_json(&value, &ty, &mut none).expect("value")
        };
        row.insert("name", set("name", json!("tap0")));
        row.insert("options", set("options", json!(["map", [["key", "7"], ["remote_ip", "10.0.0.1"]]])));
        row.insert("ofport", set("ofport", json!(5)));
        (schema, row)
    }

    fn holds(clause: Value) -> bool {
        let (schema, row) = interface();
        let conditions = parse_where(schema, &json!([clause]), &mut |_| String::new()).expect("parses");
        conditions.iter().all(|c| c.holds(U, &row))
    }

    #[test]
    fn equality_includes_and_excludes_read_the_column_type() {
        assert!(holds(json!(["name", "==", "tap0"])));
        assert!(holds(json!(["name", "!=", "tap1"])));
        assert!(holds(json!(["_uuid", "==", ["uuid", U]])));
        assert!(holds(json!(["options", "includes", ["map", [["key", "7"]]]])));
        assert!(!holds(json!(["options", "includes", ["map", [["key", "8"]]]])));
        assert!(holds(json!(["options", "excludes", ["map", [["key", "8"]]]])));
        assert!(holds(json!(["ofport", "includes", 5])));
        assert!(holds(json!(["error", "==", ["set", []]])));
        assert!(holds(json!(["ofport", "excludes", ["set", [1, 2]]])));
    }

    #[test]
    fn ordered_comparisons_apply_to_integer_scalars_only() {
        let (schema, _) = interface();
        let error = parse_where(schema, &json!([["name", "<", "x"]]), &mut |_| String::new()).unwrap_err();
        assert_eq!(error.tag(), "syntax error");
        let error = parse_where(schema, &json!([["nope", "==", 1]]), &mut |_| String::new()).unwrap_err();
        assert_eq!(error.tag(), "unknown column");
        assert!(parse_where(schema, &json!({}), &mut |_| String::new()).is_err());
    }
}
