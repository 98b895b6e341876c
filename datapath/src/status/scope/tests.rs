use std::collections::BTreeMap;

use super::*;
use crate::api::{Condition, NodeStatus};
use crate::status::MESSAGE_LIMIT;

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: Some("2026-12-02T16:08:40Z".to_owned()),
    }
}

fn entry(node: &str, pods: u32, realized: bool, conflicted: bool) -> NodeStatus {
    let realized = if realized {
        condition(REALIZED, "True", "Realized", "")
    } else {
        condition(REALIZED, "False", "PortFailed", "port tap0: could not open network device tap0")
    };
    let conflict = if conflicted {
        condition(
            CONFLICTED,
            "True",
            "PodsControlledElsewhere",
            "1 selected Pods are controlled by an older TrafficControl: default/web-1 (controlled by tc/a)",
        )
    } else {
        condition(CONFLICTED, "False", "NoConflict", "")
    };
    NodeStatus {
        node: node.to_owned(),
        selected_pods: pods,
        target_port: Some("tap0".to_owned()),
        ofport: Some(5),
        conditions: vec![realized, conflict],
    }
}

fn statuses(entries: &[(&str, NodeStatus)]) -> BTreeMap<String, NodeStatus> {
    entries.iter().map(|(name, status)| ((*name).to_owned(), status.clone())).collect()
}

#[test]
fn healthy_nodes_report_up_to_a_thousand_nodes_and_only_problems_beyond() {
    assert_eq!(ReportScope::for_cluster(0), ReportScope::AllNodes);
    assert_eq!(ReportScope::for_cluster(ALL_NODES_UP_TO), ReportScope::AllNodes);
    assert_eq!(ReportScope::for_cluster(ALL_NODES_UP_TO + 1), ReportScope::ProblemsOnly);
    assert_eq!(ReportScope::for_cluster(5_000), ReportScope::ProblemsOnly);
}

#[test]
fn a_node_reports_where_it_has_pods_or_a_problem_and_nothing_twice() {
    let current = statuses(&[
        ("busy", entry("n1", 3, true, false)),
        ("idle", entry("n1", 0, true, false)),
        ("broken", entry("n1", 0, false, false)),
        ("conflicted", entry("n1", 0, true, true)),
    ]);
    let writes = entry_writes(&current, &BTreeMap::new(), ReportScope::AllNodes);
    let names: Vec<&str> = writes.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["broken", "busy", "conflicted"], "an idle healthy node has nothing to say");
    assert!(writes.iter().all(|(_, entry)| entry.is_some()));

    let written: BTreeMap<String, NodeStatus> =
        writes.into_iter().filter_map(|(name, entry)| Some((name, entry?))).collect();
    assert!(
        entry_writes(&current, &written, ReportScope::AllNodes).is_empty(),
        "a steady state writes nothing"
    );
}

#[test]
fn a_pending_port_is_on_its_way_not_a_problem() {
    let mut pending = entry("n1", 0, false, false);
    pending.conditions[0] = condition(REALIZED, "False", "Pending", "waiting for port tap0 to get an ofport");
    assert!(!has_problem(&pending));
    let current = statuses(&[("new", pending)]);
    assert!(entry_writes(&current, &BTreeMap::new(), ReportScope::ProblemsOnly).is_empty());
    assert!(entry_writes(&current, &BTreeMap::new(), ReportScope::AllNodes).is_empty(), "idle");
}

#[test]
fn past_the_threshold_healthy_entries_are_withdrawn_and_problems_stay() {
    let current =
        statuses(&[("busy", entry("n1", 3, true, false)), ("broken", entry("n1", 2, false, false))]);
    let written = current.clone();
    let writes = entry_writes(&current, &written, ReportScope::ProblemsOnly);
    assert_eq!(writes, [("busy".to_owned(), None)], "only the healthy entry goes");

    // A healthy node that breaks reports again, and withdraws on recovery.
    let broken = statuses(&[("busy", entry("n1", 3, false, false))]);
    assert_eq!(
        entry_writes(&broken, &BTreeMap::new(), ReportScope::ProblemsOnly),
        [("busy".to_owned(), Some(broken["busy"].clone()))]
    );
    let healed = statuses(&[("busy", entry("n1", 3, true, false))]);
    assert_eq!(entry_writes(&healed, &broken, ReportScope::ProblemsOnly), [("busy".to_owned(), None)]);
}

fn event(tc: &str, kind: &'static str, reason: &str) -> EventSpec {
    EventSpec { traffic_control: tc.to_owned(), kind, reason: reason.to_owned(), message: String::new() }
}

#[test]
fn a_large_cluster_records_warnings_and_recoveries_not_one_realized_event_per_node() {
    let current = statuses(&[("new", entry("n1", 3, true, false)), ("healed", entry("n1", 3, true, false))]);
    let previous = statuses(&[("healed", entry("n1", 3, false, false))]);
    let events = vec![event("new", "Normal", "Realized"), event("healed", "Normal", "Realized")];
    let kept = events_in_scope(events.clone(), &previous, &current, ReportScope::ProblemsOnly);
    assert_eq!(kept, [event("healed", "Normal", "Realized")]);
    assert_eq!(events_in_scope(events.clone(), &previous, &current, ReportScope::AllNodes), events);

    let idle = statuses(&[("new", entry("n1", 0, true, false))]);
    let only_warnings = vec![event("new", "Normal", "Realized"), event("new", "Warning", "PortFailed")];
    let kept = events_in_scope(only_warnings, &BTreeMap::new(), &idle, ReportScope::AllNodes);
    assert_eq!(kept, [event("new", "Warning", "PortFailed")], "an idle node records only what is wrong");
}

/// The largest entry a node can write: every name at Kubernetes' limits
/// and both messages at [`MESSAGE_LIMIT`]. With it, a thousand healthy
/// entries and any number of problem entries have a known size.
#[test]
fn an_entry_has_a_bound_whatever_the_names_and_messages() {
    let long = "x".repeat(MESSAGE_LIMIT);
    let mut worst = entry(&"n".repeat(253), u32::MAX, false, true);
    worst.target_port = Some("p".repeat(255));
    worst.ofport = Some(u32::MAX);
    for condition in &mut worst.conditions {
        condition.message = long.clone();
    }
    let size = serde_json::to_vec(&worst).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    assert!(size <= 1_400, "the largest entry is {size} bytes");

    let healthy = entry("ip-192-168-123-45.us-west-2.compute.internal", 110, true, false);
    let size = serde_json::to_vec(&healthy).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    assert!(size <= 330, "a healthy entry with a cloud node name is {size} bytes");
}
