//! What a node's switch must converge to: the plan of the cluster as the
//! API server holds it now, against the switch's own ports (and, on a
//! shared bridge, its mirrors). The simulation's convergence invariant
//! compares this with the simulated switch, and says how they differ when
//! they do. On a shared bridge the switch's flows must be exactly the
//! controller's, the agent's mirror rows the planned ones, and every other
//! port and mirror a Pod's or the controller's, as the controller made it.

use std::collections::BTreeSet;

use datapath::flows::Flow;
use datapath::offline::Objects;
use datapath::pass::{SwitchState, pass};
use datapath::plan::{BridgeMode, Plan};
use datapath::ports::{SwitchMirror, SwitchPort};
use datapath::selector::Selector;
use datapath::validate::Validator;

use devcluster::ApiServer;

use super::controller_host::Controller;
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

/// The plan for `node` with the switch's ports (and mirrors: the others'
/// count against OVS's 32) as they are: what the switch must hold once the
/// agent has caught up (the plan of the pass the agent runs, planned from
/// the API server's objects).
pub fn expected_plan(
    node: &str,
    objects: &Objects,
    mode: BridgeMode,
    switch_ports: &[SwitchPort],
    switch_mirrors: &[SwitchMirror],
) -> Plan {
    let switch = SwitchState {
        mode,
        ports: switch_ports.to_vec(),
        mirrors: switch_mirrors.to_vec(),
        ..SwitchState::default()
    };
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
    /// Planned mirror rows the bridge lacks, or holds otherwise.
    pub missing_mirrors: Vec<String>,
    /// The agent's mirror rows that no plan has (or not like this).
    pub unexpected_mirrors: Vec<String>,
    /// Ports that are neither a Pod's, the controller's nor planned.
    pub unexpected_ports: Vec<String>,
    /// The controller's rows that are not as it made them (described).
    pub foreign_rows: Vec<String>,
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
            ("missing mirror", &self.missing_mirrors),
            ("unexpected mirror", &self.unexpected_mirrors),
            ("port nobody planned", &self.unexpected_ports),
            ("the controller's row, changed", &self.foreign_rows),
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
        ..Divergence::default()
    }
}

/// What a shared bridge must hold: the controller's flows and rows as it
/// made them, the planned ports and the planned mirror rows (marked as
/// the agent's), and no other port than a Pod's (the agent's unplanned
/// ports are orphans, as on an owned bridge).
pub fn shared_divergence(
    plan: &Plan,
    controller: &Controller,
    switch_flows: &[Flow],
    switch_ports: &[SwitchPort],
    switch_mirrors: &[SwitchMirror],
) -> Divergence {
    let mut flows = controller.flows();
    flows.extend(plan.flows.iter().cloned());
    let expected = Plan { flows, ..plan.clone() };
    let mut found = divergence(&expected, switch_flows, switch_ports, &BTreeSet::new());
    // A mirror's output port gets no flood: no-flood is not needed.
    found.flooding_ports.clear();
    let planned: BTreeSet<String> = plan.mirrors.values().map(|m| m.describe()).collect();
    let held: BTreeSet<String> =
        switch_mirrors.iter().filter(|m| m.is_agents()).map(SwitchMirror::describe).collect();
    found.missing_mirrors = planned.difference(&held).cloned().collect();
    found.unexpected_mirrors = held.difference(&planned).cloned().collect();
    let foreign: BTreeSet<String> = switch_mirrors
        .iter()
        .filter(|m| !m.is_agents())
        .map(|m| format!("{} external_ids={:?}", m.describe(), m.external_ids))
        .collect();
    let made: BTreeSet<String> = controller
        .mirror_rows()
        .iter()
        .map(|m| format!("{} external_ids={:?}", m.describe(), m.external_ids))
        .collect();
    found.foreign_rows = made.symmetric_difference(&foreign).map(|m| format!("mirror {m}")).collect();
    found.foreign_rows.extend(
        controller
            .ports()
            .into_iter()
            .filter(|name| !switch_ports.iter().any(|p| p.name == *name))
            .map(|name| format!("port {name} is gone")),
    );
    found.unexpected_ports = switch_ports
        .iter()
        .filter(|p| !p.is_pods() && !p.is_agents() && !controller.ports().contains(&p.name.as_str()))
        .map(|p| p.name.clone())
        .collect();
    found
}
