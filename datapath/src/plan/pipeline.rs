//! The flows of the plan: the pipeline's fixed flows, forwarding for every
//! Pod port, classification of TrafficControl ports, and the flows of each
//! TrafficControl. A flow is only made for ports that have an ofport.

use std::collections::{BTreeMap, BTreeSet};

use super::{PlannedPort, PortRole, Progress};
use crate::api::{Action as TcAction, TrafficControl};
use crate::cluster::PodSet;
use crate::flows::{
    ACTION_MIRROR, ACTION_REDIRECT, Action, Cookie, FROM_POD, FROM_TC_RETURN, Flow, Match, OUTPUT_FOUND,
    OUTPUT_PORT, PACKET_SOURCE, TC_ACTION, TC_TARGET, Table, VLAN_ID, VLAN_OF_TRUNK, VlanMatch,
};
use crate::selector::Bitset;

use super::pod_ports::{PodPort, PortVlan};
use super::port_plan::PortNames;

/// Priorities, per table.
mod priority {
    pub const RETURN_PORT: u16 = 200;
    pub const RETURN_PORT_VLAN: u16 = 210;
    pub const RETURN_PORT_TAGGED: u16 = 205;
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
    pub const OUTPUT_CONTROLLED_IN_VLAN: u16 = 310;
    // Below OUTPUT_FOUND: a returned packet that found its Pod is output
    // there; only the others are NORMAL's.
    pub const OUTPUT_RETURNED_IN_VLAN: u16 = 100;
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
/// bridge with VLANs (`vlans`), a packet carries its sender's access VLAN
/// (reg8) and finds a destination in that VLAN only; a trunk port's
/// packets and destinations are left to NORMAL, which reads their tags.
pub(super) fn pod_forwarding_flows(pod_ports: &[PodPort], vlans: bool) -> Vec<Flow> {
    let mut flows = Vec::with_capacity(pod_ports.len() * 2);
    let mut macs = BTreeSet::new();
    for port in pod_ports {
        let mut classify = vec![Action::SetField(PACKET_SOURCE, FROM_POD)];
        let vlan = match port.vlan {
            PortVlan::Untagged => Some(0),
            PortVlan::Access(tag) => Some(u32::from(tag)),
            PortVlan::Trunk => None,
        };
        if vlans {
            classify.push(Action::SetField(VLAN_ID, vlan.unwrap_or(VLAN_OF_TRUNK)));
        }
        classify.push(goto(Table::L2ForwardingCalc));
        flows.push(Flow::new(
            Cookie::pipeline(),
            Table::Classifier,
            priority::POD_PORT,
            vec![Match::InPort(port.ofport)],
            classify,
        ));
        let destination = match (vlans, vlan) {
            (false, _) => Some(vec![]),
            (true, Some(vlan)) => Some(vec![Match::Reg(VLAN_ID, vlan)]),
            (true, None) => None,
        };
        if let (Some(mut matches), Some(mac)) = (destination, port.mac)
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

/// The access VLANs of the Pod ports of a bridge with VLANs (VLAN 0 is
/// no VLAN): the values [`VLAN_ID`] can hold besides 0 and
/// [`VLAN_OF_TRUNK`].
pub(super) fn access_vlans(pod_ports: &[PodPort]) -> BTreeSet<u16> {
    pod_ports
        .iter()
        .filter_map(|port| match port.vlan {
            PortVlan::Access(tag) if tag != 0 => Some(tag),
            _ => None,
        })
        .collect()
}

/// Classifier flows for TrafficControl ports: what comes back through a
/// return port is forwarded (and not controlled again); nothing may enter
/// through a port that is only a target.
///
/// On a bridge with VLANs (`vlans` holds its access VLANs) a packet left
/// for the target tagged with its VLAN (see [`vlan_output_flows`]) and
/// comes back tagged: the tag, which the switch put there on the way out,
/// says which VLAN it is forwarded in, never its addresses (a Pod can
/// forge those). An access VLAN's tag is popped (its Pods' ports are
/// access ports); any other tag stays, for NORMAL to read.
pub(super) fn port_flows(ports: &BTreeMap<String, PlannedPort>, vlans: Option<&BTreeSet<u16>>) -> Vec<Flow> {
    let mut flows = Vec::new();
    for port in ports.values() {
        let Some(ofport) = port.ofport else { continue };
        if !port.roles.contains(&PortRole::Return) {
            flows.push(Flow::new(
                Cookie::port(),
                Table::Classifier,
                priority::TARGET_PORT,
                vec![Match::InPort(ofport)],
                vec![Action::Drop],
            ));
            continue;
        }
        let returned = Action::SetField(PACKET_SOURCE, FROM_TC_RETURN);
        flows.push(Flow::new(
            Cookie::port(),
            Table::Classifier,
            priority::RETURN_PORT,
            vec![Match::InPort(ofport)],
            vec![returned, goto(Table::L2ForwardingCalc)],
        ));
        let Some(vlans) = vlans else { continue };
        for &vlan in vlans {
            flows.push(Flow::new(
                Cookie::port(),
                Table::Classifier,
                priority::RETURN_PORT_VLAN,
                vec![Match::InPort(ofport), Match::Vlan(VlanMatch::Id(vlan))],
                vec![
                    returned,
                    Action::SetField(VLAN_ID, u32::from(vlan)),
                    Action::PopVlan,
                    goto(Table::L2ForwardingCalc),
                ],
            ));
        }
        flows.push(Flow::new(
            Cookie::port(),
            Table::Classifier,
            priority::RETURN_PORT_TAGGED,
            vec![Match::InPort(ofport), Match::Vlan(VlanMatch::Tagged)],
            vec![returned, Action::SetField(VLAN_ID, VLAN_OF_TRUNK), goto(Table::L2ForwardingCalc)],
        ));
    }
    flows
}

/// Output flows of a bridge with VLANs, for each access VLAN: a copy or a
/// redirected packet leaves for the target tagged with its VLAN, as OVS's
/// own port mirroring tags what it sends to a trunk (so an IDS sees which
/// VLAN a packet was in, and a return port can give it back to the right
/// one); a packet from a return port that found no Pod goes to NORMAL
/// tagged again, so NORMAL floods it in its VLAN only. Packets of trunk
/// ports carry their own tags and take the flows of [`static_flows`].
pub(super) fn vlan_output_flows(vlans: &BTreeSet<u16>) -> Vec<Flow> {
    let pipeline =
        |priority, matches, actions| Flow::new(Cookie::pipeline(), Table::Output, priority, matches, actions);
    let mut flows = Vec::with_capacity(vlans.len() * 4);
    for &vlan in vlans {
        let in_vlan = Match::Reg(VLAN_ID, u32::from(vlan));
        let tag = [Action::PushVlan, Action::SetVlanVid(vlan)];
        let to_target = |before: &[Action], after: &[Action]| {
            [before, &tag, &[Action::OutputReg(TC_TARGET)], after].concat()
        };
        let mirror = Match::Reg(TC_ACTION, ACTION_MIRROR);
        flows.push(pipeline(
            priority::OUTPUT_CONTROLLED_IN_VLAN,
            vec![mirror, Match::Reg(OUTPUT_FOUND, 1), in_vlan],
            to_target(&[Action::OutputReg(OUTPUT_PORT)], &[]),
        ));
        flows.push(pipeline(
            priority::OUTPUT_CONTROLLED_IN_VLAN,
            vec![mirror, Match::Reg(OUTPUT_FOUND, 0), in_vlan],
            to_target(&[], &[Action::PopVlan, Action::Normal]),
        ));
        flows.push(pipeline(
            priority::OUTPUT_CONTROLLED_IN_VLAN,
            vec![Match::Reg(TC_ACTION, ACTION_REDIRECT), in_vlan],
            to_target(&[], &[]),
        ));
        flows.push(pipeline(
            priority::OUTPUT_RETURNED_IN_VLAN,
            vec![Match::Reg(PACKET_SOURCE, FROM_TC_RETURN), in_vlan],
            [&tag[..], &[Action::Normal]].concat(),
        ));
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
