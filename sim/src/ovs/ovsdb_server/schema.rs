//! The Open_vSwitch schema subset the simulated server knows: five tables,
//! the columns the agent, the CNI and ovs-vswitchd touch, which tables are
//! roots (the others are garbage-collected when unreferenced) and the
//! `name` indexes. Columns of the real schema that nobody here uses are
//! left out: writing one is an `unknown column` error, as for a typo.

use serde_json::{Map, Value, json};

/// The database's name.
pub const DATABASE: &str = "Open_vSwitch";

/// The kind of value one atom holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomType {
    /// A 64-bit integer.
    Integer,
    /// A UTF-8 string.
    String,
    /// A row reference (or the `_uuid` column).
    Uuid,
}

impl AtomType {
    fn name(self) -> &'static str {
        match self {
            AtomType::Integer => "integer",
            AtomType::String => "string",
            AtomType::Uuid => "uuid",
        }
    }
}

/// A column's type (RFC 7047 §3.2 `<type>`): a set of `min..=max` keys,
/// or a map when `value` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnType {
    /// The keys' (or the set elements') type.
    pub key: AtomType,
    /// The values' type, for a map.
    pub value: Option<AtomType>,
    /// Fewest elements.
    pub min: usize,
    /// Most elements (`usize::MAX`: unlimited).
    pub max: usize,
    /// The table a uuid key refers to.
    pub ref_table: Option<&'static str>,
    /// A weak reference: it keeps no row alive, and one whose row is gone
    /// disappears at commit instead of failing it (RFC 7047 §3.2).
    pub weak: bool,
}

impl ColumnType {
    const fn scalar(key: AtomType) -> Self {
        ColumnType { key, value: None, min: 1, max: 1, ref_table: None, weak: false }
    }

    const fn optional(key: AtomType) -> Self {
        ColumnType { key, value: None, min: 0, max: 1, ref_table: None, weak: false }
    }

    const fn set(key: AtomType) -> Self {
        ColumnType { key, value: None, min: 0, max: usize::MAX, ref_table: None, weak: false }
    }

    const fn string_map() -> Self {
        ColumnType {
            key: AtomType::String,
            value: Some(AtomType::String),
            min: 0,
            max: usize::MAX,
            ref_table: None,
            weak: false,
        }
    }

    const fn references(table: &'static str, min: usize) -> Self {
        ColumnType {
            key: AtomType::Uuid,
            value: None,
            min,
            max: usize::MAX,
            ref_table: Some(table),
            weak: false,
        }
    }

    const fn weak_references(table: &'static str, max: usize) -> Self {
        ColumnType { key: AtomType::Uuid, value: None, min: 0, max, ref_table: Some(table), weak: true }
    }

    /// A map column.
    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// A set that may hold more than one element: its update2 diff toggles
    /// elements (OVS's "composite" types, maps included).
    pub fn is_composite(&self) -> bool {
        self.max > 1
    }

    /// The same type without size limits: the argument of `includes`,
    /// `excludes` and of mutations.
    pub fn unbounded(self) -> Self {
        ColumnType { min: 0, max: usize::MAX, ..self }
    }

    /// A set of this type's keys: a map `delete` mutation may name keys only.
    pub fn keys(self) -> Self {
        ColumnType { value: None, ..self.unbounded() }
    }

    fn to_json(self) -> Value {
        let mut key = json!({"type": self.key.name()});
        if let Some(table) = self.ref_table {
            key["refTable"] = json!(table);
            if self.weak {
                key["refType"] = json!("weak");
            }
        }
        let mut ty = json!({"key": key, "min": self.min});
        ty["max"] = if self.max == usize::MAX { json!("unlimited") } else { json!(self.max) };
        if let Some(value) = self.value {
            ty["value"] = json!({"type": value.name()});
        }
        ty
    }
}

/// One column.
#[derive(Debug, PartialEq, Eq)]
pub struct ColumnSchema {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
}

/// The `_uuid` column every table has (read-only, never stored in a row).
pub static UUID_COLUMN: ColumnSchema = ColumnSchema { name: "_uuid", ty: ColumnType::scalar(AtomType::Uuid) };

/// One table.
#[derive(Debug)]
pub struct TableSchema {
    /// Its name.
    pub name: &'static str,
    /// Root rows live on their own; others go when nothing refers to them.
    pub is_root: bool,
    /// The most rows it may hold.
    pub max_rows: Option<usize>,
    /// Its columns, in the order rows are written out.
    pub columns: &'static [ColumnSchema],
    /// Columns whose values must be unique across rows.
    pub indexes: &'static [&'static str],
}

impl TableSchema {
    /// A stored column by name (not `_uuid`).
    pub fn data_column(&self, name: &str) -> Option<&'static ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A column by name, `_uuid` included: what conditions and `select`
    /// may name.
    pub fn column(&self, name: &str) -> Option<&'static ColumnSchema> {
        if name == UUID_COLUMN.name { Some(&UUID_COLUMN) } else { self.data_column(name) }
    }
}

