//! The guard rails on a real switch, the agent as a process: every
//! TrafficControl whose port would take a piece of the node's networking
//! is refused with `Realized=False` and the rule, makes nothing on the
//! switch, and leaves the others alone; the node keeps reaching its peer
//! through its uplink the whole time. A plain device someone attached for
//! an IDS is still adopted.

use std::time::Duration;

use tests::agent::AgentProcess;
use tests::devcluster::{DevCluster, namespace_yaml};
use tests::netns::Netns;
use tests::ovs::Ovs;
use tests::pod::Pod;

const NODE: &str = "node-1";
const WAIT: Duration = Duration::from_secs(20);
/// The node's uplink (`up0`) and its peer on the other end.
const NODE_IP: &str = "10.99.0.1";
const PEER_IP: &str = "10.99.0.2";

fn mirror(name: &str, target: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: {name}}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {{app: web}}}}}}\n  direction: Both\n  action: Mirror\n  targetPort: {target}\n"
    )
}

/// A veth in the node namespace (`name`, up) whose other end is in `peer`.
fn veth(node: &Netns, name: &str, peer: &Netns) {
    let other = format!("{name}p");
    node.exec(&["ip", "link", "add", name, "type", "veth", "peer", "name", &other]);
    node.exec(&["ip", "link", "set", &other, "netns", peer.name()]);
    node.exec(&["ip", "link", "set", name, "up"]);
    peer.exec(&["ip", "link", "set", &other, "up"]);
}

