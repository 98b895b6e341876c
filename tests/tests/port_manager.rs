//! The port manager's I/O steps against a real switch: ports of every
//! kind created with their options and marked as the agent's, failures
//! kept to their TrafficControl, and deletions limited to the agent's own
//! ports.

use std::collections::BTreeMap;

use actors::agent::connector::OvsStream;
use actors::port_sync::{PortReport, delete_ports, realize_ports};
use datapath::ovsdb::bridge;
use datapath::plan::{PlanInput, PlannedPort, plan};
use datapath::ports::SwitchPort;
use tests::node::TestNode;
use tests::plans::{mirror_to, traffic_controls};
use tests::pod::Pod;

type AgentSwitch = actors::reconcile::Switch<OvsStream, OvsStream, OvsStream>;

/// The port manager's realize step, as the agent runs it.
async fn realize(
    agent: &mut AgentSwitch,
    bridge: &str,
    planned: &BTreeMap<String, PlannedPort>,
) -> PortReport {
    realize_ports(&mut agent.ovsdb, &mut agent.of15, &mut agent.of10, bridge, planned, &mut agent.flooding)
        .await
        .expect("ports")
}

fn planned_ports(yaml: &str, switch_ports: &[SwitchPort]) -> BTreeMap<String, PlannedPort> {
    let tcs = traffic_controls(yaml);
    plan(&PlanInput { node: "node-1", traffic_controls: &tcs, namespaces: &[], pods: &[], switch_ports })
        .ports
}

