//! The text an insta snapshot shows of an encapsulated frame: the decoded
//! fields, one a line, then a hex dump of the whole frame in which the bytes
//! that vary between runs of a real switch read `..`. A capture from real
//! OVS and a frame from [`super::encapsulate`] therefore describe alike
//! exactly when the switch built what the simulator did.
//!
//! The varying bytes ([`normalized`] returns them as `None`): the outer
//! IPv4 ID and header checksum, the UDP source port and checksum, the GRE
//! sequence number and the ERSPAN type III timestamp. Nothing else is
//! masked and no field line prints them, so any other difference shows.

use std::fmt::Write as _;
use std::ops::Range;

use datapath::encap::{Encapsulated, GRE_PROTO_ERSPAN_III, GRE_PROTO_ETHERNET, Tunnel, UdpKind, decode};
use pnet_packet::Packet;
use pnet_packet::arp::{ArpOperations, ArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::gre::GrePacket;
use pnet_packet::icmp::{IcmpPacket, IcmpTypes};
use pnet_packet::icmpv6::{Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
use pnet_packet::ipv4::{Ipv4Flags, Ipv4Packet};
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::tcp::TcpPacket;
use pnet_packet::udp::UdpPacket;

const ETHERNET_LEN: usize = 14;
const IPV6_LEN: usize = 40;

/// Multi-line text of `frame`: field lines, a blank line, then a hex dump,
/// 16 bytes a line, with the varying bytes as `..`. Never fails: what does
/// not decode says so on its line and still shows in the dump.
pub fn describe(frame: &[u8]) -> String {
    let mut text = String::new();
    for line in fields(frame) {
        text.push_str(&line);
        text.push('\n');
    }
    text.push('\n');
    for (row, chunk) in normalized(frame).chunks(16).enumerate() {
        let bytes: Vec<String> =
            chunk.iter().map(|b| b.map_or_else(|| "..".to_owned(), |b| format!("{b:02x}"))).collect();
        let _ = writeln!(text, "{:04x}  {}", row * 16, bytes.join(" "));
    }
    text
}

/// `frame`'s bytes with the ones that vary between runs as `None`, so a
/// captured frame can be compared with a simulated one ignoring exactly
/// those.
pub fn normalized(frame: &[u8]) -> Vec<Option<u8>> {
    let mut bytes: Vec<Option<u8>> = frame.iter().copied().map(Some).collect();
    for range in varying(frame) {
        let end = range.end.min(bytes.len());
        for byte in bytes.get_mut(range.start.min(end)..end).unwrap_or_default() {
            *byte = None;
        }
    }
    bytes
}

/// Where the outer IP header says the transport header is.
struct Outer {
    transport: usize,
    protocol: IpNextHeaderProtocol,
    is_ipv4: bool,
}

fn outer(frame: &[u8]) -> Option<Outer> {
    let ethernet = EthernetPacket::new(frame)?;
    match ethernet.get_ethertype() {
        EtherTypes::Ipv4 => {
            let ip = Ipv4Packet::new(ethernet.payload())?;
            let transport = ETHERNET_LEN + usize::from(ip.get_header_length()) * 4;
            Some(Outer { transport, protocol: ip.get_next_level_protocol(), is_ipv4: true })
        }
        EtherTypes::Ipv6 => {
            let ip = Ipv6Packet::new(ethernet.payload())?;
            Some(Outer { transport: ETHERNET_LEN + IPV6_LEN, protocol: ip.get_next_header(), is_ipv4: false })
        }
        _ => None,
    }
}

/// The byte ranges that vary between runs of a real switch.
fn varying(frame: &[u8]) -> Vec<Range<usize>> {
    let Some(outer) = outer(frame) else { return Vec::new() };
    let mut ranges = Vec::new();
    if outer.is_ipv4 {
        // Identification, then the header checksum that covers it.
        ranges.extend([ETHERNET_LEN + 4..ETHERNET_LEN + 6, ETHERNET_LEN + 10..ETHERNET_LEN + 12]);
    }
    let at = outer.transport;
    match outer.protocol {
        IpNextHeaderProtocols::Udp => ranges.extend([at..at + 2, at + 6..at + 8]),
        IpNextHeaderProtocols::Gre => {
            let Some(gre) = frame.get(at..).and_then(GrePacket::new) else { return ranges };
            let optional = |present: u8| 4 * usize::from(present);
            let sequence = at
                + 4
                + optional(gre.get_checksum_present() | gre.get_routing_present())
                + optional(gre.get_key_present());
            let after = sequence + optional(gre.get_sequence_present());
            if gre.get_sequence_present() == 1 {
                ranges.push(sequence..after);
            }
            if gre.get_protocol_type() == GRE_PROTO_ERSPAN_III {
                // The timestamp follows the 4-byte base header.
                ranges.push(after + 4..after + 8);
            }
        }
        _ => {}
    }
    ranges
}

fn fields(frame: &[u8]) -> Vec<String> {
    let Some(ethernet) = EthernetPacket::new(frame) else {
        return vec![format!("truncated: {} bytes, no Ethernet header", frame.len())];
    };
    let mut lines = vec![format!("outer eth {} > {}", ethernet.get_source(), ethernet.get_destination())];
    match ethernet.get_ethertype() {
        EtherTypes::Ipv4 => match Ipv4Packet::new(ethernet.payload()) {
            Some(ip) => lines.push(format!(
                "outer ipv4 {} > {} ttl {} tos 0x{:02x}{} proto {}",
                ip.get_source(),
                ip.get_destination(),
                ip.get_ttl(),
                ip.get_dscp() << 2 | ip.get_ecn(),
                if ip.get_flags() & Ipv4Flags::DontFragment != 0 { " df" } else { "" },
                ip.get_next_level_protocol().0,
            )),
            None => lines.push("outer ipv4 truncated".to_owned()),
        },
        EtherTypes::Ipv6 => match Ipv6Packet::new(ethernet.payload()) {
            Some(ip) => lines.push(format!(
                "outer ipv6 {} > {} hlim {} tc 0x{:02x} next {}",
                ip.get_source(),
                ip.get_destination(),
                ip.get_hop_limit(),
                ip.get_traffic_class(),
                ip.get_next_header().0,
            )),
            None => lines.push("outer ipv6 truncated".to_owned()),
        },
        other => lines.push(format!("outer ethertype 0x{:04x}", other.0)),
    }
    let udp_kind = outer(frame).map_or(UdpKind::Vxlan, |outer| guess_udp_kind(frame, outer.transport));
    match decode(frame, udp_kind) {
        Ok(decoded) => lines.extend(tunnel_lines(&decoded)),
        Err(error) => lines.push(format!("not a tunnel packet: {error}")),
    }
    lines
}

/// On a port other than 4789 or 6081 nothing says which UDP tunnel it is;
/// GENEVE carries protocol 0x6558 where VXLAN has reserved zero bytes.
fn guess_udp_kind(frame: &[u8], transport: usize) -> UdpKind {
    let protocol = frame.get(transport + 10..transport + 12);
    if protocol == Some(&GRE_PROTO_ETHERNET.to_be_bytes()[..]) { UdpKind::Geneve } else { UdpKind::Vxlan }
}

fn tunnel_lines(decoded: &Encapsulated) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(port) = decoded.udp_dst_port {
        lines.push(format!("udp dst {port}"));
    }
    lines.push(match decoded.tunnel {
        Tunnel::Vxlan { vni } => format!("vxlan vni {vni}"),
        Tunnel::Geneve { vni, options_len } => format!("geneve vni {vni} options {options_len}"),
        Tunnel::Gre { key: Some(key) } => format!("gre key 0x{key:08x}"),
        Tunnel::Gre { key: None } => "gre key none".to_owned(),
        Tunnel::ErspanV1 { session_id, index } => format!("erspan v1 session {session_id} index {index}"),
        Tunnel::ErspanV2 { session_id, dir, hardware_id } => {
            format!("erspan v2 session {session_id} dir {dir} hwid {hardware_id}")
        }
    });
    lines.push(format!("inner {}", summary(&decoded.inner)));
    lines
}

/// One line saying what an Ethernet frame is: addresses and protocols.
pub fn summary(frame: &[u8]) -> String {
    let Some(ethernet) = EthernetPacket::new(frame) else {
        return format!("truncated ({} bytes)", frame.len());
    };
    let rest = match ethernet.get_ethertype() {
        EtherTypes::Ipv4 => Ipv4Packet::new(ethernet.payload()).map_or_else(
            || "ipv4 truncated".to_owned(),
            |ip| {
                let (source, destination) = (ip.get_source(), ip.get_destination());
                format!(
                    "ipv4 {source} > {destination} {}",
                    transport(ip.get_next_level_protocol(), ip.payload())
                )
            },
        ),
        EtherTypes::Ipv6 => Ipv6Packet::new(ethernet.payload()).map_or_else(
            || "ipv6 truncated".to_owned(),
            |ip| {
                let (source, destination) = (ip.get_source(), ip.get_destination());
                format!("ipv6 {source} > {destination} {}", transport(ip.get_next_header(), ip.payload()))
            },
        ),
        EtherTypes::Arp => ArpPacket::new(ethernet.payload()).map_or_else(
            || "arp truncated".to_owned(),
            |arp| match arp.get_operation() {
                ArpOperations::Request => {
                    format!(
                        "arp who-has {} tell {}",
                        arp.get_target_proto_addr(),
                        arp.get_sender_proto_addr()
                    )
                }
                ArpOperations::Reply => {
                    format!("arp {} is-at {}", arp.get_sender_proto_addr(), arp.get_sender_hw_addr())
                }
                other => format!("arp op {}", other.0),
            },
        ),
        other => format!("ethertype 0x{:04x}", other.0),
    };
    format!("eth {} > {} {rest}", ethernet.get_source(), ethernet.get_destination())
}

fn transport(protocol: IpNextHeaderProtocol, payload: &[u8]) -> String {
    let truncated = || format!("{protocol} truncated").to_lowercase();
    match protocol {
        IpNextHeaderProtocols::Icmp => {
            IcmpPacket::new(payload).map_or_else(truncated, |icmp| match icmp.get_icmp_type() {
                IcmpTypes::EchoRequest => "icmp echo-request".to_owned(),
                IcmpTypes::EchoReply => "icmp echo-reply".to_owned(),
                other => format!("icmp type {} code {}", other.0, icmp.get_icmp_code().0),
            })
        }
        IpNextHeaderProtocols::Icmpv6 => {
            Icmpv6Packet::new(payload).map_or_else(truncated, |icmp| match icmp.get_icmpv6_type() {
                Icmpv6Types::EchoRequest => "icmpv6 echo-request".to_owned(),
                Icmpv6Types::EchoReply => "icmpv6 echo-reply".to_owned(),
                other => format!("icmpv6 type {} code {}", other.0, icmp.get_icmpv6_code().0),
            })
        }
        IpNextHeaderProtocols::Tcp => TcpPacket::new(payload).map_or_else(truncated, |tcp| {
            let names = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];
            let flags = tcp.get_flags();
            let set: Vec<&str> = (0..8).filter(|bit| flags & (1 << bit) != 0).map(|bit| names[bit]).collect();
            format!("tcp {} > {} {}", tcp.get_source(), tcp.get_destination(), set.join(","))
        }),
        IpNextHeaderProtocols::Udp => UdpPacket::new(payload)
            .map_or_else(truncated, |udp| format!("udp {} > {}", udp.get_source(), udp.get_destination())),
        other => format!("proto {}", other.0),
    }
}

#[cfg(test)]
mod tests;
