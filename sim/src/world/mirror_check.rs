//! The packet invariants on a converged shared bridge, where the
//! controller's `NORMAL` forwards and the agent's `Mirror` rows copy (the
//! packet engine applies them as OVS does). Every Pod first announces
//! itself (a gratuitous ARP: `NORMAL` learns its MAC), then sends every
//! fixture to every other Pod of the node, and one packet to the address
//! the controller's ACL drops. Given which TrafficControl controls each
//! Pod (the planner's choice of winner):
//!
//! - each packet reaches its destinations exactly once (a broadcast:
//!   every other Pod and the controller's uplink) and nothing else but
//!   the copies below;
//! - the target of the sender's Egress (or Both) Mirror gets exactly one
//!   copy, and so does the target of each receiving Pod's Ingress (or
//!   Both) Mirror: one per target port, however many reasons select the
//!   packet for it (so a packet that is both one Pod's Egress and the
//!   other's Ingress to one target is copied there once). Unlike the
//!   owned pipeline, a broadcast is also copied for its receivers'
//!   Ingress: OVS mirrors every output;
//! - the controller's own mirror copies what its uplink gets, once;
//! - the ACL still drops: a packet to the quarantined address reaches
//!   nobody, and only the sender's Egress target gets its copy (OVS
//!   mirrors on arrival, before the tables);
//! - no Redirect is realized.

use std::collections::BTreeMap;

use datapath::api::{Action, Direction, TrafficControl};
use datapath::plan::Plan;
use fixtures::frames::{self, Endpoint, FixtureKind};

use super::controller_host::{Controller, QUARANTINED, SPAN, UPLINK};
use super::ovs_host::SimOvs;
use super::packet_check::{Acting, LocalPod, controlling, expect, local_pods};

/// Sends the fixtures between every pair of `ovs`'s Pods; returns every
/// broken expectation, described.
pub fn check(
    ovs: &SimOvs,
    plan: &Plan,
    traffic_controls: &[TrafficControl],
    controller: &Controller,
) -> Vec<String> {
    let pods = local_pods(&ovs.switch_ports());
    let controls = controlling(plan, traffic_controls);
    let mut problems: Vec<String> = controls
        .values()
        .filter(|(acting, _)| acting.action == Action::Redirect)
        .map(|(acting, _)| format!("tc/{} redirects on a shared bridge", acting.traffic_control))
        .collect();
    for pod in &pods {
        let hello = frames::frame(FixtureKind::ArpBroadcast, &pod.endpoint, &pod.endpoint);
        if let Err(error) = ovs.send(&pod.port, &hello) {
            problems.push(format!("{} cannot announce itself: {error}", pod.pod));
        }
    }
    let copies = Copies { controls: &controls, uplink_mirrored: controller.mirrors > 0 };
    for from in &pods {
        for to in pods.iter().filter(|p| p.port != from.port) {
            for kind in FixtureKind::ALL {
                let broadcast = kind == FixtureKind::ArpBroadcast;
                let receivers: Vec<&LocalPod> =
                    if broadcast { pods.iter().filter(|p| p.port != from.port).collect() } else { vec![to] };
                let wanted = copies.wanted(from, &receivers, broadcast);
                let frame = frames::frame(kind, &from.endpoint, &to.endpoint);
                let case = format!("{} {} -> {}", kind.name(), from.pod, to.pod);
                if let Err(problem) = send_and_expect(ovs, from, &frame, &wanted) {
                    problems.push(format!("{case}: {problem}"));
                }
            }
        }
        let frame = frames::frame(FixtureKind::Icmp, &from.endpoint, &quarantined());
        let wanted = copies.wanted(from, &[], false);
        if let Err(problem) = send_and_expect(ovs, from, &frame, &wanted) {
            problems.push(format!("icmp {} -> the quarantined address: {problem}", from.pod));
        }
    }
    problems
}

/// Who gets a copy of a Pod's packet.
struct Copies<'a> {
    controls: &'a BTreeMap<datapath::cluster::PodRef, (Acting, Direction)>,
    /// Whether the controller mirrors its uplink (to its span port).
    uplink_mirrored: bool,
}

impl Copies<'_> {
    /// What each port must get of a packet `from` sends that reaches
    /// `receivers` (and the uplink, for a broadcast).
    fn wanted(&self, from: &LocalPod, receivers: &[&LocalPod], broadcast: bool) -> BTreeMap<String, usize> {
        let mut wanted: BTreeMap<String, usize> = receivers.iter().map(|p| (p.port.clone(), 1)).collect();
        if broadcast {
            wanted.insert(UPLINK.to_owned(), 1);
            if self.uplink_mirrored {
                wanted.insert(SPAN.to_owned(), 1);
            }
        }
        let mirrored = |pod: &LocalPod, direction: Direction| {
            self.controls
                .get(&pod.pod)
                .filter(|(acting, covers)| {
                    acting.action == Action::Mirror && covers_direction(*covers, direction)
                })
                .map(|(acting, _)| acting.target.clone())
        };
        let targets = mirrored(from, Direction::Egress)
            .into_iter()
            .chain(receivers.iter().filter_map(|to| mirrored(to, Direction::Ingress)));
        for target in targets {
            wanted.insert(target, 1);
        }
        wanted
    }
}

fn covers_direction(covers: Direction, wanted: Direction) -> bool {
    covers == Direction::Both || covers == wanted
}

fn send_and_expect(
    ovs: &SimOvs,
    from: &LocalPod,
    frame: &[u8],
    wanted: &BTreeMap<String, usize>,
) -> Result<(), String> {
    let sent = ovs.send(&from.port, frame).map_err(|e| e.to_string())?;
    expect(&sent, frame, wanted, "on the shared bridge")
}

/// The address the controller's ACL drops (no Pod of the node has it).
fn quarantined() -> Endpoint {
    Endpoint {
        mac: QUARANTINED,
        ipv4: std::net::Ipv4Addr::new(10, 99, 0, 1),
        ipv6: std::net::Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1),
    }
}
