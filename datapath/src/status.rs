//! What a node reports about each TrafficControl: its entry in `status`
//! (selected Pods, target port and ofport, a `Realized` and a `Conflicted`
//! condition) and the Events to record, only when a condition changes, so
//! a steady state writes nothing.
//!
//! Time is a parameter (`now`, RFC 3339): this module reads no clock.
//!
//! The agent's `/status` document is [`AgentStatus`] ([`document`]).

mod document;
mod scope;

pub use document::{AgentStatus, FeatureGate, FlowStatus, SwitchFlows, TrafficControlStatus, mirror_status};
pub use scope::{
    ALL_NODES_UP_TO, EntryWrite, ReportScope, entry_writes, events_in_scope, has_problem, is_reported,
};

use std::collections::BTreeMap;

use crate::api::{Condition, NodeStatus};
use crate::plan::{Plan, Progress};

/// The `Realized` condition type.
pub const REALIZED: &str = "Realized";
/// The `Conflicted` condition type.
pub const CONFLICTED: &str = "Conflicted";
/// How many Pods a conflict message names before "and N more".
const NAMED_PODS: usize = 3;
/// The longest condition message, in bytes: with it an entry has a
/// bound (docs/scale.md), whatever an OVS error or a Pod name holds. The
/// whole text goes to the agent's log.
pub const MESSAGE_LIMIT: usize = 256;

/// An Event to record on a TrafficControl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// The TrafficControl.
    pub traffic_control: String,
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    /// CamelCase reason.
    pub reason: String,
    /// For a person.
    pub message: String,
}

/// This node's status entry for every TrafficControl of the plan;
/// `previous` keeps transition times of unchanged conditions.
pub fn node_statuses(
    node: &str,
    plan: &Plan,
    previous: &BTreeMap<String, NodeStatus>,
    now: &str,
) -> BTreeMap<String, NodeStatus> {
    plan.traffic_controls
        .iter()
        .map(|(name, tc)| {
            let (status, reason, message) = match &tc.progress {
                Progress::PortFailed(failure) => ("False", "PortFailed", failure.clone()),
                Progress::Failed(reason) => ("False", "Failed", reason.clone()),
                Progress::Pending(reason) => ("False", "Pending", reason.clone()),
                Progress::Realized if !tc.pods_without_port.is_empty() => (
                    "True",
                    "Realized",
                    format!("{} Pods have no port on the switch yet", tc.pods_without_port.len()),
                ),
                // The counts and the node are the entry's own fields.
                Progress::Realized => ("True", "Realized", String::new()),
            };
            let lost: Vec<String> = tc
                .lost_pods
                .iter()
                .map(|pod| {
                    format!(
                        "{pod} (controlled by tc/{})",
                        plan.effective.get(pod).map(String::as_str).unwrap_or("?")
                    )
                })
                .collect();
            let conflict = if lost.is_empty() {
                ("False", "NoConflict", String::new())
            } else {
                let more = lost.len().saturating_sub(NAMED_PODS);
                let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
                let names = lost[..lost.len().min(NAMED_PODS)].join(", ");
                (
                    "True",
                    "PodsControlledElsewhere",
                    format!(
                        "{} selected Pods are controlled by an older TrafficControl: {names}{tail}",
                        lost.len()
                    ),
                )
            };
            let before = previous.get(name);
            let conditions = vec![
                condition(REALIZED, (status, reason, message), before, now),
                condition(CONFLICTED, conflict, before, now),
            ];
            let ofport = plan.ports.get(&tc.target_port).and_then(|p| p.ofport);
            let status = NodeStatus {
                node: node.to_owned(),
                selected_pods: u32::try_from(tc.pods.len()).unwrap_or(u32::MAX),
                target_port: Some(tc.target_port.clone()),
                ofport,
                conditions,
            };
            (name.clone(), status)
        })
        .collect()
}

/// This node's status entry for each TrafficControl the validator refused
/// (`invalid`: name → why): not realized, reason `Invalid`.
pub fn invalid_statuses(
    node: &str,
    invalid: &BTreeMap<String, String>,
    previous: &BTreeMap<String, NodeStatus>,
    now: &str,
) -> BTreeMap<String, NodeStatus> {
    invalid
        .iter()
        .map(|(name, why)| {
            let realized = condition(REALIZED, ("False", "Invalid", why.clone()), previous.get(name), now);
            let status =
                NodeStatus { node: node.to_owned(), conditions: vec![realized], ..NodeStatus::default() };
            (name.clone(), status)
        })
        .collect()
}

fn condition(
    kind: &str,
    (status, reason, message): (&str, &str, String),
    before: Option<&NodeStatus>,
    now: &str,
) -> Condition {
    let previous = before.and_then(|b| b.conditions.iter().find(|c| c.type_ == kind));
    let unchanged = previous.is_some_and(|p| p.status == status && p.reason == reason);
    let since = match previous {
        Some(p) if unchanged => p.last_transition_time.clone(),
        _ => Some(now.to_owned()),
    };
    Condition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: bounded(message),
        last_transition_time: since,
    }
}

/// `message` cut to [`MESSAGE_LIMIT`] bytes on a character boundary, with
/// an ellipsis when cut.
fn bounded(mut message: String) -> String {
    const ELLIPSIS: &str = "…";
    if message.len() <= MESSAGE_LIMIT {
        return message;
    }
    let mut end = MESSAGE_LIMIT - ELLIPSIS.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str(ELLIPSIS);
    message
}

/// The Events for conditions that changed (status or reason) since
/// `previous`; nothing when all is as before.
pub fn events(
    previous: &BTreeMap<String, NodeStatus>,
    current: &BTreeMap<String, NodeStatus>,
) -> Vec<EventSpec> {
    let mut out = Vec::new();
    for (name, status) in current {
        for condition in &status.conditions {
            let before =
                previous.get(name).and_then(|b| b.conditions.iter().find(|c| c.type_ == condition.type_));
            if before.is_some_and(|b| b.status == condition.status && b.reason == condition.reason) {
                continue;
            }
            let first_clean =
                before.is_none() && condition.type_ == CONFLICTED && condition.status == "False";
            if first_clean {
                continue; // no news: it never conflicted
            }
            let kind = match (condition.type_.as_str(), condition.status.as_str()) {
                (REALIZED, "True") | (CONFLICTED, "False") => "Normal",
                _ => "Warning",
            };
            let message = if condition.message.is_empty() {
                format!("{} on {}", condition.reason, status.node)
            } else {
                format!("{}: {}", status.node, condition.message)
            };
            out.push(EventSpec {
                traffic_control: name.clone(),
                kind,
                reason: condition.reason.clone(),
                message,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
