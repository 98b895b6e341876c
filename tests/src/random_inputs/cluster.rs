//! Random Namespaces, Pods and the owned bridge's ports: Pods with random
//! labels on this node and another, host-network ones, Pod ports with
//! each CNI's keys (Antrea, OVN-Kubernetes, ovs-cni), random MACs or
//! none, random distinct ofports (the bounds often), and on some bridges
//! VLANs (access tags, trunks, every `vlan_mode`). Ports of Pods that are
//! gone, the bridge's own port and devices or internal ports the
//! TrafficControls name are there now and then.

use std::collections::{BTreeMap, BTreeSet};

use datapath::cluster::{NamespaceInfo, PodInfo, PodRef};
use datapath::cni::keys::{antrea, ovn_kubernetes, ovs_cni};
use datapath::flows::MacAddr;
use datapath::ports::{OFPORT_MAX, OFPP_LOCAL, PortConfig, SwitchPort};

use super::rng::Rng;
use super::traffic_controls::{DEVICES, INTERNAL_PORTS};

/// The node the plans are for.
pub const NODE: &str = "node-1";
/// Namespace names.
pub const NAMESPACES: [&str; 4] = ["default", "prod", "dev", "kube-system"];
/// Labels a Namespace may carry besides its name.
pub const NAMESPACE_LABELS: [(&str, &str); 4] =
    [("env", "prod"), ("env", "dev"), ("team", "a"), ("team", "b")];
/// Pod label keys.
pub const LABEL_KEYS: [&str; 4] = ["app", "tier", "team", "app.kubernetes.io/name"];
/// Pod label values (the empty value is a valid one).
pub const LABEL_VALUES: [&str; 6] = ["web", "db", "cache", "front", "a", ""];

/// The Namespaces, each with some of [`NAMESPACE_LABELS`].
pub fn namespaces(rng: &mut Rng) -> Vec<NamespaceInfo> {
    NAMESPACES
        .iter()
        .map(|name| {
            let mut namespace = NamespaceInfo::named(name);
            for (key, value) in NAMESPACE_LABELS {
                if rng.chance(30) {
                    namespace.labels.insert(key.to_owned(), value.to_owned());
                }
            }
            namespace
        })
        .collect()
}

/// Up to 16 Pods, most on [`NODE`].
pub fn pods(rng: &mut Rng) -> Vec<PodInfo> {
    (0..rng.between(0, 16))
        .map(|index| {
            let name = format!("{}-{index}", rng.pick(&["web", "db", "api", "cache.v2"]));
            let labels = (0..rng.between(0, 3))
                .map(|_| (rng.pick(&LABEL_KEYS).to_string(), rng.pick(&LABEL_VALUES).to_string()))
                .collect();
            PodInfo {
                pod: PodRef::new(*rng.pick(&NAMESPACES), name),
                uid: Some(format!("uid-{index}")),
                labels,
                node_name: Some(if rng.chance(85) { NODE } else { "node-2" }.to_owned()),
                host_network: rng.chance(5),
                interface_macs: BTreeMap::new(),
            }
        })
        .collect()
}

/// The bridge's ports for `pods` (whose ovs-cni interfaces get their MAC
/// in `interface_macs`, as Multus' annotation gives it), and others.
pub fn switch_ports(rng: &mut Rng, pods: &mut [PodInfo]) -> Vec<SwitchPort> {
    let mut ofports = Ofports::default();
    let with_vlans = rng.chance(35);
    let mut ports = vec![SwitchPort {
        name: "br-int".into(),
        ofport: Some(OFPP_LOCAL),
        interface_type: "internal".into(),
        ..SwitchPort::default()
    }];
    for pod in pods.iter_mut().filter(|p| p.node_name.as_deref() == Some(NODE) && !p.host_network) {
        let count = *rng.pick(&[0, 1, 1, 1, 1, 1, 1, 2]);
        for interface in ["eth0", "net1"].into_iter().take(count) {
            let mut port = pod_port(rng, pod, interface, ports.len());
            port.ofport = Some(ofports.draw(rng));
            if with_vlans {
                set_vlan(rng, &mut port);
            }
            ports.push(port);
        }
    }
    if rng.chance(10) {
        let mut ghost = PodInfo {
            pod: PodRef::new("default", "gone"),
            uid: Some("uid-gone".into()),
            labels: BTreeMap::new(),
            node_name: Some(NODE.into()),
            host_network: false,
            interface_macs: BTreeMap::new(),
        };
        let mut port = pod_port(rng, &mut ghost, "eth0", ports.len());
        port.ofport = Some(ofports.draw(rng));
        ports.push(port);
    }
    let present: Vec<&str> = DEVICES.into_iter().filter(|_| rng.chance(25)).collect();
    for device in present {
        let ofport = ofports.draw(rng);
        ports.push(SwitchPort { name: device.into(), ofport: Some(ofport), ..SwitchPort::default() });
    }
    let present: Vec<&str> = INTERNAL_PORTS.into_iter().filter(|_| rng.chance(15)).collect();
    for internal in present {
        ports.push(SwitchPort {
            name: internal.into(),
            ofport: Some(ofports.draw(rng)),
            external_ids: PortConfig::external_ids(),
            interface_type: "internal".into(),
            ..SwitchPort::default()
        });
    }
    ports
}

