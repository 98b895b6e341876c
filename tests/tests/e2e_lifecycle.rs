//! TrafficControls coming and going, and the switch restarting, on a real
//! switch: flows go before their port, a shared port stays until its last
//! user goes, and a restarted ovs-vswitchd gets everything back.

use datapath::flows::Cookie;
use tests::capture::Capture;
use tests::node::TestNode;
use tests::plans::{mirror_to, traffic_controls};
use tests::pod::Pod;

fn selecting(name: &str, app: &str) -> String {
    mirror_to(name, "ovsInternal: {name: tap0}")
        .replace("podSelector: {}", &format!("podSelector: {{matchLabels: {{app: {app}}}}}"))
}

#[tokio::test(flavor = "current_thread")]
async fn a_shared_port_stays_until_its_last_user_goes_and_flows_go_before_ports() {
    let mut node = TestNode::start().await;
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let db = Pod::attach(&node.ovs, &node.bridge, "prod", "db", 2);
    let pods = [web.info(&[("app", "web")]), db.info(&[("app", "db")])];
    let both = traffic_controls(&[selecting("a", "web"), selecting("b", "db")].concat());
    let report = node.reconcile(&both, &pods).await;
    assert_eq!(report.plan.ports["tap0"].users.len(), 2);
    let has_flows_of = |node: &TestNode, tc: &str| {
        let cookie = format!("cookie={:#x},", Cookie::traffic_control(tc).0);
        node.ovs.dump_flows(&node.bridge).iter().any(|f| f.starts_with(&cookie))
    };
    assert!(has_flows_of(&node, "a") && has_flows_of(&node, "b"));

    let only_b = traffic_controls(&selecting("b", "db"));
    let report = node.reconcile(&only_b, &pods).await;
    assert!(report.deleted.is_empty(), "tap0 is still used by b");
    assert!(!has_flows_of(&node, "a") && has_flows_of(&node, "b"));
    assert!(node.ovs.vsctl(&["list-ports", &node.bridge.name]).lines().any(|p| p == "tap0"));

    let report = node.reconcile(&[], &pods).await;
    assert_eq!(report.deleted, ["tap0"]);
    assert!(report.flows.deleted > 0, "the flows went in the same pass, before the port");
    assert!(!node.ovs.vsctl(&["list-ports", &node.bridge.name]).lines().any(|p| p == "tap0"));
    let port_flows = format!("cookie={:#x},", Cookie::port().0);
    assert!(!node.ovs.dump_flows(&node.bridge).iter().any(|f| f.starts_with(&port_flows)));
    // Forwarding between the Pods is untouched.
    assert_eq!(web.ping(&db, 3).received, 3);
}

#[tokio::test(flavor = "current_thread")]
async fn after_ovs_vswitchd_restarts_one_pass_restores_flows_and_mirroring() {
    let mut node = TestNode::start().await;
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let client = Pod::attach(&node.ovs, &node.bridge, "default", "client", 2);
    let pods = [web.info(&[("app", "web")]), client.info(&[("app", "client")])];
    let tcs = traffic_controls(&selecting("mirror-web", "web"));
    let first = node.reconcile(&tcs, &pods).await;
    let unchanged = node.reconcile(&tcs, &pods).await;
    assert_eq!(unchanged.flows.flow_mods(), 0, "an unchanged world costs zero flow changes");

    node.ovs.restart_vswitchd();
    assert!(node.ovs.dump_flows(&node.bridge).is_empty());
    node.reconnect().await;
    let after = node.reconcile(&tcs, &pods).await;
    assert_eq!(after.flows.added, first.plan.flows.len());
    assert!(after.created.is_empty(), "OVSDB kept the ports");
    assert!(node.ovs.is_no_flood(&node.bridge, "tap0"), "no-flood is back with the flows");

    let capture = Capture::inbound(node.ovs.node(), "tap0", "icmp");
    assert_eq!(web.ping(&client, 3).received, 3);
    assert_eq!(capture.stop().len(), 6, "mirroring works again after the restart");
}
