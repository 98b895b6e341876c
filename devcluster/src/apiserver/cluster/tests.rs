use super::*;
use crate::apiserver::resources::PODS;
use crate::apiserver::store::MAX_OBJECT_BYTES;

const NOW: Timestamp = Timestamp(1_795_564_800);

fn tc(name: &str, direction: &str) -> Value {
    json!({
        "apiVersion": "crd.antrea.io/v1alpha2",
        "kind": "TrafficControl",
        "metadata": {"name": name},
        "spec": {
            "appliedTo": {"podSelector": {"matchLabels": {"app": "web"}}},
            "direction": direction,
            "action": "Mirror",
            "targetPort": {"vxlan": {"remoteIP": "10.0.10.2"}}
        },
        "status": {"nodes": [{"node": "forged"}]}
    })
}

fn target(name: &str, status: bool) -> Target<'_> {
    Target { resource: &TRAFFIC_CONTROLS, namespace: None, name, status }
}

#[test]
fn an_invalid_traffic_control_is_refused_with_the_validators_findings() {
    let mut cluster = Cluster::new(NOW);
    let error = cluster.create(&TRAFFIC_CONTROLS, None, tc("t", "Sideways"), NOW).unwrap_err();
    assert_eq!(error.code(), 422);
    assert_eq!(error.to_string(), "tc/t: spec.direction: \"Sideways\" is not one of Ingress, Egress, Both");
}

#[test]
fn status_is_a_subresource_and_generation_follows_the_spec() {
    let mut cluster = Cluster::new(NOW);
    let mut object = tc("t", "Both");
    object["metadata"]["namespace"] = json!("default");
    let created = cluster.create(&TRAFFIC_CONTROLS, None, object, NOW).unwrap();
    assert!(created.object.get("status").is_none(), "a create sets no status");
    assert!(created.object.pointer("/metadata/namespace").is_none(), "cluster-scoped");
    assert_eq!(created.warnings.len(), 1, "{:?}", created.warnings);

    let status = json!({"status": {"nodes": [{"node": "n1", "selectedPods": 2}]}});
    let written = cluster.patch(target("t", true), &PatchKind::Merge, &status, NOW).unwrap().object;
    assert_eq!(written["status"]["nodes"][0]["node"], "n1");
    assert_eq!(written["metadata"]["generation"], 1);

    let mut update = tc("t", "Ingress");
    update["status"] = json!({});
    let updated = cluster.update(target("t", false), update).unwrap().object;
    assert_eq!(updated["spec"]["direction"], "Ingress");
    assert_eq!(updated["status"]["nodes"][0]["node"], "n1", "a write to the object keeps its status");
    assert_eq!(updated["metadata"]["generation"], 2);

    let spec_through_status = json!({"spec": {"direction": "Egress"}, "status": {"nodes": []}});
    let written =
        cluster.patch(target("t", true), &PatchKind::Merge, &spec_through_status, NOW).unwrap().object;
    assert_eq!(
        (written["spec"]["direction"].as_str(), written["status"]["nodes"].as_array().map(Vec::len)),
        (Some("Ingress"), Some(0))
    );
}

#[test]
fn server_side_apply_of_status_keeps_other_managers_entries() {
    let mut cluster = Cluster::new(NOW);
    cluster.create(&TRAFFIC_CONTROLS, None, tc("t", "Both"), NOW).unwrap();
    let apply = |manager: &str| PatchKind::Apply { manager: manager.into() };
    let body = |node: &str| json!({"apiVersion": "crd.antrea.io/v1alpha2", "kind": "TrafficControl", "status": {"nodes": [{"node": node}]}});
    cluster.patch(target("t", true), &apply("agent-n1"), &body("n1"), NOW).unwrap();
    cluster.patch(target("t", true), &apply("agent-n2"), &body("n2"), NOW).unwrap();
    let empty =
        json!({"apiVersion": "crd.antrea.io/v1alpha2", "kind": "TrafficControl", "status": {"nodes": []}});
    let object = cluster.patch(target("t", true), &apply("agent-n1"), &empty, NOW).unwrap().object;
    assert_eq!(object["status"]["nodes"], json!([{"node": "n2"}]));
    assert_eq!(object["metadata"]["managedFields"].as_array().map(Vec::len), Some(1));
}

#[test]
fn server_side_apply_of_a_missing_object_creates_it() {
    let mut cluster = Cluster::new(NOW);
    let kind = PatchKind::Apply { manager: "test".into() };
    let written = cluster.patch(target("t", false), &kind, &tc("t", "Both"), NOW).unwrap();
    assert_eq!(written.object["metadata"]["resourceVersion"], cluster.store().revision().to_string());
}

#[test]
fn deleting_a_namespace_deletes_its_pods() {
    let mut cluster = Cluster::new(NOW);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}});
    let created = cluster.create(&NAMESPACES, None, ns, NOW).unwrap().object;
    assert_eq!(created["status"]["phase"], "Active");
    assert_eq!(created["metadata"]["labels"]["kubernetes.io/metadata.name"], "prod");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db"}, "status": {"podIP": "10.0.0.1"}});
    let pod = cluster.create(&PODS, Some("prod"), pod, NOW).unwrap().object;
    assert_eq!(pod["status"]["podIP"], "10.0.0.1", "a Pod keeps the status it is created with");
    cluster.delete(Target { resource: &NAMESPACES, namespace: None, name: "prod", status: false }).unwrap();
    let pod = Target { resource: &PODS, namespace: Some("prod"), name: "db", status: false };
    assert_eq!(cluster.get(pod).unwrap_err().code(), 404);
}

