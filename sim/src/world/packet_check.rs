//! The packet invariants, checked on a converged node: every Pod sends
//! every fixture (ICMP, TCP, UDP, IPv6, ARP broadcast) to every other Pod
//! of the node, and each copy must land where the CRD says, given which
//! TrafficControl controls each Pod (the planner's choice of winner; the
//! flows' meaning is what is checked here):
//!
//! - a packet that no TrafficControl acts on reaches its destination (a
//!   broadcast: every other Pod) exactly once, and no target;
//! - Mirror: the target gets exactly one copy, the destination one;
//!   through a tunnel, the copy decodes to the frame byte for byte;
//! - Redirect: the target gets exactly one copy and the destination none;
//!   sent back on the return port it reaches the destination once.
//!
//! When the sender's Egress and the receiver's Ingress both apply, one
//! TrafficControl acts (docs/decisions.md): a Redirect before a Mirror,
//! then the sender's. Ingress selects by destination MAC, so a broadcast
//! is acted on by its sender only. Returned traffic is not acted on
//! again.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use datapath::api::{Action, Direction, TrafficControl};
use datapath::cluster::PodRef;
use datapath::encap::{self, UdpKind};
use datapath::plan::{Plan, Progress};
use datapath::ports::SwitchPort;
use fixtures::frames::{self, Endpoint, FixtureKind};

use super::ovs_host::{SimOvs, mac_of};
use super::wire::Delivery;

/// What acts on a packet.
#[derive(Clone, Debug)]
pub(super) struct Acting {
    pub traffic_control: String,
    pub action: Action,
    pub target: String,
    pub return_port: Option<String>,
}

/// A local Pod with a port.
pub(super) struct LocalPod {
    pub pod: PodRef,
    pub port: String,
    pub endpoint: Endpoint,
}

/// Sends the fixtures between every pair of `ovs`'s Pods; returns every
/// broken expectation, described.
pub fn check(ovs: &SimOvs, plan: &Plan, traffic_controls: &[TrafficControl]) -> Vec<String> {
    let ports = ovs.switch_ports();
    let pods = local_pods(&ports);
    let controls = controlling(plan, traffic_controls);
    let mut problems = Vec::new();
    for from in &pods {
        for to in pods.iter().filter(|p| p.port != from.port) {
            for kind in FixtureKind::ALL {
                let broadcast = kind == FixtureKind::ArpBroadcast;
                let egress = controls.get(&from.pod).filter(|(_, d)| *d != Direction::Ingress);
                let ingress = controls.get(&to.pod).filter(|(_, d)| *d != Direction::Egress && !broadcast);
                let redirects = |c: &&(Acting, Direction)| c.0.action == Action::Redirect;
                let acting = egress
                    .filter(redirects)
                    .or(ingress.filter(redirects))
                    .or(egress)
                    .or(ingress)
                    .map(|(acting, _)| acting);
                let frame = frames::frame(kind, &from.endpoint, &to.endpoint);
                let case = format!("{} {} -> {}", kind.name(), from.pod, to.pod);
                if let Err(problem) = check_one(ovs, &pods, from, to, broadcast, acting, &frame) {
                    problems.push(format!("{case}: {problem}"));
                }
            }
        }
    }
    problems
}

fn check_one(
    ovs: &SimOvs,
    pods: &[LocalPod],
    from: &LocalPod,
    to: &LocalPod,
    broadcast: bool,
    acting: Option<&Acting>,
    frame: &[u8],
) -> Result<(), String> {
    let sent = ovs.send(&from.port, frame).map_err(|e| e.to_string())?;
    let mut destinations: BTreeMap<String, usize> = if broadcast {
        pods.iter().filter(|p| p.port != from.port).map(|p| (p.port.clone(), 1)).collect()
    } else {
        BTreeMap::from([(to.port.clone(), 1)])
    };
    let Some(acting) = acting else {
        return expect(&sent, frame, &destinations, "no TrafficControl acts");
    };
    let mut wanted = BTreeMap::from([(acting.target.clone(), 1)]);
    match acting.action {
        Action::Mirror => {
            wanted.extend(destinations);
            expect(&sent, frame, &wanted, &format!("mirrored by tc/{}", acting.traffic_control))
        }
        Action::Redirect => {
            expect(&sent, frame, &wanted, &format!("redirected by tc/{}", acting.traffic_control))?;
            let Some(return_port) = &acting.return_port else { return Ok(()) };
            let back = ovs.send(return_port, frame).map_err(|e| e.to_string())?;
            if broadcast {
                // From the return port a flood reaches every other port,
                // the sender's too, as OVS floods to all but the in_port.
                destinations.insert(from.port.clone(), 1);
            }
            expect(&back, frame, &destinations, &format!("back through {return_port}"))
        }
    }
}

/// The copies per port must be exactly `wanted`, each carrying `frame`
/// unchanged (a tunnel's inside its encapsulation).
pub(super) fn expect(
    sent: &[Delivery],
    frame: &[u8],
    wanted: &BTreeMap<String, usize>,
    what: &str,
) -> Result<(), String> {
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for delivery in sent {
        *got.entry(delivery.port.clone()).or_default() += 1;
    }
    if &got != wanted {
        return Err(format!("{what}: copies per port {got:?}, expected {wanted:?}"));
    }
    for delivery in sent {
        let carried = if delivery.is_tunnelled() {
            encap::decode(&delivery.frame, UdpKind::Vxlan)
                .map_err(|e| format!("{what}: {}: {e}", delivery.port))?
                .inner
        } else {
            delivery.frame.clone()
        };
        if carried != frame {
            return Err(format!("{what}: the copy at {} is not the frame sent", delivery.port));
        }
    }
    Ok(())
}

/// Each controlled Pod's acting TrafficControl and its direction.
pub(super) fn controlling(
    plan: &Plan,
    traffic_controls: &[TrafficControl],
) -> BTreeMap<PodRef, (Acting, Direction)> {
    let specs: BTreeMap<&str, &TrafficControl> =
        traffic_controls.iter().map(|tc| (tc.metadata.name.as_deref().unwrap_or_default(), tc)).collect();
    plan.effective
        .iter()
        .filter_map(|(pod, name)| {
            let planned = plan.traffic_controls.get(name)?;
            if planned.progress != Progress::Realized {
                return None;
            }
            let spec = &specs.get(name.as_str())?.spec;
            let acting = Acting {
                traffic_control: name.clone(),
                action: spec.action,
                target: planned.target_port.clone(),
                return_port: planned.return_port.clone(),
            };
            Some((pod.clone(), (acting, spec.direction)))
        })
        .collect()
}

pub(super) fn local_pods(ports: &[SwitchPort]) -> Vec<LocalPod> {
    ports
        .iter()
        .filter(|p| p.usable_ofport().is_some())
        .filter_map(|p| Some((p.pod_claim()?.pod?, p.name.clone())))
        .zip(1u16..)
        .map(|((pod, port), index)| {
            let [high, low] = index.to_be_bytes();
            let endpoint = Endpoint {
                mac: mac_of(&port),
                ipv4: Ipv4Addr::new(10, 244, high, low),
                ipv6: Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, index),
            };
            LocalPod { pod, port, endpoint }
        })
        .collect()
}
