//! What the agents write to the API at scale (docs/scale.md): entries only
//! where a node has something to say, problems only past 1,000 nodes, at
//! most one write per TrafficControl per node per second however fast its
//! Pods churn, and the writes per minute per node that churn costs.

use std::time::Duration;

use devcluster::apiserver::cluster::Target;
use devcluster::apiserver::resources::{NODES, TRAFFIC_CONTROLS};
use serde_json::{Value, json};
use sim::scenario::manifests::{self, TrafficControlSpec};
use sim::scenario::{self, Scenario};
use sim::world::cluster::World;

const CONVERGE: Duration = Duration::from_secs(60);

fn spec(app: &str, target: Value) -> TrafficControlSpec {
    TrafficControlSpec {
        applied_to: json!({"podSelector": {"matchLabels": {"app": app}}}),
        direction: "Both",
        action: "Mirror",
        target,
        return_port: None,
    }
}

/// The nodes named in `tc`'s `status.nodes`, sorted.
fn reporting_nodes(world: &World, tc: &str) -> Vec<String> {
    let target = Target { resource: &TRAFFIC_CONTROLS, namespace: None, name: tc, status: false };
    let object = world.api.get(target).expect("the TrafficControl");
    let mut nodes: Vec<String> = object
        .pointer("/status/nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("node")?.as_str().map(str::to_owned))
        .collect();
    nodes.sort();
    nodes
}

/// Status writes the API server answered for `tc` (all nodes).
fn status_writes(world: &World, tc: &str) -> usize {
    world
        .api
        .audit()
        .iter()
        .filter(|r| r.resource == "trafficcontrols" && r.subresource == "status" && r.verb == "patch")
        .filter(|r| tc.is_empty() || r.name == tc)
        .count()
}

#[test]
fn past_a_thousand_nodes_healthy_nodes_withdraw_and_problems_stay_reported() {
    let mut world = World::new(11, 2).expect("a world");
    for step in [
        manifests::pod("default", "web-1", 0, "web"),
        manifests::pod("default", "web-2", 1, "web"),
        manifests::pod("default", "db-1", 0, "db"),
        manifests::pod("default", "db-2", 1, "db"),
        manifests::traffic_control("mirror-web", &spec("web", json!({"ovsInternal": {"name": "tap0"}}))),
        manifests::traffic_control("broken", &spec("db", json!({"device": {"name": "eth9"}}))),
        manifests::traffic_control("idle", &spec("nothing", json!({"ovsInternal": {"name": "tap1"}}))),
    ] {
        step.play(&mut world).expect("applied");
    }
    world.converge(CONVERGE).expect("converged");
    world.run_for(Duration::from_secs(2)).expect("status written");
    assert_eq!(reporting_nodes(&world, "mirror-web"), ["node-1", "node-2"], "nodes with Pods report");
    assert_eq!(reporting_nodes(&world, "broken"), ["node-1", "node-2"], "a missing device is a problem");
    assert!(reporting_nodes(&world, "idle").is_empty(), "nothing selected and nothing wrong: no entry");

    for n in 0..1_001 {
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("ip-10-0-{}-{}", n / 250, n % 250)}});
        world.api.create(&NODES, None, node).expect("a Node");
    }
    // The agents count the Nodes again within five minutes.
    world.run_for(Duration::from_secs(310)).expect("recounted");
    assert!(
        reporting_nodes(&world, "mirror-web").is_empty(),
        "healthy entries are withdrawn past 1,000 nodes"
    );
    assert_eq!(reporting_nodes(&world, "broken"), ["node-1", "node-2"], "problems stay reported");
    let scope = world.nodes[0].agent().metrics.render();
    assert!(scope.contains("tc_agent_status_scope{scope=\"problems-only\"} 1"), "{scope}");
}

