//! Pods for real-switch tests: each is a network namespace with a veth
//! whose other end is a port of the bridge, in the switch's node
//! namespace. The harness plays the CNI: it writes the Pod port's
//! `external_ids` as Antrea does (antrea-type, pod-name, pod-namespace,
//! attached-mac, ip-address on the Port row), or as another CNI does
//! ([`CniKeys`]). A Pod can also listen on TCP ([`Listener`]).

use crate::cmd::unique;
use crate::netns::Netns;
use crate::ovs::{Bridge, Ovs};

/// A Pod attached to a bridge.
pub struct Pod {
    /// The Kubernetes Namespace it pretends to be in.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its IPv4 address (in the test's own subnet, inside namespaces only).
    pub ip: String,
    /// Its interface's MAC address.
    pub mac: String,
    /// The bridge port (the veth's end in the node namespace).
    pub port: String,
    /// Its namespace; its interface is `eth0`.
    pub netns: Netns,
}

/// What a ping said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pings {
    /// Echo requests sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
}

/// Which CNI the harness plays when it attaches a Pod: the keys it writes,
/// on the row that CNI writes them (`datapath::cni` has the facts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CniKeys {
    /// Antrea: `pod-name`, `pod-namespace`, `attached-mac`, `ip-address`
    /// on the Port row.
    Antrea,
    /// OVN-Kubernetes: `iface-id=<ns>_<pod>`, `iface-id-ver`, `attached_mac`,
    /// `ip_addresses` on the Interface row.
    OvnKubernetes {
        /// The Pod's UID (`iface-id-ver`).
        uid: String,
    },
    /// Kube-OVN: `pod_name`, `pod_namespace`, `iface-id`, `vendor`, `ip`
    /// on the Interface row; no MAC.
    KubeOvn,
    /// ovs-cni: `contPodUid`, `contIface`, `owner` on the Port row; no
    /// name, no MAC.
    OvsCni {
        /// The Pod's UID.
        uid: String,
        /// The Pod's interface (`net1`, ...).
        interface: String,
    },
}

impl CniKeys {
    /// The `ovs-vsctl set` arguments that write these keys for a Pod.
    pub(crate) fn set_args(
        &self,
        port: &str,
        namespace: &str,
        name: &str,
        mac: &str,
        ip: &str,
    ) -> Vec<String> {
        let keys: (&str, Vec<(String, String)>) = match self {
            CniKeys::Antrea => (
                "port",
                vec![
                    ("antrea-type".into(), "container".into()),
                    ("pod-name".into(), name.into()),
                    ("pod-namespace".into(), namespace.into()),
                    ("attached-mac".into(), mac.into()),
                    ("ip-address".into(), ip.into()),
                ],
            ),
            CniKeys::OvnKubernetes { uid } => (
                "interface",
                vec![
                    ("iface-id".into(), format!("{namespace}_{name}")),
                    ("iface-id-ver".into(), uid.clone()),
                    ("attached_mac".into(), mac.into()),
                    ("ip_addresses".into(), format!("{ip}/24")),
                ],
            ),
            CniKeys::KubeOvn => (
                "interface",
                vec![
                    ("pod_name".into(), name.into()),
                    ("pod_namespace".into(), namespace.into()),
                    ("iface-id".into(), format!("{name}.{namespace}")),
                    ("vendor".into(), "kube-ovn".into()),
                    ("ip".into(), ip.into()),
                ],
            ),
            CniKeys::OvsCni { uid, interface } => (
                "port",
                vec![
                    ("contPodUid".into(), uid.clone()),
                    ("contIface".into(), interface.clone()),
                    ("owner".into(), "ovs-cni.network.kubevirt.io".into()),
                ],
            ),
        };
        let (table, pairs) = keys;
        let mut args = vec!["set".to_owned(), table.to_owned(), port.to_owned()];
        args.extend(pairs.into_iter().map(|(k, v)| format!("external_ids:{k}=\"{v}\"")));
        args
    }
}

/// The MAC address of the Pod attached with `index`.
pub fn mac_of(index: u8) -> String {
    format!("02:88:00:00:00:{index:02x}")
}

impl Pod {
    /// Attaches a new Pod with address `10.88.0.<index>/24` and MAC
    /// `02:88:00:00:00:<index>` to `bridge`, as Antrea would.
    pub fn attach(ovs: &Ovs, bridge: &Bridge, namespace: &str, name: &str, index: u8) -> Pod {
        Self::attach_as(ovs, bridge, namespace, name, index, &CniKeys::Antrea)
    }

    /// [`Pod::attach`], playing the CNI whose keys `keys` are.
    pub fn attach_as(
        ovs: &Ovs,
        bridge: &Bridge,
        namespace: &str,
        name: &str,
        index: u8,
        keys: &CniKeys,
    ) -> Pod {
        Self::attach_with(ovs, bridge, namespace, name, index, Some(keys))
    }

