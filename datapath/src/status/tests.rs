use super::*;
use crate::manifest::parse_documents;
use crate::offline::{Objects, plan_offline};
use crate::plan::BridgeMode;
use crate::validate::Validator;

fn seed_plan() -> Plan {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let validator = Validator::new();
    let mut objects = Objects::default();
    for file in [
        "seed/mirror-all-to-remote.yaml",
        "seed/mirror-web-app.yaml",
        "seed/redirect-prod-to-local.yaml",
        "cluster/pods.yaml",
        "cluster/namespaces.yaml",
    ] {
        objects.add_documents(
            &validator,
            parse_documents(&std::fs::read_to_string(root.join(file)).unwrap()).unwrap(),
        );
    }
    plan_offline("node-1", &objects, BridgeMode::Owned)
}

fn condition<'a>(status: &'a NodeStatus, kind: &str) -> &'a Condition {
    status.conditions.iter().find(|c| c.type_ == kind).unwrap()
}

#[test]
fn each_traffic_control_reports_its_pods_port_and_conditions() {
    let statuses = node_statuses("node-1", &seed_plan(), &BTreeMap::new(), "t0");
    let all = &statuses["mirror-all-to-remote"];
    assert_eq!(
        (all.selected_pods, all.target_port.as_deref(), all.ofport),
        (5, Some("geneve-99a006"), Some(6))
    );
    assert_eq!(condition(all, REALIZED).status, "True");
    assert_eq!(condition(all, CONFLICTED).status, "False");
    let web = &statuses["mirror-web-app"];
    assert_eq!(web.selected_pods, 0);
    let conflicted = condition(web, CONFLICTED);
    assert_eq!(conflicted.status, "True");
    assert_eq!(
        conflicted.message,
        "3 selected Pods are controlled by an older TrafficControl: default/web-1 (controlled by tc/mirror-all-to-remote), default/web-2 (controlled by tc/mirror-all-to-remote), prod/web-prod (controlled by tc/mirror-all-to-remote)"
    );
    assert_eq!(conflicted.last_transition_time.as_deref(), Some("t0"));
}

#[test]
fn events_come_on_changes_only_and_transition_times_are_kept() {
    let plan = seed_plan();
    let first = node_statuses("node-1", &plan, &BTreeMap::new(), "t0");
    let initial = events(&BTreeMap::new(), &first);
    let summary: Vec<(&str, &str, &str)> =
        initial.iter().map(|e| (e.traffic_control.as_str(), e.kind, e.reason.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("mirror-all-to-remote", "Normal", "Realized"),
            ("mirror-web-app", "Normal", "Realized"),
            ("mirror-web-app", "Warning", "PodsControlledElsewhere"),
            ("redirect-prod-to-local", "Normal", "Realized"),
            ("redirect-prod-to-local", "Warning", "PodsControlledElsewhere"),
        ]
    );
    let second = node_statuses("node-1", &plan, &first, "t1");
    assert!(events(&first, &second).is_empty(), "a steady state records nothing");
    assert_eq!(condition(&second["mirror-web-app"], CONFLICTED).last_transition_time.as_deref(), Some("t0"));
}

#[test]
fn a_port_failure_is_reported_for_its_traffic_control_only_with_one_warning() {
    let plan = seed_plan();
    let first = node_statuses("node-1", &plan, &BTreeMap::new(), "t0");
    let mut failed = plan.clone();
    if let Some(tc) = failed.traffic_controls.get_mut("redirect-prod-to-local") {
        tc.progress = Progress::PortFailed("port tap0: could not open network device tap0".to_owned());
    }
    let second = node_statuses("node-1", &failed, &first, "t1");
    let failed = condition(&second["redirect-prod-to-local"], REALIZED);
    assert_eq!((failed.status.as_str(), failed.reason.as_str()), ("False", "PortFailed"));
    let news = events(&first, &second);
    assert_eq!(news.len(), 1);
    assert_eq!(
        (news[0].kind, news[0].message.as_str()),
        ("Warning", "node-1: port tap0: could not open network device tap0")
    );
}

#[test]
fn a_port_without_an_ofport_is_pending() {
    let mut plan = seed_plan();
    for port in plan.ports.values_mut() {
        port.ofport = None;
    }
    plan.traffic_controls
        .values_mut()
        .for_each(|tc| tc.progress = Progress::Pending("waiting for port tap0 to get an ofport".into()));
    let statuses = node_statuses("node-1", &plan, &BTreeMap::new(), "t0");
    let pending = condition(&statuses["redirect-prod-to-local"], REALIZED);
    assert_eq!((pending.status.as_str(), pending.reason.as_str()), ("False", "Pending"));
    assert_eq!(statuses["redirect-prod-to-local"].ofport, None);
}

#[test]
fn an_invalid_traffic_control_is_reported_not_realized_with_the_reason() {
    let invalid: BTreeMap<String, String> =
        [("bad".to_owned(), "tc/bad: spec.returnPort: Redirect needs a return port".to_owned())].into();
    let first = invalid_statuses("node-1", &invalid, &BTreeMap::new(), "2026-11-25T10:00:00Z");
    let realized = condition(&first["bad"], REALIZED);
    assert_eq!((realized.status.as_str(), realized.reason.as_str()), ("False", "Invalid"));
    assert!(realized.message.contains("Redirect needs a return port"));
    assert_eq!(first["bad"].selected_pods, 0);
    let events = events(&BTreeMap::new(), &first);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].kind, events[0].reason.as_str()), ("Warning", "Invalid"));
    // Unchanged later: same transition time, no new Event.
    let later = invalid_statuses("node-1", &invalid, &first, "2026-11-25T10:05:00Z");
    assert_eq!(later, first);
    assert!(super::events(&first, &later).is_empty());
}

#[test]
fn a_long_message_is_cut_on_a_character_boundary() {
    let mut plan = seed_plan();
    let failure = format!("port tap0: {}", "é".repeat(400));
    if let Some(tc) = plan.traffic_controls.get_mut("redirect-prod-to-local") {
        tc.progress = Progress::PortFailed(failure);
    }
    let statuses = node_statuses("node-1", &plan, &BTreeMap::new(), "t0");
    let message = &condition(&statuses["redirect-prod-to-local"], REALIZED).message;
    assert!(message.len() <= MESSAGE_LIMIT, "{} bytes", message.len());
    assert!(message.starts_with("port tap0: é") && message.ends_with('…'), "{message}");
}

#[test]
fn a_realized_entry_carries_its_counts_in_fields_not_in_its_message() {
    let statuses = node_statuses("node-1", &seed_plan(), &BTreeMap::new(), "t0");
    let all = &statuses["mirror-all-to-remote"];
    assert_eq!((all.node.as_str(), all.selected_pods), ("node-1", 5));
    assert_eq!(condition(all, REALIZED).message, "");
}
