//! The node's devices' addresses and default routes, read from the
//! kernel for the guard rails (`datapath::guard_rails`): a device that
//! carries them must never be attached to the bridge.
//!
//! Read in the agent's own network namespace (the node's: the DaemonSet
//! runs with host networking), or in the namespace at a given path (a
//! test whose switch lives in a namespace of its own), from a thread that
//! enters it, so the rest of the agent never changes namespace.

mod notices;

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
    /// The netlink subscription to changes could not be opened.
    #[error("subscribing to the node's address and route changes")]
    Subscribe(#[source] std::io::Error),
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

/// The node's network from a source, read again only when the kernel
/// says it changed. A netlink socket in the node's namespace subscribes to
/// link, address and route changes; a read that finds it quiet returns
/// the last reading. The kernel queues the notice before the change's
/// request returns, so a change made before a pass starts is always seen
/// by that pass. Reading costs milliseconds with hundreds of devices (a
/// thread that enters the namespace, every address, two route tables);
/// a quiet check costs one system call.
#[derive(Debug)]
pub struct HostNetworkWatch {
    source: HostNetworkSource,
    /// The subscription; `None` until opened, or when it cannot be (then
    /// every read goes to the kernel).
    changes: Option<std::os::fd::OwnedFd>,
    last: Option<HostAddresses>,
    /// The interface indexes of the devices the last reading named.
    known: BTreeSet<u32>,
}

impl HostNetworkWatch {
    /// A watch of `source`, opened at the first read.
    pub fn new(source: HostNetworkSource) -> Self {
        HostNetworkWatch { source, changes: None, last: None, known: BTreeSet::new() }
    }

    /// Whether changes are noticed (otherwise every read goes to the
    /// kernel).
    pub fn is_subscribed(&self) -> bool {
        self.changes.is_some()
    }

    /// The node's network now; `None` when the source is off.
    ///
    /// # Errors
    /// [`HostNetworkError`] when the kernel's tables cannot be read.
    pub fn read(&mut self) -> Option<Result<HostAddresses, HostNetworkError>> {
        let netns = match &self.source {
            HostNetworkSource::Off => return None,
            HostNetworkSource::Own => None,
            HostNetworkSource::Netns(path) => Some(path.clone()),
        };
        if self.changes.is_none() {
            // Opened before reading: a change during the read is noticed.
            self.changes = in_namespace(netns.as_deref(), subscribe).ok();
            self.last = None;
        }
        let changed = match &self.changes {
            Some(socket) => drain(socket, &self.known),
            None => true,
        };
        if let (false, Some(last)) = (changed, &self.last) {
            return Some(Ok(last.clone()));
        }
        let reading = in_namespace(netns.as_deref(), read_here_with_indexes);
        self.last = reading.as_ref().ok().map(|(reading, _)| reading.clone());
        self.known = reading.as_ref().map(|(_, known)| known.clone()).unwrap_or_default();
        Some(reading.map(|(reading, _)| reading))
    }
}

/// A non-blocking netlink socket in this thread's namespace, subscribed
/// to link, address and route changes.
fn subscribe() -> Result<std::os::fd::OwnedFd, HostNetworkError> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let error = |source| HostNetworkError::Subscribe(source);
    // SAFETY: socket(2) with constant arguments; the descriptor is owned
    // below and closed with it.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(error(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_nl; the fields that matter are set.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address.nl_groups = (libc::RTMGRP_LINK
        | libc::RTMGRP_IPV4_IFADDR
        | libc::RTMGRP_IPV6_IFADDR
        | libc::RTMGRP_IPV4_ROUTE
        | libc::RTMGRP_IPV6_ROUTE) as u32;
    let size = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: bind(2) of our socket to an address of the size given.
    if unsafe { libc::bind(fd, std::ptr::from_ref(&address).cast(), size) } != 0 {
        return Err(error(std::io::Error::last_os_error()));
    }
    Ok(socket)
}

/// Empties the subscription; whether anything that matters changed
/// ([`notices::matters`]; a lost notice, `ENOBUFS`, counts as a change).
fn drain(socket: &std::os::fd::OwnedFd, known: &BTreeSet<u32>) -> bool {
    use std::os::fd::AsRawFd;
    let mut buffer = [0u8; 8192];
    let mut changed = false;
    loop {
        // SAFETY: recv(2) into a buffer of the length given.
        let got = unsafe { libc::recv(socket.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        if got > 0 {
            let got = usize::try_from(got).unwrap_or(0);
            changed |= notices::matters(&buffer[..got.min(buffer.len())], known);
            continue;
        }
        let error = std::io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::EAGAIN) if got < 0 => changed,
            Some(libc::EINTR) => continue,
            _ => true,
        };
    }
}

/// Runs `step` in the network namespace at `netns` (on a thread that
/// enters it), or here.
fn in_namespace<T: Send>(
    netns: Option<&Path>,
    step: fn() -> Result<T, HostNetworkError>,
) -> Result<T, HostNetworkError> {
    let Some(path) = netns else { return step() };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(path)?;
                step()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(HostNetworkError::Addresses(std::io::Error::other("the reading thread panicked")))
            })
    })
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
    in_namespace(netns, read_here)
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

/// [`read_here`], and the interface indexes of the devices it names.
fn read_here_with_indexes() -> Result<(HostAddresses, BTreeSet<u32>), HostNetworkError> {
    let reading = read_here()?;
    let known = reading
        .addresses
        .keys()
        .chain(&reading.default_route_devices)
        .filter_map(|name| std::ffi::CString::new(name.as_str()).ok())
        // SAFETY: if_nametoindex(3) reads a NUL-terminated name; 0 is "none".
        .map(|name| unsafe { libc::if_nametoindex(name.as_ptr()) })
        .filter(|&index| index != 0)
        .collect();
    Ok((reading, known))
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
