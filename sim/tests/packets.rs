//! Packets through the converged simulated switch, for every target port
//! kind × action × direction, every fixture kind and every pair of Pods
//! (selected or not), checked against an oracle written from the CRD's
//! meaning, not from the planner:
//!
//! - an unselected Pod's packet never reaches the target;
//! - a mirrored packet reaches the target exactly once (even when both
//!   ends are selected) and its destination exactly once;
//! - a redirected packet reaches the target exactly once and not its
//!   destination; sent back by the IDS on the return port, it reaches its
//!   destination exactly once and the target never again;
//! - a tunnel copy decodes to the original frame byte for byte.
//!
//! Ingress selects by the destination's MAC (DESIGN §3), so a broadcast
//! is controlled only by its sender's Egress.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use datapath::cluster::PodRef;
use datapath::encap::{self, UdpKind};
use serde_json::json;
use sim::packets::fixtures::{self, Endpoint, FixtureKind};
use sim::scenario::Step;
use sim::scenario::manifests::{self, ACTIONS, DIRECTIONS, TrafficControlSpec};
use sim::world::cluster::{World, pod_port};
use sim::world::ovs_host::mac_of;
use sim::world::wire::Delivery;

const RETURN_PORT: &str = "tap-return";

/// (namespace, name, app): web-1 and web-2 are selected (app=web).
const PODS: [(&str, &str, &str); 4] = [
    ("default", "web-1", "web"),
    ("prod", "web-2", "web"),
    ("default", "client", "client"),
    ("prod", "client-2", "client"),
];

struct Pod {
    port: String,
    selected: bool,
    endpoint: Endpoint,
}

fn pods() -> Vec<Pod> {
    PODS.iter()
        .zip(1u8..)
        .map(|(&(namespace, name, app), index)| {
            let port = pod_port(&PodRef::new(namespace, name));
            let endpoint = Endpoint {
                mac: mac_of(&port),
                ipv4: Ipv4Addr::new(10, 244, 0, index),
                ipv6: Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, u16::from(index)),
            };
            Pod { port, selected: app == "web", endpoint }
        })
        .collect()
}

fn world() -> World {
    let mut world = World::new(21, 1).expect("world");
    world.nodes[0].ovs.add_device("eth1");
    let mut steps = vec![manifests::namespace("default", "dev"), manifests::namespace("prod", "production")];
    steps.extend(PODS.iter().map(|&(namespace, name, app)| manifests::pod(namespace, name, 0, app)));
    for step in steps {
        step.play(&mut world).expect("cluster");
    }
    world
}

/// Copies that reached each port.
fn count(deliveries: &[Delivery]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for delivery in deliveries {
        *counts.entry(delivery.port.clone()).or_default() += 1;
    }
    counts
}

/// The ports a copy must reach when the switch forwards it normally.
fn destinations(pods: &[Pod], from: &Pod, to: &Pod, broadcast: bool) -> BTreeMap<String, usize> {
    if broadcast {
        pods.iter().filter(|p| p.port != from.port).map(|p| (p.port.clone(), 1)).collect()
    } else {
        BTreeMap::from([(to.port.clone(), 1)])
    }
}

fn check_tunnel_copy(copy: &Delivery, frame: &[u8], case: &str) {
    if copy.is_tunnelled() {
        let decoded = encap::decode(&copy.frame, UdpKind::Vxlan).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(decoded.inner, frame, "{case}: the tunnel carries the frame unchanged");
    } else {
        assert_eq!(copy.frame, frame, "{case}: the target gets the frame unchanged");
    }
}

#[test]
fn every_port_kind_action_and_direction_delivers_each_packet_where_the_crd_says() {
    let mut world = world();
    let pods = pods();
    let mut checked = 0;
    for target in manifests::every_port_kind() {
        for action in ACTIONS {
            for direction in DIRECTIONS {
                let spec = TrafficControlSpec {
                    applied_to: json!({"podSelector": {"matchLabels": {"app": "web"}}}),
                    direction,
                    action,
                    target: target.clone(),
                    return_port: (action == "Redirect")
                        .then(|| json!({"ovsInternal": {"name": RETURN_PORT}})),
                };
                let step = manifests::traffic_control("packets", &spec);
                let case = step.to_string();
                step.play(&mut world).expect("applied");
                Step::Converge.play(&mut world).unwrap_or_else(|e| panic!("{case}: {e}"));
                checked += check_every_packet(&world, &pods, &spec, &case);
            }
        }
    }
    eprintln!("{checked} packets checked");
}

