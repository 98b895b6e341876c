//! VLANs on an owned bridge (ovs-cni's access ports and trunks): which
//! VLAN a packet is in, and how it keeps it through a TrafficControl.
//!
//! A packet's VLAN is decided once, in the Classifier, from the port it
//! came in on and, for a port that carries tags, its tag; it goes in
//! [`VLAN_ID`] (reg8), which L2ForwardingCalc reads: a Pod is found only
//! in its own VLAN. What the pipeline does not forward (no Pod found,
//! [`VLAN_OF_TRUNK`]) is NORMAL's, and NORMAL keeps VLANs apart by OVS's
//! own rules.
//!
//! The tag travels with the packet: an untagged packet of an access VLAN
//! leaves for a TrafficControl's target tagged (as OVS's port mirroring
//! tags what it sends to a trunk, so an IDS sees the VLAN), and a tagged
//! one as it is; what comes back through a return port is classified by
//! its tag like a trunk's packet, never by its addresses, which a Pod can
//! forge. A tagged packet for a Pod's access port is untagged on its way
//! out; one for NORMAL keeps its tag, which NORMAL reads.

use std::collections::BTreeSet;

use crate::flows::{
    ACTION_MIRROR, ACTION_REDIRECT, Action, Cookie, Flow, Match, OUTPUT_FOUND, OUTPUT_PORT, TC_ACTION,
    TC_TARGET, Table, VLAN_ID, VLAN_OF_TRUNK, VlanMatch,
};
use crate::ports::SwitchPort;

use super::pod_ports::PodPort;

/// The VLANs of a port, per its Port row (`tag`, `trunks`, `vlan_mode`),
/// with OVS's meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PortVlan {
    /// An access port: every packet is in this VLAN (0 when `vlan_mode`
    /// is `access` without a tag).
    Access(u16),
    /// A port whose packets carry their VLAN in their tag. A port without
    /// any VLAN setting is one (OVS's trunk of every VLAN, untagged
    /// packets in VLAN 0).
    Trunk {
        /// The VLAN of its untagged packets, if it takes them.
        native: Option<u16>,
        /// The VLANs it carries (empty: all).
        trunks: Vec<u16>,
    },
    /// A `dot1q-tunnel` port, or a port whose VLAN would be 4095: its
    /// packets are NORMAL's. 802.1Q reserves VLAN 4095 and the pipeline
    /// marks NORMAL's packets with it ([`VLAN_OF_TRUNK`]), so a Pod there
    /// must never be taken for one in a VLAN the pipeline delivers.
    Tunnel,
}

/// The VLAN 802.1Q reserves; OVS's `tag` column still takes it.
const RESERVED_VLAN: u16 = 4095;

impl PortVlan {
    pub fn of(port: &SwitchPort) -> Self {
        let trunks = port.trunks.clone();
        let carries_untagged = trunks.is_empty() || trunks.contains(&0);
        match (port.vlan_mode.as_deref(), port.tag) {
            (_, Some(RESERVED_VLAN)) => PortVlan::Tunnel,
            (Some("access"), tag) | (None, tag @ Some(_)) => PortVlan::Access(tag.unwrap_or(0)),
            (Some("native-tagged" | "native-untagged"), tag) => {
                PortVlan::Trunk { native: Some(tag.unwrap_or(0)), trunks }
            }
            (Some("dot1q-tunnel"), _) => PortVlan::Tunnel,
            _ => PortVlan::Trunk { native: carries_untagged.then_some(0), trunks },
        }
    }

    /// A port with no VLAN setting at all.
    pub fn none() -> Self {
        PortVlan::Trunk { native: Some(0), trunks: Vec::new() }
    }

    /// The VLAN of every packet of an access port.
    pub fn access(&self) -> Option<u16> {
        match self {
            PortVlan::Access(vlan) => Some(*vlan),
            _ => None,
        }
    }

    /// Where untagged packets for VLAN `vlan`'s Pods can be delivered:
    /// access ports of `vlan`, and ports without VLAN settings for VLAN 0.
    pub fn delivers_untagged(&self) -> Option<u16> {
        match self {
            PortVlan::Access(vlan) => Some(*vlan),
            other if *other == PortVlan::none() => Some(0),
            _ => None,
        }
    }
}

