//! Mirror throughput on a real switch: iperf3 (TCP) between two Pods with
//! no TrafficControl, with a TrafficControl mirroring one Pod to an
//! internal port, and with OVS's own port mirroring (the `Mirror` table)
//! copying the same Pod to the same kind of port, in the same run.
//!
//! Run: `cargo run --release -p tests --bin mirror-bench [-- SECONDS]`.

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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let seconds: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut node = TestNode::start().await;
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let client = Pod::attach(&node.ovs, &node.bridge, "default", "client", 2);
    let pods = [web.info(&[("app", "web")]), client.info(&[("app", "client")])];

    node.reconcile(&[], &pods).await;
    let plain = iperf(&web, &client, seconds);

    let mirror = mirror_to("mirror-web", "ovsInternal: {name: tap0}")
        .replace("podSelector: {}", "podSelector: {matchLabels: {app: web}}");
    node.reconcile(&traffic_controls(&mirror), &pods).await;
    let ours = iperf(&web, &client, seconds);

    // OVS's own mirroring of the same Pod to an internal port of its own.
    node.reconcile(&[], &pods).await;
    node.ovs.vsctl(&[
        "add-port",
        &node.bridge.name,
        "mir0",
        "--",
        "set",
        "interface",
        "mir0",
        "type=internal",
    ]);
    node.ovs.node().exec(&["ip", "link", "set", "mir0", "up"]);
    node.ovs.vsctl(&[
        "--",
        "--id=@out",
        "get",
        "port",
        "mir0",
        "--",
        "--id=@web",
        "get",
        "port",
        &web.port,
        "--",
        "--id=@m",
        "create",
        "mirror",
        "name=web",
        "select-src-port=@web",
        "select-dst-port=@web",
        "output-port=@out",
        "--",
        "set",
        "bridge",
        &node.bridge.name,
        "mirrors=@m",
    ]);
    let ovs_mirror = iperf(&web, &client, seconds);

    println!("iperf3 TCP, web -> client, {seconds} s each, same switch and run (Gbit/s)");
    println!("  no TrafficControl:             {plain:>7.2}");
    println!("  TrafficControl Mirror (ours):  {ours:>7.2}  ({:.2} of no mirror)", ours / plain);
    println!("  OVS port mirroring:            {ovs_mirror:>7.2}  ({:.2} of no mirror)", ovs_mirror / plain);
    println!("  ours / OVS mirroring:          {:>7.2}", ours / ovs_mirror);
}
