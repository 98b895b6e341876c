//! An ovs-cni bridge with VLANs, the agent in owned mode on a real switch:
//! Pods on access VLANs 10 and 20 (ovs-cni's keys, found by UID with the
//! MAC from Multus' network-status annotation, and Antrea's keys) and a
//! trunk Pod with a VLAN interface in each. A Pod never receives a frame
//! from the other VLAN, with or without TrafficControls; the seed's
//! examples give copies tagged with their VLAN; a Redirect through an
//! nftables firewall works per VLAN, and what it drops in one VLAN the
//! other keeps.
//!
//! Isolation is checked with raw probe frames to the other VLAN's MACs and
//! to broadcast: without ARP or IP in the way, a probe is delivered exactly
//! when the switch forwards across VLANs.

use std::time::Duration;

use datapath::encap::{self, UdpKind};
use tests::agent::AgentProcess;
use tests::capture::Capture;
use tests::collector::{Collector, INTERFACE};
use tests::devcluster::{DevCluster, namespace_yaml, pod_yaml};
use tests::firewall::{Firewall, RETURN, TARGET};
use tests::ovs::{Bridge, Ovs};
use tests::pod::{CniKeys, Pod, mac_of};
use tests::vlan::{
    PROBE_FILTER, TrunkPod, make_access, pod_with_network_status, send_probes, source_mac, untag,
};

/// A copy at a target: its 802.1Q tag, and the frame without it.
type Copy = (Option<u16>, Vec<u8>);

const NODE: &str = "node-1";
const WAIT: Duration = Duration::from_secs(30);
const PINGS: u32 = 5;

/// The bridge, the Pods, the firewall, the collector and the agent.
struct VlanNode {
    ovs: Ovs,
    bridge: Bridge,
    cluster: DevCluster,
    agent: AgentProcess,
    firewall: Firewall,
    collector: Collector,
    /// web-a10, client-b10, db-e10 (prod) in VLAN 10; web-c20, client-d20 in 20.
    pods: Vec<Pod>,
    /// The trunk Pod, with a host in VLANs 10 and 20 behind it.
    trunk: TrunkPod,
}

/// (namespace, name, labels, VLAN, ovs-cni or Antrea keys), by attach index.
const ACCESS_PODS: [(&str, &str, &str, u16, bool); 5] = [
    ("default", "web-a10", "web", 10, true),
    ("default", "client-b10", "client", 10, false),
    ("prod", "db-e10", "db", 10, true),
    ("default", "web-c20", "web", 20, true),
    ("default", "client-d20", "client", 20, false),
];

impl VlanNode {
    fn start() -> VlanNode {
        let ovs = Ovs::start();
        let bridge = ovs.add_bridge("br");
        let cluster = DevCluster::start();
        cluster.apply(&namespace_yaml("default"));
        cluster.apply(&namespace_yaml("prod"));
        let firewall = Firewall::attach(&ovs);
        for vlan in ["10", "20"] {
            firewall.netns.exec(&[
                "nft", "add", "rule", "bridge", "filter", "forward", "vlan", "id", vlan, "ip", "protocol",
                "icmp", "counter",
            ]);
        }
        let collector = Collector::attach(&ovs);
        let mut pods = Vec::new();
        for (index, (namespace, name, app, vlan, ovs_cni)) in (1u8..).zip(ACCESS_PODS) {
            let keys = if ovs_cni {
                let uid = create_ovs_cni_pod(&cluster, namespace, name, app, index);
                CniKeys::OvsCni { uid, interface: "net1".into() }
            } else {
                cluster.apply(&pod_yaml(namespace, name, NODE, &[("app", app)]));
                CniKeys::Antrea
            };
            let mut pod = Pod::attach_as(&ovs, &bridge, namespace, name, index, &keys);
            make_access(&ovs, &mut pod, vlan, index);
            pods.push(pod);
        }
        let uid = create_ovs_cni_pod(&cluster, "default", "trunk", "trunk", 6);
        let keys = CniKeys::OvsCni { uid, interface: "net1".into() };
        let trunk = TrunkPod::attach(&ovs, &bridge, ("default", "trunk"), &keys, &[(10, 6), (20, 7)]);
        let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
        agent.wait_ready(WAIT);
        VlanNode { ovs, bridge, cluster, agent, firewall, collector, pods, trunk }
    }

    fn pod(&self, name: &str) -> &Pod {
        self.pods.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no Pod {name}"))
    }

    /// The Pods of VLAN `vlan`: its access Pods, then the trunk's host.
    fn members(&self, vlan: u16) -> Vec<&Pod> {
        let access = (0..).zip(ACCESS_PODS).filter(|(_, (.., v, _))| *v == vlan).map(|(i, _)| &self.pods[i]);
        access.chain([self.trunk.host(vlan)]).collect()
    }