#[test]
fn a_traffic_control_whose_pods_churn_is_written_at_most_once_a_second_per_node() {
    let mut world = World::new(12, 1).expect("a world");
    manifests::traffic_control("mirror-web", &spec("web", json!({"ovsInternal": {"name": "tap0"}})))
        .play(&mut world)
        .expect("applied");
    world.converge(CONVERGE).expect("converged");
    let before = status_writes(&world, "mirror-web");
    // A Pod comes or goes every 100 ms for 20 s: 200 changes of the entry.
    let churn = Duration::from_secs(20);
    for i in 0..200 {
        let step = if i % 2 == 0 {
            manifests::pod("default", "web-1", 0, "web")
        } else {
            scenario::step::Step::DeletePod { namespace: "default".into(), name: "web-1".into() }
        };
        step.play(&mut world).expect("churned");
        world.run_for(Duration::from_millis(100)).expect("ran");
    }
    let writes = status_writes(&world, "mirror-web") - before;
    eprintln!("200 changes in {churn:?}: {writes} status writes");
    assert!(writes <= 21, "{writes} writes in 20 s: over the budget of one a second");
    assert!(writes >= 10, "{writes} writes in 20 s: the entry should follow the churn, a second behind");
}

/// The measurement docs/scale.md extrapolates from: status writes per
/// minute per node over churn seeds (Pods, labels, Namespaces and
/// TrafficControls changing every few hundred milliseconds, with faults).
#[test]
fn churn_costs_a_bounded_number_of_status_writes_per_node_and_minute() {
    let (mut writes, mut node_minutes, mut worst) = (0usize, 0f64, 0f64);
    for seed in 0..20 {
        let script = Scenario::Churn.generate(seed);
        let outcome =
            scenario::run(Scenario::Churn, seed, Default::default()).unwrap_or_else(|f| panic!("{f}"));
        let seed_writes = outcome
            .requests
            .iter()
            .filter(|r| r.resource == "trafficcontrols" && r.subresource == "status" && r.verb == "patch")
            .count();
        let minutes = outcome.virtual_time.as_secs_f64() / 60.0 * script.nodes as f64;
        writes += seed_writes;
        node_minutes += minutes;
        worst = worst.max(seed_writes as f64 / minutes);
    }
    let mean = writes as f64 / node_minutes;
    eprintln!(
        "churn, 20 seeds: {writes} status writes in {node_minutes:.1} node-minutes: {mean:.1} per node per minute (worst seed {worst:.1})"
    );
    // Five TrafficControls at most, one write each a second at most.
    assert!(worst <= 5.0 * 60.0, "{worst:.1} writes per node per minute");
}

#[test]
fn a_restarted_agent_rewrites_no_unchanged_entry_and_records_no_event_again() {
    let mut world = World::new(13, 2).expect("a world");
    for step in [
        manifests::pod("default", "web-1", 0, "web"),
        manifests::pod("default", "web-2", 1, "web"),
        manifests::traffic_control("mirror-web", &spec("web", json!({"ovsInternal": {"name": "tap0"}}))),
        manifests::traffic_control("broken", &spec("web", json!({"device": {"name": "eth9"}}))),
    ] {
        step.play(&mut world).expect("applied");
    }
    world.converge(CONVERGE).expect("converged");
    world.run_for(Duration::from_secs(3)).expect("status written");
    let events = |world: &World| {
        world.api.audit().iter().filter(|r| r.resource == "events" && r.verb == "create").count()
    };
    let (writes, recorded) = (status_writes(&world, ""), events(&world));
    assert!(writes >= 4 && recorded >= 3, "{writes} writes, {recorded} Events before the restart");

    let host = world.nodes[0].name.clone();
    world.sim.bounce(host);
    world.run_for(Duration::from_secs(1)).expect("restarting");
    world.converge(CONVERGE).expect("converged again");
    world.run_for(Duration::from_secs(5)).expect("settled");
    assert_eq!(status_writes(&world, ""), writes, "the restarted agent found its entries as they were");
    assert_eq!(events(&world), recorded, "and had nothing new to tell");
}
