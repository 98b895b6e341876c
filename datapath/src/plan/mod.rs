//! The planner: a pure function from what the agent knows (TrafficControls,
//! Namespaces, the Pods on this node, the switch's ports) to what should be
//! (the TrafficControl ports, the effective TrafficControl of each Pod, the
//! conflicts, and the flows).
//!
//! Steps, each in its own module:
//! - `order`: TrafficControls in precedence order (oldest, then name);
//! - `port_plan`: the ports they need, shared when equal, refused when a
//!   name is taken by something else;
//! - `selection`: which Pods each selects, and which one wins a Pod;
//! - `pod_ports`: which bridge ports are which Pod's, per the CNI's keys;
//! - `pipeline`: the flows, only for ports that have an ofport.
//!
//! Same input, same output: every collection that reaches the output is
//! ordered.

mod mirrors;
mod order;
mod pipeline;
mod pod_ports;
mod port_plan;
mod render;
mod selection;
#[cfg(test)]
mod tests;
mod vlans;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use crate::api::TrafficControl;
use crate::cluster::{NamespaceInfo, PodInfo, PodRef, PodSet};
use crate::flows::Flow;
use crate::guard_rails::HostNetwork;
use crate::ports::{PortConfig, SwitchPort};

pub use mirrors::mirror_name;
pub use order::precedence;
pub use port_plan::REDIRECT_ON_SHARED;

/// What the agent knows of Kubernetes: everything the planner reads
/// besides the switch. Owned, and cheap to clone (the lists are shared),
/// so the agent keeps one and hands it to every pass.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// This node's name: only its Pods matter.
    pub node: String,
    /// Valid TrafficControls (see [`crate::validate`]); any order.
    pub traffic_controls: Arc<[TrafficControl]>,
    /// Namespaces; Pods whose Namespace is missing get one with only the
    /// `kubernetes.io/metadata.name` label, as the API server would.
    pub namespaces: Arc<[NamespaceInfo]>,
    /// Pods; any node, any order.
    pub pods: Arc<[PodInfo]>,
}

impl Cluster {
    /// The cluster of `node` as these lists describe it.
    pub fn new(
        node: impl Into<String>,
        traffic_controls: impl Into<Arc<[TrafficControl]>>,
        namespaces: impl Into<Arc<[NamespaceInfo]>>,
        pods: impl Into<Arc<[PodInfo]>>,
    ) -> Self {
        Cluster {
            node: node.into(),
            traffic_controls: traffic_controls.into(),
            namespaces: namespaces.into(),
            pods: pods.into(),
        }
    }
}

/// How the agent realizes TrafficControls on a bridge.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BridgeMode {
    /// No other controller programs the bridge: the agent's own OpenFlow
    /// pipeline (Mirror and Redirect).
    Owned,
    /// A CNI's controller owns the bridge's OpenFlow tables: the agent
    /// writes no flow, realizes Mirror with OVS `Mirror` rows, and refuses
    /// Redirect. The default: it cannot damage a CNI's pipeline.
    #[default]
    Shared,
}

impl BridgeMode {
    /// `owned` or `shared`, as the configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            BridgeMode::Owned => "owned",
            BridgeMode::Shared => "shared",
        }
    }
}

/// What the planner needs to know of the bridge besides its ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bridge<'a> {
    /// How TrafficControls are realized on it.
    pub mode: BridgeMode,
    /// `Mirror` rows on it that are not the agent's (OVS allows
    /// [`MAX_MIRRORS`] per bridge, theirs and ours together).
    pub foreign_mirrors: usize,
    /// The node's networking around the bridge, which no TrafficControl
    /// port may take (`crate::guard_rails`).
    pub host: &'a HostNetwork,
}

/// The networking of a node the planner knows nothing about.
static UNKNOWN_HOST: HostNetwork = HostNetwork::EMPTY;

impl Bridge<'static> {
    /// An owned bridge on a node whose networking is not known.
    pub const OWNED: Bridge<'static> = Bridge::owned_by(BridgeMode::Owned);
    /// A shared bridge with no other mirrors, on such a node.
    pub const SHARED: Bridge<'static> = Bridge::owned_by(BridgeMode::Shared);

    const fn owned_by(mode: BridgeMode) -> Bridge<'static> {
        Bridge { mode, foreign_mirrors: 0, host: &UNKNOWN_HOST }
    }
}

/// How many `Mirror` rows OVS allows on one bridge (`MAX_MIRRORS`).
pub const MAX_MIRRORS: usize = 32;

/// An OVS `Mirror` row the plan wants on a shared bridge: what the
/// TrafficControls with one target port select.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedMirror {
    /// The row's name (`tc-<target port>`).
    pub name: String,
    /// The target port.
    pub output_port: String,
    /// Ports whose received packets are copied (Egress).
    pub select_src_port: BTreeSet<String>,
    /// Ports whose sent packets are copied (Ingress).
    pub select_dst_port: BTreeSet<String>,
    /// The TrafficControls it realizes.
    pub users: BTreeSet<String>,
}

