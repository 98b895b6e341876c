//! Checks a JSON value against the OpenAPI v3 subset that CRD structural
//! schemas use, and reports every violation with its field path.
//!
//! The validator runs against the schema the CRD publishes
//! ([`crate::api::openapi_schema`]), so what `tcctl validate` refuses and
//! what the API server's schema refuses cannot drift apart. Unknown fields
//! are errors (as with `kubectl apply --validate=strict`), not silently
//! pruned.
//!
//! Supported: `type`, `properties`, `additionalProperties`, `required`,
//! `enum`, `minimum`, `maximum`, `minLength`, `maxLength`, `items`,
//! `format` (`ipv4`, `ipv6`; others are accepted as Kubernetes does),
//! `oneOf`, `anyOf`, `allOf`, `nullable`,
//! `x-kubernetes-preserve-unknown-fields`, and `pattern` for the patterns
//! our CRD publishes ([`known_pattern`]): the core carries no regex engine.

use std::fmt;

use serde_json::{Map, Value};

/// Where a value sits in an object, printed the way Kubernetes prints field
/// paths: `spec.appliedTo.podSelector.matchExpressions[0].key`,
/// `spec.appliedTo.podSelector.matchLabels[app.kubernetes.io/name]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(String);

impl FieldPath {
    /// The root of an object.
    pub fn root() -> Self {
        FieldPath(String::new())
    }

    /// A path from its printed form (`spec.targetPort`).
    pub fn parse(text: &str) -> Self {
        FieldPath(text.to_owned())
    }

    /// The path of a field of this object.
    pub fn field(&self, name: &str) -> Self {
        let simple = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match (simple, self.0.is_empty()) {
            (true, true) => FieldPath(name.to_owned()),
            (true, false) => FieldPath(format!("{}.{name}", self.0)),
            (false, _) => FieldPath(format!("{}[{name}]", self.0)),
        }
    }

    /// The path of an entry of this map (always bracketed, as Kubernetes
    /// prints map keys).
    pub fn key(&self, key: &str) -> Self {
        FieldPath(format!("{}[{key}]", self.0))
    }

    /// The path of an item of this list.
    pub fn index(&self, index: usize) -> Self {
        FieldPath(format!("{}[{index}]", self.0))
    }

    /// The printed form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str("(root)") } else { f.write_str(&self.0) }
    }
}

/// One way a value breaks its schema.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// The offending field.
    pub path: FieldPath,
    /// The rule it breaks, phrased for a user.
    pub message: String,
}

/// Every violation of `schema` by `value`, in document order.
pub fn check(schema: &Value, value: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    check_at(schema, value, &FieldPath::root(), &mut out);
    out
}

fn check_at(schema: &Value, value: &Value, path: &FieldPath, out: &mut Vec<Violation>) {
    let Some(schema) = schema.as_object() else { return };
    let mut report = |message: String| out.push(Violation { path: path.clone(), message });

    if value.is_null() {
        if !flag(schema, "nullable") && schema.contains_key("type") {
            report(format!("must be {}, not null", type_noun(schema)));
        }
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !has_type(value, expected)
    {
        report(format!("{} is {}, expected {}", show(value), json_type_noun(value), article(expected)));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> =
            allowed.iter().map(|v| v.as_str().map_or(v.to_string(), str::to_owned)).collect();
        report(format!("{} is not one of {}", show(value), names.join(", ")));
    }
    check_bounds(schema, value, &mut report);
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && let Some(text) = value.as_str()
        && !format_holds(format, text)
    {
        report(format!("{} is not {}", show(value), format_noun(format)));
    }
    match value {
        Value::Object(map) => check_object(schema, map, path, out),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_at(item_schema, item, &path.index(i), out);
                }
            }
        }
        _ => {}
    }
    check_combinators(schema, value, path, out);
}

