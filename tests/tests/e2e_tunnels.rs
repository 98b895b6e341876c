//! Mirror to a remote collector through each tunnel kind, with real pings:
//! the collector receives one encapsulated copy of each packet of both
//! directions, with the configured tunnel fields, and the inner frame is
//! byte for byte the packet the Pods exchanged.

use datapath::encap::{self, Tunnel};
use datapath::plan::Progress;
use tests::capture::Capture;
use tests::collector::{COLLECTOR_IP, Collector, INTERFACE, icmp_copies};
use tests::node::TestNode;
use tests::plans::traffic_controls;
use tests::pod::Pod;

/// Mirrors the web Pod (Both) to `target`, pings the client 5 times, and
/// returns what the collector decoded plus the requests the client got.
async fn mirror_through(target: &str) -> (Vec<encap::Encapsulated>, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut node = TestNode::start().await;
    let collector = Collector::attach(&node.ovs);
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let client = Pod::attach(&node.ovs, &node.bridge, "default", "client", 2);
    let pods = [web.info(&[("app", "web")]), client.info(&[("app", "client")])];
    let tc = format!(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: mirror-web-app}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {{app: web}}}}}}\n  direction: Both\n  action: Mirror\n  targetPort: {{{target}}}\n"
    );
    let report = node.reconcile(&traffic_controls(&tc), &pods).await;
    assert!(
        report.plan.traffic_controls.values().all(|tc| tc.progress == Progress::Realized),
        "{:?}",
        report.plan.traffic_controls
    );
    collector.resolve(&node.ovs);
    let at_collector = Capture::inbound(&collector.netns, INTERFACE, "udp or proto gre");
    let at_client = Capture::inbound(&client.netns, "eth0", "icmp");
    let at_web = Capture::inbound(&web.netns, "eth0", "icmp");
    let pings = web.ping(&client, 5);
    assert_eq!(pings.received, 5, "mirroring must not break the traffic");
    (icmp_copies(&at_collector.stop()), at_client.stop(), at_web.stop())
}

fn check(target: &str, expected: Tunnel, udp_port: Option<u16>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (decoded, requests, replies) = runtime.block_on(mirror_through(target));
    assert_eq!(decoded.len(), 10, "5 requests and 5 replies, each once: {decoded:#?}");
    for packet in &decoded {
        assert_eq!(packet.tunnel, expected);
        assert_eq!(packet.outer_dst.to_string(), COLLECTOR_IP);
        assert_eq!(packet.udp_dst_port, udp_port);
    }
    // The inner frames are exactly what the Pods received.
    let mut inner: Vec<Vec<u8>> = decoded.into_iter().map(|p| p.inner).collect();
    let mut originals: Vec<Vec<u8>> = requests.into_iter().chain(replies).collect();
    inner.sort();
    originals.sort();
    assert_eq!(inner, originals);
}

#[test]
fn vxlan_carries_each_packet_once_with_its_vni() {
    check("vxlan: {remoteIP: 10.0.10.2, vni: 7}", Tunnel::Vxlan { vni: 7 }, Some(4789));
}

#[test]
fn geneve_carries_each_packet_once_with_its_vni() {
    check("geneve: {remoteIP: 10.0.10.2, vni: 8}", Tunnel::Geneve { vni: 8, options_len: 0 }, Some(6081));
}

#[test]
fn gre_carries_each_packet_once_with_its_key() {
    check("gre: {remoteIP: 10.0.10.2, key: 4294967295}", Tunnel::Gre { key: Some(u32::MAX) }, None);
}

#[test]
fn erspan_v1_carries_session_and_index() {
    check(
        "erspan: {remoteIP: 10.0.10.2, sessionID: 1, version: 1, index: 26}",
        Tunnel::ErspanV1 { session_id: 1, index: 26 },
        None,
    );
}

#[test]
fn erspan_v2_carries_session_direction_and_hardware_id() {
    check(
        "erspan: {remoteIP: 10.0.10.2, sessionID: 2, version: 2, dir: 1, hardwareID: 12}",
        Tunnel::ErspanV2 { session_id: 2, dir: 1, hardware_id: 12 },
        None,
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_linux_vxlan_device_at_the_collector_counts_one_copy_per_packet_when_both_ends_are_selected() {
    let mut node = TestNode::start().await;
    let collector = Collector::attach(&node.ovs);
    collector.netns.exec(&[
        "ip",
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        "0",
        "dstport",
        "4789",
        "local",
        COLLECTOR_IP,
        "dev",
        INTERFACE,
    ]);
    collector.netns.exec(&["ip", "link", "set", "vx0", "up"]);
    let a = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let b = Pod::attach(&node.ovs, &node.bridge, "default", "web-2", 2);
    let pods = [a.info(&[("app", "web")]), b.info(&[("app", "web")])];
    // The guide's first example, verbatim: both Pods carry app=web.
    let seed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/seed/mirror-web-app.yaml"))
            .expect("seed");
    node.reconcile(&traffic_controls(&seed), &pods).await;
    collector.resolve(&node.ovs);
    let rx_packets = || -> u64 {
        let stats = collector.netns.exec(&["cat", "/sys/class/net/vx0/statistics/rx_packets"]);
        stats.trim().parse().expect("counter")
    };
    let before = rx_packets();
    let capture = Capture::inbound(&collector.netns, INTERFACE, "udp port 4789");
    let pings = a.ping(&b, 10);
    assert_eq!(pings.received, 10, "the pings still succeed");
    let icmp = icmp_copies(&capture.stop()).len();
    let counted = rx_packets() - before;
    // Each request and each reply exactly once, not once per selected end.
    assert_eq!(icmp, 20);
    // The device also counts the two selected Pods' ARP and IPv6 neighbour
    // discovery: about twice the pings.
    assert!(
        (20..=32).contains(&counted),
        "the collector's vxlan device counted {counted} packets for 10 pings"
    );
}