#[tokio::test(flavor = "current_thread")]
async fn every_port_kind_is_created_with_its_options_marked_as_ours_and_gets_an_ofport() {
    let mut node = TestNode::start().await;
    let (ovs, br, agent) = (&node.ovs, &node.bridge, &mut node.switch);
    let yaml = [
        mirror_to("internal", "ovsInternal: {name: tap0}"),
        mirror_to("geneve", "geneve: {remoteIP: 10.0.10.2, vni: 1}"),
        mirror_to("vxlan", "vxlan: {remoteIP: 10.0.10.2, destinationPort: 4790, vni: 2}"),
        mirror_to("gre", "gre: {remoteIP: 10.0.10.2, key: 4294967295}"),
        mirror_to("erspan1", "erspan: {remoteIP: 10.0.10.2, sessionID: 1, version: 1, index: 26}"),
        mirror_to(
            "erspan2",
            "erspan: {remoteIP: fd00:10::2, sessionID: 2, version: 2, dir: 1, hardwareID: 12}",
        ),
    ]
    .concat();
    let planned = planned_ports(&yaml, &[]);
    let report = realize(agent, &br.name, &planned).await;
    assert_eq!(report.changes.create.len(), 6);
    assert!(report.failures_by_traffic_control.is_empty(), "{:?}", report.failures_by_traffic_control);
    for (name, port) in &planned {
        let seen = report.ports.iter().find(|p| &p.name == name).expect("port on the bridge");
        assert!(seen.usable_ofport().is_some(), "{name} has no ofport: {seen:?}");
        assert!(seen.is_agents());
        // What OVS stores is what the plan says, read back with ovs-vsctl.
        let options = ovs.vsctl(&["get", "interface", name, "options"]);
        for (key, value) in &port.config.options {
            assert!(
                options.contains(&format!("{key}=\"{value}\""))
                    || options.contains(&format!("{key}={value}")),
                "{name}: {key} in {options}"
            );
        }
        assert_eq!(
            ovs.vsctl(&["get", "interface", name, "type"]).trim().trim_matches('"'),
            port.config.interface_type.ovsdb_type()
        );
    }
    // The internal port is up (in the node namespace) and no-flood.
    assert!(ovs.node().exec(&["ip", "link", "show", "tap0"]).contains(",UP"));
    assert!(ovs.is_no_flood(br, "tap0"));
    // A second sync changes nothing.
    let again = realize(agent, &br.name, &planned).await;
    assert!(again.changes.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_device_that_does_not_exist_fails_only_its_traffic_control() {
    let mut node = TestNode::start().await;
    let (br, agent) = (&node.bridge, &mut node.switch);
    let yaml =
        [mirror_to("needs-eno9", "device: {name: eno9}"), mirror_to("fine", "ovsInternal: {name: tap0}")]
            .concat();
    let planned = planned_ports(&yaml, &[]);
    let report = realize(agent, &br.name, &planned).await;
    let failures: Vec<_> = report.failures_by_traffic_control.keys().collect();
    assert_eq!(failures, ["needs-eno9"]);
    assert!(
        report.failures_by_traffic_control["needs-eno9"].contains("eno9"),
        "{:?}",
        report.failures_by_traffic_control
    );
    assert!(report.ports.iter().any(|p| p.name == "tap0" && p.usable_ofport().is_some()));
}

#[tokio::test(flavor = "current_thread")]
async fn only_the_agents_unplanned_ports_are_deleted_and_pod_ports_come_and_go_in_the_view() {
    let mut node = TestNode::start().await;
    let (ovs, br, agent) = (&node.ovs, &node.bridge, &mut node.switch);
    ovs.vsctl(&["add-port", &br.name, "foreign0", "--", "set", "interface", "foreign0", "type=internal"]);
    let pod = Pod::attach(ovs, br, "default", "web-1", 1);
    let planned = planned_ports(&mirror_to("t", "ovsInternal: {name: tap0}"), &[]);
    realize(agent, &br.name, &planned).await;
    let view = bridge::switch_ports(agent.ovsdb.replica(), &br.name);
    let pod_port = view.iter().find(|p| p.name == pod.port).expect("the Pod's port is seen");
    assert_eq!(pod_port.pod().map(|p| p.to_string()).as_deref(), Some("default/web-1"));
    assert_eq!(pod_port.pod_mac().map(|m| m.to_string()), Some(pod.mac.clone()));

    let nothing = planned_ports("", &[]);
    let report = realize(agent, &br.name, &nothing).await;
    assert_eq!(report.changes.delete_after_flows, ["tap0"]);
    assert!(report.ports.iter().any(|p| p.name == "tap0"), "deletion waits for the flows");
    delete_ports(&mut agent.ovsdb, &br.name, &report.changes.delete_after_flows).await.expect("delete");
    let names: Vec<String> =
        bridge::switch_ports(agent.ovsdb.replica(), &br.name).into_iter().map(|p| p.name).collect();
    assert!(
        names.contains(&"foreign0".to_owned())
            && names.contains(&pod.port)
            && !names.contains(&"tap0".to_owned()),
        "{names:?}"
    );

    ovs.vsctl(&["del-port", &br.name, &pod.port]);
    let gone = pod.port.clone();
    agent
        .ovsdb
        .wait_for(|replica| bridge::switch_ports(replica, &br.name).iter().all(|p| p.name != gone))
        .await
        .expect("the Pod's port goes from the view");
}

/// A device someone else attached is adopted: no-flood while a
/// TrafficControl uses it (floods must not leak into an IDS), flooding
/// again once none does, and never removed from the bridge.
#[tokio::test(flavor = "current_thread")]
async fn an_adopted_device_floods_again_when_no_traffic_control_uses_it() {
    let mut node = TestNode::start().await;
    let (ovs, br, agent) = (&node.ovs, &node.bridge, &mut node.switch);
    ovs.node().exec(&["ip", "link", "add", "ids0", "type", "veth", "peer", "name", "ids1"]);
    ovs.node().exec(&["ip", "link", "set", "ids0", "up"]);
    ovs.vsctl(&["add-port", &br.name, "ids0"]);
    agent
        .ovsdb
        .wait_for(|r| {
            bridge::switch_ports(r, &br.name).iter().any(|p| p.name == "ids0" && p.ofport.is_some())
        })
        .await
        .expect("the agent sees the device");
    let view = bridge::switch_ports(agent.ovsdb.replica(), &br.name);
    let planned = planned_ports(&mirror_to("ids", "device: {name: ids0}"), &view);
    assert!(planned["ids0"].adopted, "{planned:?}");
    for (planned, no_flood) in [(planned, true), (planned_ports("", &view), false)] {
        let report = realize(agent, &br.name, &planned).await;
        assert!(report.changes.delete_after_flows.is_empty(), "an adopted device is never removed");
        assert_eq!(ovs.is_no_flood(br, "ids0"), no_flood, "no-flood exactly while a TrafficControl uses it");
    }
}

/// A CNI that writes the Pod's keys on the Port row (as Antrea's does)
/// instead of the Interface row: the agent finds the Pod all the same.
#[tokio::test(flavor = "current_thread")]
async fn pod_keys_written_on_the_port_row_are_found() {
    let mut node = TestNode::start().await;
    let (ovs, br, agent) = (&node.ovs, &node.bridge, &mut node.switch);
    ovs.node().exec(&["ip", "link", "add", "cni0", "type", "veth", "peer", "name", "cni1"]);
    ovs.vsctl(&[
        "add-port",
        &br.name,
        "cni0",
        "--",
        "set",
        "port",
        "cni0",
        "external_ids:pod-name=web-1",
        "external_ids:pod-namespace=default",
        "external_ids:attached-mac=\"02:00:00:00:00:01\"",
    ]);
    agent
        .ovsdb
        .wait_for(|r| bridge::switch_ports(r, &br.name).iter().any(|p| p.name == "cni0" && p.pod().is_some()))
        .await
        .expect("the Pod is found from its Port row");
    let ports = bridge::switch_ports(agent.ovsdb.replica(), &br.name);
    let port = ports.iter().find(|p| p.name == "cni0").expect("cni0");
    assert_eq!(port.pod_mac().map(|m| m.to_string()).as_deref(), Some("02:00:00:00:00:01"));
    assert!(!port.is_agents());
}
