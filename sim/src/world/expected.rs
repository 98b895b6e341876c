//! What a node's switch must converge to: the plan of the cluster as the
//! API server holds it now, against the switch's own ports. The
//! simulation's convergence invariant compares this with the simulated
//! switch, and says how they differ when they do.

use std::collections::BTreeSet;

use datapath::flows::Flow;
use datapath::offline::Objects;
use datapath::pass::{SwitchState, pass};
use datapath::plan::{BridgeMode, Plan};
use datapath::ports::SwitchPort;
use datapath::selector::Selector;
use datapath::validate::Validator;

use devcluster::ApiServer;
use devcluster::apiserver::resources::{NAMESPACES, PODS, TRAFFIC_CONTROLS};
use devcluster::apiserver::selectors::FieldSelector;

/// The Namespaces, Pods and TrafficControls the API server holds.
pub fn cluster_objects(api: &ApiServer) -> Objects {
    let validator = Validator::new();
    let mut objects = Objects::default();
    for resource in [&NAMESPACES, &PODS, &TRAFFIC_CONTROLS] {
        let (items, _) = api.with_state(|state, _| {
            state.cluster.list(resource, None, &Selector::default(), &FieldSelector::default())
        });
        objects.add_documents(&validator, items);
    }
    objects
}

/// The plan for `node` with the switch's ports as they are: the flows the
/// switch must hold once the agent has caught up (the plan of the pass the
/// agent runs, planned from the API server's objects).
pub fn expected_plan(node: &str, objects: &Objects, switch_ports: &[SwitchPort]) -> Plan {
    let switch =
        SwitchState { mode: BridgeMode::Owned, ports: switch_ports.to_vec(), ..SwitchState::default() };
    pass(&objects.cluster(node), &switch).plan
}

/// How a switch differs from its plan; empty when converged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Divergence {
    /// Planned flows the switch lacks (dump text).
    pub missing_flows: Vec<String>,
    /// Switch flows the plan does not have.
    pub unexpected_flows: Vec<String>,
    /// Planned ports that are not on the bridge with an ofport or an error.
    pub missing_ports: Vec<String>,
    /// The agent's ports on the bridge that no TrafficControl plans.
    pub orphan_ports: Vec<String>,
    /// Planned TrafficControl ports the switch still floods into.
    pub flooding_ports: Vec<String>,
}

impl Divergence {
    /// Whether the switch holds exactly the plan.
    pub fn is_empty(&self) -> bool {
        *self == Divergence::default()
    }
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (what, items) in [
            ("missing flow", &self.missing_flows),
            ("unexpected flow", &self.unexpected_flows),
            ("missing port", &self.missing_ports),
            ("orphan port", &self.orphan_ports),
            ("TrafficControl port that floods", &self.flooding_ports),
        ] {
            for item in items {
                writeln!(f, "{what}: {item}")?;
            }
        }
        Ok(())
    }
}

/// Compares the switch (its flows, the bridge's ports, and which ofports
/// it keeps out of floods) with `plan`.
pub fn divergence(
    plan: &Plan,
    switch_flows: &[Flow],
    switch_ports: &[SwitchPort],
    no_flood: &BTreeSet<u32>,
) -> Divergence {
    let planned: BTreeSet<String> = plan.flows.iter().map(ToString::to_string).collect();
    let held: BTreeSet<String> = switch_flows.iter().map(ToString::to_string).collect();
    Divergence {
        missing_flows: planned.difference(&held).cloned().collect(),
        unexpected_flows: held.difference(&planned).cloned().collect(),
        missing_ports: plan
            .ports
            .keys()
            .filter(|name| {
                !switch_ports
                    .iter()
                    .any(|p| &p.name == *name && (p.usable_ofport().is_some() || p.error.is_some()))
            })
            .cloned()
            .collect(),
        orphan_ports: switch_ports
            .iter()
            .filter(|p| p.is_agents() && !plan.ports.contains_key(&p.name))
            .map(|p| p.name.clone())
            .collect(),
        // A TrafficControl port that floods gets broadcasts of Pods nobody
        // selected (ovs-vswitchd forgets no-flood when it restarts).
        flooding_ports: switch_ports
            .iter()
            .filter(|p| plan.ports.contains_key(&p.name))
            .filter(|p| p.usable_ofport().is_some_and(|ofport| !no_flood.contains(&ofport)))
            .map(|p| p.name.clone())
            .collect(),
    }
}
