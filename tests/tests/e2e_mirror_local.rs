//! Mirror to a local OVS internal port, with real pings between Pods in
//! namespaces: the target sees one copy of each packet of the chosen
//! direction, the Pods still reach each other, and nothing of an
//! unselected Pod reaches the target.

use std::net::Ipv4Addr;

use pnet_packet::Packet;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::icmp::{IcmpPacket, IcmpTypes};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use tests::capture::Capture;
use tests::node::TestNode;
use tests::plans::traffic_controls;
use tests::pod::{Pings, Pod};

/// (source, destination, is a request) of each ICMP echo frame.
fn echoes(frames: &[Vec<u8>]) -> Vec<(Ipv4Addr, Ipv4Addr, bool)> {
    frames
        .iter()
        .filter_map(|frame| {
            let ethernet = EthernetPacket::new(frame)?;
            (ethernet.get_ethertype() == EtherTypes::Ipv4).then_some(())?;
            let ip = Ipv4Packet::new(ethernet.payload())?;
            (ip.get_next_level_protocol() == IpNextHeaderProtocols::Icmp).then_some(())?;
            let icmp = IcmpPacket::new(ip.payload())?;
            let kind = icmp.get_icmp_type();
            (kind == IcmpTypes::EchoRequest || kind == IcmpTypes::EchoReply)
                .then(|| (ip.get_source(), ip.get_destination(), kind == IcmpTypes::EchoRequest))
        })
        .collect()
}

fn tc(direction: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: mirror-web}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {{app: web}}}}}}\n  direction: {direction}\n  action: Mirror\n  targetPort: {{ovsInternal: {{name: tap0}}}}\n"
    )
}

/// Pings web → client 5 times with `direction` mirrored to tap0; returns
/// the pings and the echo frames tap0 saw (and checks that the unselected
/// client got each request exactly once: mirroring adds no duplicate).
async fn mirrored(direction: &str) -> (Pings, Vec<(Ipv4Addr, Ipv4Addr, bool)>, Ipv4Addr, Ipv4Addr) {
    let mut node = TestNode::start().await;
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let client = Pod::attach(&node.ovs, &node.bridge, "default", "client", 2);
    let pods = [web.info(&[("app", "web")]), client.info(&[("app", "client")])];
    let report = node.reconcile(&traffic_controls(&tc(direction)), &pods).await;
    assert_eq!(report.plan.effective.len(), 1, "only the web Pod is selected");
    let capture = Capture::inbound(node.ovs.node(), "tap0", "icmp");
    let at_client = Capture::inbound(&client.netns, "eth0", "icmp");
    let pings = web.ping(&client, 5);
    let frames = capture.stop();
    assert_eq!(at_client.stop().len(), 5, "the unselected client gets each request once, no duplicate");
    (pings, echoes(&frames), web.ip.parse().expect("ip"), client.ip.parse().expect("ip"))
}

#[tokio::test(flavor = "current_thread")]
async fn both_directions_reach_the_target_once_each_and_pings_still_succeed() {
    let (pings, seen, web, client) = mirrored("Both").await;
    assert_eq!(pings, Pings { sent: 5, received: 5 });
    let requests = seen.iter().filter(|e| **e == (web, client, true)).count();
    let replies = seen.iter().filter(|e| **e == (client, web, false)).count();
    assert_eq!((requests, replies, seen.len()), (5, 5, 10), "{seen:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn ingress_copies_only_what_the_pod_receives() {
    let (pings, seen, web, client) = mirrored("Ingress").await;
    assert_eq!(pings.received, 5);
    assert_eq!(seen, vec![(client, web, false); 5]);
}

#[tokio::test(flavor = "current_thread")]
async fn egress_copies_only_what_the_pod_sends() {
    let (pings, seen, web, client) = mirrored("Egress").await;
    assert_eq!(pings.received, 5);
    assert_eq!(seen, vec![(web, client, true); 5]);
}

#[tokio::test(flavor = "current_thread")]
async fn unselected_pods_traffic_and_broadcasts_never_reach_the_target() {
    let mut node = TestNode::start().await;
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let a = Pod::attach(&node.ovs, &node.bridge, "default", "a", 2);
    let b = Pod::attach(&node.ovs, &node.bridge, "default", "b", 3);
    let pods = [web.info(&[("app", "web")]), a.info(&[("app", "other")]), b.info(&[("app", "other")])];
    node.reconcile(&traffic_controls(&tc("Both")), &pods).await;
    let capture = Capture::inbound(node.ovs.node(), "tap0", "");
    // ARP broadcasts (fresh neighbours) and pings between unselected Pods.
    a.netns.exec(&["ip", "neigh", "flush", "all"]);
    assert_eq!(a.ping(&b, 3).received, 3);
    let frames = capture.stop();
    // The selected web Pod's own traffic (IPv6 autoconfiguration arrives
    // a second or so after link-up) is rightly mirrored; nothing sent by
    // the unselected Pods may be.
    let mac = |pod: &Pod| -> Vec<u8> {
        pod.mac.split(':').map(|b| u8::from_str_radix(b, 16).expect("mac")).collect()
    };
    let (mac_a, mac_b) = (mac(&a), mac(&b));
    let leaked: Vec<&Vec<u8>> =
        frames.iter().filter(|f| f.get(6..12).is_some_and(|src| src == mac_a || src == mac_b)).collect();
    assert!(
        leaked.is_empty(),
        "{} frames of unselected Pods reached the target: {:02x?}",
        leaked.len(),
        leaked.first()
    );
}
