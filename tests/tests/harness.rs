//! The harness itself, on a real switch: if these fail, nothing built on
//! them means anything.

use tests::ovs::Ovs;
use tests::pod::{Pings, Pod};

#[test]
fn a_private_switch_runs_a_netdev_bridge_that_answers_openflow() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    assert_eq!(ovs.vsctl(&["get", "bridge", &bridge.name, "datapath_type"]).trim(), "netdev");
    assert!(ovs.dump_flows(&bridge).is_empty(), "fail_mode=secure starts with no flows");
    // The userspace datapath's devices live in the node namespace only.
    assert!(ovs.node().exec(&["ip", "link", "show"]).contains("ovs-netdev"));
}

#[test]
fn pods_on_the_bridge_ping_each_other_through_normal_and_carry_the_cni_ids() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let a = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let b = Pod::attach(&ovs, &bridge, "prod", "db", 2);
    assert_eq!(a.ping(&b, 3).received, 0, "a secure bridge without flows forwards nothing");
    ovs.ofctl(&bridge, "add-flow", &["actions=NORMAL"]);
    assert_eq!(a.ping(&b, 5), Pings { sent: 5, received: 5 });
    let ids = ovs.vsctl(&["get", "port", &b.port, "external_ids"]);
    for expected in [
        "antrea-type=container",
        "pod-name=db",
        "pod-namespace=prod",
        "attached-mac=\"02:88:00:00:00:02\"",
        "ip-address=\"10.88.0.2\"",
    ] {
        assert!(ids.contains(expected), "{expected} not in {ids}");
    }
}

#[test]
fn dropping_the_switch_removes_its_processes_namespaces_and_files() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let pod = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let (node, pod_ns) = (ovs.node().name().to_owned(), pod.netns.name().to_owned());
    let db = ovs.db_socket();
    drop(pod);
    drop(ovs);
    let namespaces = String::from_utf8_lossy(
        &std::process::Command::new("ip").args(["netns", "list"]).output().unwrap().stdout,
    )
    .into_owned();
    assert!(!namespaces.contains(&node) && !namespaces.contains(&pod_ns), "{namespaces}");
    assert!(!db.exists());
}

#[test]
fn a_restarted_switch_keeps_its_ports_and_loses_its_flows() {
    let mut ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let pod = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    ovs.ofctl(&bridge, "add-flow", &["actions=NORMAL"]);
    assert_eq!(ovs.dump_flows(&bridge).len(), 1);
    let before = ovs.wait_for_ofport(&pod.port);
    ovs.restart_vswitchd();
    assert_eq!(ovs.wait_for_ofport(&pod.port), before);
    assert!(ovs.dump_flows(&bridge).is_empty());
}
