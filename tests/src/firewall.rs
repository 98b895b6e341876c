//! An inline firewall for Redirect tests: a namespace with a Linux bridge
//! joining two veths whose other ends (`fw-tgt`, `fw-ret`) are in the node
//! namespace, to be attached to OVS as the target and return ports, and an
//! nftables `bridge` filter on what it forwards.
//!
//! Every redirected packet enters on the target side whatever its
//! direction, so the bridge must not learn addresses: a reply would
//! otherwise be filtered as going back out the port its destination was
//! learned on.

use crate::netns::Netns;
use crate::ovs::Ovs;

/// The target end, in the node namespace.
pub const TARGET: &str = "fw-tgt";
/// The return end, in the node namespace.
pub const RETURN: &str = "fw-ret";

/// The firewall.
pub struct Firewall {
    /// Its namespace.
    pub netns: Netns,
}

impl Firewall {
    /// Builds the firewall next to `ovs`'s node namespace.
    pub fn attach(ovs: &Ovs) -> Firewall {
        let node = ovs.node();
        let netns = Netns::new("tcf");
        for (inside, outside) in [("in0", TARGET), ("out0", RETURN)] {
            netns.exec(&[
                "ip",
                "link",
                "add",
                inside,
                "type",
                "veth",
                "peer",
                "name",
                outside,
                "netns",
                node.name(),
            ]);
            node.exec(&["ip", "link", "set", outside, "up"]);
        }
        forwarding_bridge(&netns, "br0", ["in0", "out0"], "filter");
        Firewall { netns }
    }

    /// Drops ICMP from now on.
    pub fn drop_icmp(&self) {
        self.netns.exec(&[
            "nft", "insert", "rule", "bridge", "filter", "forward", "ip", "protocol", "icmp", "drop",
        ]);
    }

    /// ICMP packets the firewall has forwarded.
    pub fn icmp_forwarded(&self) -> u64 {
        icmp_forwarded(&self.netns, "filter")
    }
}

/// Joins `ports` (devices in `netns`) with a Linux bridge that forwards
/// everything without learning, and counts the ICMP it forwards in the
/// nftables bridge table `table`. IPv6 is off on the bridge and its ports
/// so they send nothing of their own into the switch.
pub fn forwarding_bridge(netns: &Netns, bridge: &str, ports: [&str; 2], table: &str) {
    netns.exec(&["ip", "link", "add", bridge, "type", "bridge"]);
    for device in std::iter::once(bridge).chain(ports) {
        netns.exec(&["sysctl", "-qw", &format!("net.ipv6.conf.{device}.disable_ipv6=1")]);
    }
    for port in ports {
        netns.exec(&["ip", "link", "set", port, "master", bridge]);
        netns.exec(&[
            "ip",
            "link",
            "set",
            "dev",
            port,
            "type",
            "bridge_slave",
            "learning",
            "off",
            "flood",
            "on",
        ]);
        netns.exec(&["ip", "link", "set", port, "up"]);
    }
    netns.exec(&["ip", "link", "set", bridge, "up"]);
    netns.exec(&["nft", "add", "table", "bridge", table]);
    netns.exec(&[
        "nft",
        "add",
        "chain",
        "bridge",
        table,
        "forward",
        "{ type filter hook forward priority 0 ; policy accept ; }",
    ]);
    netns.exec(&["nft", "add", "rule", "bridge", table, "forward", "ip", "protocol", "icmp", "counter"]);
}

/// ICMP packets the bridge of [`forwarding_bridge`] has forwarded.
pub fn icmp_forwarded(netns: &Netns, table: &str) -> u64 {
    let rules = netns.exec(&["nft", "list", "chain", "bridge", table, "forward"]);
    rules
        .lines()
        .find(|l| l.contains("counter packets"))
        .and_then(|l| l.split("packets").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