    /// Every Pod of each VLAN sends probes to every MAC of the other VLAN
    /// and to broadcast; one Pod also probes a neighbour in its own VLAN,
    /// which must arrive (the captures see what they should).
    fn assert_vlans_apart(&self, when: &str) {
        for (from, to) in [(10, 20), (20, 10)] {
            let senders = self.members(from);
            let receivers = self.members(to);
            let captures: Vec<(&str, Capture)> = receivers
                .iter()
                .map(|r| (r.name.as_str(), Capture::inbound(&r.netns, "eth0", PROBE_FILTER)))
                .collect();
            let (first, neighbour) = (senders[0], senders[1]);
            let at_neighbour = Capture::inbound(&neighbour.netns, "eth0", PROBE_FILTER);
            let mut targets: Vec<&str> = receivers.iter().map(|r| r.mac.as_str()).collect();
            targets.push("ff:ff:ff:ff:ff:ff");
            for sender in &senders {
                send_probes(&sender.netns, "eth0", &sender.mac, &targets);
            }
            send_probes(&first.netns, "eth0", &first.mac, &[neighbour.mac.as_str()]);
            std::thread::sleep(Duration::from_millis(300));
            let own = at_neighbour.stop();
            assert!(
                own.iter().any(|f| source_mac(f) == first.mac),
                "{when}: a probe within VLAN {from} arrives ({} frames at {})",
                own.len(),
                neighbour.name
            );
            let sender_macs: Vec<&str> = senders.iter().map(|s| s.mac.as_str()).collect();
            for (name, capture) in captures {
                let leaked: Vec<String> = capture
                    .stop()
                    .iter()
                    .map(|f| source_mac(f))
                    .filter(|mac| sender_macs.contains(&mac.as_str()))
                    .collect();
                assert!(
                    leaked.is_empty(),
                    "{when}: {name} in VLAN {to} received frames from VLAN {from}: {leaked:?}"
                );
            }
        }
    }

    /// Pings from `from` to `to` and returns every copy the targets got
    /// (the collector's tunnels and tap0), as (VLAN tag, untagged frame),
    /// and the ICMP frames both Pods received.
    fn ping_and_collect(&self, from: &Pod, to: &Pod) -> (Vec<Copy>, Vec<Vec<u8>>) {
        let at_collector = Capture::inbound(&self.collector.netns, INTERFACE, "udp");
        let at_tap0 = Capture::inbound(self.ovs.node(), "tap0", "");
        let at_from = Capture::inbound(&from.netns, "eth0", "icmp");
        let at_other = Capture::inbound(&to.netns, "eth0", "icmp");
        let pings = from.ping(to, PINGS);
        assert_eq!(pings.received, PINGS, "{} to {}: mirroring must not break traffic", from.name, to.name);
        std::thread::sleep(Duration::from_millis(300));
        let mut copies: Vec<Copy> = at_collector
            .stop()
            .iter()
            .filter_map(|frame| encap::decode(frame, UdpKind::Vxlan).ok())
            .map(|e| untag(&e.inner))
            .collect();
        copies.extend(at_tap0.stop().iter().map(|f| untag(f)));
        copies.retain(|(_, frame)| is_icmp(frame));
        let received = at_from.stop().into_iter().chain(at_other.stop()).collect();
        (copies, received)
    }
}

/// Creates an ovs-cni Pod (network-status annotation with the MAC its
/// port will have) and returns its UID.
fn create_ovs_cni_pod(cluster: &DevCluster, namespace: &str, name: &str, app: &str, index: u8) -> String {
    cluster.apply(&pod_with_network_status(namespace, name, NODE, &[("app", app)], "net1", &mac_of(index)));
    cluster
        .kubectl(&["get", "pod", "-n", namespace, name, "-o", "jsonpath={.metadata.uid}"])
        .trim()
        .to_owned()
}

fn is_icmp(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x00]) && frame.get(23) == Some(&1)
}

/// Each packet of both directions once, tagged with the VLAN, and the
/// copies are byte for byte what the Pods received.
fn assert_copies(what: &str, vlan: u16, copies: Vec<Copy>, received: Vec<Vec<u8>>) {
    assert_eq!(copies.len(), 2 * PINGS as usize, "{what}: one copy per packet per direction: {copies:?}");
    assert!(copies.iter().all(|(tag, _)| *tag == Some(vlan)), "{what}: every copy tagged {vlan}");
    let mut inner: Vec<Vec<u8>> = copies.into_iter().map(|(_, frame)| frame).collect();
    let mut originals = received;
    inner.sort();
    originals.sort();
    assert_eq!(inner, originals, "{what}: the copies are the packets");
}

