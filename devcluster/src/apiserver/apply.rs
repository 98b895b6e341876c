//! Server-side apply, for the one place the agents need it: each node
//! applies its own entry of a TrafficControl's `status.nodes`, a list map
//! keyed by `node`, under its own field manager.
//!
//! An apply replaces the entries it sends, removes the entries this
//! manager applied before and no longer sends (unless another manager
//! applied them too), and never touches another manager's entries. What a
//! manager owns is kept where Kubernetes keeps it, in
//! `metadata.managedFields`, so it survives a restart with the object.
//!
//! Not done: field-level ownership inside an entry, conflicts between
//! managers (`force`), and list maps other than `status.nodes`. Any other
//! field of an applied object is merged as by a merge patch.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::store::merge;

/// The managedFields key of one `status.nodes` entry (`k:{"node":"n1"}`).
fn entry_key(node: &str) -> String {
    format!("k:{}", json!({ "node": node }))
}

/// The node names of `status.nodes` that `manager` applied.
pub fn owned_nodes(object: &Value, manager: &str) -> BTreeSet<String> {
    managers(object)
        .filter(|entry| entry.get("manager").and_then(Value::as_str) == Some(manager))
        .flat_map(nodes_of_entry)
        .collect()
}

fn managers(object: &Value) -> impl Iterator<Item = &Value> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| entry.get("operation").and_then(Value::as_str) == Some("Apply"))
        .filter(|entry| entry.get("subresource").and_then(Value::as_str) == Some("status"))
}

fn nodes_of_entry(entry: &Value) -> Vec<String> {
    entry
        .pointer("/fieldsV1/f:status/f:nodes")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|keys| keys.keys())
        .filter_map(|key| serde_json::from_str::<Value>(key.strip_prefix("k:")?).ok())
        .filter_map(|key| Some(key.get("node")?.as_str()?.to_owned()))
        .collect()
}

/// The node name of a `status.nodes` entry.
fn node_of(entry: &Value) -> Option<&str> {
    entry.get("node").and_then(Value::as_str)
}

/// `current` after `manager` applied `applied`'s status at `now`.
pub fn apply_status(current: &Value, applied: &Value, manager: &str, api_version: &str, now: &str) -> Value {
    let mut object = current.clone();
    let applied_status = applied.get("status").cloned().unwrap_or_else(|| json!({}));
    let sent: Vec<Value> = applied_status.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
    let sent_names: BTreeSet<String> = sent.iter().filter_map(node_of).map(str::to_owned).collect();
    let before = owned_nodes(current, manager);
    let others: BTreeSet<String> = managers(current)
        .filter(|entry| entry.get("manager").and_then(Value::as_str) != Some(manager))
        .flat_map(nodes_of_entry)
        .collect();

    let mut nodes: Vec<Value> =
        object.pointer("/status/nodes").and_then(Value::as_array).cloned().unwrap_or_default();
    nodes.retain(|entry| {
        let name = node_of(entry).unwrap_or_default();
        sent_names.contains(name) || !before.contains(name) || others.contains(name)
    });
    let owned = owned_fields(&sent);
    for entry in sent {
        match nodes
            .iter_mut()
            .find(|existing| node_of(existing).is_some() && node_of(existing) == node_of(&entry))
        {
            Some(existing) => *existing = entry,
            None => nodes.push(entry),
        }
    }

    let mut rest = applied_status;
    if let Some(map) = rest.as_object_mut() {
        map.remove("nodes");
    }
    let status = object.as_object_mut().map(|root| root.entry("status").or_insert_with(|| json!({})));
    if let Some(status) = status {
        merge(status, &rest);
        if let Some(map) = status.as_object_mut() {
            map.insert("nodes".into(), Value::Array(nodes));
        }
    }
    record_owner(&mut object, manager, owned, api_version, now);
    object
}

/// The fieldsV1 of the entries a manager applied, as the API server
/// records them: the entry's key, `.`, and each field it set (a list of
/// conditions is atomic, one field), so an object's size counts them.
fn owned_fields(sent: &[Value]) -> Map<String, Value> {
    sent.iter()
        .filter_map(|entry| {
            let mut fields = Map::from_iter([(".".to_owned(), json!({}))]);
            fields.extend(entry.as_object()?.keys().map(|field| (format!("f:{field}"), json!({}))));
            Some((entry_key(node_of(entry)?), Value::Object(fields)))
        })
        .collect()
}

/// Rewrites `manager`'s managedFields entry for the status subresource.
fn record_owner(object: &mut Value, manager: &str, keys: Map<String, Value>, api_version: &str, now: &str) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let list = metadata.entry("managedFields").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else { return };
    list.retain(|entry| {
        !(entry.get("manager").and_then(Value::as_str) == Some(manager)
            && entry.get("operation").and_then(Value::as_str) == Some("Apply")
            && entry.get("subresource").and_then(Value::as_str) == Some("status"))
    });
    if keys.is_empty() {
        return;
    }
    list.push(json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {"f:nodes": keys}},
        "subresource": "status",
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-25T00:00:00Z";

    fn applied(nodes: &[(&str, u32)]) -> Value {
        let nodes: Vec<Value> =
            nodes.iter().map(|(n, pods)| json!({"node": n, "selectedPods": pods})).collect();
        json!({"apiVersion": "crd.antrea.io/v1alpha2", "kind": "TrafficControl", "status": {"nodes": nodes}})
    }

    fn apply(object: &Value, manager: &str, nodes: &[(&str, u32)]) -> Value {
        apply_status(object, &applied(nodes), manager, "crd.antrea.io/v1alpha2", NOW)
    }

    fn nodes(object: &Value) -> Vec<(String, u64)> {
        object["status"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["node"].as_str().unwrap().to_owned(), e["selectedPods"].as_u64().unwrap()))
            .collect()
    }

    #[test]
    fn each_manager_replaces_only_its_own_entries() {
        let tc = json!({"metadata": {"name": "t"}, "spec": {}});
        let tc = apply(&tc, "agent-n1", &[("n1", 2)]);
        let tc = apply(&tc, "agent-n2", &[("n2", 1)]);
        let tc = apply(&tc, "agent-n1", &[("n1", 3)]);
        assert_eq!(nodes(&tc), [("n1".to_owned(), 3), ("n2".to_owned(), 1)]);
        assert_eq!(owned_nodes(&tc, "agent-n2"), BTreeSet::from(["n2".to_owned()]));
    }

    #[test]
    fn an_entry_no_longer_sent_is_removed_but_never_another_managers() {
        let tc =
            json!({"metadata": {"name": "t"}, "status": {"nodes": [{"node": "old", "selectedPods": 9}]}});
        let tc = apply(&tc, "agent-n1", &[("n1", 2), ("shared", 1)]);
        let tc = apply(&tc, "agent-n2", &[("n2", 1), ("shared", 1)]);
        let tc = apply(&tc, "agent-n1", &[]);
        assert_eq!(nodes(&tc), [("old".to_owned(), 9), ("shared".to_owned(), 1), ("n2".to_owned(), 1)]);
        assert!(owned_nodes(&tc, "agent-n1").is_empty());
        let tc = apply(&tc, "agent-n2", &[]);
        assert_eq!(nodes(&tc), [("old".to_owned(), 9)], "an entry nobody applied stays");
    }
}
