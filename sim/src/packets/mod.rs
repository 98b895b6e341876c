//! Packets as bytes, for the simulated datapath and for tests that compare
//! it with a real Open vSwitch. Pure functions: no sockets, no clock.
//!
//! - [`fixtures`]: the frames a Pod sends (ICMP, TCP, UDP, ARP, IPv6) and
//!   their hex files under `fixtures/packets/`.
//! - [`encapsulate`]: what an OVS userspace tunnel port puts on the wire
//!   around a frame (VXLAN, GENEVE, GRE, ERSPAN II and III).
//! - [`describe`]: the text a snapshot shows of an encapsulated frame, with
//!   the bytes that vary between runs masked.
//!
//! Only IPv4 outer headers are built; decoding is
//! [`datapath::encap::decode`]'s job.

pub mod describe;
pub mod encapsulate;
pub mod fixtures;

use std::net::Ipv4Addr;

use pnet_packet::MutablePacket;
use pnet_packet::ethernet::{EtherType, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocol;
use pnet_packet::ipv4::{self, Ipv4Flags, MutableIpv4Packet};

/// Why pnet's `Mutable*Packet::new` cannot fail below: every buffer is
/// allocated at its header's size plus the payload's.
const SIZED: &str = "buffer sized for the header";

/// The TTL both the fixtures and OVS (its `DEFAULT_TTL`) put on IPv4.
const TTL: u8 = 64;

/// An Ethernet frame around `payload` (no 802.1Q tag, no FCS, no padding).
fn ethernet(destination: [u8; 6], source: [u8; 6], ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut buffer = vec![0; MutableEthernetPacket::minimum_packet_size() + payload.len()];
    let mut frame = MutableEthernetPacket::new(&mut buffer).expect(SIZED);
    frame.set_destination(destination.into());
    frame.set_source(source.into());
    frame.set_ethertype(ethertype);
    frame.payload_mut().copy_from_slice(payload);
    buffer
}

/// An IPv4 packet around `payload`: no options, ID 0, DF set, TTL 64, a
/// correct header checksum. `tos` is DSCP and ECN as one byte.
fn ipv4(
    source: Ipv4Addr,
    destination: Ipv4Addr,
    tos: u8,
    protocol: IpNextHeaderProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let header = MutableIpv4Packet::minimum_packet_size();
    let mut buffer = vec![0; header + payload.len()];
    // A tunnel's inner frame can exceed 64 KiB only in a broken caller;
    // saturate rather than wrap so the length field stays visibly wrong.
    let total = u16::try_from(buffer.len()).unwrap_or(u16::MAX);
    let mut ip = MutableIpv4Packet::new(&mut buffer).expect(SIZED);
    ip.set_version(4);
    ip.set_header_length(5);
    ip.set_dscp(tos >> 2);
    ip.set_ecn(tos & 0b11);
    ip.set_total_length(total);
    ip.set_identification(0);
    ip.set_flags(Ipv4Flags::DontFragment);
    ip.set_fragment_offset(0);
    ip.set_ttl(TTL);
    ip.set_next_level_protocol(protocol);
    ip.set_checksum(0);
    ip.set_source(source);
    ip.set_destination(destination);
    ip.payload_mut().copy_from_slice(payload);
    let checksum = ipv4::checksum(&ip.to_immutable());
    ip.set_checksum(checksum);
    buffer
}
