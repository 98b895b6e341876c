//! The faults a node lives with, in the simulated world: each one, then
//! convergence to the plan of the final cluster state.

use std::time::Duration;

use sim::world::cluster::{API_HOST, World};

const CONVERGE: Duration = Duration::from_secs(60);

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn seeded(seed: u64, nodes: usize) -> World {
    let mut world = World::new(seed, nodes).expect("world");
    world.apply(&fixture("cluster/namespaces.yaml")).expect("namespaces");
    world.apply(&fixture("cluster/pods.yaml")).expect("pods");
    for example in ["mirror-web-app", "mirror-all-to-remote", "redirect-prod-to-local"] {
        world.apply(&fixture(&format!("seed/{example}.yaml"))).expect("seed");
    }
    world.converge(CONVERGE).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    world
}

fn flow_mods(world: &World, node: usize) -> u64 {
    world.nodes[node].ovs.switch.read(|s| s.flow_mods_applied())
}

/// web-1 relabelled: it leaves mirror-web-app (and stays with the others).
const WEB1_RELABELLED: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web-1, namespace: default, labels: {app: cache}}\nspec: {nodeName: node-1, containers: [{name: main, image: pause}]}\n";

/// client relabelled to app=web: mirror-web-app (an existing port) selects it.
const WEB1_SELECTED_ELSEWHERE: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default, labels: {app: web}}\nspec: {nodeName: node-1, containers: [{name: main, image: pause}]}\n";

/// A new TrafficControl with a port of its own.
const AUDIT: &str = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: audit-cache}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: cache}}}\n  direction: Ingress\n  action: Mirror\n  targetPort: {ovsInternal: {name: tap9}}\n";

#[test]
fn after_ovs_vswitchd_restarts_the_flows_come_back() {
    let mut world = seeded(11, 1);
    world.nodes[0].ovs.restart_vswitchd();
    assert!(!world.divergences()[0].1.is_empty(), "a restart loses the flows");
    let took = world.converge(CONVERGE).expect("flows restored");
    eprintln!("flows restored {took:?} after ovs-vswitchd restarted");
}

/// ovs-vswitchd restarts while a pass is creating a port: the pass's
/// OpenFlow operations were planned for connections that died with the old
/// switch, so they are never sent there; the agent reads the flows back and
/// the new switch gets every no-flood before any flow (the flooding
/// invariant is checked after every message the switch handles, and
/// `converge` fails on any broken rule).
#[test]
fn a_restart_in_the_middle_of_a_pass_gets_no_flow_before_its_no_flood() {
    for seed in 0..4 {
        let mut world = seeded(30 + seed, 1);
        world.apply(AUDIT).expect("audit-cache");
        let created = |world: &World| world.nodes[0].ovs.switch_ports().iter().any(|p| p.name == "tap9");
        let mut waited = Duration::ZERO;
        while !created(&world) {
            assert!(waited < CONVERGE, "seed {seed}: tap9 never created");
            world.run_for(Duration::from_millis(1)).expect("run");
            waited += Duration::from_millis(1);
        }
        world.nodes[0].ovs.restart_vswitchd();
        let took = world.converge(CONVERGE).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(world.violations().is_empty(), "seed {seed}: {:?}", world.violations());
        eprintln!("seed {seed}: converged {took:?} after a restart in the middle of a pass");
    }
}

/// ovs-vswitchd restarts at every moment (3 ms apart) of a pass that sends
/// flows to ports that exist (a Pod newly selected): whatever the moment,
/// the switch converges and no TrafficControl port floods while a flow
/// uses it. (That a run planned before a restart is never sent after it is
/// shown on a real switch: `tests/tests/agent_actors.rs`.)
#[test]
fn a_restart_at_any_moment_of_a_pass_gets_no_flow_before_its_no_flood() {
    let seed = 40;
    let mut caught = Vec::new();
    for offset_ms in (0..120).step_by(3) {
        let mut world = seeded(seed, 1);
        world.apply(WEB1_SELECTED_ELSEWHERE).expect("relabel");
        world.run_for(Duration::from_millis(offset_ms)).expect("run");
        world.nodes[0].ovs.restart_vswitchd();
        if let Err(error) = world.converge(CONVERGE) {
            caught.push(format!("restart {offset_ms} ms after the change: {error}"));
        }
    }
    assert!(caught.is_empty(), "{caught:#?}");
}

