//! Plans for real-switch tests, made from the fixtures the way `tcctl
//! plan` makes them.

use datapath::plan::BridgeMode;
use std::path::Path;

use datapath::manifest::parse_documents;
use datapath::offline::{Objects, plan_offline};
use datapath::plan::Plan;
use datapath::validate::Validator;

/// The plan for `node-1` of fixture files (relative to `fixtures/`) plus
/// inline YAML documents.
pub fn plan_of(files: &[&str], inline: &str) -> Plan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let validator = Validator::new();
    let mut objects = Objects::default();
    let mut texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    texts.push(inline.to_owned());
    for text in texts {
        objects.add_documents(&validator, parse_documents(&text).expect("fixture YAML"));
    }
    for report in &objects.traffic_controls {
        assert!(report.is_valid(), "{report}");
    }
    plan_offline("node-1", &objects, BridgeMode::Owned)
}

/// Every flow shape the planner makes: the three seed examples, a Redirect
/// on the egress side, on the cluster fixture.
pub fn every_shape() -> Plan {
    let redirect = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: ips, creationTimestamp: '2020-01-01T00:00:00Z'}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: db}}}\n  direction: Egress\n  action: Redirect\n  targetPort: {ovsInternal: {name: fw-in}}\n  returnPort: {ovsInternal: {name: fw-out}}\n";
    plan_of(
        &[
            "cluster/namespaces.yaml",
            "cluster/pods.yaml",
            "seed/mirror-web-app.yaml",
            "seed/mirror-all-to-remote.yaml",
            "seed/redirect-prod-to-local.yaml",
        ],
        redirect,
    )
}

/// Valid TrafficControls from YAML documents.
pub fn traffic_controls(yaml: &str) -> Vec<datapath::api::TrafficControl> {
    let validator = Validator::new();
    parse_documents(yaml)
        .expect("YAML")
        .iter()
        .map(|doc| validator.validate(doc).traffic_control.unwrap_or_else(|| panic!("invalid: {doc}")))
        .collect()
}

/// A TrafficControl mirroring every Pod to `target` (a YAML flow mapping).
pub fn mirror_to(name: &str, target: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: {name}}}\nspec:\n  appliedTo: {{podSelector: {{}}}}\n  direction: Both\n  action: Mirror\n  targetPort: {{{target}}}\n---\n"
    )
}