    /// A host on `bridge` with no CNI's keys at all (not a Pod to the
    /// agent): a guest behind a trunk, say.
    pub fn attach_host(ovs: &Ovs, bridge: &Bridge, name: &str, index: u8) -> Pod {
        Self::attach_with(ovs, bridge, "", name, index, None)
    }

    fn attach_with(
        ovs: &Ovs,
        bridge: &Bridge,
        namespace: &str,
        name: &str,
        index: u8,
        keys: Option<&CniKeys>,
    ) -> Pod {
        let netns = Netns::new("tcp");
        let port = unique("v");
        let ip = format!("10.88.0.{index}");
        let mac = mac_of(index);
        let node = ovs.node().name();
        netns.exec(&["ip", "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", node]);
        netns.exec(&["ip", "link", "set", "eth0", "address", &mac]);
        netns.exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        netns.exec(&["ip", "link", "set", "eth0", "up"]);
        // The userspace datapath forwards what it reads from the veth as
        // is: with TX checksum offload on, TCP leaves the Pod with its
        // checksum unfilled and is dropped at the receiver. A CNI for
        // userspace OVS turns it off the same way.
        netns.exec(&["ethtool", "-K", "eth0", "tx", "off"]);
        ovs.node().exec(&["ip", "link", "set", &port, "up"]);
        let mut args = vec!["add-port".to_owned(), bridge.name.clone(), port.clone()];
        if let Some(keys) = keys {
            args.push("--".to_owned());
            args.extend(keys.set_args(&port, namespace, name, &mac, &ip));
        }
        ovs.vsctl(&args.iter().map(String::as_str).collect::<Vec<_>>());
        ovs.wait_for_ofport(&port);
        Pod { namespace: namespace.into(), name: name.into(), ip, mac, port, netns }
    }

    /// Playing the CNI's DEL: removes the Pod's port from the switch, then
    /// its namespace (with the veth). Dropping a Pod without this leaves
    /// its Port row behind, as a CNI that never ran DEL would.
    pub fn detach(self, ovs: &Ovs) {
        ovs.vsctl(&["--if-exists", "del-port", &self.port]);
    }

    /// What the planner knows of this Pod: on `node-1`, with `labels`.
    pub fn info(&self, labels: &[(&str, &str)]) -> datapath::cluster::PodInfo {
        datapath::cluster::PodInfo {
            pod: datapath::cluster::PodRef::new(self.namespace.clone(), self.name.clone()),
            uid: None,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            node_name: Some("node-1".to_owned()),
            host_network: false,
            interface_macs: Default::default(),
        }
    }

    /// Pings `other` `count` times (0.1 s apart, 1 s deadline per reply).
    pub fn ping(&self, other: &Pod, count: u32) -> Pings {
        self.ping_ip(&other.ip, count)
    }

    /// Pings address `ip` `count` times, as [`Pod::ping`].
    pub fn ping_ip(&self, ip: &str, count: u32) -> Pings {
        let count_text = count.to_string();
        let output =
            self.netns.try_exec(&["ping", "-n", "-q", "-c", &count_text, "-i", "0.1", "-W", "1", ip]);
        let text = String::from_utf8_lossy(&output.stdout);
        // "5 packets transmitted, 5 received, 0% packet loss, time 404ms"
        let summary = text.lines().find(|l| l.contains("transmitted")).unwrap_or_default();
        let numbers = |key: &str| {
            summary
                .split(',')
                .find(|part| part.contains(key))
                .and_then(|part| part.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Pings { sent: numbers("transmitted"), received: numbers("received") }
    }
}

/// A TCP server in a Pod that accepts every connection (iperf3's server),
/// to tell a connection a policy drops (it times out) from one nothing
/// listens for (refused). Killed on drop.
pub struct Listener(std::process::Child);

impl Pod {
    /// Listens on TCP `port` (all addresses).
    ///
    /// # Panics
    /// When iperf3 is not installed, saying how to install it.
    pub fn listen(&self, port: u16) -> Listener {
        crate::tool("iperf3", "apt-get install -y iperf3 (CI's .ci/run does)");
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", self.netns.name(), "iperf3", "-s", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("iperf3 server");
        Listener(child)
    }

    /// Connects to `other`'s TCP `port`, for at most `seconds`: the exit
    /// code of the attempt (0 connected, 1 refused, 124 timed out).
    pub fn connect(&self, other: &Pod, port: u16, seconds: u32) -> Option<i32> {
        let script = format!("echo > /dev/tcp/{}/{port}", other.ip);
        self.netns.try_exec(&["timeout", &seconds.to_string(), "bash", "-c", &script]).status.code()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
