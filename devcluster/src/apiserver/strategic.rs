//! Strategic merge patch, approximately: what kubectl sends for built-in
//! kinds (`kubectl apply`, `kubectl label`, `kubectl edit`).
//!
//! Objects merge as in a JSON merge patch. Lists that Kubernetes merges by
//! key (containers by `name`, ports by `containerPort`, conditions by
//! `type`, ...) merge element by element, chosen by the *field's name*
//! rather than by the Go type's tags, which is right for the Pods and
//! Namespaces this server holds. Any other list is replaced. The directives
//! `$patch: replace|delete` and `$deleteFromPrimitiveList/FIELD` are
//! honoured; `$setElementOrder` and `$retainKeys` are ignored (order is
//! kept as it was, then new elements).

use serde_json::{Map, Value};

/// The merge key of a list field, where Kubernetes has one.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses"
        | "resourceClaims" => Some("name"),
        "ports" => Some("containerPort"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "hostAliases" | "podIPs" | "hostIPs" => Some("ip"),
        "nodes" => Some("node"),
        _ => None,
    }
}

/// Applies a strategic merge patch to `target`.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = without_directives(patch);
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = without_directives(&Value::Object(patch.clone()));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else { return };
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(gone)) = (target.get_mut(field), value) {
                list.retain(|item| !gone.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        match (target.get_mut(key), value, merge_key(key)) {
            (Some(Value::Array(list)), Value::Array(items), Some(merge_key)) => {
                merge_list(list, items, merge_key)
            }
            (Some(existing @ Value::Object(_)), Value::Object(_), _) => strategic_merge(existing, value),
            _ => {
                target.insert(key.clone(), without_directives(value));
            }
        }
    }
}

fn merge_list(list: &mut Vec<Value>, items: &[Value], merge_key: &str) {
    for item in items {
        let key = item.get(merge_key).filter(|k| !k.is_null());
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            list.retain(|existing| existing.get(merge_key) != key);
            continue;
        }
        match list.iter_mut().find(|existing| key.is_some() && existing.get(merge_key) == key) {
            Some(existing) => strategic_merge(existing, item),
            None => list.push(without_directives(item)),
        }
    }
}

/// A patch value as data: directive keys (`$...`) removed at every depth.
fn without_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), without_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_other_lists_are_replaced() {
        let mut pod = json!({"spec": {
            "containers": [{"name": "a", "image": "x:1", "args": ["1"]}, {"name": "b", "image": "y:1"}],
            "tolerations": [{"key": "k"}]
        }});
        strategic_merge(
            &mut pod,
            &json!({"spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "a", "image": "x:2"}, {"name": "b", "$patch": "delete"}],
                "tolerations": [{"key": "j"}]
            }}),
        );
        assert_eq!(
            pod,
            json!({"spec": {
                "containers": [{"name": "a", "image": "x:2", "args": ["1"]}],
                "tolerations": [{"key": "j"}]
            }})
        );
    }

    #[test]
    fn null_removes_and_primitive_lists_lose_listed_values() {
        let mut object = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]}});
        strategic_merge(
            &mut object,
            &json!({"metadata": {"labels": {"a": null}, "$deleteFromPrimitiveList/finalizers": ["x"]}}),
        );
        assert_eq!(object, json!({"metadata": {"labels": {"b": "2"}, "finalizers": ["y"]}}));
    }
}
