//! The flows of the plan: the pipeline's fixed flows, forwarding for every
//! Pod port, classification of TrafficControl ports, and the flows of each
//! TrafficControl. A flow is only made for ports that have an ofport.

use std::collections::{BTreeMap, BTreeSet};

use super::{PlannedPort, PortRole, Progress};
use crate::api::{Action as TcAction, TrafficControl};
use crate::cluster::PodSet;
use crate::flows::{
    ACTION_MIRROR, ACTION_REDIRECT, Action, Cookie, FROM_POD, FROM_TC_RETURN, Flow, Match, OUTPUT_FOUND,
    OUTPUT_PORT, PACKET_SOURCE, TC_ACTION, TC_TARGET, Table, VLAN_ID,
};
use crate::selector::Bitset;

use super::pod_ports::PodPort;
use super::port_plan::PortNames;
use super::vlans::{self, PortVlan};

/// Priorities, per table.
mod priority {
    pub const RETURN_PORT: u16 = 200;
    pub const TARGET_PORT: u16 = 200;
    pub const POD_PORT: u16 = 190;
    pub const POD_MAC: u16 = 200;
    pub const SKIP_RETURNED: u16 = 300;
    // Redirect outranks Mirror when a packet's sender and receiver are
    // controlled by different TrafficControls: enforcement before
    // observation, so a mirror can never let a packet bypass an IPS.
    pub const REDIRECT_EGRESS: u16 = 210;
    pub const REDIRECT_INGRESS: u16 = 200;
    pub const MIRROR_EGRESS: u16 = 110;
    pub const MIRROR_INGRESS: u16 = 100;
    pub const OUTPUT_CONTROLLED: u16 = 300;
    pub const OUTPUT_FOUND: u16 = 200;
    pub const DEFAULT: u16 = 0;
}

fn goto(table: Table) -> Action {
    Action::GotoTable(table)
}

/// The flows every bridge has, whatever the TrafficControls.
pub(super) fn static_flows() -> Vec<Flow> {
    let pipeline =
        |table, priority, matches, actions| Flow::new(Cookie::pipeline(), table, priority, matches, actions);
    let output_port = Action::OutputReg(OUTPUT_PORT);
    let output_target = Action::OutputReg(TC_TARGET);
    vec![
        pipeline(Table::Classifier, priority::DEFAULT, vec![], vec![goto(Table::L2ForwardingCalc)]),
        pipeline(Table::L2ForwardingCalc, priority::DEFAULT, vec![], vec![goto(Table::TrafficControl)]),
        pipeline(
            Table::TrafficControl,
            priority::SKIP_RETURNED,
            vec![Match::Reg(PACKET_SOURCE, FROM_TC_RETURN)],
            vec![goto(Table::Output)],
        ),
        pipeline(Table::TrafficControl, priority::DEFAULT, vec![], vec![goto(Table::Output)]),
        pipeline(
            Table::Output,
            priority::OUTPUT_CONTROLLED,
            vec![Match::Reg(TC_ACTION, ACTION_MIRROR), Match::Reg(OUTPUT_FOUND, 1)],
            vec![output_port, output_target],
        ),
        // A mirrored packet without a known local destination (broadcast,
        // unknown unicast, off-node) is copied once, then switched; target
        // ports are no-flood, so NORMAL never copies it a second time.
        pipeline(
            Table::Output,
            priority::OUTPUT_CONTROLLED,
            vec![Match::Reg(TC_ACTION, ACTION_MIRROR), Match::Reg(OUTPUT_FOUND, 0)],
            vec![output_target, Action::Normal],
        ),
        pipeline(
            Table::Output,
            priority::OUTPUT_CONTROLLED,
            vec![Match::Reg(TC_ACTION, ACTION_REDIRECT)],
            vec![output_target],
        ),
        pipeline(Table::Output, priority::OUTPUT_FOUND, vec![Match::Reg(OUTPUT_FOUND, 1)], vec![output_port]),
        pipeline(Table::Output, priority::DEFAULT, vec![], vec![Action::Normal]),
    ]
}

/// Classifier and L2 forwarding flows for every Pod port. A MAC claimed by
/// two ports is forwarded to the first (by Pod, then port) only. On a
/// bridge with VLANs (`vlans` holds the Pods' access VLANs), a packet
/// carries its VLAN in reg8 and finds a destination in that VLAN only
/// (see [`vlans`]).
pub(super) fn pod_forwarding_flows(pod_ports: &[PodPort], vlans: Option<&BTreeSet<u16>>) -> Vec<Flow> {
    let mut flows = Vec::with_capacity(pod_ports.len() * 2);
    let mut macs = BTreeSet::new();
    let from_pod = [Action::SetField(PACKET_SOURCE, FROM_POD)];
    for port in pod_ports {
        let destination = match vlans {
            None => {
                flows.push(Flow::new(
                    Cookie::pipeline(),
                    Table::Classifier,
                    priority::POD_PORT,
                    vec![Match::InPort(port.ofport)],
                    vec![from_pod[0], goto(Table::L2ForwardingCalc)],
                ));
                Some((None, vec![]))
            }
            Some(access_vlans) => {
                let cookie = Cookie::pipeline();
                flows.extend(vlans::classify(
                    cookie,
                    port.ofport,
                    &port.vlan,
                    access_vlans,
                    priority::POD_PORT,
                    &from_pod,
                ));
                let vlan = port.vlan.delivers_untagged();
                vlan.map(|vlan| (Some(vlan), vec![Match::Reg(VLAN_ID, u32::from(vlan))]))
            }
        };
        if let (Some((vlan, mut matches)), Some(mac)) = (destination, port.mac)
            && macs.insert((vlan, mac))
        {
            matches.push(Match::DlDst(mac));
            flows.push(Flow::new(
                Cookie::pipeline(),
                Table::L2ForwardingCalc,
                priority::POD_MAC,
                matches,
                vec![
                    Action::SetField(OUTPUT_PORT, port.ofport),
                    Action::SetField(OUTPUT_FOUND, 1),
                    goto(Table::TrafficControl),
                ],
            ));
        }
    }
    flows
}

