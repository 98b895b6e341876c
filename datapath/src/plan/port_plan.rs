//! The ports the TrafficControls need. TrafficControls with equal port
//! parameters share one port. A TrafficControl whose port name is already
//! taken (by an older TrafficControl's different port, a Pod's port or the
//! bridge's own port) or that is a piece of the node's own networking
//! (`crate::guard_rails`) fails on this node, and gets no ports at all; so
//! does a Redirect on a shared bridge (it needs the agent's pipeline), and
//! there a Mirror's return port is not created (nothing would use it).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Bridge, BridgeMode, PlannedPort, PortRole};
use crate::api::{Action, TrafficControl};
use crate::guard_rails::{HostNetwork, node_networking_port};
use crate::ports::{OFPP_LOCAL, PortConfig, SwitchPort};

/// The port names of one TrafficControl.
pub(super) struct PortNames {
    pub target: String,
    pub ret: Option<String>,
}

pub(super) struct PortPlan {
    pub ports: BTreeMap<String, PlannedPort>,
    /// By TrafficControl name; every TrafficControl has an entry.
    pub names: HashMap<String, PortNames>,
    /// TrafficControls that cannot have their ports, and why.
    pub failed: BTreeMap<String, String>,
}

/// Why a Redirect fails on a shared bridge.
pub const REDIRECT_ON_SHARED: &str = "Redirect needs the agent's own OpenFlow pipeline, and this bridge's tables belong to the CNI (trafficControl.bridgeMode: shared): use Mirror here, or Redirect on a bridge the agent owns (bridgeMode: owned)";

pub(super) fn plan_ports(
    ordered: &[&TrafficControl],
    switch_ports: &[SwitchPort],
    bridge: &Bridge<'_>,
) -> PortPlan {
    let mode = bridge.mode;
    let on_switch: HashMap<&str, &SwitchPort> = switch_ports.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut plan = PortPlan { ports: BTreeMap::new(), names: HashMap::new(), failed: BTreeMap::new() };
    for tc in ordered {
        let name = tc.metadata.name.clone().unwrap_or_default();
        let mut wanted = vec![(PortConfig::of(&tc.spec.target_port), PortRole::Target)];
        if let Some(ret) = &tc.spec.return_port
            && mode == BridgeMode::Owned
        {
            wanted.push((PortConfig::of(ret.port()), PortRole::Return));
        }
        plan.names.insert(
            name.clone(),
            PortNames { target: wanted[0].0.name.clone(), ret: wanted.get(1).map(|(c, _)| c.name.clone()) },
        );
        let shared_redirect = (mode == BridgeMode::Shared && tc.spec.action == Action::Redirect)
            .then(|| REDIRECT_ON_SHARED.to_owned());
        let refusal = shared_redirect.or_else(|| {
            wanted.iter().find_map(|(config, _)| refusal(config, &plan.ports, &on_switch, bridge.host))
        });
        if let Some(reason) = refusal {
            plan.failed.insert(name, reason);
            continue;
        }
        for (config, role) in wanted {
            let existing = on_switch.get(config.name.as_str());
            let port = plan.ports.entry(config.name.clone()).or_insert_with(|| PlannedPort {
                ofport: existing.and_then(|p| p.usable_ofport()),
                error: existing.and_then(|p| p.error.clone()),
                adopted: existing.is_some_and(|p| !p.is_agents()),
                external_ids: PortConfig::external_ids(),
                config,
                roles: BTreeSet::new(),
                users: BTreeSet::new(),
            });
            port.roles.insert(role);
            port.users.insert(name.clone());
        }
    }
    plan
}

/// Why `config` cannot be had, if it cannot.
fn refusal(
    config: &PortConfig,
    planned: &BTreeMap<String, PlannedPort>,
    on_switch: &HashMap<&str, &SwitchPort>,
    host: &HostNetwork,
) -> Option<String> {
    if let Some(reason) = host.port_refusal(config) {
        return Some(reason);
    }
    if let Some(other) = planned.get(&config.name)
        && other.config != *config
    {
        let owner = other.users.iter().next().map(String::as_str).unwrap_or_default();
        return Some(format!(
            "port {} is already used with different settings ({} port) by tc/{owner}",
            config.name,
            other.config.interface_type.name()
        ));
    }
    let existing = on_switch.get(config.name.as_str())?;
    if let Some(claim) = existing.pod_claim() {
        let pod = claim
            .pod
            .map_or_else(|| format!("with UID {}", claim.uid.unwrap_or_default()), |p| p.to_string());
        return Some(format!("port {} is the port of Pod {pod} ({})", config.name, claim.cni));
    }
    if existing.is_pods() {
        return Some(format!("port {} carries a Pod's keys", config.name));
    }
    if existing.ofport == Some(OFPP_LOCAL) {
        return Some(format!("port {} is the bridge's own port", config.name));
    }
    node_networking_port(existing)
}