impl PlannedMirror {
    /// One line for people, as `/status` and `tcctl status` compare it.
    pub fn describe(&self) -> String {
        crate::ports::describe_mirror(
            &self.name,
            &self.output_port,
            &self.select_src_port,
            &self.select_dst_port,
        )
    }
}

/// What should be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// TrafficControl ports by name.
    pub ports: BTreeMap<String, PlannedPort>,
    /// Per TrafficControl: its ports, its Pods and how far it got.
    pub traffic_controls: BTreeMap<String, TrafficControlPlan>,
    /// Each selected Pod on this node and the TrafficControl that controls it.
    pub effective: BTreeMap<PodRef, String>,
    /// The TrafficControls' names in precedence order (oldest first).
    pub precedence: Vec<String>,
    /// The flows, in dump order (none on a shared bridge).
    pub flows: Vec<Flow>,
    /// The `Mirror` rows, by name (on a shared bridge only).
    pub mirrors: BTreeMap<String, PlannedMirror>,
    /// Ports with a Pod's keys that the agent cannot match to a Pod, and
    /// why (keys that contradict each other, a port of an earlier Pod of
    /// the same name, two ports for one interface).
    pub port_problems: Vec<String>,
}

impl Plan {
    /// Pods selected by more than one TrafficControl, by Pod, with the
    /// losers in precedence order. Derived on demand: with many
    /// overlapping selectors there are far more (Pod, loser) pairs than
    /// Pods, and most plans are only diffed, never reported in full.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut losers: BTreeMap<&PodRef, Vec<String>> = BTreeMap::new();
        for name in &self.precedence {
            if let Some(tc) = self.traffic_controls.get(name) {
                for pod in tc.lost_pods.iter() {
                    losers.entry(pod).or_default().push(name.clone());
                }
            }
        }
        losers
            .into_iter()
            .filter_map(|(pod, losers)| {
                let winner = self.effective.get(pod)?.clone();
                Some(Conflict { pod: pod.clone(), winner, losers })
            })
            .collect()
    }
}

impl Serialize for Plan {
    /// The plan with its conflicts, as `tcctl plan --format json` prints it.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut plan = serializer.serialize_struct("Plan", 7)?;
        plan.serialize_field("ports", &self.ports)?;
        plan.serialize_field("trafficControls", &self.traffic_controls)?;
        plan.serialize_field("effective", &self.effective)?;
        plan.serialize_field("conflicts", &self.conflicts())?;
        plan.serialize_field("flows", &self.flows)?;
        if !self.mirrors.is_empty() {
            plan.serialize_field("mirrors", &self.mirrors)?;
        }
        if !self.port_problems.is_empty() {
            plan.serialize_field("portProblems", &self.port_problems)?;
        }
        plan.end()
    }
}

/// A port the plan needs on the bridge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedPort {
    /// Name, type and options.
    pub config: PortConfig,
    /// The `external_ids` that mark the port as the agent's.
    pub external_ids: BTreeMap<String, String>,
    /// What the port is for.
    pub roles: BTreeSet<PortRole>,
    /// The TrafficControls that use it.
    pub users: BTreeSet<String>,
    /// Its ofport, when the switch has it (or, in a pass, the one the pass
    /// asks OVS for when it creates the port).
    pub ofport: Option<u32>,
    /// Why OVS could not set it up (`Interface.error`), when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The port exists but the agent did not create it (a device someone
    /// attached): the agent uses it and never modifies or deletes it.
    pub adopted: bool,
}

/// What a TrafficControl port is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PortRole {
    /// Traffic goes out through it.
    Target,
    /// Redirected traffic comes back through it.
    Return,
}

/// How far a TrafficControl got on this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason")]
pub enum Progress {
    /// Its flows are in the plan for every Pod it controls that has a port.
    Realized,
    /// It waits for a port to get an ofport.
    Pending(String),
    /// It cannot be realized on this node.
    Failed(String),
    /// OVS could not set up one of its ports (the reason names the port).
    PortFailed(String),
}

impl Progress {
    /// `Realized`, `Pending` or `Failed` (a port failure is a failure):
    /// what `/status` and the metrics count.
    pub fn state(&self) -> &'static str {
        match self {
            Progress::Realized => "Realized",
            Progress::Pending(_) => "Pending",
            Progress::Failed(_) | Progress::PortFailed(_) => "Failed",
        }
    }

    /// Why it is not realized (empty when it is).
    pub fn reason(&self) -> &str {
        match self {
            Progress::Realized => "",
            Progress::Pending(why) | Progress::Failed(why) | Progress::PortFailed(why) => why,
        }
    }
}

