//! Reviewed plans, kept as insta snapshots under the top-level
//! `snapshots/plan/`: the seed's examples, every target port kind × action
//! × direction, shared ports, conflicts and selector edge cases.

use datapath::plan::BridgeMode;
use std::path::{Path, PathBuf};

use datapath::manifest::parse_documents;
use datapath::offline::{Objects, plan_offline};
use datapath::validate::Validator;

const NODE: &str = "node-1";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots/plan");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Objects from fixture files (relative to `fixtures/`) and inline YAML.
fn objects(files: &[&str], inline: &str) -> Objects {
    let validator = Validator::new();
    let mut objects = Objects::default();
    let mut texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(fixtures().join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    texts.push(inline.to_owned());
    for text in texts {
        objects.add_documents(&validator, parse_documents(&text).unwrap());
    }
    for report in &objects.traffic_controls {
        assert!(report.is_valid(), "fixture is invalid: {report}");
    }
    objects
}

const CLUSTER: [&str; 2] = ["cluster/namespaces.yaml", "cluster/pods.yaml"];

fn plan_text(files: &[&str], inline: &str) -> String {
    let mut all: Vec<&str> = CLUSTER.to_vec();
    all.extend_from_slice(files);
    plan_offline(NODE, &objects(&all, inline), BridgeMode::Owned).render()
}

#[test]
fn seed_mirror_web_app() {
    snapshot("seed-mirror-web-app", &plan_text(&["seed/mirror-web-app.yaml"], ""));
}

#[test]
fn seed_mirror_all_to_remote() {
    snapshot("seed-mirror-all-to-remote", &plan_text(&["seed/mirror-all-to-remote.yaml"], ""));
}

#[test]
fn seed_redirect_prod_to_local() {
    snapshot("seed-redirect-prod-to-local", &plan_text(&["seed/redirect-prod-to-local.yaml"], ""));
}

#[test]
fn seed_all_three_together_conflict_by_name() {
    let files =
        ["seed/mirror-all-to-remote.yaml", "seed/mirror-web-app.yaml", "seed/redirect-prod-to-local.yaml"];
    snapshot("seed-all-three", &plan_text(&files, ""));
}

const TARGETS: [(&str, &str); 6] = [
    ("ovs-internal", "ovsInternal: {name: tap0}"),
    ("device", "device: {name: eno2}"),
    ("geneve", "geneve: {remoteIP: 10.0.10.2, destinationPort: 6081, vni: 1}"),
    ("vxlan", "vxlan: {remoteIP: 10.0.10.2, destinationPort: 4789, vni: 1}"),
    ("gre", "gre: {remoteIP: 10.0.10.2, key: 1}"),
    ("erspan", "erspan: {remoteIP: 10.0.10.2, sessionID: 1, version: 2, dir: 0, hardwareID: 4}"),
];

/// One snapshot per target kind, each with every action × direction, on
/// the web Pods of the cluster fixture.
#[test]
fn matrix_of_target_kind_action_and_direction() {
    for (kind, target) in TARGETS {
        let mut text = String::new();
        for action in ["Mirror", "Redirect"] {
            for direction in ["Ingress", "Egress", "Both"] {
                let ret =
                    if action == "Redirect" { "  returnPort: {ovsInternal: {name: tap9}}\n" } else { "" };
                let tc = format!(
                    "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: t}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {{app: web}}}}}}\n  direction: {direction}\n  action: {action}\n  targetPort: {{{target}}}\n{ret}"
                );
                text.push_str(&format!("######## {action} {direction}\n"));
                text.push_str(&specific_lines(&plan_text(&[], &tc)));
            }
        }
        snapshot(&format!("matrix-{kind}"), &text);
    }
}

/// A plan without what every plan of the cluster fixture shares (the
/// pipeline's own flows and the effective map), to keep what differs
/// between matrix cells reviewable; the seed snapshots pin the rest.
fn specific_lines(plan: &str) -> String {
    let pipeline_cookie = format!("cookie={:#x},", datapath::flows::Cookie::pipeline().0);
    let mut section = "";
    let mut out = String::new();
    for line in plan.lines() {
        if line.starts_with("# ") {
            section = line;
        }
        if section == "# effective" || line.starts_with(&pipeline_cookie) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn shared_ports() {
    // Equal parameters (defaults spelled out or not) share one port; the
    // return port of one is the target of nothing else.
    let tcs = r#"
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata: {name: web-to-collector, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  appliedTo: {podSelector: {matchLabels: {app: web}}, namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: default}}}
  direction: Ingress
  action: Mirror
  targetPort: {vxlan: {remoteIP: 10.0.10.2}}
---
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata: {name: db-to-collector, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  appliedTo: {podSelector: {matchLabels: {app: db}}}
  direction: Egress
  action: Mirror
  targetPort: {vxlan: {remoteIP: 10.0.10.2, destinationPort: 4789, vni: 0}}
---
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata: {name: prod-web-ips, creationTimestamp: "2026-01-03T00:00:00Z"}
spec:
  appliedTo: {podSelector: {matchLabels: {tier: front}}}
  direction: Both
  action: Redirect
  targetPort: {ovsInternal: {name: tap0}}
  returnPort: {ovsInternal: {name: tap1}}
---
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata: {name: client-ips, creationTimestamp: "2026-01-04T00:00:00Z"}
spec:
  appliedTo: {podSelector: {matchLabels: {app: client}}}
  direction: Egress
  action: Redirect
  targetPort: {ovsInternal: {name: tap0}}
  returnPort: {ovsInternal: {name: tap1}}
"#;
    snapshot("shared-ports", &plan_text(&[], tcs));
}

#[test]
fn conflicts_resolved_by_age() {
    // The youngest by name would win without timestamps; age decides.
    let tcs = r#"
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata: {name: a-young, creationTimestamp: "2026-03-01T00:00:00Z"}
spec:
  appliedTo: {podSelector: {}}
  direction: Both
  action: Mirror
  targetPort: {gre: {remoteIP: 10.0.10.2}}
---
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata: {name: z-old, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  appliedTo: {namespaceSelector: {matchLabels: {env: production}}}
  direction: Egress
  action: Redirect
  targetPort: {ovsInternal: {name: tap0}}
  returnPort: {ovsInternal: {name: tap1}}
---
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata: {name: port-clash, creationTimestamp: "2026-02-01T00:00:00Z"}
spec:
  appliedTo: {podSelector: {matchLabels: {app: client}}}
  direction: Both
  action: Mirror
  targetPort: {device: {name: tap0}}
"#;
    snapshot("conflicts", &plan_text(&[], tcs));
}

#[test]
fn selector_edge_cases() {
    // Each case is planned alone, so the list is exactly what its selector
    // picks on node-1 (never web-3 on node-2, never the host-network Pod).
    let cases = [
        ("01-absent-both", "{}"),
        (
            "02-not-in-matches-pods-without-the-key",
            "{podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [front]}]}}",
        ),
        ("03-does-not-exist", "{podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}"),
        ("04-exists", "{podSelector: {matchExpressions: [{key: tier, operator: Exists}]}}"),
        (
            "05-in-several-values",
            "{podSelector: {matchExpressions: [{key: app, operator: In, values: [db, client]}]}}",
        ),
        (
            "06-labels-and-expressions",
            "{podSelector: {matchLabels: {app: web}, matchExpressions: [{key: tier, operator: In, values: [front]}]}}",
        ),
        ("07-namespace-by-label", "{namespaceSelector: {matchLabels: {env: production}}}"),
        ("08-empty-namespace-selector", "{namespaceSelector: {}}"),
        (
            "09-pod-and-namespace",
            "{podSelector: {matchLabels: {app: web}}, namespaceSelector: {matchExpressions: [{key: env, operator: DoesNotExist}]}}",
        ),
        ("10-matches-nothing", "{podSelector: {matchLabels: {app: nothing}}}"),
    ];
    let mut text = String::new();
    for (name, applied) in cases {
        let tc = format!(
            "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: {name}}}\nspec:\n  appliedTo: {applied}\n  direction: Both\n  action: Mirror\n  targetPort: {{ovsInternal: {{name: t{}}}}}\n",
            &name[..2]
        );
        let plan = plan_offline(NODE, &objects(&CLUSTER, &tc), BridgeMode::Owned);
        let pods: Vec<String> = plan.effective.keys().map(ToString::to_string).collect();
        text.push_str(&format!(
            "{name}: {}\n",
            if pods.is_empty() { "(none)".to_owned() } else { pods.join(" ") }
        ));
    }
    snapshot("selector-edge-cases", &text);
}

/// An ovs-cni style bridge with access VLANs 10 and 20 and a trunk: the
/// seed's `mirror-web-app` and a Redirect, so the review sees the VLAN
/// register, the tags copies and redirected packets leave with, and how
/// a return port gives a packet back to its VLAN.
#[test]
fn vlans() {
    use datapath::pass::{SwitchState, pass};
    let redirect = r#"
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata: {name: client-ips}
spec:
  appliedTo: {podSelector: {matchLabels: {app: client}}}
  direction: Both
  action: Redirect
  targetPort: {device: {name: fw-tgt}}
  returnPort: {device: {name: fw-ret}}
"#;
    let objects = objects(&[CLUSTER[0], CLUSTER[1], "seed/mirror-web-app.yaml"], redirect);
    let mut ports = datapath::offline::pod_ports(NODE, &objects.pods);
    for port in &mut ports {
        match port.external_ids.get("pod-name").map(String::as_str) {
            Some("web-1" | "client") => port.tag = Some(10),
            Some("web-2" | "web-prod") => port.tag = Some(20),
            Some("db") => port.trunks = vec![10, 20],
            _ => {}
        }
    }
    let mut text =
        String::from("# ports: web-1, client in VLAN 10; web-2, web-prod in VLAN 20; db a trunk\n");
    let switch = SwitchState { mode: BridgeMode::Owned, ports, ..SwitchState::default() };
    text.push_str(&pass(&objects.cluster(NODE), &switch).plan.render());
    snapshot("vlans", &text);
}
