//! Discovery, in the legacy (unaggregated) format: `/version`, `/api`,
//! `/apis` and one resource list per group version, plus the OpenAPI v3
//! documents kubectl reads before `apply`.
//!
//! kubectl asks for aggregated discovery first; an `application/json`
//! answer makes it fall back to these documents. The OpenAPI documents say
//! only what kubectl needs: which PATCH endpoints take `fieldValidation`
//! (so it validates on the server instead of fetching `/openapi/v2`) and
//! the TrafficControl schema (for `kubectl explain`). They declare no
//! strategic merge patch, so kubectl builds Pod patches from its own
//! compiled-in types.

use serde_json::{Map, Value, json};

use super::resources::{GROUPS, ResourceType, TRAFFIC_CONTROLS};

/// The Kubernetes version the server claims (kubectl v1.32's).
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-tc-devcluster",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rust",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"]})
}

/// `/apis`.
pub fn groups() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|(group, version)| {
            let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
            json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Core kinds that are not served but that manifests often hold.
const UNSERVED_CORE_KINDS: [&str; 9] = [
    "Service",
    "Secret",
    "Node",
    "Endpoints",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ReplicationController",
    "LimitRange",
    "ResourceQuota",
];

const VERBS: [&str; 8] = ["create", "delete", "get", "list", "patch", "update", "watch", "deletecollection"];

/// `/api/v1` or `/apis/GROUP/VERSION`; `None` for a group version not
/// served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for resource in ResourceType::in_group(group, version) {
        let verbs: Vec<&str> = VERBS.into_iter().filter(|v| *v != "deletecollection").collect();
        resources.push(json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": verbs,
            "shortNames": resource.short_names,
        }));
        if resource.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", resource.plural),
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    // Served by handlers of their own, create only: the TokenRequest API
    // and access reviews.
    match (group, version) {
        ("", "v1") => resources.push(json!({
            "name": "serviceaccounts/token",
            "singularName": "",
            "namespaced": true,
            "group": "authentication.k8s.io",
            "version": "v1",
            "kind": "TokenRequest",
            "verbs": ["create"],
        })),
        ("authorization.k8s.io", "v1") => {
            for (name, kind) in [
                ("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                ("selfsubjectrulesreviews", "SelfSubjectRulesReview"),
            ] {
                resources.push(json!({
                    "name": name,
                    "singularName": name.trim_end_matches('s'),
                    "namespaced": false,
                    "kind": kind,
                    "verbs": ["create"],
                }));
            }
        }
        _ => {}
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// The path of a group version's OpenAPI document, relative to
/// `/openapi/v3/`.
fn openapi_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// A stable hash of a document, so kubectl's cache notices a change.
fn fnv(text: &str) -> String {
    let hash =
        text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{hash:016X}")
}

/// `/openapi/v3`: where each group version's document is.
pub fn openapi_index() -> Value {
    let mut paths = Map::new();
    let served = std::iter::once(("", "v1")).chain(GROUPS);
    for (group, version) in served {
        let path = openapi_path(group, version);
        let hash = fnv(&openapi_document(group, version).map(|d| d.to_string()).unwrap_or_default());
        paths.insert(path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}));
    }
    json!({ "paths": paths })
}

/// The OpenAPI v3 document of one group version.
pub fn openapi_document(group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for resource in ResourceType::in_group(group, version) {
        let gvk = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
        let prefix =
            if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
        let namespace = if resource.namespaced { "/namespaces/{namespace}" } else { "" };
        let path = format!("{prefix}{namespace}/{}/{{name}}", resource.plural);
        let content: Map<String, Value> =
            ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
                .into_iter()
                .map(|media| (media.to_owned(), json!({"schema": {"type": "object"}})))
                .collect();
        let parameters: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .into_iter()
            .map(|name| json!({"name": name, "in": "query", "schema": {"type": "string"}}))
            .collect();
        paths.insert(
            path,
            json!({"patch": {
                "operationId": format!("patch{}", resource.kind),
                "x-kubernetes-group-version-kind": gvk,
                "parameters": parameters,
                "requestBody": {"content": content},
                "responses": {"200": {"description": "OK"}},
            }}),
        );
        if resource == &TRAFFIC_CONTROLS {
            let mut schema = datapath::api::openapi_schema();
            schema["x-kubernetes-group-version-kind"] = json!([gvk]);
            schemas.insert("io.antrea.crd.v1alpha2.TrafficControl".into(), schema);
        }
    }
    if paths.is_empty() {
        return None;
    }
    if group.is_empty() {
        // kubectl validates a manifest before it maps its kinds: a core
        // kind missing here would fail with "failed to download openapi"
        // instead of kubectl's "no matches for kind".
        for kind in UNSERVED_CORE_KINDS {
            let gvk = json!({"group": "", "version": version, "kind": kind});
            let parameters =
                [json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string"}})];
            paths.insert(
                format!("/api/{version}/unserved/{}/{{name}}", kind.to_lowercase()),
                json!({"patch": {"x-kubernetes-group-version-kind": gvk, "parameters": parameters}}),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "tc-devcluster", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_controls_are_discovered_cluster_scoped_with_status_and_short_name() {
        let list = resource_list("crd.antrea.io", "v1alpha2").unwrap();
        assert_eq!(list["groupVersion"], "crd.antrea.io/v1alpha2");
        let resources = list["resources"].as_array().unwrap();
        assert_eq!(resources[0]["name"], "trafficcontrols");
        assert_eq!(resources[0]["namespaced"], false);
        assert_eq!(resources[0]["shortNames"], json!(["tc"]));
        assert_eq!(resources[1]["name"], "trafficcontrols/status");
        assert!(resource_list("batch", "v1").is_none());
    }

    #[test]
    fn every_group_version_has_an_openapi_document_with_patch_parameters() {
        let index = openapi_index();
        let paths = index["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 1 + GROUPS.len());
        let doc = openapi_document("", "v1").unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_none());
    }
}
