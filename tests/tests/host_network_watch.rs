//! The guard rails' view of the node's network follows the kernel: the
//! agent reads addresses and default routes again only when a netlink
//! notice says they changed, and every change made before a read is seen
//! by it (in a namespace of the test's own, never the host's).

use std::collections::BTreeSet;
use std::net::IpAddr;

use actors::host_network::{HostAddresses, HostNetworkSource, HostNetworkWatch};
use tests::netns::Netns;

fn addresses_of(reading: &HostAddresses, device: &str) -> BTreeSet<String> {
    reading.addresses.get(device).into_iter().flatten().map(IpAddr::to_string).collect()
}

fn read(watch: &mut HostNetworkWatch) -> HostAddresses {
    match watch.read() {
        Some(Ok(reading)) => reading,
        other => panic!("the node's network: {other:?}"),
    }
}

#[test]
fn every_change_of_addresses_routes_and_devices_is_in_the_next_read() {
    let node = Netns::new("hnw");
    node.exec(&["ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "peer0"]);
    node.exec(&["ip", "link", "set", "peer0", "up"]);
    node.exec(&["ip", "link", "set", "uplink0", "up"]);
    let mut watch =
        HostNetworkWatch::new(HostNetworkSource::Netns(format!("/run/netns/{}", node.name()).into()));

    let first = read(&mut watch);
    assert!(watch.is_subscribed(), "the watch follows netlink's notices");
    assert!(addresses_of(&first, "uplink0").is_empty(), "{first:?}");
    assert_eq!(read(&mut watch), first, "nothing changed: the same reading");

    node.exec(&["ip", "addr", "add", "10.77.0.5/24", "dev", "uplink0"]);
    let with_address = read(&mut watch);
    assert_eq!(addresses_of(&with_address, "uplink0"), BTreeSet::from(["10.77.0.5".to_owned()]));

    node.exec(&["ip", "route", "add", "default", "via", "10.77.0.1", "dev", "uplink0"]);
    assert_eq!(read(&mut watch).default_route_devices, BTreeSet::from(["uplink0".to_owned()]));

    node.exec(&["ip", "link", "set", "uplink0", "down"]);
    node.exec(&["ip", "link", "set", "uplink0", "name", "eth7"]);
    node.exec(&["ip", "link", "set", "eth7", "up"]);
    let renamed = read(&mut watch);
    assert!(addresses_of(&renamed, "uplink0").is_empty(), "{renamed:?}");
    assert_eq!(addresses_of(&renamed, "eth7"), BTreeSet::from(["10.77.0.5".to_owned()]));

    node.exec(&["ip", "link", "del", "eth7"]);
    let gone = read(&mut watch);
    assert!(!gone.addresses.contains_key("eth7") && gone.default_route_devices.is_empty(), "{gone:?}");
}
