//! The simulation checked against the real thing: for each tunnel kind,
//! `fixtures/packets/icmp.hex` enters real OVS on a mirrored Pod's port
//! (`packet-out` to the pipeline, as if the Pod sent it), the collector
//! captures the encapsulated copy, and its description must equal the
//! simulation's reviewed snapshot `snapshots/sim/encap-*.snap`, byte for
//! byte except the bytes `fixtures::describe` masks (IP ID, checksums,
//! UDP source port, GRE sequence, ERSPAN timestamp).
//!
//! A mismatch is a bug in the simulation: fix the simulation, never the
//! snapshot.

use datapath::plan::Progress;
use std::time::Duration;

use datapath::encap::{self, UdpKind};
use fixtures::describe::describe;
use fixtures::frames::read_hex;
use tests::capture::Capture;
use tests::collector::{Collector, INTERFACE};
use tests::node::TestNode;
use tests::plans::traffic_controls;
use tests::pod::Pod;

fn workspace_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The snapshot's body: what follows insta's header.
fn snapshot_body(name: &str) -> String {
    let text = workspace_file(&format!("snapshots/sim/{name}.snap"));
    let body = text.splitn(3, "---\n").nth(2).unwrap_or_else(|| panic!("{name}.snap has no insta header"));
    body.trim_end().to_owned()
}

async fn captured_copy(target: &str) -> Vec<u8> {
    let mut node = TestNode::start().await;
    let collector = Collector::attach(&node.ovs);
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let tc = format!(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: encap}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {{app: web}}}}}}\n  direction: Both\n  action: Mirror\n  targetPort: {{{target}}}\n"
    );
    let report = node.reconcile(&traffic_controls(&tc), &[web.info(&[("app", "web")])]).await;
    assert!(
        report.plan.traffic_controls.values().all(|tc| tc.progress == Progress::Realized),
        "{:?}",
        report.plan.traffic_controls
    );
    let fixture = read_hex(&workspace_file("fixtures/packets/icmp.hex")).expect("fixture");
    let hex: String = fixture.iter().map(|b| format!("{b:02x}")).collect();
    let ofport = node.ovs.wait_for_ofport(&web.port);
    collector.resolve(&node.ovs);
    let capture = Capture::inbound(&collector.netns, INTERFACE, "udp or proto gre");
    // The collector also sees what web-1's own stack sends (neighbour
    // discovery); the fixture's copy is the one carrying the fixture.
    let carries_fixture = |f: &Vec<u8>| encap::decode(f, UdpKind::Vxlan).is_ok_and(|e| e.inner == fixture);
    // Sent again if a copy is lost on the way (it should not be once the
    // collector is resolved; the comparison needs one copy).
    let packet_out = format!("in_port={ofport},packet={hex},actions=table");
    let arrived = (0..5).any(|_| {
        node.ovs.ofctl(&node.bridge, "packet-out", &[&packet_out]);
        capture.wait_for(Duration::from_secs(1), |frames| frames.iter().any(carries_fixture))
    });
    let frames = capture.stop();
    let seen: Vec<String> =
        frames.iter().map(|f| describe(f).lines().take(4).collect::<Vec<_>>().join("; ")).collect();
    assert!(arrived, "no encapsulated copy of the fixture reached the collector; it saw {seen:#?}");
    let copies: Vec<Vec<u8>> = frames.into_iter().filter(carries_fixture).collect();
    copies.into_iter().next().unwrap_or_default()
}

fn crosscheck(target: &str, snapshot: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let real = runtime.block_on(captured_copy(target));
    assert_eq!(
        describe(&real).trim_end(),
        snapshot_body(snapshot),
        "real OVS (left) differs from the simulation's snapshot {snapshot} (right)"
    );
}

#[test]
fn vxlan_matches_the_simulation() {
    crosscheck("vxlan: {remoteIP: 10.0.10.2, vni: 7}", "encap-vxlan");
}

#[test]
fn geneve_matches_the_simulation() {
    crosscheck("geneve: {remoteIP: 10.0.10.2, vni: 8}", "encap-geneve");
}

#[test]
fn gre_matches_the_simulation() {
    crosscheck("gre: {remoteIP: 10.0.10.2, key: 9}", "encap-gre");
}

#[test]
fn erspan_v1_matches_the_simulation() {
    crosscheck("erspan: {remoteIP: 10.0.10.2, sessionID: 1, version: 1, index: 26}", "encap-erspan-v1");
}

#[test]
fn erspan_v2_matches_the_simulation() {
    crosscheck(
        "erspan: {remoteIP: 10.0.10.2, sessionID: 2, version: 2, dir: 1, hardwareID: 12}",
        "encap-erspan-v2",
    );
}