#[test]
fn after_a_restart_that_renumbers_every_port_the_flows_follow() {
    let mut world = seeded(18, 1);
    world.nodes[0].ovs.restart_vswitchd_renumbered();
    assert!(!world.divergences()[0].1.is_empty(), "the old flows name the old ofports");
    let took = world.converge(CONVERGE).expect("flows follow the new ofports");
    eprintln!("flows follow renumbered ports {took:?} after ovs-vswitchd restarted");
}

#[test]
fn after_the_ovs_servers_drop_every_connection_the_agent_reconnects() {
    let mut world = seeded(12, 1);
    let before = flow_mods(&world, 0);
    world.sim.bounce("ovs-1");
    world.run_for(Duration::from_secs(3)).expect("run");
    assert_eq!(flow_mods(&world, 0), before, "reconnecting to an unchanged switch sends nothing");
    world.apply(AUDIT).expect("audit-cache");
    world.apply(WEB1_RELABELLED).expect("relabel");
    world.converge(CONVERGE).expect("converged after reconnecting");
}

#[test]
fn a_restarted_agent_changes_nothing_on_an_unchanged_switch() {
    let mut world = seeded(13, 1);
    let before = flow_mods(&world, 0);
    world.sim.bounce("node-1");
    world.run_for(Duration::from_secs(5)).expect("run");
    assert!(world.nodes[0].agent().is_ready(), "the new agent synced");
    assert_eq!(flow_mods(&world, 0), before, "zero flow_mods after the restart");
}

#[test]
fn an_api_server_restart_that_forgets_history_is_followed_by_a_relist() {
    let mut world = seeded(14, 1);
    world.sim.bounce(API_HOST);
    world.api.forget_history();
    world.apply(WEB1_RELABELLED).expect("relabel");
    world.apply(AUDIT).expect("audit-cache");
    let took = world.converge(CONVERGE).expect("converged after the API server restart");
    eprintln!("converged {took:?} after the API server restart");
}

/// A partition TCP survives: turmoil holds the segments and delivers them
/// when it heals, as retransmission would. (turmoil's `partition` drops
/// TCP segments for good, which real TCP never does; a partition long
/// enough to kill connections is the API server restart above.)
#[test]
fn changes_made_during_a_partition_are_realized_after_it_heals() {
    let mut world = seeded(15, 1);
    world.sim.hold("node-1", API_HOST);
    world.apply(AUDIT).expect("audit-cache");
    world.apply(WEB1_RELABELLED).expect("relabel");
    world.run_for(Duration::from_secs(5)).expect("run");
    assert!(!world.divergences()[0].1.is_empty(), "a partitioned agent cannot know");
    world.sim.release("node-1", API_HOST);
    let took = world.converge(CONVERGE).expect("converged after the partition healed");
    eprintln!("converged {took:?} after the partition healed");
}

#[test]
fn two_nodes_each_realize_their_own_pods() {
    let world = seeded(16, 2);
    let flows = |node: usize| world.nodes[node].ovs.switch.read(|s| s.flow_count());
    assert!(flows(0) > flows(1) && flows(1) > 0, "node-1 {} flows, node-2 {}", flows(0), flows(1));
}

/// Found by the churn scenario (seed 17): the pass after the CNI removed
/// a Pod's port planned with the command connection's stale replica, and
/// the port's classification flows stayed forever.
#[test]
fn a_deleted_pod_takes_its_flows_and_a_new_one_gets_them() {
    let mut world = seeded(17, 1);
    world.delete(&devcluster::apiserver::resources::PODS, Some("default"), "web-2").expect("delete");
    world.converge(CONVERGE).expect("converged after the Pod left");
    world.apply(WEB1_RELABELLED.replace("web-1", "web-9").as_str()).expect("new pod");
    world.converge(CONVERGE).expect("converged after a Pod came");
}
