//! The rules that keep a TrafficControl from turning the agent against its
//! node: a target or return port must never be a piece of the node's own
//! networking, and a tunnel must lead to another host. Each rule returns
//! the sentence a user reads in the TrafficControl's condition.
//!
//! Some rules can be decided from the object alone ([`check_remote_ip`]:
//! `tcctl validate` and the agent's validation apply it); the others need
//! what the node holds ([`HostNetwork`], observed by the agent) or the
//! switch's view of a port ([`node_networking_port`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::ports::{InterfaceType, PortConfig, SwitchPort};

/// Why a tunnel's `remoteIP` cannot lead to a collector, whatever the
/// node: unspecified, loopback, multicast or the IPv4 broadcast address.
///
/// # Errors
/// The rule `ip` breaks, phrased for a user.
pub fn check_remote_ip(ip: IpAddr) -> Result<(), String> {
    let kind = if ip.is_unspecified() {
        "the unspecified address"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if ip == IpAddr::from([255, 255, 255, 255]) {
        "the broadcast address"
    } else {
        return Ok(());
    };
    Err(format!("{ip} is {kind}: a tunnel must lead to another host (the collector's address)"))
}

/// What the node around the switch holds that no TrafficControl port may
/// take: its devices' addresses and default routes, and the ports of the
/// switch's other bridges. Observed by the agent (empty where it could
/// not be read: then these rules refuse nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostNetwork {
    /// Each device's addresses in the node's network namespace (IPv6
    /// link-local ones left out: every device that is up has one).
    pub addresses: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Devices that carry a default route.
    pub default_route_devices: BTreeSet<String>,
    /// Ports of the switch's other bridges, with their bridge.
    pub other_bridge_ports: BTreeMap<String, String>,
}

impl HostNetwork {
    /// Nothing known of the node: no rule of this kind refuses anything.
    pub const EMPTY: HostNetwork = HostNetwork {
        addresses: BTreeMap::new(),
        default_route_devices: BTreeSet::new(),
        other_bridge_ports: BTreeMap::new(),
    };

    /// Why device `name` must not become a TrafficControl port, if it
    /// must not: it carries the node's addresses or default route
    /// (attached to the bridge, it would stop carrying them), or it is
    /// a port of another bridge.
    pub fn device_refusal(&self, name: &str) -> Option<String> {
        if let Some(reason) = self.other_bridge_refusal(name) {
            return Some(reason);
        }
        if self.default_route_devices.contains(name) {
            return Some(format!(
                "device {name} carries the node's default route: attached to the bridge it would cut the node off"
            ));
        }
        let addresses = self.addresses.get(name).filter(|a| !a.is_empty())?;
        let list: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
        Some(format!(
            "device {name} carries the node's address {}: attached to the bridge it would cut the node off",
            list.join(", ")
        ))
    }

    /// Why a TrafficControl port of `config` would take a piece of the
    /// node's networking, if it would: a device with the node's addresses
    /// or default route, another bridge's port, a tunnel to the node.
    pub fn port_refusal(&self, config: &PortConfig) -> Option<String> {
        if config.interface_type == InterfaceType::System {
            return self.device_refusal(&config.name);
        }
        if let Some(reason) = self.other_bridge_refusal(&config.name) {
            return Some(reason);
        }
        let remote = config.options.get("remote_ip").and_then(|ip| ip.parse().ok())?;
        self.remote_ip_refusal(remote)
    }

    fn other_bridge_refusal(&self, name: &str) -> Option<String> {
        let bridge = self.other_bridge_ports.get(name)?;
        Some(format!("port {name} is already attached to bridge {bridge}"))
    }

    /// Why a tunnel to `ip` must not be made, if it must not: `ip` is an
    /// address of the node itself.
    pub fn remote_ip_refusal(&self, ip: IpAddr) -> Option<String> {
        let (device, _) = self.addresses.iter().find(|(_, addresses)| addresses.contains(&ip))?;
        Some(format!(
            "remoteIP {ip} is an address of this node (device {device}): a tunnel must lead to another host"
        ))
    }
}

/// Tunnel interface types OVS knows.
const TUNNEL_TYPES: [&str; 11] =
    ["vxlan", "geneve", "gre", "erspan", "ip6erspan", "ip6gre", "stt", "lisp", "gtpu", "bareudp", "srv6"];

