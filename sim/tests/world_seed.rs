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

/// The simulated switch's flows after the seed converged, in
/// `ovs-ofctl dump-flows --no-stats` text, reviewed in `snapshots/sim/`.
#[test]
fn the_seed_converges_on_one_node_to_the_reviewed_flows() {
    let world = seeded(1, 1);
    let flows = world.nodes[0].ovs.switch.read(|s| s.dump_flows_text());
    let ports: String = world.nodes[0]
        .ovs
        .switch_ports()
        .iter()
        .map(|p| {
            format!("{} ofport={:?} type={:?} error={:?}\n", p.name, p.ofport, p.interface_type, p.error)
        })
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots/sim");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!("seed-node-1", format!("# ports\n{ports}\n# flows\n{flows}")));
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
