//! The agent as a process through the faults a node lives with: a crash
//! of ovs-vswitchd (`kill -9`, then the supervisor's restart), an
//! ovsdb-server restart, and an API server restart that drops every watch
//! and forgets watch history.

use std::time::{Duration, Instant};

use tests::agent::AgentProcess;
use tests::capture::Capture;
use tests::collector::{Collector, INTERFACE, icmp_copies};
use tests::devcluster::{DevCluster, namespace_yaml};
use tests::ovs::{Bridge, Ovs};
use tests::pod::Pod;

const NODE: &str = "node-1";
const WAIT: Duration = Duration::from_secs(20);
const MIRROR_WEB_APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/seed/mirror-web-app.yaml");

/// A node with web-1, client and db in `default`, the collector, and the
/// agent with the seed's mirror-web-app realized.
struct Node {
    ovs: Ovs,
    bridge: Bridge,
    collector: Collector,
    web: Pod,
    client: Pod,
    db: Pod,
    cluster: DevCluster,
    agent: AgentProcess,
}

impl Node {
    fn start(cluster: DevCluster) -> Node {
        let ovs = Ovs::start();
        let bridge = ovs.add_bridge("br");
        let collector = Collector::attach(&ovs);
        let web = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
        let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
        let db = Pod::attach(&ovs, &bridge, "default", "db", 3);
        cluster.apply(&namespace_yaml("default"));
        cluster.create_pod(&web, NODE, &[("app", "web")]);
        cluster.create_pod(&client, NODE, &[("app", "client")]);
        cluster.create_pod(&db, NODE, &[("app", "db")]);
        let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
        agent.wait_ready(WAIT);
        cluster.kubectl(&["apply", "-f", MIRROR_WEB_APP]);
        agent.wait_status("mirror-web-app realized", WAIT, |s| {
            s.pods_of("mirror-web-app") == ["default/web-1"]
        });
        Node { ovs, bridge, collector, web, client, db, cluster, agent }
    }

    /// VXLAN copies of ICMP at the collector while web-1 pings client.
    fn mirrored_pings(&self, count: u32) -> usize {
        self.collector.resolve(&self.ovs);
        let capture = Capture::inbound(&self.collector.netns, INTERFACE, "udp port 4789");
        self.web.ping(&self.client, count);
        icmp_copies(&capture.stop()).len()
    }

    /// `tc_agent_flow_mods_total`.
    fn flow_mods(&self) -> u64 {
        self.agent.flow_mods_total().expect("the flow_mods counter")
    }
}

#[test]
fn after_kill_9_of_ovs_vswitchd_the_agent_restores_the_same_flows_and_mirroring_within_seconds() {
    let mut node = Node::start(DevCluster::start());
    assert_eq!(node.mirrored_pings(2), 4);
    let flows = node.ovs.dump_flows(&node.bridge);

    let killed = Instant::now();
    node.ovs.crash_vswitchd();
    let restarted = killed.elapsed();
    let Node { ovs, bridge, agent, .. } = &mut node;
    agent.wait_for("the same flows back on the new ovs-vswitchd", WAIT, |_| ovs.dump_flows(bridge) == flows);
    let flows_back = killed.elapsed();
    // Traffic is mirrored again: a ping, until its copies arrive.
    let deadline = Instant::now() + WAIT;
    while node.mirrored_pings(1) != 2 {
        assert!(Instant::now() < deadline, "mirroring never came back;\n{}", node.agent.log());
    }
    let mirroring_back = killed.elapsed();
    eprintln!(
        "kill -9 of ovs-vswitchd: new ovs-vswitchd up after {restarted:?}, \
         flows restored after {flows_back:?}, mirrored traffic after {mirroring_back:?}"
    );
    assert!(mirroring_back < Duration::from_secs(10), "recovery took {mirroring_back:?}");
    assert!(node.ovs.is_no_flood(&node.bridge, &vxlan_port(&node)), "the target port is no-flood again");
    assert_eq!(node.mirrored_pings(3), 6, "each packet copied once, as before the crash");
}

fn vxlan_port(node: &Node) -> String {
    node.agent
        .status()
        .traffic_control("mirror-web-app")
        .map(|t| t.target_port.clone())
        .expect("mirror-web-app's target port")
}

#[test]
fn an_api_server_restart_costs_no_flow_and_changes_after_it_are_followed() {
    let mut node = Node::start(DevCluster::start_persistent());
    let flows = node.ovs.dump_flows(&node.bridge);
    let flow_mods = node.flow_mods();

    // While the API server is down the switch keeps what it has.
    node.cluster.stop();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(node.ovs.dump_flows(&node.bridge), flows, "an unreachable API server removes nothing");
    assert_eq!(node.mirrored_pings(1), 2, "and mirroring goes on");

    // Back, with every object but no watch history: the agent relists.
    node.cluster.restart();
    node.cluster.kubectl(&["label", "pod", "client", "app=web", "--overwrite"]);
    node.agent.wait_status("client selected after the restart", WAIT, |s| {
        s.pods_of("mirror-web-app") == ["default/client", "default/web-1"]
    });
    let added = node.ovs.dump_flows(&node.bridge).len() - flows.len();
    assert!(added > 0);
    assert_eq!(
        node.flow_mods() - flow_mods,
        u64::try_from(added).unwrap_or(u64::MAX),
        "only the new Pod's flows were sent: reconnecting reinstalled nothing"
    );
    let reason = node.cluster.condition("mirror-web-app", NODE, "Realized", "status");
    assert_eq!(reason, "True", "the status survived the restart");
    let log = node.agent.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn after_ovsdb_server_restarts_the_agent_reconnects_and_creates_ports_again() {
    let mut node = Node::start(DevCluster::start());
    let flow_mods = node.flow_mods();
    let flows = node.ovs.dump_flows(&node.bridge).len();
    node.ovs.restart_ovsdb();
    // A TrafficControl that needs a new port: the port manager's OVSDB
    // connections died with the server and must come back on their own.
    node.cluster.apply(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: client-to-tap}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: client}}}\n  direction: Ingress\n  action: Mirror\n  targetPort: {ovsInternal: {name: tap0}}\n",
    );
    node.agent.wait_status("client-to-tap realized after the restart", WAIT, |s| {
        s.pods_of("client-to-tap") == ["default/client"]
            && s.traffic_control("client-to-tap").is_some_and(|t| t.progress == "Realized")
    });
    let capture = Capture::inbound(node.ovs.node(), "tap0", "icmp");
    // db's requests: web's packets all belong to mirror-web-app.
    assert_eq!(node.db.ping(&node.client, 2).received, 2);
    assert_eq!(capture.stop().len(), 2, "the 2 requests client receives, copied to tap0");
    assert_eq!(node.mirrored_pings(1), 2, "mirror-web-app kept working");
    let added = node.ovs.dump_flows(&node.bridge).len() - flows;
    assert_eq!(
        node.flow_mods() - flow_mods,
        u64::try_from(added).unwrap_or(u64::MAX),
        "only client-to-tap's flows were sent: reconnecting reinstalled nothing"
    );
}
