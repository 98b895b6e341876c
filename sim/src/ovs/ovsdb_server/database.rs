//! The rows, by table and uuid, and what a transaction must leave true
//! before it commits: every reference points at a row, non-root rows that
//! nothing refers to are gone (garbage collection, as ovsdb-server does
//! it: this is how removing a Port from its Bridge deletes the Port and
//! its Interface), sets hold at least their minimum, indexes are unique.

use std::collections::{BTreeMap, BTreeSet};

use super::datum::Datum;
use super::schema::{ColumnSchema, TABLES, TableSchema};

/// A row: every column of its table, by name (`_uuid` is the key it is
/// stored under, not a column).
pub type Row = BTreeMap<&'static str, Datum>;

/// The rows of one table, by uuid.
pub type Table = BTreeMap<String, Row>;

/// A rule a transaction breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// A reference to a row that does not exist (or no longer does).
    #[error(
        "table {table} column {column} row {row} references nonexistent row {target} in table {target_table}"
    )]
    Dangling {
        /// The referring row's table.
        table: &'static str,
        /// Its column.
        column: &'static str,
        /// Its uuid.
        row: String,
        /// The missing row.
        target: String,
        /// Where it should be.
        target_table: &'static str,
    },
    /// A set with fewer elements than the column's minimum.
    #[error("table {table} column {column} row {row} has {found} elements, at least {min} required")]
    TooFew {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The row.
        row: String,
        /// Its elements.
        found: usize,
        /// The minimum.
        min: usize,
    },
    /// Two rows with the same value in an indexed column.
    #[error(
        "transaction causes multiple rows in {table:?} table to have identical values ({value}) for index on column {column:?}"
    )]
    DuplicateIndex {
        /// The table.
        table: &'static str,
        /// The indexed column.
        column: &'static str,
        /// The shared value.
        value: String,
    },
    /// More rows than the table allows.
    #[error(
        "transaction causes {table:?} table to contain {found} rows, greater than the schema-defined limit of {max} row(s)"
    )]
    TooManyRows {
        /// The table.
        table: &'static str,
        /// Its rows.
        found: usize,
        /// The limit.
        max: usize,
    },
}

impl IntegrityError {
    /// The RFC 7047 error tag.
    pub fn tag(&self) -> &'static str {
        match self {
            IntegrityError::Dangling { .. } => "referential integrity violation",
            _ => "constraint violation",
        }
    }
}

/// All rows of all tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Database {
    tables: BTreeMap<&'static str, Table>,
}

impl Database {
    /// Every table, empty.
    pub fn empty() -> Self {
        Database { tables: TABLES.iter().map(|t| (t.name, Table::new())).collect() }
    }

    /// A table's rows.
    pub fn table(&self, name: &str) -> &Table {
        static EMPTY: Table = Table::new();
        self.tables.get(name).unwrap_or(&EMPTY)
    }

    /// A table's rows, to change.
    pub fn table_mut(&mut self, schema: &'static TableSchema) -> &mut Table {
        self.tables.entry(schema.name).or_default()
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.table(table).get(uuid)
    }

    /// Checks references, collects garbage, then checks sizes and indexes:
    /// the order ovsdb-server commits in, so a dangling reference from a
    /// row that is about to be collected is still an error.
    ///
    /// # Errors
    /// [`IntegrityError`] for the first rule broken; the caller discards
    /// the transaction.
    pub fn prepare_commit(&mut self) -> Result<(), IntegrityError> {
        self.check_references()?;
        self.collect_garbage();
        self.drop_dangling_weak_references();
        self.check_sizes()?;
        self.check_indexes()
    }

    fn columns(
        &self,
    ) -> impl Iterator<Item = (&'static TableSchema, &String, &'static ColumnSchema, &Datum)> {
        TABLES.iter().flat_map(move |table| {
            self.table(table.name).iter().flat_map(move |(uuid, row)| {
                table
                    .columns
                    .iter()
                    .filter_map(move |column| Some((table, uuid, column, row.get(column.name)?)))
            })
        })
    }

    fn check_references(&self) -> Result<(), IntegrityError> {
        for (table, uuid, column, datum) in self.columns() {
            let Some(target_table) = column.ty.ref_table.filter(|_| !column.ty.weak) else { continue };
            if let Some(target) = datum.uuids().find(|target| !self.table(target_table).contains_key(*target))
            {
                return Err(IntegrityError::Dangling {
                    table: table.name,
                    column: column.name,
                    row: uuid.clone(),
                    target: target.to_owned(),
                    target_table,
                });
            }
        }
        Ok(())
    }

    /// Deletes non-root rows nothing refers to, until none is left (a
    /// Port going takes its Interfaces along).
    fn collect_garbage(&mut self) {
        loop {
            let referenced: BTreeSet<String> = self
                .columns()
                .filter(|(_, _, column, _)| column.ty.ref_table.is_some() && !column.ty.weak)
                .flat_map(|(_, _, _, datum)| datum.uuids().map(str::to_owned).collect::<Vec<_>>())
                .collect();
            let mut collected = false;
            for table in TABLES.iter().filter(|t| !t.is_root) {
                let rows = self.table_mut(table);
                let before = rows.len();
                rows.retain(|uuid, _| referenced.contains(uuid));
                collected |= rows.len() != before;
            }
            if !collected {
                return;
            }
        }
    }