/// Sends every fixture between every pair of Pods; returns how many.
fn check_every_packet(world: &World, pods: &[Pod], spec: &TrafficControlSpec, case: &str) -> usize {
    let ovs = &world.nodes[0].ovs;
    let pod_ports: Vec<&str> = pods.iter().map(|p| p.port.as_str()).collect();
    let mut checked = 0;
    for from in pods {
        for to in pods.iter().filter(|p| p.port != from.port) {
            for kind in FixtureKind::ALL {
                let broadcast = kind == FixtureKind::ArpBroadcast;
                let frame = fixtures::frame(kind, &from.endpoint, &to.endpoint);
                let case = format!("{case}: {} {} -> {}", kind.name(), from.port, to.port);
                let egress = from.selected && spec.direction != "Ingress";
                let ingress = to.selected && !broadcast && spec.direction != "Egress";
                let controlled = egress || ingress;
                let sent = ovs.send(&from.port, &frame).unwrap_or_else(|e| panic!("{case}: {e}"));
                let (to_pods, to_target): (Vec<Delivery>, Vec<Delivery>) =
                    sent.into_iter().partition(|d| pod_ports.contains(&d.port.as_str()));
                let expected = destinations(pods, from, to, broadcast);
                if !controlled {
                    assert!(to_target.is_empty(), "{case}: an unselected packet reached {to_target:?}");
                    assert_eq!(count(&to_pods), expected, "{case}");
                } else {
                    assert_eq!(to_target.len(), 1, "{case}: the target gets exactly one copy: {to_target:?}");
                    let copy = &to_target[0];
                    assert_ne!(copy.port, RETURN_PORT, "{case}: nothing leaves by the return port");
                    check_tunnel_copy(copy, &frame, &case);
                    if spec.action == "Mirror" {
                        assert_eq!(count(&to_pods), expected, "{case}: the original goes on, once");
                    } else {
                        assert!(to_pods.is_empty(), "{case}: a redirected packet skips {to_pods:?}");
                        let back = ovs.send(RETURN_PORT, &frame).unwrap_or_else(|e| panic!("{case}: {e}"));
                        let mut after_return = expected.clone();
                        if broadcast {
                            // From the return port, a flood reaches the
                            // sender too, as a hub would: OVS sends a
                            // packet back to every port but its in_port.
                            after_return.insert(from.port.clone(), 1);
                        }
                        assert_eq!(count(&back), after_return, "{case}: back through the return port, once");
                    }
                }
                checked += 1;
            }
        }
    }
    checked
}

/// Each tunnel kind's copy of `fixtures/packets/icmp.hex`, sent by web-1
/// (mirrored, Both), in `snapshots/sim/encap-*.snap`: decoded fields and
/// hex with the bytes that vary masked. `tests/tests/e2e_encap_crosscheck.rs`
/// sends the same fixture through real OVS and compares with these files.
#[test]
fn each_tunnel_wraps_the_icmp_fixture_as_the_reviewed_snapshot() {
    let mut world = world();
    let web = pod_port(&PodRef::new("default", "web-1"));
    let hex = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/packets/icmp.hex"))
        .expect("fixture");
    let icmp = fixtures::read_hex(&hex).expect("hex");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots/sim");
    settings.set_prepend_module_to_snapshot(false);
    for target in manifests::every_port_kind() {
        let Some(name) = manifests::tunnel_snapshot_name(&target) else { continue };
        let spec = TrafficControlSpec {
            applied_to: json!({"podSelector": {"matchLabels": {"app": "web"}}}),
            direction: "Both",
            action: "Mirror",
            target,
            return_port: None,
        };
        manifests::traffic_control("encap", &spec).play(&mut world).expect("applied");
        Step::Converge.play(&mut world).expect("converged");
        let sent = world.nodes[0].ovs.send(&web, &icmp).expect("sent");
        let tunnelled: Vec<&Delivery> = sent.iter().filter(|d| d.is_tunnelled()).collect();
        assert_eq!(tunnelled.len(), 1, "{name}: one copy to the collector");
        settings
            .bind(|| insta::assert_snapshot!(name, sim::packets::describe::describe(&tunnelled[0].frame)));
    }
}
