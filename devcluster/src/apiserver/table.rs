//! Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get`
//! asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with
//! the columns the real API server would give each kind. TrafficControl's
//! columns come from the CRD's `additionalPrinterColumns`.

use serde_json::{Value, json};

use super::clock::Timestamp;
use super::resources::{
    CORE_EVENTS, CUSTOM_RESOURCE_DEFINITIONS, EVENTS, NAMESPACES, PODS, ResourceType, TRAFFIC_CONTROLS,
};

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// The object's metadata, as a PartialObjectMetadata (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Reads the query parameter's value; an unknown one is the default.
    pub fn parse(value: Option<&str>) -> IncludeObject {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// One column: its header, its type, its priority (1 = `-o wide` only) and
/// how a cell is read from an object.
struct Column {
    name: String,
    kind: String,
    format: &'static str,
    priority: u64,
    description: String,
    cell: Cell,
}

enum Cell {
    Name,
    /// A path into the object (`.spec.direction`), printed as is.
    Path(String),
    /// A timestamp at this path, printed as an age.
    Age(String),
    /// A timestamp printed as RFC 3339.
    Date(String),
    PodReady,
    PodStatus,
    PodRestarts,
    EventObject(&'static str),
}

fn column(name: &str, kind: &str, priority: u64, cell: Cell) -> Column {
    Column {
        name: name.into(),
        kind: kind.into(),
        format: if matches!(cell, Cell::Name) { "name" } else { "" },
        priority,
        description: String::new(),
        cell,
    }
}

fn name_column() -> Column {
    Column {
        description: "Name must be unique within a namespace.".into(),
        ..column("Name", "string", 0, Cell::Name)
    }
}

fn age_column() -> Column {
    column("Age", "string", 0, Cell::Age("/metadata/creationTimestamp".into()))
}

/// `.spec.direction` as a JSON pointer.
fn pointer_of(json_path: &str) -> String {
    format!("/{}", json_path.trim_start_matches('.').replace('.', "/"))
}

fn columns(resource: &ResourceType) -> Vec<Column> {
    let mut columns = vec![name_column()];
    if resource == &TRAFFIC_CONTROLS {
        columns.extend(crd_columns());
    } else if resource == &PODS {
        columns.extend([
            column("Ready", "string", 0, Cell::PodReady),
            column("Status", "string", 0, Cell::PodStatus),
            column("Restarts", "string", 0, Cell::PodRestarts),
            age_column(),
            column("IP", "string", 1, Cell::Path("/status/podIP".into())),
            column("Node", "string", 1, Cell::Path("/spec/nodeName".into())),
        ]);
    } else if resource == &NAMESPACES {
        columns.extend([column("Status", "string", 0, Cell::Path("/status/phase".into())), age_column()]);
    } else if resource == &CORE_EVENTS || resource == &EVENTS {
        let core = resource == &CORE_EVENTS;
        columns = vec![
            column(
                "Last Seen",
                "string",
                0,
                Cell::Age(if core { "/lastTimestamp" } else { "/eventTime" }.into()),
            ),
            column("Type", "string", 0, Cell::Path("/type".into())),
            column("Reason", "string", 0, Cell::Path("/reason".into())),
            column(
                "Object",
                "string",
                0,
                Cell::EventObject(if core { "involvedObject" } else { "regarding" }),
            ),
            column("Message", "string", 0, Cell::Path(if core { "/message" } else { "/note" }.into())),
        ];
    } else if resource == &CUSTOM_RESOURCE_DEFINITIONS {
        columns.push(column("Created At", "date", 0, Cell::Date("/metadata/creationTimestamp".into())));
    } else {
        columns.push(age_column());
    }
    columns
}

/// The CRD's additionalPrinterColumns, read from the CRD itself so the
/// table cannot drift from it.
fn crd_columns() -> Vec<Column> {
    let crd = serde_json::to_value(datapath::api::crd()).unwrap_or_default();
    let printer_columns =
        crd.pointer("/spec/versions/0/additionalPrinterColumns").and_then(Value::as_array).cloned();
    printer_columns
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            let name = c.get("name")?.as_str()?;
            let kind = c.get("type")?.as_str()?;
            let path = pointer_of(c.get("jsonPath")?.as_str()?);
            let cell = if kind == "date" { Cell::Age(path) } else { Cell::Path(path) };
            Some(Column {
                description: c.get("description").and_then(Value::as_str).unwrap_or_default().into(),
                priority: c.get("priority").and_then(Value::as_u64).unwrap_or(0),
                ..column(name, kind, 0, cell)
            })
        })
        .collect()
}