fn seed(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/seed").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn vlans_stay_apart_and_the_seed_examples_copy_each_vlan_tagged() {
    let mut node = VlanNode::start();
    node.assert_vlans_apart("without TrafficControls");
    for (a, b) in [("web-a10", "client-b10"), ("web-c20", "client-d20")] {
        assert_eq!(node.pod(a).ping(node.pod(b), 3).received, 3, "{a} reaches {b} in its VLAN");
    }
    assert_eq!(node.pod("db-e10").ping(node.trunk.host(10), 3).received, 3, "the trunk in VLAN 10");
    assert_eq!(node.pod("web-c20").ping(node.trunk.host(20), 3).received, 3, "the trunk in VLAN 20");

    // The seed's examples verbatim, oldest first: web Pods to the VXLAN
    // collector, prod Pods to tap0, every other Pod to the GENEVE one.
    for file in ["mirror-web-app.yaml", "redirect-prod-to-local.yaml", "mirror-all-to-remote.yaml"] {
        node.cluster.apply(&seed(file));
        std::thread::sleep(Duration::from_millis(1100));
    }
    node.agent.wait_status("the seed's three examples realized", WAIT, |s| {
        s.pods_of("mirror-web-app") == ["default/web-a10", "default/web-c20"]
            && s.pods_of("redirect-prod-to-local") == ["prod/db-e10"]
            && s.pods_of("mirror-all-to-remote")
                == ["default/client-b10", "default/client-d20", "default/trunk"]
            && s.traffic_controls.iter().all(|tc| tc.progress == "Realized")
    });
    node.collector.resolve(&node.ovs);

    let (copies, received) = node.ping_and_collect(node.pod("web-a10"), node.pod("client-b10"));
    assert_copies("web-a10 to client-b10", 10, copies, received);
    let (copies, received) = node.ping_and_collect(node.pod("web-c20"), node.pod("client-d20"));
    assert_copies("web-c20 to client-d20", 20, copies, received);
    let (copies, received) = node.ping_and_collect(node.pod("db-e10"), node.trunk.host(10));
    assert_copies("db-e10 to the trunk, in VLAN 10", 10, copies, received);
    node.assert_vlans_apart("with the seed's examples");
}

const REDIRECT_CLIENTS: &str = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: clients-ips}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: client}}}\n  direction: Both\n  action: Redirect\n  targetPort: {device: {name: fw-tgt}}\n  returnPort: {device: {name: fw-ret}}\n";

/// ICMP the firewall forwarded in VLAN `vlan`.
fn firewall_icmp(firewall: &Firewall, vlan: u16) -> u64 {
    let rules = firewall.netns.exec(&["nft", "list", "chain", "bridge", "filter", "forward"]);
    let needle = format!("vlan id {vlan} ip protocol icmp counter packets ");
    rules
        .lines()
        .find_map(|l| l.trim().strip_prefix(&needle))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_redirect_through_the_firewall_works_per_vlan_and_keeps_vlans_apart() {
    let mut node = VlanNode::start();
    node.cluster.apply(REDIRECT_CLIENTS);
    node.agent.wait_status("the Redirect realized", WAIT, |s| {
        s.pods_of("clients-ips") == ["default/client-b10", "default/client-d20"]
            && s.traffic_controls.iter().all(|tc| tc.progress == "Realized")
    });
    let ports = node.ovs.vsctl(&["list-ports", &node.bridge.name]);
    assert!(ports.lines().any(|p| p == TARGET) && ports.lines().any(|p| p == RETURN), "{ports}");

    for (from, to, vlan) in [("web-a10", "client-b10", 10), ("web-c20", "client-d20", 20)] {
        let before = firewall_icmp(&node.firewall, vlan);
        let at_client = Capture::inbound(&node.pod(to).netns, "eth0", "icmp[icmptype] == icmp-echo");
        assert_eq!(node.pod(from).ping(node.pod(to), PINGS).received, PINGS, "{from} to {to}");
        assert_eq!(at_client.stop().len(), PINGS as usize, "{to} gets each request once");
        assert_eq!(
            firewall_icmp(&node.firewall, vlan) - before,
            2 * u64::from(PINGS),
            "every request and reply went through the firewall, tagged {vlan}"
        );
    }
    // The trunk's packets are tagged by the trunk Pod itself: the firewall
    // sees them in their VLAN too, and they are not let around it.
    let before = firewall_icmp(&node.firewall, 10);
    let trunk = node.trunk.host(10);
    assert_eq!(trunk.ping(node.pod("client-b10"), PINGS).received, PINGS, "the trunk to client-b10");
    assert_eq!(firewall_icmp(&node.firewall, 10) - before, 2 * u64::from(PINGS));
    node.assert_vlans_apart("with a Redirect");

    // The firewall drops ICMP in VLAN 20: VLAN 10 is not affected.
    node.firewall.netns.exec(&[
        "nft", "insert", "rule", "bridge", "filter", "forward", "vlan", "id", "20", "ip", "protocol", "icmp",
        "drop",
    ]);
    assert_eq!(node.pod("web-c20").ping(node.pod("client-d20"), 3).received, 0, "dropped in VLAN 20");
    assert_eq!(node.pod("web-a10").ping(node.pod("client-b10"), 3).received, 3, "VLAN 10 still passes");
    node.assert_vlans_apart("with a Redirect whose firewall drops VLAN 20's ICMP");
}
