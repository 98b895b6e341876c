//! The pass's port operations against a real switch: ports of every kind
//! created with their options, marked as the agent's and numbered as the
//! pass asked; failures kept to their TrafficControl; deletions limited to
//! the agent's own ports; adopted devices out of floods while used.

use datapath::ovsdb::bridge;
use datapath::plan::Progress;
use tests::node::TestNode;
use tests::plans::{mirror_to, traffic_controls};
use tests::pod::Pod;

#[tokio::test(flavor = "current_thread")]
async fn every_port_kind_is_created_with_its_options_marked_as_ours_and_gets_the_ofport_it_asked_for() {
    let mut node = TestNode::start().await;
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
    let tcs = traffic_controls(&yaml);
    let report = node.reconcile(&tcs, &[]).await;
    assert_eq!(report.created.len(), 6);
    assert_eq!(report.plans, 1, "OVS granted every ofport the pass asked for");
    for (name, tc) in &report.plan.traffic_controls {
        assert_eq!(tc.progress, Progress::Realized, "{name}");
    }
    let (ovs, br) = (&node.ovs, &node.bridge);
    for (name, port) in &report.plan.ports {
        let seen = report.ports.iter().find(|p| &p.name == name).expect("port on the bridge");
        assert_eq!(seen.usable_ofport(), port.ofport, "{name}: {seen:?}");
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
        let requested = ovs.vsctl(&["get", "interface", name, "ofport_request"]);
        assert_eq!(requested.trim().parse::<u32>().ok(), port.ofport, "{name}");
    }
    // The internal port is up (in the node namespace) and no-flood.
    assert!(ovs.node().exec(&["ip", "link", "show", "tap0"]).contains(",UP"));
    assert!(ovs.is_no_flood(br, "tap0"));
    // A second pass changes nothing.
    let again = node.reconcile(&tcs, &[]).await;
    assert!(again.created.is_empty() && again.deleted.is_empty());
    assert_eq!(again.flows.flow_mods(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_device_that_does_not_exist_fails_only_its_traffic_control() {
    let mut node = TestNode::start().await;
    let yaml =
        [mirror_to("needs-eno9", "device: {name: eno9}"), mirror_to("fine", "ovsInternal: {name: tap0}")]
            .concat();
    let report = node.reconcile(&traffic_controls(&yaml), &[]).await;
    let Progress::PortFailed(why) = &report.plan.traffic_controls["needs-eno9"].progress else {
        panic!("{:?}", report.plan.traffic_controls)
    };
    assert!(why.contains("eno9"), "{why}");
    assert_eq!(report.plan.traffic_controls["fine"].progress, Progress::Realized);
    assert_eq!(report.plans, 2, "the pass planned again once OVS said eno9 cannot be opened");
    assert!(report.ports.iter().any(|p| p.name == "tap0" && p.usable_ofport().is_some()));
    // No flow sends to the port OVS could not open.
    let eno9 = report.plan.ports["eno9"].ofport;
    assert_eq!(eno9, None);
}

#[tokio::test(flavor = "current_thread")]
async fn only_the_agents_unplanned_ports_are_deleted_and_pod_ports_come_and_go_in_the_view() {
    let mut node = TestNode::start().await;
    let (ovs, br) = (&node.ovs, &node.bridge);
    ovs.vsctl(&["add-port", &br.name, "foreign0", "--", "set", "interface", "foreign0", "type=internal"]);
    let pod = Pod::attach(ovs, br, "default", "web-1", 1);
    let tcs = traffic_controls(&mirror_to("t", "ovsInternal: {name: tap0}"));
    node.reconcile(&tcs, &[]).await;
    let bridge_name = node.bridge.name.clone();
    let view = bridge::switch_ports(node.switch.ovsdb.replica(), &bridge_name);
    let pod_port = view.iter().find(|p| p.name == pod.port).expect("the Pod's port is seen");
    let claim = pod_port.pod_claim().expect("the Pod's keys");
    assert_eq!(claim.pod.map(|p| p.to_string()).as_deref(), Some("default/web-1"));
    assert_eq!(claim.mac.map(|m| m.to_string()), Some(pod.mac.clone()));

    let report = node.reconcile(&[], &[]).await;
    assert_eq!(report.deleted, ["tap0"]);
    let names: Vec<String> = report.ports.into_iter().map(|p| p.name).collect();
    assert!(
        names.contains(&"foreign0".to_owned())
            && names.contains(&pod.port)
            && !names.contains(&"tap0".to_owned()),
        "{names:?}"
    );

    node.ovs.vsctl(&["del-port", &bridge_name, &pod.port]);
    let gone = pod.port.clone();
    node.switch
        .ovsdb
        .wait_for(|replica| bridge::switch_ports(replica, &bridge_name).iter().all(|p| p.name != gone))
        .await
        .expect("the Pod's port goes from the view");
}

/// A device someone else attached is adopted: no-flood while a
/// TrafficControl uses it (floods must not leak into an IDS), flooding
/// again once none does, and never removed from the bridge.
#[tokio::test(flavor = "current_thread")]
async fn an_adopted_device_floods_again_when_no_traffic_control_uses_it() {
    let mut node = TestNode::start().await;
    let (ovs, br) = (&node.ovs, &node.bridge);
    ovs.node().exec(&["ip", "link", "add", "ids0", "type", "veth", "peer", "name", "ids1"]);
    ovs.node().exec(&["ip", "link", "set", "ids0", "up"]);
    ovs.vsctl(&["add-port", &br.name, "ids0"]);
    let bridge_name = br.name.clone();
    node.switch
        .ovsdb
        .wait_for(|r| {
            bridge::switch_ports(r, &bridge_name).iter().any(|p| p.name == "ids0" && p.ofport.is_some())
        })
        .await
        .expect("the agent sees the device");
    let tcs = traffic_controls(&mirror_to("ids", "device: {name: ids0}"));
    for (tcs, no_flood) in [(tcs.as_slice(), true), (&[], false)] {
        let report = node.reconcile(tcs, &[]).await;
        assert!(report.created.is_empty() && report.deleted.is_empty(), "an adopted device is never touched");
        if no_flood {
            assert!(report.plan.ports["ids0"].adopted, "{:?}", report.plan.ports);
        }
        assert_eq!(
            node.ovs.is_no_flood(&node.bridge, "ids0"),
            no_flood,
            "no-flood exactly while a TrafficControl uses it"
        );
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
        .wait_for(|r| {
            bridge::switch_ports(r, &br.name).iter().any(|p| p.name == "cni0" && p.pod_claim().is_some())
        })
        .await
        .expect("the Pod is found from its Port row");
    let ports = bridge::switch_ports(agent.ovsdb.replica(), &br.name);
    let port = ports.iter().find(|p| p.name == "cni0").expect("cni0");
    assert_eq!(
        port.pod_claim().and_then(|c| c.mac).map(|m| m.to_string()).as_deref(),
        Some("02:00:00:00:00:01")
    );
    assert!(!port.is_agents());
}
