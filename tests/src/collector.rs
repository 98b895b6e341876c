//! A remote collector for tunnel tests, inside the test's own namespaces:
//! a second netdev bridge `br-phy` holds the node's tunnel address
//! (10.0.10.1/24, in the node namespace only) and reaches a collector
//! namespace (10.0.10.2, the seed's address) over a veth. OVS routes and
//! ARPs for the tunnel itself, as userspace tunnels do.

use std::time::Duration;

use datapath::encap::{self, Encapsulated, UdpKind};
use datapath::flows::MacAddr;

use crate::cmd::wait_until;
use crate::netns::Netns;
use crate::ovs::Ovs;

/// The node's tunnel address (on `br-phy`).
pub const LOCAL_IP: &str = "10.0.10.1";
/// The collector's address.
pub const COLLECTOR_IP: &str = "10.0.10.2";
/// How long OVS may take to learn the collector's MAC.
const RESOLVE: Duration = Duration::from_secs(10);

/// The collector's interface, where captures are taken.
pub const INTERFACE: &str = "eth0";

/// `br-phy`'s MAC: the simulation's ([`fixtures::underlay`], which
/// `sim::world::wire` uses), so a capture here and a simulated one agree on
/// the outer Ethernet header.
fn local_mac() -> String {
    MacAddr(fixtures::underlay::LOCAL_MAC).to_string()
}

/// The collector's MAC, likewise.
fn collector_mac() -> String {
    MacAddr(fixtures::underlay::COLLECTOR_MAC).to_string()
}

/// The ICMP packets inside the tunnel frames a collector captured (each
/// tunnel kind is told apart by its port or GRE protocol).
pub fn icmp_copies(frames: &[Vec<u8>]) -> Vec<Encapsulated> {
    frames
        .iter()
        .filter_map(|frame| encap::decode(frame, UdpKind::Vxlan).ok())
        .filter(|e| is_icmp(&e.inner))
        .collect()
}

/// Whether an Ethernet frame carries IPv4 ICMP.
fn is_icmp(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x00]) && frame.get(23) == Some(&1)
}

/// The collector and its path from the switch.
pub struct Collector {
    /// The collector's namespace.
    pub netns: Netns,
}

impl Collector {
    /// Builds `br-phy` and the collector next to `ovs`, and primes OVS's
    /// tunnel neighbour cache so the first tunnelled packet is not lost to
    /// ARP resolution.
    pub fn attach(ovs: &Ovs) -> Collector {
        let node = ovs.node();
        let hwaddr = format!("other_config:hwaddr=\"{}\"", local_mac());
        ovs.vsctl(&["add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev", &hwaddr]);
        node.exec(&["ip", "addr", "add", &format!("{LOCAL_IP}/24"), "dev", "br-phy"]);
        node.exec(&["ip", "link", "set", "br-phy", "up"]);
        let netns = Netns::new("tcc");
        netns.exec(&[
            "ip",
            "link",
            "add",
            INTERFACE,
            "type",
            "veth",
            "peer",
            "name",
            "phy0",
            "netns",
            node.name(),
        ]);
        netns.exec(&["ip", "link", "set", INTERFACE, "address", &collector_mac()]);
        netns.exec(&["ip", "addr", "add", &format!("{COLLECTOR_IP}/24"), "dev", INTERFACE]);
        netns.exec(&["ip", "link", "set", INTERFACE, "up"]);
        node.exec(&["ip", "link", "set", "phy0", "up"]);
        ovs.vsctl(&["add-port", "br-phy", "phy0"]);
        // An ARP exchange for the neighbour caches (see `resolve`).
        node.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "2", COLLECTOR_IP]);
        Collector { netns }
    }

    /// Waits until OVS knows the collector's MAC for its tunnels. OVS
    /// learns it by snooping ARP only once a tunnel port exists, and drops
    /// a tunnelled packet sent before: call this after the TrafficControl's
    /// tunnel port is up and before counting packets.
    ///
    /// Each try forgets the node's own neighbour entry first: while the
    /// kernel holds it (reachable for 15-45 s after `attach`'s pings) a
    /// ping sends no ARP at all, and there is nothing for OVS to snoop.
    pub fn resolve(&self, ovs: &Ovs) {
        wait_until("OVS to learn the collector's MAC (ovs-appctl tnl/neigh/show)", RESOLVE, || {
            ovs.appctl(&["tnl/neigh/show"]).contains(COLLECTOR_IP) || {
                let _ = ovs.node().try_exec(&["ip", "neigh", "flush", "to", COLLECTOR_IP]);
                let _ = ovs.node().try_exec(&["ping", "-c", "1", "-W", "1", COLLECTOR_IP]);
                false
            }
        });
    }
}
