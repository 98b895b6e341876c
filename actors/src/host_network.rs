//! The node's devices' addresses and default routes, read from the
//! kernel for the guard rails (`datapath::guard_rails`): a device that
//! carries them must never be attached to the bridge.
//!
//! Read in the agent's own network namespace (the node's: the DaemonSet
//! runs with host networking), or in the namespace at a given path (a
//! test whose switch lives in a namespace of its own), from a thread that
//! enters it, so the rest of the agent never changes namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Why the node's network could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HostNetworkError {
    /// `getifaddrs(3)` failed.
    #[error("listing the node's addresses")]
    Addresses(#[source] std::io::Error),
    /// A routing table in /proc could not be read.
    #[error("reading {path}")]
    Routes {
        /// The file.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The network namespace could not be entered.
    #[error("entering the network namespace {path}")]
    Namespace {
        /// Its path.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the agent reads the node's network from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HostNetworkSource {
    /// Nowhere: the rules that need it refuse nothing (the simulation,
    /// whose nodes have no kernel of their own).
    #[default]
    Off,
    /// The agent's own network namespace (host networking, as deployed).
    Own,
    /// The network namespace at this path.
    Netns(PathBuf),
}

impl HostNetworkSource {
    /// Reads the node's network from this source; `None` when it is off.
    ///
    /// # Errors
    /// [`HostNetworkError`] when the kernel's tables cannot be read.
    pub fn read(&self) -> Option<Result<HostAddresses, HostNetworkError>> {
        match self {
            HostNetworkSource::Off => None,
            HostNetworkSource::Own => Some(read(None)),
            HostNetworkSource::Netns(path) => Some(read(Some(path))),
        }
    }
}

/// What the node's kernel says: each device's addresses (IPv6 link-local
/// ones left out) and the devices with a default route.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAddresses {
    /// Addresses by device.
    pub addresses: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Devices with a default route (IPv4 or IPv6).
    pub default_route_devices: BTreeSet<String>,
}

/// Reads the node's addresses and default routes, in `netns` when given.
///
/// # Errors
/// [`HostNetworkError`] when the kernel's tables cannot be read.
pub fn read(netns: Option<&Path>) -> Result<HostAddresses, HostNetworkError> {
    let Some(path) = netns else { return read_here() };
    let path = path.to_path_buf();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(&path)?;
                read_here()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(HostNetworkError::Addresses(std::io::Error::other("the reading thread panicked")))
            })
    })
}

/// Moves the calling thread into the network namespace at `path`.
fn enter(path: &Path) -> Result<(), HostNetworkError> {
    use std::os::fd::AsRawFd;
    let error = |source| HostNetworkError::Namespace { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(error)?;
    // SAFETY: setns(2) on an open namespace file; it changes only this
    // thread's namespace, and the thread ends after reading.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(error(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn read_here() -> Result<HostAddresses, HostNetworkError> {
    let addresses = addresses().map_err(HostNetworkError::Addresses)?;
    let mut default_route_devices = BTreeSet::new();
    // `thread-self`: the namespace of this thread, which may have entered
    // another one; `self` would show the process's.
    for (file, parse) in [
        ("/proc/thread-self/net/route", ipv4_default_devices as fn(&str) -> Vec<String>),
        ("/proc/thread-self/net/ipv6_route", ipv6_default_devices),
    ] {
        match std::fs::read_to_string(file) {
            Ok(text) => default_route_devices.extend(parse(&text)),
            // A kernel without IPv6 has no ipv6_route.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && file.ends_with("ipv6_route") => {}
            Err(source) => return Err(HostNetworkError::Routes { path: file.into(), source }),
        }
    }
    Ok(HostAddresses { addresses, default_route_devices })
}

/// Every device and its addresses, by `getifaddrs(3)`.
fn addresses() -> std::io::Result<BTreeMap<String, BTreeSet<IpAddr>>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a list freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut found: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: a node of the list getifaddrs returned, not yet freed;
        // its name is a C string and its address, when present, a
        // sockaddr of the family it names.
        let (entry, name, address) = unsafe {
            let entry = &*cursor;
            let name = (!entry.ifa_name.is_null()).then(|| CStr::from_ptr(entry.ifa_name).to_string_lossy());
            (entry, name, socket_address(entry.ifa_addr))
        };
        cursor = entry.ifa_next;
        let Some(name) = name else { continue };
        let addresses = found.entry(name.into_owned()).or_default();
        if let Some(ip) = address.filter(|ip| !is_ipv6_link_local(ip)) {
            addresses.insert(ip);
        }
    }
    // SAFETY: the list getifaddrs returned, freed once; no reference to
    // it outlives this call (names were copied).
    unsafe { libc::freeifaddrs(list) };
    Ok(found)
}

/// The IP address of `address`, if it is IPv4 or IPv6.
///
/// # Safety
/// `address` is null or points to a sockaddr of the family it names.
unsafe fn socket_address(address: *const libc::sockaddr) -> Option<IpAddr> {
    if address.is_null() {
        return None;
    }
    // SAFETY: the caller's guarantee; the family says which sockaddr it is.
    unsafe {
        match i32::from((*address).sa_family) {
            libc::AF_INET => {
                let v4 = &*address.cast::<libc::sockaddr_in>();
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
            }
            libc::AF_INET6 => {
                Some(IpAddr::V6(Ipv6Addr::from((*address.cast::<libc::sockaddr_in6>()).sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

/// fe80::/10: every IPv6 device that is up has one, addresses or not.
fn is_ipv6_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// The devices of IPv4 default routes in `/proc/net/route` (destination
/// and mask 0).
fn ipv4_default_devices(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (device, destination, mask) = (fields.first()?, fields.get(1)?, fields.get(7)?);
            (*destination == "00000000" && *mask == "00000000").then(|| (*device).to_owned())
        })
        .collect()
}

/// The devices of IPv6 default routes in `/proc/net/ipv6_route` (::/0),
/// except rejecting ones (the kernel's unreachable default on `lo`).
fn ipv6_default_devices(text: &str) -> Vec<String> {
    const RTF_REJECT: u32 = 0x0200;
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (destination, length, flags, device) =
                (fields.first()?, fields.get(1)?, fields.get(8)?, fields.get(9)?);
            let flags = u32::from_str_radix(flags, 16).ok()?;
            (destination.bytes().all(|b| b == b'0') && *length == "00" && flags & RTF_REJECT == 0)
                .then(|| (*device).to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_routes_are_found_in_the_kernels_tables() {
        let ipv4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    eth1\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(ipv4_default_devices(ipv4), ["eth0"]);
        let ipv6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth2\n\
                    00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n\
                    fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth2\n";
        assert_eq!(ipv6_default_devices(ipv6), ["eth2"]);
    }

    #[test]
    fn this_namespace_has_a_loopback_device_with_its_address() {
        let host = read(None).expect("the addresses of this namespace");
        assert!(
            host.addresses.get("lo").is_some_and(|a| a.contains(&IpAddr::from([127, 0, 0, 1]))),
            "{host:?}"
        );
        assert!(host.addresses.values().flatten().all(|ip| !is_ipv6_link_local(ip)), "{host:?}");
    }
}