#[test]
fn a_pod_in_another_namespace_than_the_paths_is_refused() {
    let mut cluster = Cluster::new(NOW);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db", "namespace": "a"}});
    assert_eq!(cluster.create(&PODS, Some("b"), pod.clone(), NOW).unwrap_err().code(), 400);
    assert_eq!(cluster.create(&NAMESPACES, None, pod, NOW).unwrap_err().code(), 400, "wrong kind");
}

/// Fuzzing found a Namespace with `labels: 5` panicking the server.
#[test]
fn metadata_that_is_not_a_map_of_strings_is_refused_not_panicked_on() {
    let mut cluster = Cluster::new(NOW);
    for metadata in
        [json!("x"), json!({"name": "a", "labels": 5}), json!({"name": "a", "annotations": {"k": 1}})]
    {
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata});
        assert_eq!(cluster.create(&NAMESPACES, None, namespace, NOW).unwrap_err().code(), 400);
    }
    let fine = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": null}});
    assert!(cluster.create(&NAMESPACES, None, fine, NOW).is_ok());
}

#[test]
fn a_snapshot_restores_every_object_and_the_builtin_crd_once() {
    let mut cluster = Cluster::new(NOW);
    cluster.create(&TRAFFIC_CONTROLS, None, tc("t", "Both"), NOW).unwrap();
    let restored = Cluster::from_snapshot(&cluster.snapshot(), NOW).unwrap();
    assert_eq!(restored.store().revision(), cluster.store().revision());
    assert_eq!(restored.get(target("t", false)).unwrap(), cluster.get(target("t", false)).unwrap());
    let everything = (Selector::default(), FieldSelector::default());
    let (crds, _) = restored.list(&CUSTOM_RESOURCE_DEFINITIONS, None, &everything.0, &everything.1);
    assert_eq!(crds.len(), 1);
}

/// The arithmetic behind the agent's report scope (docs/scale.md):
/// healthy entries, each under its own field manager as the agents apply
/// them, cost a node its entry plus a managedFields record; at that cost a
/// thousand nodes stay under half of etcd's limit and 5,000 could not fit
/// at all. Measured on 200 nodes (each apply rewrites the whole object,
/// so a thousand would take a minute in a debug build).
#[test]
fn a_thousand_nodes_status_fits_well_under_etcds_limit_and_five_thousand_could_not() {
    const NODES: usize = 200;
    let mut cluster = Cluster::new(NOW);
    cluster.create(&TRAFFIC_CONTROLS, None, tc("t", "Both"), NOW).unwrap();
    let size =
        |cluster: &Cluster| serde_json::to_vec(&cluster.get(target("t", false)).unwrap()).unwrap().len();
    let empty = size(&cluster);
    for n in 0..NODES {
        let node = format!("ip-10-0-{}-{}.us-west-2.compute.internal", n / 250, n % 250);
        let entry = json!({"apiVersion": "crd.antrea.io/v1alpha2", "kind": "TrafficControl", "status": {"nodes": [{
            "node": node, "selectedPods": 110, "targetPort": "tap0", "ofport": 5,
            "conditions": [
                {"type": "Realized", "status": "True", "reason": "Realized", "lastTransitionTime": "2026-12-02T16:08:40Z"},
                {"type": "Conflicted", "status": "False", "reason": "NoConflict", "lastTransitionTime": "2026-12-02T16:08:40Z"}
            ]
        }]}});
        let apply = PatchKind::Apply { manager: format!("tc-agent-{node}") };
        cluster.patch(target("t", true), &apply, &entry, NOW).unwrap();
    }
    let per_node = (size(&cluster) - empty) / NODES;
    let thousand = empty + per_node * 1_000;
    eprintln!("{per_node} bytes per node: 1,000 nodes make {thousand} bytes");
    assert!(thousand < MAX_OBJECT_BYTES / 2, "{thousand} bytes for 1,000 nodes");
    assert!(per_node * 5_000 > MAX_OBJECT_BYTES, "{per_node} bytes per node would fit 5,000 nodes");
}

#[test]
fn a_manifest_creates_each_object_in_its_namespace_and_refuses_kinds_not_served() {
    let mut cluster = Cluster::new(NOW);
    let manifest = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: tc-system}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n";
    cluster.create_manifest(manifest, NOW).expect("created");
    let account = Target {
        resource: &crate::apiserver::resources::SERVICE_ACCOUNTS,
        namespace: Some("tc-system"),
        name: "a",
        status: false,
    };
    assert!(cluster.get(account).is_ok());
    let config = Target {
        resource: &crate::apiserver::resources::CONFIG_MAPS,
        namespace: Some("default"),
        name: "b",
        status: false,
    };
    assert!(cluster.get(config).is_ok());
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n";
    assert_eq!(cluster.create_manifest(secret, NOW).unwrap_err().code(), 400);
}
