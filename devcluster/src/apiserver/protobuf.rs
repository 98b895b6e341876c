//! The request bodies kubectl sends only as Kubernetes protobuf
//! (`application/vnd.kubernetes.protobuf`) that this server reads:
//! TokenRequest (`kubectl create token`), SelfSubjectAccessReview and
//! SelfSubjectRulesReview (`kubectl auth can-i [--list]`), read into
//! the JSON the handlers take. Every other body kubectl and kube-rs send
//! is JSON or YAML, and answers are always JSON (their Accept allows it).
//!
//! The envelope is the 4 bytes `k8s\0` then a `runtime.Unknown` message
//! (field 1 TypeMeta, field 2 the object's bytes). Only the fields the
//! handlers read are decoded; the rest are skipped by wire type, and any
//! malformed input is `None`, never a panic.

use serde_json::{Map, Value, json};

/// The media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8; 4] = b"k8s\0";

/// One field: its number and its value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// The fields of one message, in order.
fn fields(mut input: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = vec![];
    while !input.is_empty() {
        let key = varint(&mut input)?;
        let value = match key & 7 {
            0 => Field::Varint(varint(&mut input)?),
            1 => Field::Bytes(take(&mut input, 8)?),
            2 => {
                let length = usize::try_from(varint(&mut input)?).ok()?;
                Field::Bytes(take(&mut input, length)?)
            }
            5 => Field::Bytes(take(&mut input, 4)?),
            _ => return None,
        };
        out.push((key >> 3, value));
    }
    Some(out)
}

fn varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn take<'a>(input: &mut &'a [u8], length: usize) -> Option<&'a [u8]> {
    if input.len() < length {
        return None;
    }
    let (head, rest) = input.split_at(length);
    *input = rest;
    Some(head)
}

/// The string fields of a message, by number → JSON key.
fn strings(message: &[u8], names: &[(u64, &str)]) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for (number, field) in fields(message)? {
        if let (Some((_, name)), Field::Bytes(bytes)) = (names.iter().find(|(n, _)| *n == number), field) {
            out.insert((*name).to_owned(), json!(std::str::from_utf8(bytes).ok()?));
        }
    }
    Some(out)
}

/// The object in a protobuf body: (kind, its fields as JSON), for the
/// kinds this server reads in protobuf.
pub fn decode(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(MAGIC)?;
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (number, field) in fields(envelope)? {
        match (number, field) {
            (1, Field::Bytes(type_meta)) => {
                kind = strings(type_meta, &[(2, "kind")])?.get("kind").and_then(Value::as_str)?.to_owned();
            }
            (2, Field::Bytes(bytes)) => raw = bytes,
            _ => {}
        }
    }
    let spec = fields(raw)?.into_iter().find_map(|(number, field)| match (number, field) {
        (2, Field::Bytes(spec)) => Some(spec),
        _ => None,
    });
    let spec = match kind.as_str() {
        "TokenRequest" => token_request_spec(spec.unwrap_or_default())?,
        "SelfSubjectAccessReview" => access_review_spec(spec.unwrap_or_default())?,
        // SelfSubjectRulesReviewSpec: namespace (1).
        "SelfSubjectRulesReview" => Value::Object(strings(spec.unwrap_or_default(), &[(1, "namespace")])?),
        _ => return None,
    };
    Some(json!({"kind": kind, "spec": spec}))
}

/// TokenRequestSpec: audiences (1), boundObjectRef (3), expirationSeconds (4).
fn token_request_spec(spec: &[u8]) -> Option<Value> {
    let mut out = json!({});
    let mut audiences = vec![];
    for (number, field) in fields(spec)? {
        match (number, field) {
            (1, Field::Bytes(audience)) => audiences.push(json!(std::str::from_utf8(audience).ok()?)),
            (3, Field::Bytes(reference)) => {
                let names = [(1, "kind"), (2, "apiVersion"), (3, "name"), (4, "uid")];
                out["boundObjectRef"] = Value::Object(strings(reference, &names)?);
            }
            (4, Field::Varint(seconds)) => out["expirationSeconds"] = json!(seconds.cast_signed()),
            _ => {}
        }
    }
    if !audiences.is_empty() {
        out["audiences"] = Value::Array(audiences);
    }
    Some(out)
}

/// SelfSubjectAccessReviewSpec: resourceAttributes (1), nonResourceAttributes (2).
fn access_review_spec(spec: &[u8]) -> Option<Value> {
    let mut out = json!({});
    for (number, field) in fields(spec)? {
        match (number, field) {
            (1, Field::Bytes(attributes)) => {
                let names = [
                    (1, "namespace"),
                    (2, "verb"),
                    (3, "group"),
                    (4, "version"),
                    (5, "resource"),
                    (6, "subresource"),
                    (7, "name"),
                ];
                out["resourceAttributes"] = Value::Object(strings(attributes, &names)?);
            }
            (2, Field::Bytes(attributes)) => {
                out["nonResourceAttributes"] =
                    Value::Object(strings(attributes, &[(1, "path"), (2, "verb")])?);
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::try_from(number << 3 | 2).unwrap(), u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }

    fn envelope(kind: &str, object: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, b"v1"), field(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), field(1, &type_meta), field(2, object)].concat()
    }

    #[test]
    fn an_access_review_as_kubectl_sends_it() {
        let attributes = [field(1, b"default"), field(2, b"list"), field(5, b"pods")].concat();
        let spec = field(1, &attributes);
        let object = [field(1, b""), field(2, &spec)].concat();
        let decoded = decode(&envelope("SelfSubjectAccessReview", &object)).expect("decodes");
        assert_eq!(
            decoded["spec"]["resourceAttributes"],
            json!({"namespace": "default", "verb": "list", "resource": "pods"})
        );
    }

    #[test]
    fn a_token_request_with_audiences_and_a_lifetime() {
        let spec = [field(1, b"api"), vec![4 << 3, 0x90, 0x1c]].concat();
        let object = field(2, &spec);
        let decoded = decode(&envelope("TokenRequest", &object)).expect("decodes");
        assert_eq!(decoded["spec"], json!({"audiences": ["api"], "expirationSeconds": 3600}));
    }

    #[test]
    fn anything_else_is_refused_without_panicking() {
        assert!(decode(b"{}").is_none());
        assert!(decode(&envelope("Pod", &field(2, b""))).is_none());
        assert!(decode(b"k8s\0\x0a\xff").is_none());
        assert!(decode(b"k8s\0\x0f").is_none());
        let truncated = envelope("TokenRequest", &field(2, &field(1, b"api")));
        assert!(decode(&truncated[..truncated.len() - 2]).is_none());
    }
}
