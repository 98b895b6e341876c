//! Column values as the server stores them: ordered sets and maps of
//! atoms, read from RFC 7047 JSON against the column's type and written
//! back the way ovsdb-server writes them (a set of one as the bare atom,
//! maps as `["map", ...]`), so what a client reads back does not depend on
//! how it was written. Also the `update2` diff of two values.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::schema::{AtomType, ColumnType};

/// One value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Atom {
    /// An integer.
    Integer(i64),
    /// A string.
    String(String),
    /// A row's uuid.
    Uuid(String),
}

impl Atom {
    fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u]),
        }
    }

    fn default_of(ty: AtomType) -> Atom {
        match ty {
            AtomType::Integer => Atom::Integer(0),
            AtomType::String => Atom::String(String::new()),
            AtomType::Uuid => Atom::Uuid("00000000-0000-0000-0000-000000000000".to_owned()),
        }
    }
}

/// A column's value: a set (scalars are sets of one) or a map.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Datum {
    /// Elements.
    Set(BTreeSet<Atom>),
    /// Key/value pairs.
    Map(BTreeMap<Atom, Atom>),
}

/// A value that does not fit its column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DatumError {
    /// The JSON is not an atom of the column's type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the column holds.
        expected: &'static str,
        /// What was sent.
        found: String,
    },
    /// A `["uuid", ...]` whose string is not a uuid.
    #[error("{0:?} is not a valid uuid")]
    BadUuid(String),
    /// A map that is not `["map", [[key, value], ...]]`.
    #[error("expected [\"map\", [[key, value], ...]], found {0}")]
    NotAMap(String),
    /// The same element or key twice.
    #[error("{0} appears more than once")]
    Duplicate(String),
    /// Fewer or more elements than the column allows.
    #[error("{found} elements, the column allows {min} to {max}")]
    Size {
        /// Elements written.
        found: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed (or "unlimited").
        max: String,
    },
}

impl DatumError {
    /// The RFC 7047 error tag a transaction reports this with.
    pub fn tag(&self) -> &'static str {
        match self {
            DatumError::Duplicate(_) | DatumError::Size { .. } => "constraint violation",
            _ => "syntax error",
        }
    }
}

/// Turns `["named-uuid", name]` into the uuid the transaction gave `name`.
pub type NamedUuids<'a> = dyn FnMut(&str) -> String + 'a;

impl Datum {
    /// The value a column has when nothing was written: empty, or for a
    /// scalar the type's zero (`0`, `""`).
    pub fn default_of(ty: &ColumnType) -> Datum {
        if ty.is_map() {
            Datum::Map(BTreeMap::new())
        } else if ty.min >= 1 {
            Datum::Set(BTreeSet::from([Atom::default_of(ty.key)]))
        } else {
            Datum::Set(BTreeSet::new())
        }
    }

    /// A set of one uuid (how `_uuid` reads).
    pub fn uuid(uuid: &str) -> Datum {
        Datum::Set(BTreeSet::from([Atom::Uuid(uuid.to_owned())]))
    }

    /// Reads `json` as a value of type `ty`, its size checked against
    /// `ty`'s bounds.
    ///
    /// # Errors
    /// [`DatumError`] when it does not fit.
    pub fn from_json(json: &Value, ty: &ColumnType, names: &mut NamedUuids<'_>) -> Result<Datum, DatumError> {
        let datum = match ty.value {
            Some(value_type) => Datum::Map(parse_map(json, ty.key, value_type, names)?),
            None => Datum::Set(parse_set(json, ty.key, names)?),
        };
        let found = datum.len();
        if found < ty.min || found > ty.max {
            let max = if ty.max == usize::MAX { "unlimited".to_owned() } else { ty.max.to_string() };
            return Err(DatumError::Size { found, min: ty.min, max });
        }
        Ok(datum)
    }

    /// How many elements or pairs.
    pub fn len(&self) -> usize {
        match self {
            Datum::Set(set) => set.len(),
            Datum::Map(map) => map.len(),
        }
    }

    /// Keeps only the uuids `keep` accepts (a set column's).
    pub fn retain_uuids(&mut self, keep: impl Fn(&str) -> bool) {
        if let Datum::Set(set) = self {
            set.retain(|atom| !matches!(atom, Atom::Uuid(uuid) if !keep(uuid)));
        }
    }

    /// The uuids it refers to (keys and values).
    pub fn uuids(&self) -> impl Iterator<Item = &str> {
        let atoms: Box<dyn Iterator<Item = &Atom>> = match self {
            Datum::Set(set) => Box::new(set.iter()),
            Datum::Map(map) => Box::new(map.iter().flat_map(|(k, v)| [k, v])),
        };
        atoms.filter_map(|atom| match atom {
            Atom::Uuid(uuid) => Some(uuid.as_str()),
            _ => None,
        })
    }

