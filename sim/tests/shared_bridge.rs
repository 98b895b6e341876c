//! The agent on a shared bridge in the simulated world: a CNI's
//! controller owns the tables (NORMAL and a drop rule under its own
//! cookie) and a mirror of its own; the agent realizes Mirror with
//! `Mirror` rows, writes no flow, and refuses Redirect. Every convergence
//! also sends every Pod's packets through the packet engine (one copy per
//! target per packet, the drop rule still drops) and every transaction of
//! the agent is checked for trespass (`world::shared_invariants`).
//!
//! The reviewed rows are in `snapshots/sim/shared-*.snap`. They match
//! what `tests/tests/e2e_shared_bridge.rs` checks on a real OVS 3.1 beside
//! a controller of the same shape: there `mirror-web` (app=web, Both,
//! ovsInternal tap0) gives one row `tc-tap0` marked
//! `antrea-type=traffic-control`, with web-1's port in both selections and
//! `output_port` tap0, next to an untouched `cni-mirror`; here
//! `mirror-web-app` gives `tc-<its VXLAN port>` with web-1's and web-2's
//! ports in both selections, the same name rule, marker and shape.

use std::time::Duration;

use datapath::ports::SwitchMirror;
use devcluster::apiserver::cluster::Target;
use devcluster::apiserver::resources::TRAFFIC_CONTROLS;
use sim::world::cluster::World;
use sim::world::controller_host::Controller;

const EXAMPLES: [&str; 3] = ["mirror-web-app", "mirror-all-to-remote", "redirect-prod-to-local"];
/// What `tests/tests/e2e_shared_bridge.rs` applies to be refused.
const REDIRECT: &str = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: redirect-db}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: db}}}\n  direction: Both\n  action: Redirect\n  targetPort: {ovsInternal: {name: tap5}}\n  returnPort: {ovsInternal: {name: tap6}}\n";

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// A shared world of one node with the seed's cluster and `manifests`,
/// converged (which checks the packets and the controller's rows).
fn converged(seed: u64, manifests: &[String]) -> World {
    let mut world = World::shared(seed, 1, Controller { mirrors: 1 }).expect("world");
    world.apply(&fixture("cluster/namespaces.yaml")).expect("namespaces");
    world.apply(&fixture("cluster/pods.yaml")).expect("pods");
    for manifest in manifests {
        world.apply(manifest).expect("manifest");
    }
    world.converge(Duration::from_secs(30)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    world
}

/// The bridge's mirrors (the agent's and the controller's), ports and
/// flows, as `ovs-vsctl list mirror` and `dump-flows` would show them.
fn bridge_text(world: &World) -> String {
    let ovs = &world.nodes[0].ovs;
    let mirror = |m: &SwitchMirror| {
        let ids: Vec<String> = m.external_ids.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} external_ids={{{}}}\n", m.describe(), ids.join(","))
    };
    let mirrors: String = ovs.switch_mirrors().iter().map(mirror).collect();
    let ports: String = ovs
        .switch_ports()
        .iter()
        .map(|p| {
            let owner = if p.is_agents() { " (the agent's)" } else { "" };
            format!("{} type={:?}{owner}\n", p.name, p.interface_type)
        })
        .collect();
    let flows = ovs.switch.read(|s| s.dump_flows_text());
    format!("# mirrors\n{mirrors}\n# ports\n{ports}\n# flows\n{flows}")
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots/sim");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// One of the node's conditions on a TrafficControl: (status, message).
fn condition(world: &World, tc: &str, kind: &str) -> (String, String) {
    let target = Target { resource: &TRAFFIC_CONTROLS, namespace: None, name: tc, status: false };
    let object = world.api.get(target).expect("the TrafficControl");
    let nodes = object.pointer("/status/nodes").and_then(|n| n.as_array()).cloned().unwrap_or_default();
    let node = nodes.iter().find(|n| n["node"] == "node-1").cloned().unwrap_or_default();
    let conditions = node["conditions"].as_array().cloned().unwrap_or_default();
    let found = conditions.iter().find(|c| c["type"] == kind).cloned().unwrap_or_default();
    let text = |key: &str| found[key].as_str().unwrap_or_default().to_owned();
    (text("status"), text("message"))
}

/// Each example of the seed alone: the agent's one row, beside the
/// controller's.
#[test]
fn each_seed_example_alone_on_a_shared_bridge_makes_the_reviewed_mirror_row() {
    for example in EXAMPLES {
        let world = converged(2, &[fixture(&format!("seed/{example}.yaml"))]);
        snapshot(&format!("shared-seed-{example}"), &bridge_text(&world));
    }
}

/// All three and a Redirect: mirror-all-to-remote, the oldest by name,
/// wins every Pod, so the other two have no row and no port; the Redirect
/// is refused, saying why, and creates nothing.
#[test]
fn the_seed_examples_and_a_redirect_on_a_shared_bridge_converge_to_the_reviewed_rows() {
    let mut manifests: Vec<String> = EXAMPLES.iter().map(|e| fixture(&format!("seed/{e}.yaml"))).collect();
    manifests.push(REDIRECT.to_owned());
    let mut world = converged(1, &manifests);
    snapshot("shared-seed-node-1", &bridge_text(&world));
    // The status writer reports after the switch converged.
    for _ in 0..100 {
        if !condition(&world, "redirect-db", "Realized").0.is_empty() {
            break;
        }
        world.run_for(Duration::from_millis(100)).expect("run");
    }
    let (status, message) = condition(&world, "redirect-db", "Realized");
    assert_eq!(status, "False", "{message}");
    assert!(
        message.contains("Redirect needs the agent's own OpenFlow pipeline")
            && message.contains("bridgeMode: owned"),
        "{message}"
    );
    assert!(!world.nodes[0].ovs.switch_ports().iter().any(|p| p.name == "tap5" || p.name == "tap6"));
    assert_eq!(condition(&world, "mirror-all-to-remote", "Realized").0, "True");
}

/// Deleting every TrafficControl leaves exactly the controller's and the
/// Pods' rows, and the controller's flows.
#[test]
fn deleting_every_traffic_control_leaves_exactly_the_foreign_rows() {
    let manifests: Vec<String> = EXAMPLES.iter().map(|e| fixture(&format!("seed/{e}.yaml"))).collect();
    let mut world = converged(3, &manifests);
    for name in world.traffic_control_names() {
        world.delete(&TRAFFIC_CONTROLS, None, &name).expect("delete");
    }
    world.converge(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    let ovs = &world.nodes[0].ovs;
    let mirrors: Vec<String> = ovs.switch_mirrors().into_iter().map(|m| m.name).collect();
    assert_eq!(mirrors, ["cni-mirror-00"]);
    assert!(ovs.switch_ports().iter().all(|p| !p.is_agents()));
    assert_eq!(ovs.switch.read(|s| s.flow_count()), 2, "the controller's two flows");
}