/// The plan of one TrafficControl.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficControlPlan {
    /// The target port's name.
    pub target_port: String,
    /// The return port's name.
    pub return_port: Option<String>,
    /// The Pods it controls on this node.
    pub pods: PodSet,
    /// Of those, the Pods whose port the switch does not have yet.
    pub pods_without_port: PodSet,
    /// Pods it selects that an older TrafficControl controls.
    pub lost_pods: PodSet,
    /// How far it got.
    pub progress: Progress,
}

/// A Pod selected by several TrafficControls.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The Pod.
    pub pod: PodRef,
    /// The TrafficControl that controls it.
    pub winner: String,
    /// The others that select it, in precedence order.
    pub losers: Vec<String>,
}

/// The TrafficControl ports `cluster` needs on a switch with
/// `switch_ports`: the first step of [`plan`], alone, for a pass that must
/// know which ports it will create before it plans the flows.
pub fn planned_ports(
    cluster: &Cluster,
    switch_ports: &[SwitchPort],
    bridge: &Bridge,
) -> BTreeMap<String, PlannedPort> {
    let ordered = order::precedence(&cluster.traffic_controls);
    port_plan::plan_ports(&ordered, switch_ports, bridge).ports
}

/// Plans everything for `cluster` on `bridge` with `switch_ports`; see
/// the module documentation.
pub fn plan(cluster: &Cluster, switch_ports: &[SwitchPort], bridge: &Bridge) -> Plan {
    let ordered = order::precedence(&cluster.traffic_controls);
    let mut ports = port_plan::plan_ports(&ordered, switch_ports, bridge);
    let selection = selection::select(cluster, &ordered, &ports.failed);
    let pod_ports = pod_ports::pod_ports(cluster, switch_ports);
    let universe_ports: Vec<&[pod_ports::PodPort]> =
        selection.universe.iter().map(|p| pod_ports.by_pod.get(p).map_or(&[][..], Vec::as_slice)).collect();
    let nobody = || PodSet::empty(selection.universe.clone());
    let mut outcomes: BTreeMap<String, pipeline::Outcome> = BTreeMap::new();
    let mut flows = Vec::new();
    let mut mirrors = BTreeMap::new();
    match bridge.mode {
        BridgeMode::Owned => {
            flows = pipeline::static_flows();
            let vlans = vlans::has_vlans(switch_ports).then(|| vlans::access_vlans(&pod_ports.forwarding));
            flows.extend(pipeline::pod_forwarding_flows(&pod_ports.forwarding, vlans.as_ref()));
            flows.extend(pipeline::port_flows(&ports.ports, vlans.as_ref()));
            flows.extend(vlans.iter().flat_map(vlans::output_flows));
            for tc in &ordered {
                let name = tc.metadata.name.clone().unwrap_or_default();
                let pods = selection.won.get(&name).cloned().unwrap_or_else(nobody);
                let mut outcome = match ports.failed.get(&name) {
                    Some(reason) => pipeline::Outcome::failed(reason, nobody()),
                    None => pipeline::traffic_control_flows(
                        tc,
                        &ports.names[&name],
                        &pods,
                        &ports.ports,
                        &universe_ports,
                    ),
                };
                flows.append(&mut outcome.flows);
                outcomes.insert(name, outcome);
            }
            flows.sort_unstable();
        }
        BridgeMode::Shared => {
            let planned =
                mirrors::mirrors(&ordered, &ports, &selection, &universe_ports, bridge.foreign_mirrors);
            mirrors = planned.mirrors;
            outcomes = planned.outcomes;
            mirrors::keep_reserved_ports(&mut ports.ports, &mirrors);
        }
    }
    let mut traffic_controls = BTreeMap::new();
    for tc in &ordered {
        let name = tc.metadata.name.clone().unwrap_or_default();
        let names = &ports.names[&name];
        let pods = selection.won.get(&name).cloned().unwrap_or_else(nobody);
        let lost_pods = selection.lost.get(&name).cloned().unwrap_or_else(nobody);
        let outcome =
            outcomes.remove(&name).unwrap_or_else(|| pipeline::Outcome::failed("not planned", nobody()));
        traffic_controls.insert(
            name,
            TrafficControlPlan {
                target_port: names.target.clone(),
                return_port: names.ret.clone(),
                pods,
                pods_without_port: outcome.pods_without_port,
                lost_pods,
                progress: outcome.progress,
            },
        );
    }
    let precedence = ordered.iter().map(|tc| tc.metadata.name.clone().unwrap_or_default()).collect();
    Plan {
        ports: ports.ports,
        traffic_controls,
        effective: selection.effective,
        precedence,
        flows,
        mirrors,
        port_problems: pod_ports.problems,
    }
}