    /// The sole string of a scalar string column.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Datum::Set(set) if set.len() == 1 => match set.first() {
                Some(Atom::String(s)) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The sole integer of a scalar or optional integer column.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Datum::Set(set) if set.len() == 1 => match set.first() {
                Some(Atom::Integer(i)) => Some(*i),
                _ => None,
            },
            _ => None,
        }
    }

    /// The integers of a set column (a trunk's VLANs).
    pub fn integers(&self) -> Vec<i64> {
        match self {
            Datum::Set(set) => {
                set.iter().filter_map(|a| if let Atom::Integer(i) = a { Some(*i) } else { None }).collect()
            }
            Datum::Map(_) => Vec::new(),
        }
    }

    /// A string map, as the hooks report it.
    pub fn to_string_map(&self) -> BTreeMap<String, String> {
        let Datum::Map(map) = self else { return BTreeMap::new() };
        map.iter()
            .filter_map(|pair| match pair {
                (Atom::String(k), Atom::String(v)) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    /// The RFC 7047 JSON, as ovsdb-server writes it.
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Map(map) => {
                let pairs: Vec<Value> = map.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect();
                json!(["map", pairs])
            }
            Datum::Set(set) if set.len() == 1 => set.first().map(Atom::to_json).unwrap_or_default(),
            Datum::Set(set) => json!(["set", set.iter().map(Atom::to_json).collect::<Vec<_>>()]),
        }
    }

    /// What an `update2` `modify` carries for a column that went from
    /// `old` to `new` (ovsdb-server's `ovsdb_datum_diff`): for a column
    /// that may hold several elements, the elements that toggle, or for a
    /// map the pairs that are added, removed (old value) or changed (new
    /// value); for a scalar or optional column, the new value.
    pub fn diff(old: &Datum, new: &Datum, ty: &ColumnType) -> Datum {
        if !ty.is_composite() {
            return new.clone();
        }
        match (old, new) {
            (Datum::Set(old), Datum::Set(new)) => {
                Datum::Set(old.symmetric_difference(new).cloned().collect())
            }
            (Datum::Map(old), Datum::Map(new)) => {
                let removed = old.iter().filter(|(k, _)| !new.contains_key(*k));
                let added_or_changed = new.iter().filter(|(k, v)| old.get(*k) != Some(*v));
                Datum::Map(removed.chain(added_or_changed).map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            _ => new.clone(),
        }
    }
}

fn parse_set(json: &Value, key: AtomType, names: &mut NamedUuids<'_>) -> Result<BTreeSet<Atom>, DatumError> {
    let elements = match json.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(items)]) if tag == "set" => items.as_slice(),
        _ => std::slice::from_ref(json),
    };
    let mut set = BTreeSet::new();
    for element in elements {
        let atom = parse_atom(element, key, names)?;
        if set.contains(&atom) {
            return Err(DatumError::Duplicate(element.to_string()));
        }
        set.insert(atom);
    }
    Ok(set)
}

fn parse_map(
    json: &Value,
    key: AtomType,
    value: AtomType,
    names: &mut NamedUuids<'_>,
) -> Result<BTreeMap<Atom, Atom>, DatumError> {
    let not_a_map = || DatumError::NotAMap(json.to_string());
    let Some([tag, Value::Array(pairs)]) = json.as_array().map(Vec::as_slice) else {
        return Err(not_a_map());
    };
    if tag != "map" {
        return Err(not_a_map());
    }
    let mut map = BTreeMap::new();
    for pair in pairs {
        let Some([k, v]) = pair.as_array().map(Vec::as_slice) else { return Err(not_a_map()) };
        let k_atom = parse_atom(k, key, names)?;
        if map.contains_key(&k_atom) {
            return Err(DatumError::Duplicate(k.to_string()));
        }
        map.insert(k_atom, parse_atom(v, value, names)?);
    }
    Ok(map)
}

fn parse_atom(json: &Value, ty: AtomType, names: &mut NamedUuids<'_>) -> Result<Atom, DatumError> {
    let wrong = |expected| DatumError::WrongType { expected, found: json.to_string() };
    match ty {
        AtomType::Integer => json.as_i64().map(Atom::Integer).ok_or_else(|| wrong("an integer")),
        AtomType::String => {
            json.as_str().map(|s| Atom::String(s.to_owned())).ok_or_else(|| wrong("a string"))
        }
        AtomType::Uuid => match json.as_array().map(Vec::as_slice) {
            Some([tag, Value::String(uuid)]) if tag == "uuid" => {
                if is_uuid(uuid) {
                    Ok(Atom::Uuid(uuid.clone()))
                } else {
                    Err(DatumError::BadUuid(uuid.clone()))
                }
            }
            Some([tag, Value::String(name)]) if tag == "named-uuid" => Ok(Atom::Uuid(names(name))),
            _ => Err(wrong("[\"uuid\", ...] or [\"named-uuid\", ...]")),
        },
    }
}

