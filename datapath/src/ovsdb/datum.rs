//! OVSDB values on the wire (RFC 7047 §5.1): atoms, `["set", [...]]`,
//! `["map", [[k, v], ...]]`, `["uuid", "..."]`, `["named-uuid", "..."]`,
//! and the conversions the agent needs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// A string map as OVSDB writes it.
pub fn string_map(map: &BTreeMap<String, String>) -> Value {
    let pairs: Vec<Value> = map.iter().map(|(k, v)| json!([k, v])).collect();
    json!(["map", pairs])
}

/// A set of references to rows named in the same transaction.
pub fn named_uuid(name: &str) -> Value {
    json!(["named-uuid", name])
}

/// A reference to a row.
pub fn uuid(uuid: &str) -> Value {
    json!(["uuid", uuid])
}

/// A set holding `items`.
pub fn set(items: Vec<Value>) -> Value {
    json!(["set", items])
}

/// The elements of a set (a bare atom is a set of one).
pub fn set_elements(value: &Value) -> &[Value] {
    match value.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(items)]) if tag == "set" => items,
        _ => std::slice::from_ref(value),
    }
}

/// The pairs of a map, or `None` if `value` is not a map.
pub fn map_pairs(value: &Value) -> Option<Vec<(&Value, &Value)>> {
    let [tag, Value::Array(pairs)] = value.as_array()?.as_slice() else { return None };
    if tag != "map" {
        return None;
    }
    pairs
        .iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([k, v]) => Some((k, v)),
            _ => None,
        })
        .collect()
}

/// A string-to-string map read back (other entries are skipped).
pub fn to_string_map(value: &Value) -> BTreeMap<String, String> {
    map_pairs(value)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
        .collect()
}

/// The uuid string of `["uuid", "..."]`.
pub fn uuid_of(value: &Value) -> Option<&str> {
    match value.as_array()?.as_slice() {
        [tag, Value::String(id)] if tag == "uuid" => Some(id),
        _ => None,
    }
}

/// The value of an optional column (a set of zero or one atom).
pub fn optional(value: &Value) -> Option<&Value> {
    set_elements(value).first()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip() {
        let map = BTreeMap::from([("antrea-type".to_owned(), "traffic-control".to_owned())]);
        assert_eq!(to_string_map(&string_map(&map)), map);
        assert_eq!(string_map(&map), json!(["map", [["antrea-type", "traffic-control"]]]));
    }

    #[test]
    fn a_bare_atom_is_a_set_of_one_and_an_empty_set_an_absent_optional() {
        assert_eq!(set_elements(&json!(7)), [json!(7)]);
        assert_eq!(optional(&json!(["set", []])), None);
        assert_eq!(optional(&json!(5)), Some(&json!(5)));
    }

    #[test]
    fn uuids_are_read_from_their_tag() {
        assert_eq!(uuid_of(&json!(["uuid", "abc"])), Some("abc"));
        assert_eq!(uuid_of(&json!(["named-uuid", "abc"])), None);
        assert_eq!(map_pairs(&json!(["set", []])), None);
    }
}
