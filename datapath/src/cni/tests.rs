use super::*;

fn port(interface: &[(&str, &str)], port_row: &[(&str, &str)]) -> SwitchPort {
    let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    SwitchPort {
        name: "veth1".into(),
        ofport: Some(5),
        external_ids: map(interface),
        port_external_ids: map(port_row),
        ..SwitchPort::default()
    }
}

fn claim(port: &SwitchPort) -> PodClaim {
    match identify(port) {
        PortIdentity::Pod(claim) => claim,
        other => panic!("not a Pod's port: {other:?}"),
    }
}

fn pod(claim: &PodClaim) -> Option<String> {
    claim.pod.as_ref().map(ToString::to_string)
}

#[test]
fn antreas_keys_on_the_port_row_name_the_pod_and_its_mac() {
    let found = claim(&port(
        &[],
        &[
            ("antrea-type", "container"),
            ("pod-name", "web-1"),
            ("pod-namespace", "default"),
            ("attached-mac", "0a:58:0a:f4:01:05"),
            ("ip-address", "10.244.1.5"),
        ],
    ));
    assert_eq!((found.cni, pod(&found).as_deref(), found.uid), (Cni::Antrea, Some("default/web-1"), None));
    assert_eq!(found.mac.map(|m| m.to_string()).as_deref(), Some("0a:58:0a:f4:01:05"));
    assert_eq!(found.interface, "eth0");
    let secondary =
        claim(&port(&[], &[("pod-name", "web-1"), ("pod-namespace", "default"), ("if-dev", "net1")]));
    assert_eq!(secondary.interface, "net1");
}

#[test]
fn ovn_kubernetes_names_the_pod_in_iface_id_and_its_uid_in_iface_id_ver() {
    let found = claim(&port(
        &[
            ("iface-id", "default_nginx-7d9c"),
            ("iface-id-ver", "3f2c-uid"),
            ("attached_mac", "0a:58:0a:f4:01:05"),
            ("ip_addresses", "10.244.1.5/24"),
            ("sandbox", "8d9c4f1e2a3b"),
        ],
        &[],
    ));
    assert_eq!(found.cni, Cni::OvnKubernetes);
    assert_eq!(
        (pod(&found).as_deref(), found.uid.as_deref()),
        (Some("default/nginx-7d9c"), Some("3f2c-uid"))
    );
    assert_eq!(found.mac.map(|m| m.to_string()).as_deref(), Some("0a:58:0a:f4:01:05"));
    assert_eq!(found.interface, "eth0");
}

#[test]
fn an_ovn_kubernetes_secondary_network_port_is_another_interface_of_the_same_pod() {
    let found = claim(&port(
        &[
            ("iface-id", "ns1.my.net_default_p1"),
            ("iface-id-ver", "uid-1"),
            ("k8s.ovn.org/nad", "ns1/my-net"),
            ("k8s.ovn.org/network", "my-net"),
        ],
        &[],
    ));
    assert_eq!((pod(&found).as_deref(), found.interface.as_str()), (Some("default/p1"), "ns1/my-net"));
}

#[test]
fn ovn_kubernetes_management_port_and_plain_ports_are_no_pods() {
    assert_eq!(identify(&port(&[("iface-id", "k8s-node-1")], &[])), PortIdentity::None);
    assert_eq!(identify(&port(&[], &[])), PortIdentity::None);
    assert_eq!(identify(&port(&[("antrea-type", "traffic-control")], &[])), PortIdentity::None);
}

#[test]
fn kube_ovn_names_the_pod_on_the_interface_row_and_its_network_in_iface_id() {
    let primary = claim(&port(
        &[
            ("pod_name", "p1"),
            ("pod_namespace", "default"),
            ("iface-id", "p1.default"),
            ("vendor", "kube-ovn"),
            ("ip", "10.16.0.9"),
        ],
        &[],
    ));
    assert_eq!(
        (primary.cni, pod(&primary).as_deref(), primary.interface.as_str(), primary.mac),
        (Cni::KubeOvn, Some("default/p1"), "eth0", None)
    );
    let attached = claim(&port(
        &[("pod_name", "p1"), ("pod_namespace", "default"), ("iface-id", "p1.default.attachnet.default.ovn")],
        &[],
    ));
    assert_eq!(attached.interface, "attachnet.default.ovn");
}

#[test]
fn ovs_cni_names_only_the_pods_uid_and_interface() {
    let found = claim(&port(
        &[],
        &[
            ("contPodUid", "uid-7"),
            ("contIface", "net1"),
            ("contNetns", "/var/run/netns/x"),
            ("owner", "ovs-cni.network.kubevirt.io"),
        ],
    ));
    assert_eq!(
        (found.cni, found.pod, found.uid.as_deref(), found.interface.as_str()),
        (Cni::OvsCni, None, Some("uid-7"), "net1")
    );
    let no_uid = claim(&port(&[], &[("contPodUid", ""), ("contIface", "net1")]));
    assert_eq!((no_uid.pod, no_uid.uid), (None, None), "an empty UID names no Pod");
}

#[test]
fn keys_of_two_cnis_that_agree_are_merged_and_ones_that_disagree_are_reported() {
    // ovs-cni with an OVN port: the UID and the name agree.
    let merged = claim(&port(
        &[("iface-id", "default_p1"), ("iface-id-ver", "uid-1")],
        &[("contPodUid", "uid-1"), ("contIface", "net1")],
    ));
    assert_eq!((pod(&merged).as_deref(), merged.uid.as_deref()), (Some("default/p1"), Some("uid-1")));
    let PortIdentity::Conflicting(why) = identify(&port(
        &[("iface-id", "default_p1"), ("iface-id-ver", "uid-1")],
        &[("pod-name", "p2"), ("pod-namespace", "default")],
    )) else {
        panic!("not reported")
    };
    assert_eq!(
        why,
        "port veth1: Antrea keys say Pod default/p2, OVN-Kubernetes keys say Pod default/p1 (UID uid-1)"
    );
    let uids = identify(&port(
        &[("iface-id", "default_p1"), ("iface-id-ver", "uid-1")],
        &[("contPodUid", "uid-2"), ("contIface", "net1")],
    ));
    assert!(matches!(uids, PortIdentity::Conflicting(_)), "{uids:?}");
}

#[test]
fn a_bad_mac_is_no_mac_and_the_interface_row_wins() {
    let found = claim(&port(
        &[("attached-mac", "02:00:00:00:00:09")],
        &[("pod-name", "p"), ("pod-namespace", "d"), ("attached-mac", "02:00:00:00:00:01")],
    ));
    assert_eq!(found.mac.map(|m| m.to_string()).as_deref(), Some("02:00:00:00:00:09"));
    let bad = claim(&port(&[], &[("pod-name", "p"), ("pod-namespace", "d"), ("attached-mac", "not a mac")]));
    assert_eq!(bad.mac, None);
}