/// Whether any port of the bridge is in a VLAN: then forwarding must
/// respect VLANs.
pub(super) fn has_vlans(switch_ports: &[SwitchPort]) -> bool {
    switch_ports.iter().any(|p| PortVlan::of(p) != PortVlan::none())
}

/// The access VLANs of the Pod ports (VLAN 0 is no VLAN): the values
/// [`VLAN_ID`] takes besides 0 and [`VLAN_OF_TRUNK`].
pub(super) fn access_vlans(pod_ports: &[PodPort]) -> BTreeSet<u16> {
    pod_ports.iter().filter_map(|port| port.vlan.access()).filter(|&vlan| vlan != 0).collect()
}

/// Classifier flows for port `ofport` at `priority` and just above: the
/// port's `marks` (where the packet came from), its VLAN in [`VLAN_ID`],
/// then L2ForwardingCalc. A return port is classified as a port without
/// VLAN settings: by the tag its packets came back with.
pub(super) fn classify(
    cookie: Cookie,
    ofport: u32,
    vlan: &PortVlan,
    access_vlans: &BTreeSet<u16>,
    priority: u16,
    marks: &[Action],
) -> Vec<Flow> {
    let flow = |priority, matches, vlan_id: u32| {
        let actions =
            [marks, &[Action::SetField(VLAN_ID, vlan_id), Action::GotoTable(Table::L2ForwardingCalc)]]
                .concat();
        Flow::new(cookie, Table::Classifier, priority, matches, actions)
    };
    let in_port = Match::InPort(ofport);
    match vlan {
        PortVlan::Access(access) => vec![flow(priority, vec![in_port], u32::from(*access))],
        PortVlan::Tunnel => vec![flow(priority, vec![in_port], VLAN_OF_TRUNK)],
        PortVlan::Trunk { native, trunks } => {
            let untagged = native.map_or(VLAN_OF_TRUNK, u32::from);
            let mut flows = vec![
                flow(priority, vec![in_port], untagged),
                flow(priority + 5, vec![in_port, Match::Vlan(VlanMatch::Tagged)], VLAN_OF_TRUNK),
            ];
            // A tag the port does not carry is NORMAL's to drop.
            let carried = access_vlans.iter().filter(|v| trunks.is_empty() || trunks.contains(v));
            for &tag in carried {
                flows.push(flow(
                    priority + 10,
                    vec![in_port, Match::Vlan(VlanMatch::Id(tag))],
                    u32::from(tag),
                ));
            }
            flows
        }
    }
}

/// Output priorities of a bridge with VLANs, against the pipeline's own
/// (300 TrafficControl, 200 found, 0 NORMAL).
mod priority {
    /// A tagged packet, whatever its VLAN, under a TrafficControl.
    pub const TAGGED_CONTROLLED: u16 = 320;
    /// An untagged packet of an access VLAN under a TrafficControl.
    pub const ACCESS_CONTROLLED: u16 = 310;
    /// A tagged packet for a Pod's access port.
    pub const TAGGED_FOUND: u16 = 250;
}

