//! Packets in the simulated world: the packet check catches a switch
//! that floods to a target, and each tunnel kind's encapsulation of the
//! ICMP fixture is the reviewed snapshot (which real OVS cross-checks).
//! The packet invariants themselves run at every convergence of every
//! scenario (`sim::world::packet_check`).

use datapath::cluster::PodRef;
use fixtures::frames;
use serde_json::json;
use sim::scenario::Step;
use sim::scenario::manifests::{self, TrafficControlSpec};
use sim::world::cluster::{World, pod_port};
use sim::world::ovs_host::mac_of;
use sim::world::wire::Delivery;

/// (namespace, name, app): web-1 and web-2 are selected (app=web).
const PODS: [(&str, &str, &str); 4] = [
    ("default", "web-1", "web"),
    ("prod", "web-2", "web"),
    ("default", "client", "client"),
    ("prod", "client-2", "client"),
];

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

/// The matrix scenario checks the packet invariants at each convergence
/// (`sim::world::packet_check`); this shows the check fails when the
/// switch forgets a target port's no-flood: the unselected client's
/// broadcast then leaks to the target. The safety invariant checked after
/// every switch change (`invariants::flooding_targets`) sees it at once.
#[test]
fn a_target_port_that_floods_is_caught_by_the_packet_check_and_the_flooding_invariant() {
    let mut world = world();
    let spec = TrafficControlSpec {
        applied_to: json!({"podSelector": {"matchLabels": {"app": "web"}}}),
        direction: "Both",
        action: "Mirror",
        target: json!({"ovsInternal": {"name": "tap-target"}}),
        return_port: None,
    };
    manifests::traffic_control("leaky", &spec).play(&mut world).expect("applied");
    Step::Converge.play(&mut world).expect("converged with no packet problem");
    let target =
        world.nodes[0].ovs.switch_ports().into_iter().find(|p| p.name == "tap-target").expect("port");
    let ofport = target.usable_ofport().expect("ofport");
    assert!(world.violations().is_empty(), "{:?}", world.violations());
    world.nodes[0].ovs.switch.with(|s| s.add_port(ofport, "tap-target", mac_of("tap-target")));
    let violations = world.violations();
    assert!(
        violations.iter().any(|v| v.contains("TrafficControl port tap-target") && v.contains("floods")),
        "{violations:?}"
    );
    let problems = world.packet_problems();
    assert!(
        problems.iter().any(|p| p.contains("arp-broadcast default/client") && p.contains("tap-target")),
        "{problems:#?}"
    );
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
    let icmp = frames::read_hex(&hex).expect("hex");
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
        settings.bind(|| insta::assert_snapshot!(name, fixtures::describe::describe(&tunnelled[0].frame)));
    }
}
