//! Label and field selectors in the string syntax of the Kubernetes API
//! (`?labelSelector=app=web,tier notin (db)&fieldSelector=spec.nodeName=n1`).

use std::collections::BTreeSet;

use datapath::selector::{Requirement, Selector};
use serde_json::Value;

/// A selector string the API server refuses (HTTP 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} selector {text:?}: {reason}")]
pub struct SelectorError {
    /// `label` or `field`.
    pub kind: &'static str,
    /// The selector as given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

/// Splits on commas outside parentheses.
fn terms(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(text[start..].trim());
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

/// Parses a label selector (`a=b`, `a==b`, `a!=b`, `a in (x,y)`,
/// `a notin (x)`, `a`, `!a`); the empty string selects everything.
///
/// # Errors
/// [`SelectorError`] for anything else.
pub fn parse_labels(text: &str) -> Result<Selector, SelectorError> {
    let error =
        |reason: &str| SelectorError { kind: "label", text: text.to_owned(), reason: reason.to_owned() };
    let mut requirements = Vec::new();
    for term in terms(text) {
        let set = |values: &str| -> Result<BTreeSet<String>, SelectorError> {
            let inner = values
                .trim()
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| error("expected (values)"))?;
            Ok(inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
        };
        let requirement = if let Some(key) = term.strip_prefix('!') {
            Requirement::DoesNotExist(key.trim().to_owned())
        } else if let Some((key, value)) = term.split_once("!=") {
            Requirement::NotIn(key.trim().to_owned(), BTreeSet::from([value.trim().to_owned()]))
        } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
            Requirement::In(key.trim().to_owned(), BTreeSet::from([value.trim().to_owned()]))
        } else if let Some((key, values)) = term.split_once(" notin ") {
            Requirement::NotIn(key.trim().to_owned(), set(values)?)
        } else if let Some((key, values)) = term.split_once(" in ") {
            Requirement::In(key.trim().to_owned(), set(values)?)
        } else if term.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            Requirement::Exists(term.to_owned())
        } else {
            return Err(error(&format!("cannot read {term:?}")));
        };
        let key = match &requirement {
            Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        };
        datapath::selector::check_label_key(key).map_err(|rule| error(&rule))?;
        requirements.push(requirement);
    }
    Ok(Selector::from_requirements(requirements))
}

/// A field selector: every `path=value` / `path!=value` must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

/// The fields the API server filters on.
const FIELDS: [&str; 3] = ["metadata.name", "metadata.namespace", "spec.nodeName"];

/// Parses a field selector over `metadata.name`, `metadata.namespace` and
/// `spec.nodeName`.
///
/// # Errors
/// [`SelectorError`] for another field or another operator.
pub fn parse_fields(text: &str) -> Result<FieldSelector, SelectorError> {
    let error = |reason: String| SelectorError { kind: "field", text: text.to_owned(), reason };
    let mut selector = FieldSelector::default();
    for term in terms(text) {
        let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
            (f, false, v)
        } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (f, true, v)
        } else {
            return Err(error(format!("{term:?} is not field=value or field!=value")));
        };
        let field = field.trim();
        if !FIELDS.contains(&field) {
            return Err(error(format!("field {field:?} is not supported (only {})", FIELDS.join(", "))));
        }
        selector.terms.push((field.to_owned(), equal, value.trim().to_owned()));
    }
    Ok(selector)
}

impl FieldSelector {
    /// Whether `object` satisfies every term (a missing field is "").
    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = object.pointer(&pointer).and_then(Value::as_str).unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selectors_read_every_kubernetes_form() {
        let selector =
            parse_labels("app=web, tier notin (db,cache),env in (prod),canary,!legacy,zone!=a").unwrap();
        assert!(selector.matches(&labels(&[("app", "web"), ("env", "prod"), ("canary", ""), ("zone", "b")])));
        assert!(!selector.matches(&labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("canary", ""),
            ("legacy", "y")
        ])));
        assert!(parse_labels("").unwrap().matches(&labels(&[])));
        assert!(parse_labels("app==web").unwrap().matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn bad_label_selectors_are_refused() {
        for bad in ["app in db", "-bad=x", "a b c"] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_filter_on_node_name_name_and_namespace() {
        let pod = serde_json::json!({"metadata": {"name": "web-1", "namespace": "default"}, "spec": {"nodeName": "node-1"}});
        assert!(parse_fields("spec.nodeName=node-1").unwrap().matches(&pod));
        assert!(!parse_fields("spec.nodeName=node-2").unwrap().matches(&pod));
        assert!(parse_fields("metadata.name!=web-2,metadata.namespace=default").unwrap().matches(&pod));
        assert!(parse_fields("status.phase=Running").is_err());
    }
}
