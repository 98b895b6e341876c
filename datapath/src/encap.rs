//! Tunnel encapsulations as they appear on the wire: a captured frame
//! (outer Ethernet, IPv4 or IPv6, then UDP or GRE) decoded into the tunnel
//! header's fields and the inner Ethernet frame.
//!
//! Covers what TrafficControl sends to a collector: VXLAN (UDP, RFC 7348),
//! GENEVE (UDP, RFC 8926), GRE with transparent Ethernet bridging, and
//! ERSPAN type II (version 1) and type III (version 2) over GRE. Outer
//! Ethernet, IP, UDP and GRE are read with pnet; the VXLAN, GENEVE and
//! ERSPAN headers are a few bit fields each and are read here.

use std::net::IpAddr;

use pnet_packet::Packet;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::gre::GrePacket;
use pnet_packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::udp::UdpPacket;

/// GRE protocol: an Ethernet frame (gretap).
pub const GRE_PROTO_ETHERNET: u16 = 0x6558;
/// GRE protocol: ERSPAN type II.
pub const GRE_PROTO_ERSPAN_II: u16 = 0x88be;
/// GRE protocol: ERSPAN type III.
pub const GRE_PROTO_ERSPAN_III: u16 = 0x22eb;

/// The tunnel header's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tunnel {
    /// VXLAN.
    Vxlan {
        /// The 24-bit VNI.
        vni: u32,
    },
    /// GENEVE.
    Geneve {
        /// The 24-bit VNI.
        vni: u32,
        /// Bytes of options after the fixed header.
        options_len: usize,
    },
    /// GRE carrying Ethernet.
    Gre {
        /// The key, when present.
        key: Option<u32>,
    },
    /// ERSPAN type II (the CRD's version 1).
    ErspanV1 {
        /// The 10-bit session ID.
        session_id: u16,
        /// The 20-bit index.
        index: u32,
    },
    /// ERSPAN type III (the CRD's version 2).
    ErspanV2 {
        /// The 10-bit session ID.
        session_id: u16,
        /// 0 ingress, 1 egress.
        dir: u8,
        /// The 6-bit hardware ID.
        hardware_id: u8,
    },
}

/// A decoded tunnel packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encapsulated {
    /// The outer source address.
    pub outer_src: IpAddr,
    /// The outer destination address (the collector).
    pub outer_dst: IpAddr,
    /// The UDP destination port, for UDP tunnels.
    pub udp_dst_port: Option<u16>,
    /// The tunnel header.
    pub tunnel: Tunnel,
    /// The encapsulated Ethernet frame.
    pub inner: Vec<u8>,
}

/// Why a frame is not a tunnel packet we understand.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    /// A header is cut short.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Not IP, or IP carrying something other than UDP or GRE.
    #[error("not a tunnel packet: {0}")]
    NotTunnel(String),
}

/// Decodes a captured Ethernet frame carrying a tunnel packet. UDP
/// tunnels are told apart by port: 4789 is VXLAN, 6081 GENEVE, and any
/// other port is read as `udp_kind` says (a collector may listen
/// elsewhere).
///
/// # Errors
/// [`EncapError`] when the frame is not a tunnel packet this module reads.
pub fn decode(frame: &[u8], udp_kind: UdpKind) -> Result<Encapsulated, EncapError> {
    let ethernet = EthernetPacket::new(frame).ok_or(EncapError::Truncated("Ethernet header"))?;
    let (src, dst, next, payload): (IpAddr, IpAddr, IpNextHeaderProtocol, Vec<u8>) = match ethernet
        .get_ethertype()
    {
        EtherTypes::Ipv4 => {
            let ip = Ipv4Packet::new(ethernet.payload()).ok_or(EncapError::Truncated("IPv4 header"))?;
            let header = usize::from(ip.get_header_length()) * 4;
            let total = usize::from(ip.get_total_length()).min(ethernet.payload().len());
            let body = ethernet.payload().get(header..total).ok_or(EncapError::Truncated("IPv4 packet"))?;
            (ip.get_source().into(), ip.get_destination().into(), ip.get_next_level_protocol(), body.to_vec())
        }
        EtherTypes::Ipv6 => {
            let ip = Ipv6Packet::new(ethernet.payload()).ok_or(EncapError::Truncated("IPv6 header"))?;
            let len = usize::from(ip.get_payload_length()).min(ip.payload().len());
            (
                ip.get_source().into(),
                ip.get_destination().into(),
                ip.get_next_header(),
                ip.payload()[..len].to_vec(),
            )
        }
        other => return Err(EncapError::NotTunnel(format!("ethertype {other}"))),
    };
    let (udp_dst_port, tunnel, inner) = match next {
        IpNextHeaderProtocols::Udp => {
            let udp = UdpPacket::new(&payload).ok_or(EncapError::Truncated("UDP header"))?;
            let port = udp.get_destination();
            let kind = match port {
                4789 => UdpKind::Vxlan,
                6081 => UdpKind::Geneve,
                _ => udp_kind,
            };
            let (tunnel, inner) = match kind {
                UdpKind::Vxlan => vxlan(udp.payload())?,
                UdpKind::Geneve => geneve(udp.payload())?,
            };
            (Some(port), tunnel, inner)
        }
        IpNextHeaderProtocols::Gre => {
            let (tunnel, inner) = gre(&payload)?;
            (None, tunnel, inner)
        }
        other => return Err(EncapError::NotTunnel(format!("IP protocol {other}"))),
    };
    Ok(Encapsulated { outer_src: src, outer_dst: dst, udp_dst_port, tunnel, inner })
}