#[test]
fn every_port_of_the_nodes_networking_is_refused_with_its_rule_and_the_node_stays_reachable() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let node = ovs.node();
    // The node's uplink: an address and the default route, to a peer.
    let peer = Netns::new("tcg");
    veth(node, "up0", &peer);
    node.exec(&["ip", "addr", "add", &format!("{NODE_IP}/24"), "dev", "up0"]);
    peer.exec(&["ip", "addr", "add", &format!("{PEER_IP}/24"), "dev", "up0p"]);
    node.exec(&["ip", "route", "add", "default", "via", PEER_IP, "dev", "up0"]);
    // A second device with an address only, and a bare one for an IDS.
    veth(node, "addr0", &peer);
    node.exec(&["ip", "addr", "add", "10.98.0.1/24", "dev", "addr0"]);
    veth(node, "ids0", &peer);
    // Another bridge's port, and ports of the node's networking on this
    // bridge that someone else made: a patch port, a tunnel, Antrea's
    // gateway, OVN's management port.
    let other = ovs.add_bridge("br-ex");
    veth(node, "ext0", &peer);
    ovs.vsctl(&["add-port", &other.name, "ext0"]);
    ovs.vsctl(&[
        "add-port",
        &bridge.name,
        "patch-ex",
        "--",
        "set",
        "interface",
        "patch-ex",
        "type=patch",
        "options:peer=patch-in",
    ]);
    ovs.vsctl(&[
        "add-port",
        &bridge.name,
        "tun0",
        "--",
        "set",
        "interface",
        "tun0",
        "type=vxlan",
        "options:remote_ip=10.98.0.9",
    ]);
    ovs.vsctl(&[
        "add-port",
        &bridge.name,
        "gw0",
        "--",
        "set",
        "interface",
        "gw0",
        "type=internal",
        "--",
        "set",
        "port",
        "gw0",
        "external_ids:antrea-type=gateway",
    ]);
    ovs.vsctl(&[
        "add-port",
        &bridge.name,
        "ovn-k8s-mp0",
        "--",
        "set",
        "interface",
        "ovn-k8s-mp0",
        "type=internal",
    ]);
    let reachable = || node.try_exec(&["ping", "-c", "1", "-W", "1", PEER_IP]).status.success();
    assert!(reachable(), "the node reaches its peer before any TrafficControl");

    let cluster = DevCluster::start();
    cluster.apply(&namespace_yaml("default"));
    let web = Pod::attach(&ovs, &bridge, "default", "web", 1);
    cluster.create_pod(&web, NODE, &[("app", "web")]);
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);
    let ports_before = ovs.vsctl(&["list-ports", &bridge.name]);

    let refused = [
        (
            "uplink",
            "{device: {name: up0}}",
            "device up0 carries the node's default route: attached to the bridge it would cut the node off",
        ),
        (
            "addressed",
            "{device: {name: addr0}}",
            "device addr0 carries the node's address 10.98.0.1: attached to the bridge it would cut the node off",
        ),
        (
            "other-bridge",
            "{device: {name: ext0}}",
            &format!("port ext0 is already attached to bridge {}", other.name),
        ),
        (
            "patch",
            "{device: {name: patch-ex}}",
            "port patch-ex is a patch port: it joins this bridge to another and carries the node's traffic",
        ),
        (
            "tunnel",
            "{device: {name: tun0}}",
            "port tun0 is a vxlan tunnel port the agent did not create: it carries the node's traffic",
        ),
        ("gateway", "{ovsInternal: {name: gw0}}", "port gw0 is Antrea's gateway port (antrea-type=gateway)"),
        ("mgmt", "{ovsInternal: {name: ovn-k8s-mp0}}", "port ovn-k8s-mp0 is OVN-Kubernetes' management port"),
        (
            "to-itself",
            &format!("{{vxlan: {{remoteIP: {NODE_IP}}}}}"),
            "remoteIP 10.99.0.1 is an address of this node (device up0): a tunnel must lead to another host",
        ),
    ];
    let manifests: String = refused.iter().map(|(name, target, _)| mirror(name, target) + "---\n").collect();
    cluster.apply(&(manifests + &mirror("ids", "{device: {name: ids0}}")));
    agent.wait_status("every TrafficControl judged", WAIT, |s| {
        s.in_sync() && s.traffic_controls.len() == refused.len() + 1
    });
    for (name, _, rule) in &refused {
        agent.wait_for(&format!("{name} refused in kubectl"), WAIT, |_| {
            cluster.condition(name, NODE, "Realized", "status") == "False"
        });
        assert_eq!(cluster.condition(name, NODE, "Realized", "message"), **rule, "tc/{name}");
    }
    let events = cluster.events("uplink");
    assert!(
        events.iter().any(|(_, message)| message.contains("default route")),
        "an Event says why: {events:?}"
    );
    // The plain device is adopted and mirrors; nothing else is new.
    assert_eq!(
        agent.status().traffic_control("ids").map(|t| t.progress.clone()).as_deref(),
        Some("Realized")
    );
    let mut expected: Vec<&str> = ports_before.lines().chain(["ids0"]).collect();
    expected.sort_unstable();
    let mut ports: Vec<String> =
        ovs.vsctl(&["list-ports", &bridge.name]).lines().map(str::to_owned).collect();
    ports.sort();
    assert_eq!(ports, expected, "only the IDS's device joined the bridge");
    assert!(reachable(), "the node still reaches its peer");
    assert_eq!(ovs.vsctl(&["list-ports", &other.name]).trim(), "ext0", "the other bridge keeps its port");
}

/// What can be decided from the object alone is refused when it is
/// applied: kubectl shows the field and the rule (the dev API server
/// validates as the agent does), and the switch never sees a port.
#[test]
fn a_tunnel_to_loopback_or_the_unspecified_address_is_refused_by_kubectl_and_makes_no_port() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let cluster = DevCluster::start();
    cluster.apply(&namespace_yaml("default"));
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);
    for (name, ip, kind) in
        [("loopback", "127.0.0.1", "a loopback address"), ("nowhere", "0.0.0.0", "the unspecified address")]
    {
        let file = std::env::temp_dir().join(tests::cmd::unique("tc-guard-"));
        std::fs::write(&file, mirror(name, &format!("{{vxlan: {{remoteIP: {ip}}}}}"))).expect("manifest");
        let output = cluster.try_kubectl(&["apply", "-f", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "tc/{name} applied");
        assert!(
            said.contains(&format!("tc/{name}: spec.targetPort.vxlan.remoteIP: {ip} is {kind}")),
            "kubectl says: {said}"
        );
    }
    agent.wait_status("in sync with nothing to do", WAIT, |s| s.in_sync() && s.traffic_controls.is_empty());
    assert_eq!(ovs.vsctl(&["list-ports", &bridge.name]).trim(), "", "no tunnel port was made");
}
