//! What an Open vSwitch userspace (netdev) tunnel port puts on the wire
//! around a frame, after OVS 3.x's `lib/netdev-native-tnl.c` (headers) and
//! `lib/netdev-vport.c` (how `Interface.options` are read): outer Ethernet
//! and IPv4, then UDP with VXLAN or GENEVE, or GRE carrying Ethernet,
//! ERSPAN type II or ERSPAN type III.
//!
//! Only what the agent configures is modelled: IPv4 underlays, no GENEVE
//! options, no UDP or GRE checksum (`csum` unset), no GRE sequence on plain
//! GRE (`seq` unset), TTL 64, TOS 0, `df_default` true. Bytes a real switch
//! fills from a counter, a clock or a NIC hash are fixed or derived here;
//! each is documented where it is built and [`super::describe`] masks them.
//!
//! Checked against the openvswitch/ovs sources (a 3.x tree with SRv6
//! tunnels): `netdev-native-tnl.c` and `packets.h` at 03fc1ad7 and
//! b7807e4f, `netdev-vport.c` at 01b25786, `ofproto/tunnel.c` at 03bc7fd3.

use std::net::Ipv4Addr;

use datapath::encap::{GRE_PROTO_ERSPAN_II, GRE_PROTO_ERSPAN_III, GRE_PROTO_ETHERNET};
use pnet_packet::ethernet::EtherTypes;
use pnet_packet::gre::MutableGrePacket;
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::udp::MutableUdpPacket;
use pnet_packet::vxlan::MutableVxlanPacket;

use super::{SIZED, ethernet, ipv4};

/// VXLAN's IANA port, OVS's default `dst_port` for `vxlan`.
pub const VXLAN_PORT: u16 = 4789;
/// GENEVE's IANA port, OVS's default `dst_port` for `geneve`.
pub const GENEVE_PORT: u16 = 6081;
/// The lowest UDP source port OVS picks (`tnl_udp_port_min`).
pub const SOURCE_PORT_MIN: u16 = 32768;
/// The bound of OVS's source port range (`tnl_udp_port_max`); its scaling
/// never reaches it, so ports are in `SOURCE_PORT_MIN..SOURCE_PORT_MAX`.
pub const SOURCE_PORT_MAX: u16 = 61000;

/// The underlay link a tunnel packet leaves on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Underlay {
    /// The sending interface's MAC.
    pub local_mac: [u8; 6],
    /// The next hop's MAC (the collector's, on a flat underlay).
    pub remote_mac: [u8; 6],
    /// The tunnel's source address.
    pub local_ip: Ipv4Addr,
    /// The tunnel's destination (`options:remote_ip`).
    pub remote_ip: Ipv4Addr,
}

/// The tunnel header a port adds, as its OVSDB options configure it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelHeader {
    /// VXLAN over UDP.
    Vxlan {
        /// The 24-bit VNI (`options:key`).
        vni: u32,
        /// The UDP destination port.
        dst_port: u16,
    },
    /// GENEVE over UDP, without options.
    Geneve {
        /// The 24-bit VNI (`options:key`).
        vni: u32,
        /// The UDP destination port.
        dst_port: u16,
    },
    /// GRE carrying Ethernet (OVS's `gre` type, a gretap).
    Gre {
        /// The key, when `options:key` is set.
        key: Option<u32>,
    },
    /// ERSPAN type II (`erspan_ver=1`).
    ErspanV1 {
        /// The 10-bit session ID (`options:key`).
        session_id: u16,
        /// The 20-bit index (`options:erspan_idx`).
        index: u32,
    },
    /// ERSPAN type III (`erspan_ver=2`).
    ErspanV2 {
        /// The 10-bit session ID (`options:key`).
        session_id: u16,
        /// 0 ingress, 1 egress (`options:erspan_dir`).
        dir: u8,
        /// The 6-bit hardware ID (`options:erspan_hwid`).
        hardware_id: u8,
    },
}

