//! Pods attached the way each CNI attaches them, on a real switch with the
//! agent as a process: Antrea's, OVN-Kubernetes', Kube-OVN's and ovs-cni's
//! keys all find their Pod (by name, by UID, or both), and a port left
//! from an earlier Pod of the same name is reported, not mirrored.

use std::time::Duration;

use tests::agent::AgentProcess;
use tests::capture::Capture;
use tests::devcluster::{DevCluster, namespace_yaml};
use tests::ovs::Ovs;
use tests::pod::{CniKeys, Pod};

const NODE: &str = "node-1";
const WAIT: Duration = Duration::from_secs(20);

const EGRESS_TO_TAP0: &str = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: mirror-web}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: web}}}\n  direction: Egress\n  action: Mirror\n  targetPort: {ovsInternal: {name: tap0}}\n";

#[test]
fn every_cnis_pod_keys_are_mirrored_and_a_port_of_an_earlier_pod_is_reported_not_mirrored() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let cluster = DevCluster::start();
    cluster.apply(&namespace_yaml("default"));
    let web = [("app", "web")];
    // The Pods exist before their ports, as a kubelet creates them: the
    // CNIs that write the UID take it from the Pod.
    let ovnk_uid = cluster.create_pod_named("default", "web-ovnk", NODE, &web);
    let vm_uid = cluster.create_pod_named("default", "web-vm", NODE, &web);
    cluster.create_pod_named("default", "web-kubeovn", NODE, &web);
    cluster.create_pod_named("default", "web-again", NODE, &web);
    cluster.create_pod_named("default", "client", NODE, &[("app", "client")]);
    let ovnk =
        Pod::attach_as(&ovs, &bridge, "default", "web-ovnk", 1, &CniKeys::OvnKubernetes { uid: ovnk_uid });
    let vm = Pod::attach_as(
        &ovs,
        &bridge,
        "default",
        "web-vm",
        2,
        &CniKeys::OvsCni { uid: vm_uid, interface: "net1".into() },
    );
    let kube_ovn = Pod::attach_as(&ovs, &bridge, "default", "web-kubeovn", 3, &CniKeys::KubeOvn);
    // A port of an earlier Pod named web-again: its UID is not the Pod's.
    let stale = Pod::attach_as(
        &ovs,
        &bridge,
        "default",
        "web-again",
        4,
        &CniKeys::OvnKubernetes { uid: "a-deleted-pods-uid".into() },
    );
    let client = Pod::attach(&ovs, &bridge, "default", "client", 9);
    cluster.apply(EGRESS_TO_TAP0);

    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);
    agent.wait_status("the three Pods found, the earlier one's port reported", WAIT, |s| {
        // web-again is selected, but the only port naming it is not its.
        s.pods_of("mirror-web")
            == ["default/web-again", "default/web-kubeovn", "default/web-ovnk", "default/web-vm"]
            && s.port_problems
                .iter()
                .any(|p| p.contains(&stale.port) && p.contains("earlier Pod default/web-again"))
    });
    let status = agent.status();
    let entry = status.traffic_control("mirror-web").expect("mirror-web");
    assert_eq!(entry.progress, "Realized");
    let metrics = agent.get("/metrics").map(|(_, body)| body).unwrap_or_default();
    assert!(metrics.lines().any(|l| l == "tc_agent_port_problems 1"), "{metrics}");
    let log = agent.log();
    assert!(
        log.lines().any(|l| l.contains("a port with a Pod's keys matches no Pod") && l.contains(&stale.port)),
        "{log}"
    );

    // One copy of each echo request of the three; none of the stale port's.
    for (pod, name) in [(&ovnk, "OVN-Kubernetes"), (&vm, "ovs-cni"), (&kube_ovn, "Kube-OVN")] {
        let capture = Capture::inbound(ovs.node(), "tap0", "icmp[icmptype] == icmp-echo");
        assert_eq!(pod.ping(&client, 3).received, 3, "{name}'s Pod reaches the client");
        assert_eq!(capture.stop().len(), 3, "one copy per request of {name}'s Pod");
    }
    let capture = Capture::inbound(ovs.node(), "tap0", "icmp");
    assert_eq!(stale.ping(&client, 3).received, 3, "the earlier Pod's port still forwards");
    assert!(capture.stop().is_empty(), "nothing of a port that is not the Pod's is mirrored");
    cluster.assert_agent_requests_allowed_by_deploy_rbac();
}