const fn column(name: &'static str, ty: ColumnType) -> ColumnSchema {
    ColumnSchema { name, ty }
}

/// The tables, parents before children.
pub static TABLES: [TableSchema; 5] = [
    TableSchema {
        name: "Open_vSwitch",
        is_root: true,
        max_rows: Some(1),
        columns: &[column("bridges", ColumnType::references("Bridge", 0))],
        indexes: &[],
    },
    TableSchema {
        name: "Bridge",
        is_root: true,
        max_rows: None,
        columns: &[
            column("name", ColumnType::scalar(AtomType::String)),
            column("ports", ColumnType::references("Port", 0)),
            column("mirrors", ColumnType::references("Mirror", 0)),
            column("datapath_type", ColumnType::scalar(AtomType::String)),
            column("external_ids", ColumnType::string_map()),
        ],
        indexes: &["name"],
    },
    TableSchema {
        name: "Port",
        is_root: false,
        max_rows: None,
        columns: &[
            column("name", ColumnType::scalar(AtomType::String)),
            column("interfaces", ColumnType::references("Interface", 1)),
            column("external_ids", ColumnType::string_map()),
            column("tag", ColumnType::optional(AtomType::Integer)),
            column("trunks", ColumnType::set(AtomType::Integer)),
            column("vlan_mode", ColumnType::optional(AtomType::String)),
        ],
        indexes: &["name"],
    },
    TableSchema {
        name: "Interface",
        is_root: false,
        max_rows: None,
        columns: &[
            column("name", ColumnType::scalar(AtomType::String)),
            column("type", ColumnType::scalar(AtomType::String)),
            column("options", ColumnType::string_map()),
            column("external_ids", ColumnType::string_map()),
            column("ofport", ColumnType::optional(AtomType::Integer)),
            column("ofport_request", ColumnType::optional(AtomType::Integer)),
            column("error", ColumnType::optional(AtomType::String)),
            column("mac_in_use", ColumnType::optional(AtomType::String)),
        ],
        indexes: &["name"],
    },
    TableSchema {
        name: "Mirror",
        is_root: false,
        max_rows: None,
        columns: &[
            column("name", ColumnType::scalar(AtomType::String)),
            column("external_ids", ColumnType::string_map()),
            column("select_src_port", ColumnType::weak_references("Port", usize::MAX)),
            column("select_dst_port", ColumnType::weak_references("Port", usize::MAX)),
            column("output_port", ColumnType::weak_references("Port", 1)),
        ],
        indexes: &[],
    },
];

/// A table by name.
pub fn table(name: &str) -> Option<&'static TableSchema> {
    TABLES.iter().find(|t| t.name == name)
}

/// The schema as `get_schema` answers it (RFC 7047 §3.2), this subset only.
pub fn schema_json() -> Value {
    let tables: Map<String, Value> = TABLES
        .iter()
        .map(|table| {
            let columns: Map<String, Value> =
                table.columns.iter().map(|c| (c.name.to_owned(), json!({"type": c.ty.to_json()}))).collect();
            let mut json = json!({"columns": columns, "isRoot": table.is_root});
            if let Some(max) = table.max_rows {
                json["maxRows"] = json!(max);
            }
            if !table.indexes.is_empty() {
                json["indexes"] = json!(table.indexes.iter().map(|c| [c]).collect::<Vec<_>>());
            }
            (table.name.to_owned(), json)
        })
        .collect();
    json!({"name": DATABASE, "version": "8.5.0", "tables": tables})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_point_at_tables_that_exist() {
        for table in &TABLES {
            for column in table.columns {
                if let Some(target) = column.ty.ref_table {
                    assert!(super::table(target).is_some(), "{}.{}", table.name, column.name);
                }
            }
        }
    }

    #[test]
    fn the_schema_json_names_roots_types_and_indexes() {
        let schema = schema_json();
        assert_eq!(schema["tables"]["Port"]["isRoot"], false);
        assert_eq!(schema["tables"]["Port"]["columns"]["interfaces"]["type"]["min"], 1);
        assert_eq!(schema["tables"]["Port"]["columns"]["interfaces"]["type"]["max"], "unlimited");
        assert_eq!(schema["tables"]["Interface"]["columns"]["options"]["type"]["value"]["type"], "string");
        assert_eq!(schema["tables"]["Bridge"]["indexes"], json!([["name"]]));
        assert_eq!(schema["tables"]["Open_vSwitch"]["maxRows"], 1);
    }

    #[test]
    fn uuid_is_a_column_for_conditions_but_not_for_storage() {
        let bridge = table("Bridge").map(|t| (t.column("_uuid").is_some(), t.data_column("_uuid").is_none()));
        assert_eq!(bridge, Some((true, true)));
    }
}
