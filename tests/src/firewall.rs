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
        netns.exec(&["ip", "link", "add", "br0", "type", "bridge"]);
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
            netns.exec(&["ip", "link", "set", inside, "master", "br0"]);
            netns.exec(&[
                "ip",
                "link",
                "set",
                "dev",
                inside,
                "type",
                "bridge_slave",
                "learning",
                "off",
                "flood",
                "on",
            ]);
            netns.exec(&["ip", "link", "set", inside, "up"]);
            node.exec(&["ip", "link", "set", outside, "up"]);
        }
        netns.exec(&["ip", "link", "set", "br0", "up"]);
        netns.exec(&["nft", "add", "table", "bridge", "filter"]);
        netns.exec(&[
            "nft",
            "add",
            "chain",
            "bridge",
            "filter",
            "forward",
            "{ type filter hook forward priority 0 ; policy accept ; }",
        ]);
        netns.exec(&[
            "nft", "add", "rule", "bridge", "filter", "forward", "ip", "protocol", "icmp", "counter",
        ]);
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
        let rules = self.netns.exec(&["nft", "list", "chain", "bridge", "filter", "forward"]);
        rules
            .lines()
            .find(|l| l.contains("counter packets"))
            .and_then(|l| l.split("packets").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}
