//! Kubernetes manifests as text: multi-document YAML (or JSON, which is
//! YAML) into JSON values, and JSON values back into YAML.
//!
//! Documents stay untyped here: deciding what a document is, and whether it
//! is valid, belongs to [`crate::validate`] and [`crate::cluster`], which
//! can then report every problem of every object instead of stopping at
//! the first one that does not fit a Rust type.

use serde_json::Value;

/// A manifest that is not well-formed YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location(*.line, *.column))]
pub struct ParseError {
    /// 1-based line of the problem, when the parser knows it.
    pub line: Option<u64>,
    /// 1-based column of the problem, when the parser knows it.
    pub column: Option<u64>,
    /// What is wrong.
    pub message: String,
}

fn location(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("line {line} column {column}: "),
        (Some(line), None) => format!("line {line}: "),
        _ => String::new(),
    }
}

/// Parses every document of a YAML stream. Empty documents are skipped.
///
/// # Errors
/// [`ParseError`] when the text is not well-formed YAML (including duplicate
/// keys); a manifest that parses but makes no sense is not an error here.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, ParseError> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|error| {
        let location = error.location();
        ParseError {
            line: location.map(|l| l.line()).filter(|&l| l > 0),
            column: location.map(|l| l.column()).filter(|&c| c > 0),
            message: first_line(&error.to_string()),
        }
    })?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// The parser's message without the source snippet it may draw below it:
/// callers print the file and line themselves.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_owned()
}

/// Renders a JSON value as a YAML document (block style, keys in the value's
/// order), the form `kubectl apply -f` reads.
pub fn to_yaml(value: &Value) -> String {
    // Serializing a `serde_json::Value` cannot fail: it has no non-string
    // keys and no unsupported types.
    serde_saphyr::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_document_is_returned_and_empty_ones_are_skipped() {
        let docs = parse_documents("a: 1\n---\n---\nb: [x, z]\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": ["x", "z"]})]);
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let error = parse_documents("a: 1\nb: [\n").unwrap_err();
        assert!(error.line.is_some(), "{error:?}");
        assert!(error.to_string().starts_with("line "), "{error}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert!(parse_documents("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn yaml_1_1_booleans_read_as_kubectl_reads_them() {
        // kubectl's YAML reader (go-yaml v2) takes `yes`/`on` as booleans
        // too, so a manifest means the same to both.
        let docs = parse_documents("a: yes\nb: \"yes\"\n").unwrap();
        assert_eq!(docs[0], json!({"a": true, "b": "yes"}));
    }

    #[test]
    fn numbers_stay_integers() {
        let docs = parse_documents("vni: 16777216\nkey: 4294967295\nneg: -1\n").unwrap();
        assert_eq!(docs[0], json!({"vni": 16777216, "key": 4294967295u64, "neg": -1}));
    }

    #[test]
    fn yaml_output_reads_back_as_the_same_value() {
        let value = json!({
            "kind": "X",
            "list": [{"a": 1, "b": {"c": "true"}}, "plain", "", "a: b", []],
            "empty": {},
            "nested": {"deep": [1, 2], "s": "-dash", "num": "10", "ip": "10.0.10.2"},
        });
        let text = to_yaml(&value);
        assert_eq!(parse_documents(&text).unwrap(), vec![value], "{text}");
    }
}