/// How to read a UDP tunnel on a port that is not the standard one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpKind {
    /// As VXLAN.
    Vxlan,
    /// As GENEVE.
    Geneve,
}

fn vni_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]])
}

fn vxlan(payload: &[u8]) -> Result<(Tunnel, Vec<u8>), EncapError> {
    let header = payload.get(..8).ok_or(EncapError::Truncated("VXLAN header"))?;
    if header[0] & 0x08 == 0 {
        return Err(EncapError::NotTunnel("VXLAN header without the VNI flag".into()));
    }
    Ok((Tunnel::Vxlan { vni: vni_at(header, 4) }, payload[8..].to_vec()))
}

fn geneve(payload: &[u8]) -> Result<(Tunnel, Vec<u8>), EncapError> {
    let header = payload.get(..8).ok_or(EncapError::Truncated("GENEVE header"))?;
    let options_len = usize::from(header[0] & 0x3f) * 4;
    let protocol = u16::from_be_bytes([header[2], header[3]]);
    if protocol != GRE_PROTO_ETHERNET {
        return Err(EncapError::NotTunnel(format!("GENEVE carrying protocol {protocol:#06x}")));
    }
    let inner = payload.get(8 + options_len..).ok_or(EncapError::Truncated("GENEVE options"))?;
    Ok((Tunnel::Geneve { vni: vni_at(header, 4), options_len }, inner.to_vec()))
}

fn gre(payload: &[u8]) -> Result<(Tunnel, Vec<u8>), EncapError> {
    let gre = GrePacket::new(payload).ok_or(EncapError::Truncated("GRE header"))?;
    // pnet reads the optional fields' lengths from the flags; check they fit.
    let header_len = 4
        + 4 * usize::from(gre.get_checksum_present() | gre.get_routing_present())
        + 4 * usize::from(gre.get_key_present())
        + 4 * usize::from(gre.get_sequence_present());
    let body = payload.get(header_len..).ok_or(EncapError::Truncated("GRE header"))?;
    let key = gre.get_key_raw().get(..4).map(|k| u32::from_be_bytes([k[0], k[1], k[2], k[3]]));
    match gre.get_protocol_type() {
        GRE_PROTO_ETHERNET => Ok((Tunnel::Gre { key }, body.to_vec())),
        GRE_PROTO_ERSPAN_II => {
            let h = body.get(..8).ok_or(EncapError::Truncated("ERSPAN type II header"))?;
            let session_id = u16::from_be_bytes([h[2], h[3]]) & 0x3ff;
            let index = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) & 0xf_ffff;
            Ok((Tunnel::ErspanV1 { session_id, index }, body[8..].to_vec()))
        }
        GRE_PROTO_ERSPAN_III => {
            let h = body.get(..12).ok_or(EncapError::Truncated("ERSPAN type III header"))?;
            let session_id = u16::from_be_bytes([h[2], h[3]]) & 0x3ff;
            let flags = u16::from_be_bytes([h[10], h[11]]);
            let hardware_id = ((flags >> 4) & 0x3f) as u8;
            let dir = ((flags >> 3) & 1) as u8;
            // The O bit says an 8-byte platform sub-header follows.
            let inner_at = if flags & 1 == 1 { 20 } else { 12 };
            let inner = body.get(inner_at..).ok_or(EncapError::Truncated("ERSPAN type III sub-header"))?;
            Ok((Tunnel::ErspanV2 { session_id, dir, hardware_id }, inner.to_vec()))
        }
        other => Err(EncapError::NotTunnel(format!("GRE carrying protocol {other:#06x}"))),
    }
}

#[cfg(test)]
mod tests;