/// The Ethernet frame `inner` inside `header` on `underlay`. `sequence` is
/// the GRE sequence number, which OVS counts per port from 0 (one per
/// packet sent); only ERSPAN carries one.
pub fn encapsulate(underlay: &Underlay, header: &TunnelHeader, inner: &[u8], sequence: u32) -> Vec<u8> {
    let (protocol, transport) = match *header {
        TunnelHeader::Vxlan { vni, dst_port } => {
            (IpNextHeaderProtocols::Udp, udp(source_port(inner), dst_port, &[&vxlan(vni), inner].concat()))
        }
        TunnelHeader::Geneve { vni, dst_port } => {
            (IpNextHeaderProtocols::Udp, udp(source_port(inner), dst_port, &[&geneve(vni), inner].concat()))
        }
        TunnelHeader::Gre { key } => {
            (IpNextHeaderProtocols::Gre, [&gre(GRE_PROTO_ETHERNET, key), inner].concat())
        }
        TunnelHeader::ErspanV1 { session_id, index } => {
            let gre = erspan_gre(GRE_PROTO_ERSPAN_II, sequence);
            (IpNextHeaderProtocols::Gre, [&gre, &erspan_v1(session_id, index), inner].concat())
        }
        TunnelHeader::ErspanV2 { session_id, dir, hardware_id } => {
            let gre = erspan_gre(GRE_PROTO_ERSPAN_III, sequence);
            (IpNextHeaderProtocols::Gre, [&gre, &erspan_v2(session_id, dir, hardware_id), inner].concat())
        }
    };
    // OVS leaves the IP ID at 0 (its header template is zeroed and nothing
    // on this path sets it) and sets DF because df_default is true: both
    // are what `ipv4` writes.
    // Unverified against real OVS: releases after the tree read (see the
    // module doc) may fill the IP ID; `describe` masks it either way.
    let packet = ipv4(underlay.local_ip, underlay.remote_ip, outer_tos(inner), protocol, &transport);
    ethernet(underlay.remote_mac, underlay.local_mac, EtherTypes::Ipv4, &packet)
}

/// The outer TOS: DSCP from `options:tos` (unset, so 0) and the inner IP
/// packet's ECN bits, Congestion Experienced becoming ECT(0), as OVS's
/// `tnl_port_send` does ("ECN fields are always inherited").
fn outer_tos(inner: &[u8]) -> u8 {
    const CE: u8 = 0b11;
    const ECT_0: u8 = 0b10;
    let ecn = match inner.get(12..14) {
        Some([0x08, 0x00]) => inner.get(15).map(|tos| tos & 0b11),
        // The traffic class straddles bytes 14 and 15; ECN is its low bits.
        Some([0x86, 0xdd]) => inner.get(15).map(|byte| (byte >> 4) & 0b11),
        _ => None,
    };
    match ecn {
        Some(CE) => ECT_0,
        other => other.unwrap_or(0),
    }
}