fn cell(cell: &Cell, object: &Value, now: Timestamp) -> Value {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    match cell {
        Cell::Name => json!(text("/metadata/name")),
        Cell::Path(pointer) => match object.pointer(pointer) {
            Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => value.clone(),
            Some(other) => json!(other.to_string()),
            None => json!("<none>"),
        },
        Cell::Age(pointer) => {
            let at = Timestamp::parse(&text(pointer))
                .or_else(|| Timestamp::parse(&text("/metadata/creationTimestamp")));
            json!(at.map_or_else(|| "<unknown>".to_owned(), |at| at.age_at(now)))
        }
        Cell::Date(pointer) => json!(text(pointer)),
        Cell::PodReady => {
            let total = object.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
            let ready = container_statuses(object).filter(|s| s.get("ready") == Some(&json!(true))).count();
            json!(format!("{ready}/{total}"))
        }
        Cell::PodStatus => {
            if object.pointer("/metadata/deletionTimestamp").is_some() {
                json!("Terminating")
            } else {
                let phase = text("/status/phase");
                json!(if phase.is_empty() { "Pending".to_owned() } else { phase })
            }
        }
        Cell::PodRestarts => {
            let restarts: u64 =
                container_statuses(object).filter_map(|s| s.get("restartCount")?.as_u64()).sum();
            json!(restarts)
        }
        Cell::EventObject(field) => {
            let kind = text(&format!("/{field}/kind")).to_lowercase();
            json!(format!("{kind}/{}", text(&format!("/{field}/name"))))
        }
    }
}

fn container_statuses(object: &Value) -> impl Iterator<Item = &Value> {
    object.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten()
}

/// The column definitions of `resource`'s table.
pub fn column_definitions(resource: &ResourceType) -> Value {
    Value::Array(
        columns(resource)
            .into_iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.kind,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
    )
}

/// One row: the cells and, as asked, the object or its metadata.
pub fn row(resource: &ResourceType, object: &Value, now: Timestamp, include: IncludeObject) -> Value {
    let cells: Vec<Value> = columns(resource).iter().map(|c| cell(&c.cell, object, now)).collect();
    let mut row = json!({ "cells": cells });
    let included = match include {
        IncludeObject::None => return row,
        IncludeObject::Object => object.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    };
    row["object"] = included;
    row
}

/// A Table of `objects` at `resource_version`.
pub fn table(
    resource: &ResourceType,
    objects: &[Value],
    resource_version: u64,
    now: Timestamp,
    include: IncludeObject,
) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": column_definitions(resource),
        "rows": objects.iter().map(|o| row(resource, o, now, include)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_795_564_800);

    fn headers(table: &Value) -> Vec<&str> {
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect()
    }

    #[test]
    fn traffic_controls_print_the_crd_columns_with_ages() {
        let tc = json!({
            "metadata": {"name": "mirror-web-app", "creationTimestamp": "2026-11-24T23:57:00Z"},
            "spec": {"direction": "Both", "action": "Mirror"}
        });
        let table = table(&TRAFFIC_CONTROLS, &[tc], 7, NOW, IncludeObject::Metadata);
        assert_eq!(headers(&table), ["Name", "Direction", "Action", "Age"]);
        assert_eq!(table["rows"][0]["cells"], json!(["mirror-web-app", "Both", "Mirror", "3m"]));
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(table["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn pods_print_ready_status_restarts_age_ip_and_node() {
        let pod = json!({
            "metadata": {"name": "web-1", "creationTimestamp": "2026-11-24T23:59:55Z"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "podIP": "10.10.0.11",
                       "containerStatuses": [{"ready": true, "restartCount": 2}, {"ready": false, "restartCount": 1}]}
        });
        let table = table(&PODS, &[pod], 3, NOW, IncludeObject::Object);
        assert_eq!(headers(&table), ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]);
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["web-1", "1/2", "Running", 3, "5s", "10.10.0.11", "node-1"])
        );
        assert_eq!(table["rows"][0]["object"]["spec"]["nodeName"], "node-1");
    }

    #[test]
    fn a_pod_without_status_is_pending_and_namespaces_show_their_phase() {
        let row = row(&PODS, &json!({"metadata": {"name": "p"}}), NOW, IncludeObject::None);
        assert_eq!(row["cells"][2], "Pending");
        assert!(row.get("object").is_none());
        let ns = json!({"metadata": {"name": "prod", "creationTimestamp": "2026-11-25T00:00:00Z"}, "status": {"phase": "Active"}});
        assert_eq!(
            table(&NAMESPACES, &[ns], 1, NOW, IncludeObject::None)["rows"][0]["cells"],
            json!(["prod", "Active", "0s"])
        );
    }
}
