//! The planned TrafficControl ports against the switch's ports, as what to
//! create, reconfigure and delete ([`crate::pass`] orders them).
//!
//! Only ports the agent created (marked in `external_ids`) are ever
//! reconfigured or deleted; an adopted port (a device someone else
//! attached) and every Pod port are left alone. Deletion is returned
//! separately because it must wait until the flows that use a port are
//! gone (OVS may give its ofport to the next port).

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::PlannedPort;
use crate::ports::{PortConfig, SwitchPort};

/// What to do to the switch's ports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortChanges {
    /// Planned ports the switch lacks.
    pub create: Vec<PortConfig>,
    /// Ports of the agent whose type or options differ from the plan.
    pub reconfigure: Vec<PortConfig>,
    /// Ports of the agent the plan no longer needs; delete them only once
    /// the flows that use them are gone.
    pub delete_after_flows: Vec<String>,
}

impl PortChanges {
    /// Whether the switch's ports already are the plan's.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.reconfigure.is_empty() && self.delete_after_flows.is_empty()
    }
}

/// Compares the plan's ports with the switch's.
pub fn diff(planned: &BTreeMap<String, PlannedPort>, observed: &[SwitchPort]) -> PortChanges {
    let on_switch: BTreeMap<&str, &SwitchPort> = observed.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut changes = PortChanges::default();
    for (name, port) in planned {
        let Some(existing) = on_switch.get(name.as_str()) else {
            if !port.adopted {
                changes.create.push(port.config.clone());
            }
            continue;
        };
        let differs = existing.interface_type != port.config.interface_type.ovsdb_type()
            || existing.options != port.config.options;
        if existing.is_agents() && differs {
            changes.reconfigure.push(port.config.clone());
        }
    }
    changes.delete_after_flows = observed
        .iter()
        .filter(|p| p.is_agents() && !p.is_pods() && !planned.contains_key(&p.name))
        .map(|p| p.name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{NamedPort, Port, UdpTunnel};
    use crate::cni::keys::antrea;
    use crate::plan::PortRole;

    fn planned(port: &Port, users: &[&str]) -> (String, PlannedPort) {
        let config = PortConfig::of(port);
        (
            config.name.clone(),
            PlannedPort {
                external_ids: PortConfig::external_ids(),
                roles: BTreeSet::from([PortRole::Target]),
                users: users.iter().map(|u| u.to_string()).collect(),
                ofport: None,
                error: None,
                adopted: false,
                config,
            },
        )
    }

    fn ours(config: &PortConfig) -> SwitchPort {
        SwitchPort {
            name: config.name.clone(),
            ofport: Some(5),
            external_ids: PortConfig::external_ids(),
            interface_type: config.interface_type.ovsdb_type().to_owned(),
            options: config.options.clone(),
            ..SwitchPort::default()
        }
    }

    fn vxlan(vni: u32) -> Port {
        Port::Vxlan(UdpTunnel {
            remote_ip: "10.0.10.2".parse().unwrap(),
            destination_port: None,
            vni: Some(vni),
        })
    }

    fn internal(name: &str) -> Port {
        Port::OvsInternal(NamedPort { name: name.into() })
    }

    #[test]
    fn missing_ports_are_created_and_present_ones_left_alone() {
        let plan = BTreeMap::from([planned(&internal("tap0"), &["a"]), planned(&vxlan(1), &["b"])]);
        let existing = ours(&PortConfig::of(&internal("tap0")));
        let changes = diff(&plan, &[existing]);
        assert_eq!(changes.create, vec![PortConfig::of(&vxlan(1))]);
        assert!(changes.reconfigure.is_empty() && changes.delete_after_flows.is_empty());
    }

    #[test]
    fn a_port_with_other_options_is_reconfigured() {
        let plan = BTreeMap::from([planned(&internal("tap0"), &["a"])]);
        let mut existing = ours(&PortConfig::of(&internal("tap0")));
        existing.interface_type = String::new();
        assert_eq!(diff(&plan, &[existing]).reconfigure, vec![PortConfig::of(&internal("tap0"))]);
    }

    #[test]
    fn only_the_agents_unplanned_ports_are_deleted_and_only_after_flows() {
        let mut foreign = ours(&PortConfig::of(&internal("eth9")));
        foreign.external_ids.clear();
        let mut pod = ours(&PortConfig::of(&internal("web-1-abc")));
        pod.external_ids.insert(antrea::POD_NAME.into(), "web-1".into());
        pod.external_ids.insert(antrea::POD_NAMESPACE.into(), "default".into());
        let stale = ours(&PortConfig::of(&vxlan(7)));
        let changes = diff(&BTreeMap::new(), &[foreign, pod, stale.clone()]);
        assert_eq!(changes.delete_after_flows, vec![stale.name]);
    }

    #[test]
    fn adopted_ports_are_never_created_or_reconfigured() {
        let (name, mut port) = planned(&Port::Device(NamedPort { name: "eno2".into() }), &["a"]);
        port.adopted = true;
        let plan = BTreeMap::from([(name, port)]);
        assert!(diff(&plan, &[]).is_empty());
        let mut attached = ours(&PortConfig::of(&Port::Device(NamedPort { name: "eno2".into() })));
        attached.external_ids.clear();
        attached.options.insert("odd".into(), "1".into());
        assert!(diff(&plan, &[attached]).is_empty());
    }
}
