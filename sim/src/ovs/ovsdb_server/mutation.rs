//! `mutate` operations' mutations (RFC 7047 §5.1 `<mutation>`): `insert`
//! and `delete` on sets and maps. A map `delete` takes either a set of
//! keys or a map (then only pairs whose value matches go). Arithmetic
//! mutators are not supported: nothing here keeps counters.

use serde_json::Value;

use super::database::Row;
use super::datum::{Datum, DatumError, NamedUuids};
use super::schema::{ColumnSchema, TableSchema};

/// A mutation that cannot be read or applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    /// Not `[column, mutator, value]`, or `mutations` is not an array.
    #[error("expected [column, mutator, value], found {0}")]
    Shape(String),
    /// The column is not in the table (or is `_uuid`).
    #[error("no mutable column {column} in table {table}")]
    UnknownColumn {
        /// The table.
        table: &'static str,
        /// The column asked for.
        column: String,
    },
    /// `+=` and friends.
    #[error("mutator {0:?} is not supported by the simulated server")]
    Unsupported(String),
    /// The argument does not fit the column.
    #[error("column {column}")]
    Value {
        /// The column.
        column: &'static str,
        /// Why.
        source: DatumError,
    },
    /// The result has fewer or more elements than the column allows.
    #[error("attempted to store {found} elements in column {column}, which allows {min} to {max}")]
    Size {
        /// The column.
        column: &'static str,
        /// Elements after the mutation.
        found: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
}

impl MutationError {
    /// The RFC 7047 error tag.
    pub fn tag(&self) -> &'static str {
        match self {
            MutationError::UnknownColumn { .. } => "unknown column",
            MutationError::Unsupported(_) => "not supported",
            MutationError::Value { source, .. } => source.tag(),
            MutationError::Size { .. } => "constraint violation",
            MutationError::Shape(_) => "syntax error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutator {
    Insert,
    Delete,
}

/// One mutation, read against its table's schema.
#[derive(Clone, Debug)]
pub struct Mutation {
    column: &'static ColumnSchema,
    mutator: Mutator,
    argument: Datum,
}

/// Reads a `mutations` array.
///
/// # Errors
/// [`MutationError`] for the first mutation that cannot be read.
pub fn parse_mutations(
    table: &'static TableSchema,
    json: &Value,
    names: &mut NamedUuids<'_>,
) -> Result<Vec<Mutation>, MutationError> {
    let mutations = json.as_array().ok_or_else(|| MutationError::Shape(json.to_string()))?;
    mutations.iter().map(|m| Mutation::parse(table, m, names)).collect()
}

impl Mutation {
    fn parse(
        table: &'static TableSchema,
        json: &Value,
        names: &mut NamedUuids<'_>,
    ) -> Result<Mutation, MutationError> {
        let Some([Value::String(column), Value::String(mutator), argument]) =
            json.as_array().map(Vec::as_slice)
        else {
            return Err(MutationError::Shape(json.to_string()));
        };
        let column = table
            .data_column(column)
            .ok_or_else(|| MutationError::UnknownColumn { table: table.name, column: column.clone() })?;
        let mutator = match mutator.as_str() {
            "insert" => Mutator::Insert,
            "delete" => Mutator::Delete,
            other => return Err(MutationError::Unsupported(other.to_owned())),
        };
        let tagged_map = argument.as_array().and_then(|a| a.first()).is_some_and(|tag| tag == "map");
        let ty = if column.ty.is_map() && mutator == Mutator::Delete && !tagged_map {
            column.ty.keys()
        } else {
            column.ty.unbounded()
        };
        let argument = Datum::from_json(argument, &ty, names)
            .map_err(|source| MutationError::Value { column: column.name, source })?;
        Ok(Mutation { column, mutator, argument })
    }

    /// Applies the mutation to `row`.
    ///
    /// # Errors
    /// [`MutationError::Size`] when the result does not fit the column.
    pub fn apply(&self, row: &mut Row) -> Result<(), MutationError> {
        let current = row.entry(self.column.name).or_insert_with(|| Datum::default_of(&self.column.ty));
        match (&mut *current, &self.argument, self.mutator) {
            (Datum::Set(set), Datum::Set(arg), Mutator::Insert) => set.extend(arg.iter().cloned()),
            (Datum::Set(set), Datum::Set(arg), Mutator::Delete) => set.retain(|e| !arg.contains(e)),
            (Datum::Map(map), Datum::Map(arg), Mutator::Insert) => {
                for (k, v) in arg {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            (Datum::Map(map), Datum::Map(arg), Mutator::Delete) => map.retain(|k, v| arg.get(k) != Some(v)),
            (Datum::Map(map), Datum::Set(keys), Mutator::Delete) => map.retain(|k, _| !keys.contains(k)),
            _ => {}
        }
        let (found, ty) = (current.len(), &self.column.ty);
        if found < ty.min || found > ty.max {
            return Err(MutationError::Size { column: self.column.name, found, min: ty.min, max: ty.max });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovs::ovsdb_server::schema::table;
    use serde_json::json;

    fn mutate(column: &str, initial: Value, mutations: Value) -> Result<Value, MutationError> {
        let schema = table("Interface").expect("Interface");
        let ty = schema.column(column).expect("column").ty;
        let mut none = |_: &str| String::new();
        let mut row = Row::new();
        let column = schema.data_column(column).expect("column").name;
        row.insert(column, Datum::from_json(&initial, &ty, &mut none).expect("initial"));
        for mutation in parse_mutations(schema, &mutations, &mut none)? {
            mutation.apply(&mut row)?;
        }
        Ok(row[column].to_json())
    }

    #[test]
    fn map_insert_keeps_existing_keys_and_delete_takes_keys_or_pairs() {
        let initial = json!(["map", [["a", "1"], ["b", "2"], ["c", "3"]]]);
        let inserted = mutate(
            "options",
            initial.clone(),
            json!([["options", "insert", ["map", [["a", "9"], ["d", "4"]]]]]),
        );
        assert_eq!(inserted, Ok(json!(["map", [["a", "1"], ["b", "2"], ["c", "3"], ["d", "4"]]])));
        let by_key = mutate("options", initial.clone(), json!([["options", "delete", ["set", ["a", "b"]]]]));
        assert_eq!(by_key, Ok(json!(["map", [["c", "3"]]])));
        let by_pair =
            mutate("options", initial, json!([["options", "delete", ["map", [["a", "1"], ["b", "9"]]]]]));
        assert_eq!(by_pair, Ok(json!(["map", [["b", "2"], ["c", "3"]]])));
    }

    #[test]
    fn a_mutation_that_overfills_an_optional_column_is_a_constraint_violation() {
        let error = mutate("ofport", json!(1), json!([["ofport", "insert", 2]])).unwrap_err();
        assert_eq!(error.tag(), "constraint violation");
        assert_eq!(mutate("ofport", json!(1), json!([["ofport", "delete", 1]])), Ok(json!(["set", []])));
    }

    #[test]
    fn unknown_columns_and_arithmetic_are_refused() {
        assert_eq!(
            mutate("ofport", json!(1), json!([["nope", "insert", 2]])).unwrap_err().tag(),
            "unknown column"
        );
        assert_eq!(
            mutate("ofport", json!(1), json!([["ofport", "+=", 2]])).unwrap_err().tag(),
            "not supported"
        );
        assert_eq!(mutate("ofport", json!(1), json!([["ofport"]])).unwrap_err().tag(), "syntax error");
    }
}
