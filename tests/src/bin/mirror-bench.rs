//! Mirror throughput on a real switch, both bridge modes in one run:
//! iperf3 (TCP) from one Pod to another with no mirror, with a Mirror
//! TrafficControl copying the sender to an internal port, and with OVS's
//! own port mirroring (a `Mirror` row set by hand with ovs-vsctl) copying
//! the same Pod to the same kind of port.
//!
//! - owned: the agent's pipeline forwards and mirrors (flows).
//! - shared: a stand-in for a CNI's controller forwards (NORMAL under its
//!   own cookie) and the agent mirrors with a `Mirror` row, writing no flow.
//!
//! Run: `cargo run --release -p tests --bin mirror-bench [-- SECONDS]`.

use actors::reconcile::Observed;
use datapath::flows::Cookie;
use datapath::plan::BridgeMode;
use tests::node::TestNode;
use tests::plans::{mirror_to, traffic_controls};
use tests::pod::Pod;

/// Throughput from `client` to `server` in Gbit/s (iperf3, TCP).
fn iperf(client: &Pod, server: &Pod, seconds: u32) -> f64 {
    let mut daemon = std::process::Command::new("ip")
        .args(["netns", "exec", server.netns.name(), "iperf3", "-s", "-1", "-B", &server.ip])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("iperf3 server (apt-get install -y iperf3)");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let output = client.netns.exec(&["iperf3", "-J", "-c", &server.ip, "-t", &seconds.to_string()]);
    let _ = daemon.wait();
    let json: serde_json::Value = serde_json::from_str(&output).expect("iperf3 JSON");
    json.pointer("/end/sum_received/bits_per_second").and_then(serde_json::Value::as_f64).expect("throughput")
        / 1e9
}

/// OVS's own mirroring of `pod` (both ways) to a new internal port,
/// brought up.
fn ovs_port_mirroring(node: &TestNode, pod: &Pod, port: &str) {
    node.ovs.add_port_mirror(&node.bridge, port, &[node.ovs.port_uuid(&pod.port)]);
    node.ovs.node().exec(&["ip", "link", "set", port, "up"]);
}

struct Row {
    mode: &'static str,
    plain: f64,
    ours: f64,
    by_hand: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tests::require_tools(
        "mirror-bench",
        &[&tests::SWITCH_TOOLS[..], &[("iperf3", "apt-get install -y iperf3")]].concat(),
    );
    let seconds: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut node = TestNode::start().await;
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let client = Pod::attach(&node.ovs, &node.bridge, "default", "client", 2);
    let pods = [web.info(&[("app", "web")]), client.info(&[("app", "client")])];
    let mirror = traffic_controls(
        &mirror_to("mirror-web", "ovsInternal: {name: tap0}")
            .replace("podSelector: {}", "podSelector: {matchLabels: {app: web}}"),
    );
    let mut rows = Vec::new();

    // Owned: the agent's pipeline does the forwarding.
    node.reconcile(&[], &pods).await;
    let plain = iperf(&web, &client, seconds);
    node.reconcile(&mirror, &pods).await;
    let ours = iperf(&web, &client, seconds);
    node.reconcile(&[], &pods).await;
    ovs_port_mirroring(&node, &web, "mir0");
    let by_hand = iperf(&web, &client, seconds);
    node.ovs.remove_port_mirror(&node.bridge, "mir0");
    rows.push(Row { mode: "owned", plain, ours, by_hand });

    // Shared: the agent's flows go, a "CNI" forwards, the agent only
    // writes Mirror rows.
    let agents = format!("cookie={:#x}/{:#x}", Cookie::AGENT, Cookie::AGENT_MASK);
    node.ovs.ofctl(&node.bridge, "del-flows", &[&agents]);
    node.ovs.ofctl(&node.bridge, "add-flow", &["cookie=0xc1,priority=0,actions=NORMAL"]);
    node.observed = Observed::new(BridgeMode::Shared);
    node.reconcile(&[], &pods).await;
    let plain = iperf(&web, &client, seconds);
    let report = node.reconcile(&mirror, &pods).await;
    assert_eq!(report.plan.mirrors.len(), 1, "the agent's Mirror row");
    let ours = iperf(&web, &client, seconds);
    node.reconcile(&[], &pods).await;
    ovs_port_mirroring(&node, &web, "mir0");
    let by_hand = iperf(&web, &client, seconds);
    rows.push(Row { mode: "shared", plain, ours, by_hand });

    println!("iperf3 TCP, web -> client, {seconds} s each, one switch, one run (Gbit/s)");
    println!(
        "  mode     no mirror   TrafficControl Mirror        OVS port mirroring (by hand)   ours / by hand"
    );
    for r in rows {
        println!(
            "  {:<7} {:>9.2}   {:>7.2} ({:.2} of no mirror)   {:>7.2} ({:.2} of no mirror)    {:>7.2}",
            r.mode,
            r.plain,
            r.ours,
            r.ours / r.plain,
            r.by_hand,
            r.by_hand / r.plain,
            r.ours / r.by_hand
        );
    }
}