/// The Output flows a bridge with VLANs adds (see the module doc).
pub(super) fn output_flows(access_vlans: &BTreeSet<u16>) -> Vec<Flow> {
    let output =
        |priority, matches, actions| Flow::new(Cookie::pipeline(), Table::Output, priority, matches, actions);
    let (to_target, to_pod) = (Action::OutputReg(TC_TARGET), Action::OutputReg(OUTPUT_PORT));
    let mirror = Match::Reg(TC_ACTION, ACTION_MIRROR);
    let redirect = Match::Reg(TC_ACTION, ACTION_REDIRECT);
    let (found, not_found) = (Match::Reg(OUTPUT_FOUND, 1), Match::Reg(OUTPUT_FOUND, 0));
    let tagged = Match::Vlan(VlanMatch::Tagged);
    let mut flows = vec![
        output(
            priority::TAGGED_CONTROLLED,
            vec![mirror, found, tagged],
            vec![to_target, Action::PopVlan, to_pod],
        ),
        output(priority::TAGGED_CONTROLLED, vec![mirror, not_found, tagged], vec![to_target, Action::Normal]),
        output(priority::TAGGED_CONTROLLED, vec![redirect, tagged], vec![to_target]),
        output(priority::TAGGED_FOUND, vec![found, tagged], vec![Action::PopVlan, to_pod]),
    ];
    for &vlan in access_vlans {
        let in_vlan = Match::Reg(VLAN_ID, u32::from(vlan));
        let tag = [Action::PushVlan, Action::SetVlanVid(vlan)];
        let tagged_to_target =
            |before: &[Action], after: &[Action]| [before, &tag, &[to_target], after].concat();
        flows.push(output(
            priority::ACCESS_CONTROLLED,
            vec![mirror, found, in_vlan],
            tagged_to_target(&[to_pod], &[]),
        ));
        flows.push(output(
            priority::ACCESS_CONTROLLED,
            vec![mirror, not_found, in_vlan],
            tagged_to_target(&[], &[Action::PopVlan, Action::Normal]),
        ));
        flows.push(output(priority::ACCESS_CONTROLLED, vec![redirect, in_vlan], tagged_to_target(&[], &[])));
    }
    flows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(tag: Option<u16>, trunks: &[u16], mode: Option<&str>) -> SwitchPort {
        SwitchPort {
            tag,
            trunks: trunks.to_vec(),
            vlan_mode: mode.map(str::to_owned),
            ..SwitchPort::default()
        }
    }

    #[test]
    fn port_rows_read_with_ovs_meaning() {
        assert_eq!(PortVlan::of(&port(None, &[], None)), PortVlan::none());
        assert_eq!(PortVlan::of(&port(Some(10), &[], None)), PortVlan::Access(10));
        assert_eq!(PortVlan::of(&port(None, &[], Some("access"))), PortVlan::Access(0));
        assert_eq!(
            PortVlan::of(&port(None, &[10, 20], None)),
            PortVlan::Trunk { native: None, trunks: vec![10, 20] },
            "a trunk without VLAN 0 takes no untagged packet"
        );
        assert_eq!(
            PortVlan::of(&port(Some(5), &[10], Some("native-untagged"))),
            PortVlan::Trunk { native: Some(5), trunks: vec![10] }
        );
        assert_eq!(PortVlan::of(&port(Some(5), &[], Some("dot1q-tunnel"))), PortVlan::Tunnel);
        assert!(!has_vlans(&[port(None, &[], None)]));
        assert!(has_vlans(&[port(None, &[], None), port(None, &[7], None)]));
    }

    /// VLAN 4095 is the pipeline's mark for NORMAL's packets: a Pod whose
    /// port has it as access or native VLAN is NORMAL's too, so a trunk's
    /// tagged packet (also marked 4095) can never be delivered to it.
    #[test]
    fn a_port_in_vlan_4095_is_normals_not_an_access_vlan() {
        for mode in [None, Some("access"), Some("native-untagged"), Some("native-tagged")] {
            assert_eq!(PortVlan::of(&port(Some(4095), &[], mode)), PortVlan::Tunnel, "{mode:?}");
        }
        let pod = PortVlan::of(&port(Some(4095), &[], None));
        assert_eq!((pod.access(), pod.delivers_untagged()), (None, None));
    }

    #[test]
    fn a_trunk_classifies_by_the_tags_it_carries() {
        let vlans = BTreeSet::from([10, 20, 30]);
        let trunk = PortVlan::Trunk { native: None, trunks: vec![10, 20] };
        let flows: Vec<String> = classify(Cookie::pipeline(), 4, &trunk, &vlans, 190, &[])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            flows,
            [
                "cookie=0x7463010000000000, priority=190,in_port=4 actions=set_field:0xfff/0xfff->reg8,goto_table:1",
                "cookie=0x7463010000000000, priority=195,in_port=4,vlan_tci=0x1000/0x1000 actions=set_field:0xfff/0xfff->reg8,goto_table:1",
                "cookie=0x7463010000000000, priority=200,in_port=4,dl_vlan=10 actions=set_field:0xa/0xfff->reg8,goto_table:1",
                "cookie=0x7463010000000000, priority=200,in_port=4,dl_vlan=20 actions=set_field:0x14/0xfff->reg8,goto_table:1",
            ],
            "VLAN 30 is not carried: NORMAL drops it"
        );
    }
}
