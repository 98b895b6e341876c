//! Realization latency on a shared bridge (a CNI's, the agent in shared
//! mode): the TrafficControl becomes a `Mirror` row selecting its Pods'
//! ports, no flow. Timed from the API request until the row with all
//! [`SELECTED`] ports is in the switch's database, watched through an
//! OVSDB monitor (our client: the update arrives when the row commits).
//! References, in the same rounds: one `ovs-vsctl` transaction that
//! creates the same port and row (waiting, as ovs-vsctl does, until
//! ovs-vswitchd has applied it; the agent's time ends when its port has
//! an ofport, ovs-vswitchd's mark). A selector change from no Pod to all
//! makes the port and row again too: a target that selects nobody on a
//! shared bridge has neither (an agent port without a row would be an
//! ordinary port of the CNI's bridge, flooded into).

use std::time::{Duration, Instant};

use actors::ovsdb_connection::{DEFAULT_DEADLINE, OvsdbConnection};
use datapath::ovsdb::bridge;
use tests::ovs::Ovs;

use super::{
    BenchNode, SELECTED, TRAFFIC_CONTROLS_PATH, patch_selector, report, request, settle, tc_json,
    wait_port_gone,
};

/// The agent's mirror of the benchmark's TrafficControl (`tc-<target>`).
const MIRROR: &str = "tc-tap0";

/// Runs `runs` rounds and prints p50/p99 with the references' and ratios.
pub fn latency(runs: usize) {
    // Held to the end: dropping them stops the agent and the switch.
    let BenchNode { ovs, bridge, cluster, agent: _agent } = BenchNode::start("shared");
    let api = cluster.client();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut db = runtime.block_on(async {
        let stream = tokio::net::UnixStream::connect(ovs.db_socket()).await.expect("OVSDB");
        let mut db = OvsdbConnection::new(stream, DEFAULT_DEADLINE);
        db.monitor(bridge::monitor_request()).await.expect("monitor");
        db
    });
    // Until the agent's mirror selects `count` ports (0: the row is gone)
    // and its output port has been opened by ovs-vswitchd (an ofport): the
    // point ovs-vsctl waits for in the reference.
    let mut wait_selected = |count: usize| {
        let name = bridge.name.clone();
        runtime.block_on(db.wait_for(move |replica| {
            let mirrors = bridge::switch_mirrors(replica, &name);
            let selected = mirrors
                .iter()
                .find(|m| m.name == MIRROR && m.output_port.is_some())
                .map_or(0, |m| m.select_src_port.len().min(m.select_dst_port.len()));
            let opened = || {
                bridge::switch_ports(replica, &name).iter().any(|p| p.name == "tap0" && p.ofport.is_some())
            };
            selected == count && (count == 0 || opened())
        }))
    };
    let pod_ports = pod_port_uuids(&ovs);

    println!("\nshared bridge (Mirror rows), {SELECTED} selected Pods, {runs} runs (+1 warm-up)");
    let name = "bench";
    request(&api, "POST", TRAFFIC_CONTROLS_PATH, &tc_json(name, "bench"));
    wait_selected(SELECTED).expect("the warm-up TrafficControl's mirror");
    let mut created = Vec::new();
    let mut reselected = Vec::new();
    let mut created_reference = Vec::new();
    for _ in 0..runs {
        request(&api, "DELETE", &format!("{TRAFFIC_CONTROLS_PATH}/{name}"), "");
        wait_selected(0).expect("the mirror deleted");
        wait_port_gone(&ovs, &bridge, "tap0");
        settle();
        let started = Instant::now();
        request(&api, "POST", TRAFFIC_CONTROLS_PATH, &tc_json(name, "bench"));
        wait_selected(SELECTED).expect("the new TrafficControl's mirror");
        created.push(started.elapsed());

        patch_selector(&api, name, "nobody");
        wait_selected(0).expect("no Pod selected");
        wait_port_gone(&ovs, &bridge, "tap0");
        settle();
        let started = Instant::now();
        patch_selector(&api, name, "bench");
        wait_selected(SELECTED).expect("the Pods selected again");
        reselected.push(started.elapsed());

        settle();
        created_reference.push(timed(|| ovs.add_port_mirror(&bridge, "ref", &pod_ports)));
        ovs.remove_port_mirror(&bridge, "ref");
    }
    let created_p50 = report("new TrafficControl (port + Mirror row)", &mut created);
    let reselected_p50 = report(
        "selector change from no Pod to all (the port and row again: a target selecting nobody has neither)",
        &mut reselected,
    );
    let created_reference_p50 =
        report("reference: ovs-vsctl creating the same port and Mirror row", &mut created_reference);
    println!(
        "  ratios (p50) to ovs-vsctl: new TrafficControl {:.2}; selector change {:.2}",
        created_p50 / created_reference_p50,
        reselected_p50 / created_reference_p50
    );
    let flows = ovs.dump_flows(&bridge);
    assert_eq!(flows.len(), 1, "the agent wrote flows on a shared bridge: {flows:#?}");
}

fn timed(f: impl FnOnce() -> String) -> Duration {
    let started = Instant::now();
    let _ = f();
    started.elapsed()
}

/// The UUIDs of the benchmark's Pod ports (`pp<i>`).
fn pod_port_uuids(ovs: &Ovs) -> Vec<String> {
    let csv = ovs.vsctl(&["--format=csv", "--no-headings", "--columns=_uuid,name", "list", "port"]);
    let uuids: Vec<String> = csv
        .lines()
        .filter_map(|line| line.split_once(','))
        .filter(|(_, name)| name.trim_matches('"').starts_with("pp"))
        .map(|(uuid, _)| uuid.to_owned())
        .collect();
    assert_eq!(uuids.len(), SELECTED, "the Pod ports");
    uuids
}