    /// Removes weak references to rows that are gone (a mirror's ports
    /// when the CNI removes a Pod's port).
    fn drop_dangling_weak_references(&mut self) {
        for table in &TABLES {
            for column in table.columns.iter().filter(|c| c.ty.weak) {
                let Some(target) = column.ty.ref_table else { continue };
                let alive: BTreeSet<String> = self.table(target).keys().cloned().collect();
                for row in self.table_mut(table).values_mut() {
                    if let Some(datum) = row.get_mut(column.name) {
                        datum.retain_uuids(|uuid| alive.contains(uuid));
                    }
                }
            }
        }
    }

    fn check_sizes(&self) -> Result<(), IntegrityError> {
        for table in &TABLES {
            let found = self.table(table.name).len();
            if let Some(max) = table.max_rows.filter(|max| found > *max) {
                return Err(IntegrityError::TooManyRows { table: table.name, found, max });
            }
        }
        for (table, uuid, column, datum) in self.columns() {
            if datum.len() < column.ty.min {
                return Err(IntegrityError::TooFew {
                    table: table.name,
                    column: column.name,
                    row: uuid.clone(),
                    found: datum.len(),
                    min: column.ty.min,
                });
            }
        }
        Ok(())
    }

    fn check_indexes(&self) -> Result<(), IntegrityError> {
        for table in &TABLES {
            for column in table.indexes {
                let mut seen = BTreeSet::new();
                for row in self.table(table.name).values() {
                    let Some(value) = row.get(column) else { continue };
                    if !seen.insert(value) {
                        let value = value.to_json().to_string();
                        return Err(IntegrityError::DuplicateIndex { table: table.name, column, value });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovs::ovsdb_server::schema::table;

    const BRIDGE: &str = "00000000-0000-4000-8000-000000000001";
    const PORT: &str = "00000000-0000-4000-8000-000000000002";
    const IFACE: &str = "00000000-0000-4000-8000-000000000003";

    fn row(table_name: &str, values: &[(&'static str, Datum)]) -> Row {
        let schema = table(table_name).expect("table");
        let mut row: Row = schema.columns.iter().map(|c| (c.name, Datum::default_of(&c.ty))).collect();
        row.extend(values.iter().cloned());
        row
    }

    fn database(bridge_ports: &[&str]) -> Database {
        let mut db = Database::empty();
        let ports = Datum::Set(
            bridge_ports.iter().map(|u| super::super::datum::Atom::Uuid((*u).to_owned())).collect(),
        );
        db.table_mut(table("Bridge").expect("Bridge"))
            .insert(BRIDGE.into(), row("Bridge", &[("ports", ports)]));
        db.table_mut(table("Port").expect("Port"))
            .insert(PORT.into(), row("Port", &[("interfaces", Datum::uuid(IFACE))]));
        db.table_mut(table("Interface").expect("Interface")).insert(IFACE.into(), row("Interface", &[]));
        db
    }

    #[test]
    fn an_unreferenced_port_goes_and_takes_its_interface_along() {
        let mut db = database(&[]);
        db.prepare_commit().unwrap();
        assert!(db.table("Port").is_empty());
        assert!(db.table("Interface").is_empty());
        assert_eq!(db.table("Bridge").len(), 1, "bridges are roots");
    }

    #[test]
    fn a_referenced_port_stays() {
        let mut db = database(&[PORT]);
        db.prepare_commit().unwrap();
        assert!(db.row("Interface", IFACE).is_some());
    }

    #[test]
    fn a_reference_to_a_missing_row_is_an_integrity_violation() {
        let mut db = database(&[PORT]);
        db.table_mut(table("Interface").expect("Interface")).clear();
        let error = db.prepare_commit().unwrap_err();
        assert_eq!(error.tag(), "referential integrity violation");
        assert!(error.to_string().contains(IFACE), "{error}");
    }

    #[test]
    fn two_ports_with_one_name_break_the_index() {
        let mut db = database(&[PORT]);
        let mut other = row("Port", &[("interfaces", Datum::uuid(IFACE))]);
        other.insert("name", db.row("Port", PORT).and_then(|r| r.get("name")).cloned().expect("name"));
        let other_uuid = "00000000-0000-4000-8000-000000000004";
        db.table_mut(table("Port").expect("Port")).insert(other_uuid.into(), other);
        let bridge = db.table_mut(table("Bridge").expect("Bridge")).get_mut(BRIDGE).expect("bridge");
        bridge.insert(
            "ports",
            Datum::Set([PORT, other_uuid].map(|u| super::super::datum::Atom::Uuid(u.to_owned())).into()),
        );
        let error = db.prepare_commit().unwrap_err();
        assert!(matches!(error, IntegrityError::DuplicateIndex { table: "Port", .. }), "{error}");
    }
}