/// Classifier flows for TrafficControl ports: what comes back through a
/// return port is forwarded (and not controlled again); nothing may enter
/// through a port that is only a target. On a bridge with VLANs a return
/// port's packets are classified by their tag (see [`vlans`]).
pub(super) fn port_flows(ports: &BTreeMap<String, PlannedPort>, vlans: Option<&BTreeSet<u16>>) -> Vec<Flow> {
    let mut flows = Vec::new();
    for port in ports.values() {
        let Some(ofport) = port.ofport else { continue };
        let returned = [Action::SetField(PACKET_SOURCE, FROM_TC_RETURN)];
        match (port.roles.contains(&PortRole::Return), vlans) {
            (false, _) => flows.push(Flow::new(
                Cookie::port(),
                Table::Classifier,
                priority::TARGET_PORT,
                vec![Match::InPort(ofport)],
                vec![Action::Drop],
            )),
            (true, None) => flows.push(Flow::new(
                Cookie::port(),
                Table::Classifier,
                priority::RETURN_PORT,
                vec![Match::InPort(ofport)],
                vec![returned[0], goto(Table::L2ForwardingCalc)],
            )),
            (true, Some(access_vlans)) => flows.extend(vlans::classify(
                Cookie::port(),
                ofport,
                &PortVlan::none(),
                access_vlans,
                priority::RETURN_PORT,
                &returned,
            )),
        }
    }
    flows
}

/// What planning one TrafficControl's flows gave.
pub(super) struct Outcome {
    pub flows: Vec<Flow>,
    pub pods_without_port: PodSet,
    pub progress: Progress,
}

impl Outcome {
    /// No flows, because of `progress`; `nobody` is the empty Pod set.
    fn without_flows(progress: Progress, nobody: PodSet) -> Self {
        Outcome { flows: Vec::new(), pods_without_port: nobody, progress }
    }

    pub fn failed(reason: &str, nobody: PodSet) -> Self {
        Self::without_flows(Progress::Failed(reason.to_owned()), nobody)
    }

    fn pending(reason: String, nobody: PodSet) -> Self {
        Self::without_flows(Progress::Pending(reason), nobody)
    }
}

/// The TrafficControl table's flows for the Pods `tc` controls;
/// `pod_ports` holds the ports of each Pod of the plan's Pod list, by index.
pub(super) fn traffic_control_flows(
    tc: &TrafficControl,
    names: &PortNames,
    pods: &PodSet,
    ports: &BTreeMap<String, PlannedPort>,
    pod_ports: &[&[PodPort]],
) -> Outcome {
    let nobody = || pods.none();
    let failure = std::iter::once(&names.target)
        .chain(&names.ret)
        .find_map(|name| Some((name, ports.get(name)?.error.as_ref()?)));
    if let Some((name, error)) = failure {
        return Outcome::without_flows(Progress::PortFailed(format!("port {name}: {error}")), nobody());
    }
    let ofport_of = |name: &str| ports.get(name).and_then(|p| p.ofport);
    let Some(target) = ofport_of(&names.target) else {
        return Outcome::pending(format!("waiting for port {} to get an ofport", names.target), nobody());
    };
    let (action, egress_priority, ingress_priority) = match tc.spec.action {
        TcAction::Mirror => (ACTION_MIRROR, priority::MIRROR_EGRESS, priority::MIRROR_INGRESS),
        TcAction::Redirect => (ACTION_REDIRECT, priority::REDIRECT_EGRESS, priority::REDIRECT_INGRESS),
    };
    if tc.spec.action == TcAction::Redirect
        && let Some(ret) = &names.ret
        && ofport_of(ret).is_none()
    {
        return Outcome::pending(format!("waiting for return port {ret} to get an ofport"), nobody());
    }

    let cookie = Cookie::traffic_control(tc.metadata.name.as_deref().unwrap_or_default());
    let actions =
        vec![Action::SetField(TC_TARGET, target), Action::SetField(TC_ACTION, action), goto(Table::Output)];
    let direction = tc.spec.direction;
    let mut flows = Vec::with_capacity(pods.len() * 2);
    let mut without_port = Bitset::empty(pod_ports.len());
    for (index, _) in pods.indexed() {
        let ports = pod_ports.get(index).copied().unwrap_or_default();
        if ports.is_empty() {
            without_port.insert(index);
        }
        for port in ports {
            if direction.covers_egress() {
                let matches = vec![Match::InPort(port.ofport)];
                flows.push(Flow::new(
                    cookie,
                    Table::TrafficControl,
                    egress_priority,
                    matches,
                    actions.clone(),
                ));
            }
            if direction.covers_ingress() {
                let matches = vec![Match::Reg(OUTPUT_PORT, port.ofport)];
                flows.push(Flow::new(
                    cookie,
                    Table::TrafficControl,
                    ingress_priority,
                    matches,
                    actions.clone(),
                ));
            }
        }
    }
    Outcome { flows, pods_without_port: pods.with_members(without_port), progress: Progress::Realized }
}
