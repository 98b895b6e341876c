//! What leaves a simulated switch's port: the frame as the Pod, the
//! internal port or the NIC receives it, or, for a tunnel port, the
//! encapsulated frame the collector receives over the node's `br-phy`.
//! turmoil's network carries payloads, not frames, so the collector is a
//! capture point on this wire rather than a turmoil host.
//!
//! The underlay's addresses ([`fixtures::underlay`]) are those of the real
//! OVS tunnel tests (`tests::collector`), so a simulated capture and a real
//! one can be compared byte for byte.

use std::net::IpAddr;

use fixtures::encapsulate::{self, OptionsError, Underlay};
use fixtures::underlay::{COLLECTOR_MAC, LOCAL_IP, LOCAL_MAC};

use crate::ovs::ovsdb_server::InterfaceView;

/// Interface types that tunnel.
const TUNNEL_TYPES: [&str; 4] = ["vxlan", "geneve", "gre", "erspan"];

/// One copy of a packet leaving the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The port it left by.
    pub port: String,
    /// The port's Interface type (`""` for a Pod's veth or a NIC).
    pub interface_type: String,
    /// The frame on the wire: the packet itself, or for a tunnel port the
    /// encapsulated frame that reaches the collector.
    pub frame: Vec<u8>,
}

impl Delivery {
    /// Whether it left through a tunnel, to the collector.
    pub fn is_tunnelled(&self) -> bool {
        TUNNEL_TYPES.contains(&self.interface_type.as_str())
    }
}

/// Why a packet could not leave by a port.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A tunnel port whose options OVS could not use.
    #[error("tunnel port {port}")]
    Options {
        /// The port.
        port: String,
        /// What is wrong with its options.
        source: OptionsError,
    },
    /// A tunnel to an IPv6 collector (the simulation builds IPv4 outer
    /// headers only).
    #[error("tunnel port {port}: remote_ip {remote} is not IPv4 (not simulated)")]
    NotIpv4 {
        /// The port.
        port: String,
        /// Its remote_ip option.
        remote: String,
    },
}

/// The frame as it leaves `interface`; `sequence` is the port's GRE
/// sequence number for ERSPAN.
///
/// # Errors
/// [`WireError`] for a tunnel port with unusable options.
pub fn leave(interface: &InterfaceView, frame: &[u8], sequence: u32) -> Result<Delivery, WireError> {
    let delivery = |frame: Vec<u8>| Delivery {
        port: interface.name.clone(),
        interface_type: interface.interface_type.clone(),
        frame,
    };
    if !TUNNEL_TYPES.contains(&interface.interface_type.as_str()) {
        return Ok(delivery(frame.to_vec()));
    }
    let options_error = |source| WireError::Options { port: interface.name.clone(), source };
    let header = encapsulate::header_from_options(&interface.interface_type, &interface.options)
        .map_err(options_error)?;
    let remote = encapsulate::remote_ip(&interface.options);
    let Some(IpAddr::V4(remote_ip)) = remote else {
        let remote = remote.map(|r| r.to_string()).unwrap_or_default();
        return Err(WireError::NotIpv4 { port: interface.name.clone(), remote });
    };
    let underlay =
        Underlay { local_mac: LOCAL_MAC, remote_mac: COLLECTOR_MAC, local_ip: LOCAL_IP, remote_ip };
    Ok(delivery(encapsulate::encapsulate(&underlay, &header, frame, sequence)))
}