/// Distinct ofports: small ones, any, and the highest a port can have.
#[derive(Default)]
struct Ofports(BTreeSet<u32>);

impl Ofports {
    fn draw(&mut self, rng: &mut Rng) -> u32 {
        loop {
            let max = u64::from(OFPORT_MAX);
            let ofport = match rng.between(0, 9) {
                0..=4 => rng.between(1, 64),
                5..=8 => rng.between(1, max),
                _ => rng.between(max - 8, max),
            } as u32;
            if self.0.insert(ofport) {
                return ofport;
            }
        }
    }
}

/// The port of `pod`'s `interface` with one CNI's keys.
fn pod_port(rng: &mut Rng, pod: &mut PodInfo, interface: &str, number: usize) -> SwitchPort {
    let mac = rng.chance(85).then(|| random_mac(rng));
    let mut port = SwitchPort { name: format!("veth{number:04x}"), ..SwitchPort::default() };
    let PodRef { namespace, name } = pod.pod.clone();
    let uid = pod.uid.clone().unwrap_or_default();
    let ids = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let mac_text = mac.map(|m| m.to_string()).unwrap_or_default();
    match rng.between(0, 2) {
        0 => {
            port.port_external_ids = ids(&[
                (antrea::POD_NAME, &name),
                (antrea::POD_NAMESPACE, &namespace),
                (antrea::MAC, &mac_text),
            ]);
            if interface != "eth0" {
                port.port_external_ids.insert(antrea::INTERFACE.into(), interface.into());
            }
        }
        1 => {
            let nad = format!("{namespace}/{interface}");
            let iface_id = match interface {
                "eth0" => format!("{namespace}_{name}"),
                _ => format!("{}_{namespace}_{name}", nad.replace('/', ".")),
            };
            port.external_ids = ids(&[
                (ovn_kubernetes::IFACE_ID, &iface_id),
                (ovn_kubernetes::IFACE_ID_VER, &uid),
                (ovn_kubernetes::MAC, &mac_text),
            ]);
            if interface != "eth0" {
                port.external_ids.insert(ovn_kubernetes::NAD.into(), nad);
            }
        }
        _ => {
            port.port_external_ids = ids(&[(ovs_cni::POD_UID, &uid), (ovs_cni::INTERFACE, interface)]);
            if let Some(mac) = mac {
                pod.interface_macs.insert(interface.to_owned(), mac);
            }
        }
    }
    port.external_ids.retain(|_, v| !v.is_empty());
    port.port_external_ids.retain(|_, v| !v.is_empty());
    port
}

/// A unicast MAC; one of two fixed ones now and then, so two Pods share it.
fn random_mac(rng: &mut Rng) -> MacAddr {
    if rng.chance(5) {
        return MacAddr([0x0a, 0x58, 0x0a, 0, 0, *rng.pick(&[1, 2])]);
    }
    let bytes = rng.next_u64().to_be_bytes();
    MacAddr([bytes[0] & 0xfe, bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]])
}

/// A random VLAN setting, as ovs-cni (or anyone) could leave it.
fn set_vlan(rng: &mut Rng, port: &mut SwitchPort) {
    let mut vlan = |rng: &mut Rng| {
        if rng.chance(50) { *rng.pick(&[10, 20, 30]) } else { rng.in_range(0, 4095) as u16 }
    };
    match rng.between(0, 5) {
        0 => {}
        1 | 2 => port.tag = Some(vlan(rng)),
        3 => port.trunks = trunks(rng, &mut vlan),
        _ => {
            let mode = *rng.pick(&["access", "trunk", "native-tagged", "native-untagged", "dot1q-tunnel"]);
            port.vlan_mode = Some(mode.to_owned());
            if rng.chance(60) {
                port.tag = Some(vlan(rng));
            }
            if rng.chance(40) {
                port.trunks = trunks(rng, &mut vlan);
            }
        }
    }
}

/// A `trunks` set (OVSDB keeps it sorted, without repeats).
fn trunks(rng: &mut Rng, vlan: &mut impl FnMut(&mut Rng) -> u16) -> Vec<u16> {
    let set: BTreeSet<u16> = (0..rng.between(1, 3)).map(|_| vlan(rng)).collect();
    set.into_iter().collect()
}