/// Why a port someone else put on the bridge belongs to the node's
/// networking and must not become a TrafficControl port, if it does: a
/// patch port, a tunnel port, a port a CNI marks as its gateway, tunnel,
/// uplink or management port (Antrea's `antrea-type` other than
/// `traffic-control`, OVN's logical ports and `ovn-*` keys, Kube-OVN's
/// `vendor`). A plain port someone made for an IDS is none of these.
/// Pods' ports and the bridge's own port are refused elsewhere.
pub fn node_networking_port(port: &SwitchPort) -> Option<String> {
    if port.is_agents() {
        return None;
    }
    let name = &port.name;
    let kind = port.interface_type.as_str();
    if kind == "patch" {
        return Some(format!(
            "port {name} is a patch port: it joins this bridge to another and carries the node's traffic"
        ));
    }
    if TUNNEL_TYPES.contains(&kind) {
        return Some(format!(
            "port {name} is a {kind} tunnel port the agent did not create: it carries the node's traffic"
        ));
    }
    let keys = || port.external_ids.iter().chain(&port.port_external_ids);
    if let Some((_, role)) = keys().find(|(k, v)| *k == "antrea-type" && *v != "traffic-control") {
        return Some(format!("port {name} is Antrea's {role} port (antrea-type={role})"));
    }
    if name == "ovn-k8s-mp0" {
        return Some(format!("port {name} is OVN-Kubernetes' management port"));
    }
    if let Some((key, value)) = keys().find(|(k, _)| *k == "iface-id" || k.starts_with("ovn-")) {
        return Some(format!("port {name} is OVN's ({key}={value})"));
    }
    if keys().any(|(k, v)| k == "vendor" && v == "kube-ovn") {
        return Some(format!("port {name} is Kube-OVN's (vendor=kube-ovn)"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn a_tunnel_must_lead_to_another_host() {
        for (bad, kind) in [
            ("0.0.0.0", "the unspecified address"),
            ("::", "the unspecified address"),
            ("127.0.0.1", "a loopback address"),
            ("127.3.2.1", "a loopback address"),
            ("::1", "a loopback address"),
            ("224.0.0.1", "a multicast address"),
            ("239.1.1.1", "a multicast address"),
            ("ff02::1", "a multicast address"),
            ("255.255.255.255", "the broadcast address"),
        ] {
            let rule = check_remote_ip(ip(bad)).expect_err(bad);
            assert_eq!(
                rule,
                format!("{bad} is {kind}: a tunnel must lead to another host (the collector's address)")
            );
        }
        for good in ["10.0.10.2", "192.168.1.255", "2001:db8::2", "fe80::1"] {
            assert_eq!(check_remote_ip(ip(good)), Ok(()), "{good}");
        }
    }

    fn host() -> HostNetwork {
        HostNetwork {
            addresses: [("eth0".to_owned(), [ip("10.0.0.5")].into()), ("ids0".to_owned(), BTreeSet::new())]
                .into(),
            default_route_devices: ["eth1".to_owned()].into(),
            other_bridge_ports: [("phy0".to_owned(), "br-phy".to_owned())].into(),
        }
    }

    #[test]
    fn a_device_of_the_nodes_networking_is_refused_and_a_bare_one_is_not() {
        let host = host();
        assert_eq!(
            host.device_refusal("eth0").as_deref(),
            Some(
                "device eth0 carries the node's address 10.0.0.5: attached to the bridge it would cut the node off"
            )
        );
        assert_eq!(
            host.device_refusal("eth1").as_deref(),
            Some(
                "device eth1 carries the node's default route: attached to the bridge it would cut the node off"
            )
        );
        assert_eq!(
            host.device_refusal("phy0").as_deref(),
            Some("port phy0 is already attached to bridge br-phy")
        );
        assert_eq!(host.device_refusal("ids0"), None, "a device without addresses");
        assert_eq!(host.device_refusal("tap0"), None, "a device the node does not have (yet)");
        assert_eq!(HostNetwork::default().device_refusal("eth0"), None, "nothing observed: nothing refused");
    }

    #[test]
    fn a_tunnel_to_the_node_itself_is_refused() {
        assert_eq!(
            host().remote_ip_refusal(ip("10.0.0.5")).as_deref(),
            Some(
                "remoteIP 10.0.0.5 is an address of this node (device eth0): a tunnel must lead to another host"
            )
        );
        assert_eq!(host().remote_ip_refusal(ip("10.0.0.6")), None);
    }

    fn port(name: &str, kind: &str, keys: &[(&str, &str)], port_keys: &[(&str, &str)]) -> SwitchPort {
        let map =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        SwitchPort {
            name: name.to_owned(),
            ofport: Some(7),
            interface_type: kind.to_owned(),
            external_ids: map(keys),
            port_external_ids: map(port_keys),
            ..SwitchPort::default()
        }
    }

    #[test]
    fn the_node_networking_ports_of_each_cni_are_recognized() {
        let refused = [
            (port("patch-br-int-to-br-ex", "patch", &[], &[]), "port patch-br-int-to-br-ex is a patch port"),
            (
                port("genev_sys_6081", "geneve", &[], &[]),
                "port genev_sys_6081 is a geneve tunnel port the agent did not create",
            ),
            (
                port("antrea-tun0", "vxlan", &[], &[("antrea-type", "tunnel")]),
                "port antrea-tun0 is a vxlan tunnel port",
            ),
            (
                port("antrea-gw0", "internal", &[], &[("antrea-type", "gateway")]),
                "port antrea-gw0 is Antrea's gateway port",
            ),
            (port("eth0", "", &[], &[("antrea-type", "uplink")]), "port eth0 is Antrea's uplink port"),
            (
                port("ovn-k8s-mp0", "internal", &[], &[]),
                "port ovn-k8s-mp0 is OVN-Kubernetes' management port",
            ),
            (
                port("ovn0", "internal", &[("iface-id", "node-node1")], &[]),
                "port ovn0 is OVN's (iface-id=node-node1)",
            ),
            (
                port("br-ex-uplink", "", &[("ovn-localnet-port", "x")], &[]),
                "port br-ex-uplink is OVN's (ovn-localnet-port=x)",
            ),
            (
                port("mirror0", "internal", &[("vendor", "kube-ovn")], &[]),
                "port mirror0 is Kube-OVN's (vendor=kube-ovn)",
            ),
        ];
        for (port, reason) in refused {
            let found = node_networking_port(&port).unwrap_or_else(|| panic!("{} is not refused", port.name));
            assert!(found.starts_with(reason), "{found:?} does not start with {reason:?}");
        }
        let plain = port("ids0", "", &[], &[]);
        assert_eq!(node_networking_port(&plain), None, "a plain device someone attached for an IDS");
        let antreas_tc = port("tap0", "internal", &[], &[("antrea-type", "traffic-control")]);
        assert_eq!(
            node_networking_port(&antreas_tc),
            None,
            "a TrafficControl port (the agent's or Antrea's)"
        );
    }
}
