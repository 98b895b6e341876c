//! VLANs on a plain bridge, as ovs-cni sets them up: Pods on access VLANs
//! (the Port's `tag`) and a trunk Pod (the Port's `trunks`) with a host in
//! each VLAN behind it; each VLAN is its own subnet, `10.<vlan>.0.0/24`.
//! Also what a test needs to see VLANs: the Multus network-status
//! annotation that gives an ovs-cni Pod's MAC, probe frames sent raw (no
//! ARP, no IP: a probe to a MAC in another VLAN is exactly what a switch
//! must not deliver), and the 802.1Q tag of a captured copy.

use crate::cmd::unique;
use crate::netns::Netns;
use crate::ovs::{Bridge, Ovs};
use crate::pod::{CniKeys, Pod, mac_of};

/// The EtherType of probe frames (IEEE's local experimental one).
pub const PROBE_ETHERTYPE: &str = "0x88b5";
/// A tcpdump filter for probe frames.
pub const PROBE_FILTER: &str = "ether proto 0x88b5";

/// Address `host` of VLAN `vlan`'s subnet.
pub fn vlan_ip(vlan: u16, host: u8) -> String {
    format!("10.{vlan}.0.{host}")
}

/// Puts `pod`'s port in access VLAN `vlan` and gives its interface
/// address `host` of that VLAN's subnet (instead of the harness's).
pub fn make_access(ovs: &Ovs, pod: &mut Pod, vlan: u16, host: u8) {
    ovs.vsctl(&["set", "port", &pod.port, &format!("tag={vlan}")]);
    readdress(&pod.netns, "eth0", &pod.ip, &vlan_ip(vlan, host));
    pod.ip = vlan_ip(vlan, host);
}

/// A Pod with a trunk attachment, as a VM with VLAN interfaces is: its
/// port on the bridge carries `trunks`, and behind it (on the guest's own
/// switch, a second OVS bridge doing NORMAL) one host per VLAN. Real VLAN
/// devices would be simpler, but the test machine's kernel has no 802.1Q
/// module; OVS tags and untags in userspace.
pub struct TrunkPod {
    /// Its port on the bridge under test.
    pub port: String,
    /// Its host in each VLAN (`eth0`, address `10.<vlan>.0.<host>`).
    pub hosts: Vec<(u16, Pod)>,
    _guest_switch: Bridge,
}

impl TrunkPod {
    /// Attaches the Pod `namespace/name` with CNI keys `keys` to `bridge`
    /// as a trunk of `vlans` (VLAN, attach index of its host).
    pub fn attach(
        ovs: &Ovs,
        bridge: &Bridge,
        (namespace, name): (&str, &str),
        keys: &CniKeys,
        vlans: &[(u16, u8)],
    ) -> TrunkPod {
        let guest_switch = ovs.add_bridge("brvm");
        ovs.ofctl(&guest_switch, "add-flow", &["actions=NORMAL"]);
        let port = unique("trk");
        let inside = unique("trv");
        let node = ovs.node();
        node.exec(&["ip", "link", "add", &port, "type", "veth", "peer", "name", &inside]);
        for device in [&port, &inside] {
            node.exec(&["ip", "link", "set", device, "up"]);
        }
        let list: Vec<String> = vlans.iter().map(|(vlan, _)| vlan.to_string()).collect();
        let mut args = vec!["add-port".to_owned(), bridge.name.clone(), port.clone(), "--".to_owned()];
        let (first_mac, first_ip) = (mac_of(vlans[0].1), vlan_ip(vlans[0].0, vlans[0].1));
        args.extend(keys.set_args(&port, namespace, name, &first_mac, &first_ip));
        args.extend(["--", "set", "port", &port, &format!("trunks={}", list.join(","))].map(str::to_owned));
        ovs.vsctl(&args.iter().map(String::as_str).collect::<Vec<_>>());
        ovs.wait_for_ofport(&port);
        ovs.vsctl(&["add-port", &guest_switch.name, &inside]);
        let hosts = vlans
            .iter()
            .map(|&(vlan, index)| {
                let mut host = Pod::attach_host(ovs, &guest_switch, &format!("{name}-vlan{vlan}"), index);
                make_access(ovs, &mut host, vlan, index);
                (vlan, host)
            })
            .collect();
        TrunkPod { port, hosts, _guest_switch: guest_switch }
    }

    /// Its host in VLAN `vlan`.
    pub fn host(&self, vlan: u16) -> &Pod {
        self.hosts.iter().find(|(v, _)| *v == vlan).map(|(_, pod)| pod).expect("the trunk carries the VLAN")
    }
}

fn readdress(netns: &Netns, device: &str, old: &str, new: &str) {
    netns.exec(&["ip", "addr", "del", &format!("{old}/24"), "dev", device]);
    netns.exec(&["ip", "addr", "add", &format!("{new}/24"), "dev", device]);
}

/// A Pod as the API server holds it once Multus has attached its
/// secondary network: the `k8s.v1.cni.cncf.io/network-status` annotation
/// names `interface` and its `mac`.
pub fn pod_with_network_status(
    namespace: &str,
    name: &str,
    node: &str,
    labels: &[(&str, &str)],
    interface: &str,
    mac: &str,
) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let status = format!(
        r#"[{{"name":"kindnet","interface":"eth0","default":true}},{{"name":"{namespace}/ovs-vlans","interface":"{interface}","mac":"{mac}"}}]"#
    );
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{{}}}\n  annotations:\n    k8s.v1.cni.cncf.io/network-status: '{status}'\nspec:\n  nodeName: {node}\n  containers:\n  - name: main\n    image: registry.k8s.io/pause:3.10\n---\n",
        labels.join(", ")
    )
}

/// Sends one probe frame out of `device` in `netns`, from `src_mac` to
/// each of `dst_macs`, raw.
pub fn send_probes(netns: &Netns, device: &str, src_mac: &str, dst_macs: &[&str]) {
    let hex = |mac: &str| mac.replace(':', "");
    let frames: Vec<String> = dst_macs
        .iter()
        .map(|dst| {
            format!("{}{}{}{}", hex(dst), hex(src_mac), &PROBE_ETHERTYPE[2..], "74632d766c616e2d70726f6265")
        })
        .collect();
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('{device}',0))\nfor f in {frames:?}:\n    s.send(bytes.fromhex(f).ljust(60,b'\\0'))\n"
    );
    netns.exec(&["python3", "-c", &script]);
}

/// The source MAC of an Ethernet frame, as text.
pub fn source_mac(frame: &[u8]) -> String {
    frame
        .get(6..12)
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":"))
        .unwrap_or_default()
}

/// The VLAN of an 802.1Q-tagged frame (none if untagged), and the frame
/// without its tag.
pub fn untag(frame: &[u8]) -> (Option<u16>, Vec<u8>) {
    match frame.get(12..16) {
        Some([0x81, 0x00, high, low]) => {
            let vlan = u16::from_be_bytes([*high, *low]) & 0x0fff;
            (Some(vlan), [&frame[..12], &frame[16..]].concat())
        }
        _ => (None, frame.to_vec()),
    }
}