/// Whether `s` is written as a uuid: 8-4-4-4-12 hex digits.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovs::ovsdb_server::schema::table;

    fn ty(table_name: &str, column: &str) -> ColumnType {
        table(table_name).and_then(|t| t.column(column)).map(|c| c.ty).expect("column in the schema")
    }

    fn parse(json: Value, ty: &ColumnType) -> Result<Datum, DatumError> {
        Datum::from_json(&json, ty, &mut |name| format!("named:{name}"))
    }

    const A: &str = "00000000-0000-4000-8000-00000000000a";
    const B: &str = "00000000-0000-4000-8000-00000000000b";

    #[test]
    fn a_set_of_one_is_written_as_the_bare_atom_whichever_way_it_was_read() {
        let ports = ty("Bridge", "ports");
        let bare = parse(json!(["uuid", A]), &ports).unwrap();
        let tagged = parse(json!(["set", [["uuid", A]]]), &ports).unwrap();
        assert_eq!(bare, tagged);
        assert_eq!(bare.to_json(), json!(["uuid", A]));
        assert_eq!(parse(json!(["set", []]), &ports).unwrap().to_json(), json!(["set", []]));
        let two = parse(json!(["set", [["uuid", B], ["uuid", A]]]), &ports).unwrap();
        assert_eq!(two.to_json(), json!(["set", [["uuid", A], ["uuid", B]]]), "sorted");
    }

    #[test]
    fn maps_are_sorted_by_key() {
        let options = ty("Interface", "options");
        let map = parse(json!(["map", [["b", "2"], ["a", "1"]]]), &options).unwrap();
        assert_eq!(map.to_json(), json!(["map", [["a", "1"], ["b", "2"]]]));
    }

    #[test]
    fn values_that_do_not_fit_the_column_are_errors() {
        let ofport = ty("Interface", "ofport");
        assert!(matches!(parse(json!("7"), &ofport), Err(DatumError::WrongType { .. })));
        assert!(matches!(parse(json!(["set", [1, 2]]), &ofport), Err(DatumError::Size { found: 2, .. })));
        assert!(matches!(
            parse(json!(["uuid", "nope"]), &ty("Bridge", "ports")),
            Err(DatumError::BadUuid(_))
        ));
        assert!(matches!(
            parse(json!(["set", ["a", "a"]]), &ty("Interface", "options").keys()),
            Err(DatumError::Duplicate(_))
        ));
        assert!(matches!(parse(json!(["set", []]), &ty("Port", "interfaces")), Err(DatumError::Size { .. })));
        assert!(matches!(parse(json!({"a": 1}), &ty("Interface", "options")), Err(DatumError::NotAMap(_))));
        assert_eq!(
            parse(json!(["named-uuid", "x"]), &ty("Bridge", "ports")).unwrap().to_json(),
            json!(["uuid", "named:x"])
        );
    }

    #[test]
    fn diffs_toggle_set_elements_and_carry_changed_map_pairs_and_new_scalars() {
        let ports = ty("Bridge", "ports");
        let old = parse(json!(["set", [["uuid", A]]]), &ports).unwrap();
        let new = parse(json!(["uuid", B]), &ports).unwrap();
        assert_eq!(Datum::diff(&old, &new, &ports).to_json(), json!(["set", [["uuid", A], ["uuid", B]]]));

        let options = ty("Interface", "options");
        let old = parse(json!(["map", [["gone", "1"], ["kept", "2"], ["changed", "3"]]]), &options).unwrap();
        let new = parse(json!(["map", [["kept", "2"], ["changed", "4"], ["added", "5"]]]), &options).unwrap();
        assert_eq!(
            Datum::diff(&old, &new, &options).to_json(),
            json!(["map", [["added", "5"], ["changed", "4"], ["gone", "1"]]])
        );

        let ofport = ty("Interface", "ofport");
        let old = parse(json!(3), &ofport).unwrap();
        assert_eq!(Datum::diff(&old, &parse(json!(5), &ofport).unwrap(), &ofport).to_json(), json!(5));
        assert_eq!(Datum::diff(&old, &Datum::default_of(&ofport), &ofport).to_json(), json!(["set", []]));
    }

    #[test]
    fn defaults_are_empty_or_the_scalar_zero() {
        assert_eq!(Datum::default_of(&ty("Interface", "type")).to_json(), json!(""));
        assert_eq!(Datum::default_of(&ty("Interface", "ofport")).to_json(), json!(["set", []]));
        assert_eq!(Datum::default_of(&ty("Interface", "options")).to_json(), json!(["map", []]));
    }
}