fn check_bounds(schema: &Map<String, Value>, value: &Value, report: &mut impl FnMut(String)) {
    // Bounds are floats in the CRD types (`JSONSchemaProps` stores f64);
    // every bound we publish is a whole number below 2^53, exact in f64.
    if let Some(n) = integer_of(value) {
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n as f64 > max
        {
            report(format!("{n} is above {max}"));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && (n as f64) < min
        {
            report(format!("{n} is below {min}"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            report(format!("{} is {len} characters long, the limit is {max}", show(value)));
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            report(format!("{} is shorter than {min} characters", show(value)));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Some(known) = known_pattern(pattern)
            && !(known.holds)(s)
        {
            report(format!("{} {}", show(value), known.rule));
        }
    }
}

fn check_object(
    schema: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &FieldPath,
    out: &mut Vec<Violation>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in &required {
        if map.get(*name).is_none_or(Value::is_null) {
            out.push(Violation { path: path.field(name), message: "is required".to_owned() });
        }
    }
    let preserve_unknown = flag(schema, "x-kubernetes-preserve-unknown-fields");
    for (name, child) in map {
        if child.is_null() && required.contains(&name.as_str()) {
            continue; // already reported as missing
        }
        let child_path = path.field(name);
        if let Some(child_schema) = properties.and_then(|p| p.get(name)) {
            check_at(child_schema, child, &child_path, out);
            continue;
        }
        match schema.get("additionalProperties") {
            Some(additional @ Value::Object(_)) => check_at(additional, child, &path.key(name), out),
            Some(Value::Bool(true)) => {}
            // A schema that lists no properties (a `oneOf` branch such as
            // `{required: [vxlan]}`) constrains nothing else.
            None if properties.is_none() => {}
            _ if preserve_unknown => {}
            _ => {
                let known: Vec<&str> =
                    properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                let message = if known.is_empty() {
                    "unknown field".to_owned()
                } else {
                    format!("unknown field (known fields: {})", known.join(", "))
                };
                out.push(Violation { path: child_path, message });
            }
        }
    }
}

fn check_combinators(schema: &Map<String, Value>, value: &Value, path: &FieldPath, out: &mut Vec<Violation>) {
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for branch in all {
            check_at(branch, value, path, out);
        }
    }
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        let passing = branches.iter().filter(|b| check(b, value).is_empty()).count();
        if passing != 1 {
            out.push(Violation { path: path.clone(), message: one_of_message(branches, value, passing) });
        }
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array)
        && !branches.iter().any(|b| check(b, value).is_empty())
    {
        out.push(Violation { path: path.clone(), message: one_of_message(branches, value, 0) });
    }
}

/// Explains a failed `oneOf` in the two shapes CRDs use: "exactly one of
/// these fields" and "one of these formats".
fn one_of_message(branches: &[Value], value: &Value, passing: usize) -> String {
    let required: Option<Vec<&str>> = branches.iter().map(single_required).collect();
    if let (Some(fields), Some(map)) = (required, value.as_object()) {
        let present: Vec<&str> =
            fields.iter().copied().filter(|f| map.get(*f).is_some_and(|v| !v.is_null())).collect();
        let found = if present.is_empty() { "none".to_owned() } else { present.join(" and ") };
        return format!("exactly one of {} must be set, found {found}", fields.join(", "));
    }
    let formats: Option<Vec<&str>> =
        branches.iter().map(|b| b.get("format").and_then(Value::as_str)).collect();
    if let Some(formats) = formats {
        let nouns: Vec<String> = formats.iter().map(|f| format_noun(f)).collect();
        return format!("{} is not {}", show(value), nouns.join(" or "));
    }
    format!("matches {passing} of {} alternatives, expected exactly one", branches.len())
}

fn single_required(branch: &Value) -> Option<&str> {
    let object = branch.as_object()?;
    let required = object.get("required")?.as_array()?;
    match required.as_slice() {
        [only] if object.len() == 1 => only.as_str(),
        _ => None,
    }
}

/// A `pattern` implemented in code.
pub struct KnownPattern {
    /// Whether a string matches.
    pub holds: fn(&str) -> bool,
    /// The rule, phrased for a user.
    pub rule: &'static str,
}

/// The `pattern`s our CRD publishes, as code: the core has no regex engine,
/// and a test checks that the generated schema uses no other pattern.
pub fn known_pattern(pattern: &str) -> Option<KnownPattern> {
    match pattern {
        crate::selector::LABEL_VALUE_PATTERN => Some(KnownPattern {
            holds: crate::selector::matches_label_value_pattern,
            rule: "must be empty or start and end with a letter or digit, with only letters, digits, '-', '_' and '.' between",
        }),
        _ => None,
    }
}

fn flag(schema: &Map<String, Value>, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn integer_of(value: &Value) -> Option<i128> {
    value.as_i64().map(i128::from).or_else(|| value.as_u64().map(i128::from))
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => integer_of(value).is_some(),
        "number" => value.is_number(),
        _ => true,
    }
}

fn format_holds(format: &str, text: &str) -> bool {
    match format {
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        _ => true,
    }
}

fn format_noun(format: &str) -> String {
    match format {
        "ipv4" => "an IPv4 address".to_owned(),
        "ipv6" => "an IPv6 address".to_owned(),
        other => format!("in format {other}"),
    }
}

fn type_noun(schema: &Map<String, Value>) -> String {
    schema.get("type").and_then(Value::as_str).map_or_else(|| "a value".to_owned(), article)
}

fn article(type_name: &str) -> String {
    match type_name {
        "object" => "an object".to_owned(),
        "array" => "a list".to_owned(),
        "integer" => "an integer".to_owned(),
        other => format!("a {other}"),
    }
}

fn json_type_noun(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value as the user wrote it, kept short for messages.
pub fn show(value: &Value) -> String {
    match value {
        Value::Object(_) => "an object".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        other => {
            let text = other.to_string();
            if text.chars().count() > 64 {
                format!("{}…", text.chars().take(64).collect::<String>())
            } else {
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(schema: Value, value: Value) -> Vec<String> {
        check(&schema, &value).into_iter().map(|v| format!("{}: {}", v.path, v.message)).collect()
    }

    #[test]
    fn every_violation_is_reported_not_just_the_first() {
        let schema = json!({"type": "object", "required": ["a"], "properties": {
            "b": {"type": "integer", "maximum": 3}, "c": {"type": "string"}}});
        assert_eq!(
            messages(schema, json!({"b": 4, "c": 1, "d": true})),
            vec![
                "a: is required",
                "b: 4 is above 3",
                "c: 1 is an integer, expected a string",
                "d: unknown field (known fields: b, c)",
            ]
        );
    }

    #[test]
    fn paths_name_list_items_and_dotted_map_keys() {
        let schema = json!({"type": "object", "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}});
        assert_eq!(
            messages(
                schema,
                json!({"items": [{"k": "x"}, {"k": 2}], "labels": {"app.kubernetes.io/name": 5}})
            ),
            vec![
                "items[1].k: 2 is an integer, expected a string",
                "labels[app.kubernetes.io/name]: 5 is an integer, expected a string",
            ]
        );
    }

    #[test]
    fn one_of_required_fields_says_which_were_found() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "object"}, "b": {"type": "object"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]});
        assert_eq!(
            messages(schema.clone(), json!({})),
            vec!["(root): exactly one of a, b must be set, found none"]
        );
        assert_eq!(
            messages(schema.clone(), json!({"a": {}, "b": {}})),
            vec!["(root): exactly one of a, b must be set, found a and b"]
        );
        assert!(messages(schema, json!({"b": {}})).is_empty());
    }

    #[test]
    fn ip_formats_accept_v4_and_v6_and_nothing_else() {
        let schema = json!({"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]});
        assert!(messages(schema.clone(), json!("10.0.10.2")).is_empty());
        assert!(messages(schema.clone(), json!("fd00::2")).is_empty());
        assert!(messages(schema.clone(), json!("::ffff:10.0.10.2")).is_empty());
        for bad in ["10.0.10", "10.0.10.256", "010.0.10.2", "host.example", "fe80::1%eth0", ""] {
            assert_eq!(
                messages(schema.clone(), json!(bad)),
                vec![format!("(root): \"{bad}\" is not an IPv4 address or an IPv6 address")]
            );
        }
    }

    #[test]
    fn integers_are_bounded_on_both_sides_and_decimals_are_not_integers() {
        let schema = json!({"type": "integer", "minimum": 1, "maximum": 65535});
        assert!(messages(schema.clone(), json!(1)).is_empty());
        assert!(messages(schema.clone(), json!(65535)).is_empty());
        assert_eq!(messages(schema.clone(), json!(0)), vec!["(root): 0 is below 1"]);
        assert_eq!(messages(schema.clone(), json!(-5)), vec!["(root): -5 is below 1"]);
        assert_eq!(messages(schema.clone(), json!(65536)), vec!["(root): 65536 is above 65535"]);
        assert_eq!(
            messages(schema, json!(1.5)),
            vec!["(root): 1.5 is a decimal number, expected an integer"]
        );
    }

    #[test]
    fn enums_list_the_allowed_values() {
        let schema = json!({"type": "string", "enum": ["Ingress", "Egress", "Both"]});
        assert_eq!(
            messages(schema, json!("Sideways")),
            vec!["(root): \"Sideways\" is not one of Ingress, Egress, Both"]
        );
    }

    #[test]
    fn null_is_absent_for_nullable_fields_and_missing_for_required_ones() {
        let schema = json!({"type": "object", "required": ["a"], "properties": {
            "a": {"type": "string"}, "b": {"type": "string", "nullable": true}}});
        assert_eq!(messages(schema, json!({"a": null, "b": null})), vec!["a: is required"]);
    }

    #[test]
    fn preserved_unknown_fields_are_accepted() {
        let schema = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        assert!(messages(schema, json!({"anything": [1]})).is_empty());
    }
}