/// The UDP source port. OVS scales the packet's RSS hash (the NIC's, or its
/// own over the flow) into its port range, so a real port differs between
/// machines and versions. Here the hash is FNV-1a over the inner Ethernet
/// and IP addresses, so one flow keeps one port as it does on a switch,
/// scaled the way OVS scales.
fn source_port(inner: &[u8]) -> u16 {
    let addresses = match inner.get(12..14) {
        Some([0x08, 0x00]) => inner.get(26..34),
        Some([0x86, 0xdd]) => inner.get(22..54),
        _ => None,
    };
    let flow = inner.get(..12).unwrap_or(inner).iter().chain(addresses.unwrap_or_default());
    let hash = flow.fold(0x811c_9dc5_u32, |hash, &byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    let span = u64::from(SOURCE_PORT_MAX - SOURCE_PORT_MIN);
    // (hash * span) >> 32 is below span, so the sum stays below the max.
    SOURCE_PORT_MIN + ((u64::from(hash) * span) >> 32) as u16
}

/// UDP around `payload`, checksum 0: OVS computes one only with
/// `options:csum=true` (or an IPv6 underlay).
fn udp(source: u16, destination: u16, payload: &[u8]) -> Vec<u8> {
    let mut buffer = vec![0; MutableUdpPacket::minimum_packet_size() + payload.len()];
    let length = u16::try_from(buffer.len()).unwrap_or(u16::MAX);
    let mut udp = MutableUdpPacket::new(&mut buffer).expect(SIZED);
    udp.set_source(source);
    udp.set_destination(destination);
    udp.set_length(length);
    udp.set_checksum(0);
    udp.set_payload(payload);
    buffer
}

/// The VXLAN header: only the I flag, the VNI in the top 24 bits.
fn vxlan(vni: u32) -> Vec<u8> {
    let mut buffer = vec![0; MutableVxlanPacket::minimum_packet_size()];
    let mut vxlan = MutableVxlanPacket::new(&mut buffer).expect(SIZED);
    vxlan.set_flags(0x08);
    vxlan.set_reserved1(0);
    vxlan.set_vni(vni & 0xff_ffff);
    vxlan.set_reserved2(0);
    buffer
}

/// The GENEVE header OVS builds without tunnel metadata: version 0, no
/// options, O and C clear, protocol Ethernet, the VNI.
fn geneve(vni: u32) -> Vec<u8> {
    let [_, a, b, c] = (vni & 0xff_ffff).to_be_bytes();
    let [p0, p1] = GRE_PROTO_ETHERNET.to_be_bytes();
    vec![0, 0, p0, p1, a, b, c, 0]
}

/// A GRE header with no checksum, routing or sequence, and the key when
/// there is one (OVS sets K when the port has `options:key`).
fn gre(protocol: u16, key: Option<u32>) -> Vec<u8> {
    let mut buffer = vec![0; 4 + 4 * usize::from(key.is_some())];
    let mut gre = MutableGrePacket::new(&mut buffer).expect(SIZED);
    gre_flags(&mut gre, protocol, u8::from(key.is_some()), 0);
    if let Some(key) = key {
        gre.get_key_raw_mut().copy_from_slice(&key.to_be_bytes());
    }
    buffer
}

/// ERSPAN's GRE header: only the S bit and the sequence number. OVS's
/// `netdev_erspan_build_header` sets exactly GRE_SEQ, so no key even
/// though `options:key` holds the session ID.
fn erspan_gre(protocol: u16, sequence: u32) -> Vec<u8> {
    let mut buffer = vec![0; 8];
    let mut gre = MutableGrePacket::new(&mut buffer).expect(SIZED);
    gre_flags(&mut gre, protocol, 0, 1);
    gre.get_sequence_raw_mut().copy_from_slice(&sequence.to_be_bytes());
    buffer
}

fn gre_flags(gre: &mut MutableGrePacket<'_>, protocol: u16, key: u8, sequence: u8) {
    gre.set_checksum_present(0);
    gre.set_routing_present(0);
    gre.set_key_present(key);
    gre.set_sequence_present(sequence);
    gre.set_strict_source_route(0);
    gre.set_recursion_control(0);
    gre.set_zero_flags(0);
    gre.set_version(0);
    gre.set_protocol_type(protocol);
}

/// The first word of both ERSPAN headers: version, VLAN 0, then COS, En
/// (BSO in type III) and T all 0 because OVS zeroes the header and sets
/// only the version and the session ID.
fn erspan_base(version: u8, session_id: u16) -> [u8; 4] {
    let [high, low] = (session_id & 0x3ff).to_be_bytes();
    [version << 4, 0, high, low]
}

/// ERSPAN type II: the base word, then 12 reserved bits and the index.
fn erspan_v1(session_id: u16, index: u32) -> Vec<u8> {
    [erspan_base(1, session_id), (index & 0xf_ffff).to_be_bytes()].concat()
}

/// ERSPAN type III without the platform sub-header. The timestamp is 0
/// here; OVS writes the wall clock in 100 µs units at send time, so a real
/// one varies. SGT 0, P 0, FT 0, Gra 0 (100 µs, the only granularity OVS
/// writes) and O 0 are what OVS sets; the hardware ID and direction come
/// from the options.
fn erspan_v2(session_id: u16, dir: u8, hardware_id: u8) -> Vec<u8> {
    let flags = (u16::from(hardware_id & 0x3f) << 4) | (u16::from(dir & 1) << 3);
    let timestamp = 0u32.to_be_bytes();
    let sgt = 0u16.to_be_bytes();
    [&erspan_base(2, session_id)[..], &timestamp, &sgt, &flags.to_be_bytes()].concat()
}

mod options;
pub use options::{OptionsError, header_from_options, remote_ip};

#[cfg(test)]
mod tests;
