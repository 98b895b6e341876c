//! What a node writes into a TrafficControl's `status.nodes`, and which
//! Events it records, so one object stays well under the API server's
//! limits at any cluster size.
//!
//! Every node applies its entry under a field manager of its own, and the
//! API server keeps one `managedFields` record per manager beside the
//! entry: about 400 bytes per node for the record plus 200 to 300 for the
//! entry, with cloud-style node names. etcd refuses an object over
//! 1.5 MiB, so one entry per node stops fitting near 2,300 nodes, whatever
//! the entry holds (docs/scale.md has the arithmetic). Hence two scopes:
//! up to [`ALL_NODES_UP_TO`] nodes, every node with selected Pods reports;
//! beyond, only nodes with a problem do, and healthy ones withdraw their
//! entry. A node with nothing selected and nothing wrong never writes: a
//! TrafficControl that selects Pods on three nodes lists three nodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CONFLICTED, EventSpec, REALIZED};
use crate::api::NodeStatus;

/// Up to this many nodes in the cluster, healthy nodes report too:
/// 1,000 entries with their managedFields records are about 0.7 MB, under
/// half of etcd's 1.5 MiB.
pub const ALL_NODES_UP_TO: usize = 1_000;

/// Which nodes write an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReportScope {
    /// Every node with selected Pods or a problem.
    AllNodes,
    /// Only nodes with a problem (not realized, or conflicted).
    ProblemsOnly,
}

impl ReportScope {
    /// The scope for a cluster of `nodes` nodes.
    pub fn for_cluster(nodes: usize) -> Self {
        if nodes <= ALL_NODES_UP_TO { ReportScope::AllNodes } else { ReportScope::ProblemsOnly }
    }
}

impl std::fmt::Display for ReportScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReportScope::AllNodes => "all-nodes",
            ReportScope::ProblemsOnly => "problems-only",
        })
    }
}

/// Whether an entry says something is wrong: not realized, or Pods lost
/// to another TrafficControl. `Pending` (a new port waiting for its
/// ofport, milliseconds on a healthy switch) is not: otherwise a new
/// TrafficControl would cost every node of a large cluster a write and a
/// withdrawal. A port stuck there shows in the node's `/status` and in
/// `tc_agent_traffic_controls{state="pending"}`.
pub fn has_problem(status: &NodeStatus) -> bool {
    status.conditions.iter().any(|c| {
        (c.type_ == REALIZED && c.status != "True" && c.reason != PENDING)
            || (c.type_ == CONFLICTED && c.status == "True")
    })
}

/// The reason of a `Realized=False` that is on its way.
const PENDING: &str = "Pending";

/// Whether this node's entry belongs in the API under `scope`.
pub fn is_reported(status: &NodeStatus, scope: ReportScope) -> bool {
    has_problem(status) || (scope == ReportScope::AllNodes && status.selected_pods > 0)
}

/// One write of this node's entry: `Some` applies it, `None` withdraws
/// the entry this node wrote before.
pub type EntryWrite = (String, Option<NodeStatus>);

/// The writes that bring what the API holds from this node (`written`)
/// to what `current` says under `scope`, in name order. TrafficControls
/// that are gone need none: their object went with them.
pub fn entry_writes(
    current: &BTreeMap<String, NodeStatus>,
    written: &BTreeMap<String, NodeStatus>,
    scope: ReportScope,
) -> Vec<EntryWrite> {
    current
        .iter()
        .filter_map(|(name, status)| {
            let wanted = is_reported(status, scope).then_some(status);
            (wanted != written.get(name)).then(|| (name.clone(), wanted.cloned()))
        })
        .collect()
}

/// The Events among `events` (from [`super::events`]) that `scope` keeps:
/// every Warning; a Normal one only where the entry is reported or it
/// tells of a recovery (the condition was there before), so a large
/// cluster does not record one "Realized" Event per node.
pub fn events_in_scope(
    events: Vec<EventSpec>,
    previous: &BTreeMap<String, NodeStatus>,
    current: &BTreeMap<String, NodeStatus>,
    scope: ReportScope,
) -> Vec<EventSpec> {
    events
        .into_iter()
        .filter(|event| {
            let reported = current.get(&event.traffic_control).is_some_and(|s| is_reported(s, scope));
            let recovery = previous.get(&event.traffic_control).is_some_and(has_problem);
            event.kind == "Warning" || reported || recovery
        })
        .collect()
}

#[cfg(test)]
mod tests;
