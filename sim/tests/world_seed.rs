//! The seed's examples in the simulated world: the real agent, the dev API
//! server and a simulated OVS on turmoil, converging to the plan.

use std::time::Duration;

use sim::world::cluster::World;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// The seed's cluster and examples on `nodes` nodes, converged.
fn seeded(seed: u64, nodes: usize) -> World {
    let mut world = World::new(seed, nodes).expect("world");
    world.apply(&fixture("cluster/namespaces.yaml")).expect("namespaces");
    world.apply(&fixture("cluster/pods.yaml")).expect("pods");
    for example in ["mirror-web-app", "mirror-all-to-remote", "redirect-prod-to-local"] {
        world.apply(&fixture(&format!("seed/{example}.yaml"))).expect("seed");
    }
    let took = world.converge(Duration::from_secs(30)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    eprintln!("seed {seed}: converged after {took:?} of virtual time");
    world
}

/// A node's ports and flows, in `ovs-ofctl dump-flows --no-stats` text.
fn switch_text(world: &World, node: usize) -> String {
    let flows = world.nodes[node].ovs.switch.read(|s| s.dump_flows_text());
    let ports: String = world.nodes[node]
        .ovs
        .switch_ports()
        .iter()
        .map(|p| {
            format!("{} ofport={:?} type={:?} error={:?}\n", p.name, p.ofport, p.interface_type, p.error)
        })
        .collect();
    format!("# ports\n{ports}\n# flows\n{flows}")
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots/sim");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// The simulated switch's flows after the seed converged, reviewed in
/// `snapshots/sim/`.
#[test]
fn the_seed_converges_on_one_node_to_the_reviewed_flows() {
    let world = seeded(1, 1);
    snapshot("seed-node-1", &switch_text(&world, 0));
}

/// Each example of the seed alone, as the real agent leaves the switch.
#[test]
fn each_seed_example_alone_converges_to_its_reviewed_flows() {
    for example in ["mirror-web-app", "mirror-all-to-remote", "redirect-prod-to-local"] {
        let mut world = World::new(2, 1).expect("world");
        world.apply(&fixture("cluster/namespaces.yaml")).expect("namespaces");
        world.apply(&fixture("cluster/pods.yaml")).expect("pods");
        world.apply(&fixture(&format!("seed/{example}.yaml"))).expect("example");
        world.converge(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{example}: {e}"));
        snapshot(&format!("seed-{example}"), &switch_text(&world, 0));
    }
}

/// Two TrafficControls sharing a target port (one Ingress, one Egress),
/// and a third that loses web-1 to the older one: one port, one winner.
#[test]
fn shared_ports_and_conflicts_converge_to_the_reviewed_flows() {
    let mut world = World::new(3, 1).expect("world");
    world.apply(&fixture("cluster/namespaces.yaml")).expect("namespaces");
    world.apply(&fixture("cluster/pods.yaml")).expect("pods");
    let tc = |name: &str, selector: &str, direction: &str| {
        format!(
            "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: {name}}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {selector}}}}}\n  direction: {direction}\n  action: Mirror\n  targetPort: {{ovsInternal: {{name: tap-shared}}}}\n"
        )
    };
    world.apply(&tc("a-web-ingress", "{app: web}", "Ingress")).expect("a");
    world.run_for(Duration::from_secs(1)).expect("run");
    world.apply(&tc("b-client-egress", "{app: client}", "Egress")).expect("b");
    world.run_for(Duration::from_secs(1)).expect("run");
    world.apply(&tc("c-everyone", "{}", "Both")).expect("c");
    world.converge(Duration::from_secs(30)).expect("converged");
    snapshot("shared-ports-and-conflicts", &switch_text(&world, 0));
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let first = seeded(42, 1);
    let second = seeded(42, 1);
    let (a, b) = (first.trace(), second.trace());
    if let Some((line, (x, y))) = a.lines().zip(b.lines()).enumerate().find(|(_, (x, y))| x != y) {
        panic!("the traces differ at line {line}:\n  first:  {x}\n  second: {y}");
    }
    assert_eq!(a, b);
    eprintln!("seed 42: trace {:016x}", first.trace_hash());
}
