//! The frames a Pod sends, built field by field with pnet, and the hex
//! files under `fixtures/packets/` that other crates (and real-OVS tests)
//! load with [`read_hex`].
//!
//! Frames are what a socket hands to a veth: no padding to Ethernet's
//! 60-byte minimum and no FCS, since the NIC adds both and a capture on the
//! veth shows neither. Nothing here does I/O; the test that checks the
//! files are up to date is the only reader and writer of them.

use std::net::{Ipv4Addr, Ipv6Addr};

use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::EtherTypes;
use pnet_packet::icmp::echo_request::MutableEchoRequestPacket;
use pnet_packet::icmp::{self, IcmpCode, IcmpPacket, IcmpTypes};
use pnet_packet::icmpv6::echo_request::MutableEchoRequestPacket as MutableEchoRequestV6Packet;
use pnet_packet::icmpv6::{self, Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::tcp::{self, MutableTcpPacket, TcpFlags};
use pnet_packet::udp::{self, MutableUdpPacket};
use pnet_packet::{MutablePacket, Packet};

use super::{SIZED, TTL, ethernet, ipv4};

/// The ICMP and ICMPv6 echo identifier.
pub const ECHO_ID: u16 = 0x1234;
/// The ICMP and ICMPv6 echo sequence number.
pub const ECHO_SEQUENCE: u16 = 1;
/// The client's ephemeral port for TCP and UDP.
pub const CLIENT_PORT: u16 = 40000;

const ECHO_PAYLOAD_LEN: u8 = 32;
const UDP_PAYLOAD_LEN: u8 = 16;
const BROADCAST: [u8; 6] = [0xff; 6];

/// One side of a fixture's conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The interface's MAC address.
    pub mac: [u8; 6],
    /// The IPv4 address.
    pub ipv4: Ipv4Addr,
    /// The IPv6 address.
    pub ipv6: Ipv6Addr,
}

/// A Pod's endpoint numbered `index`: MAC `02:00:00:00:00:<index>`,
/// `10.244.0.<index>` and `fd00:10:244::<index>` (the index as the last
/// group, so 10 is `::a`).
pub fn pod_endpoint(index: u8) -> Endpoint {
    Endpoint {
        mac: [0x02, 0, 0, 0, 0, index],
        ipv4: Ipv4Addr::new(10, 244, 0, index),
        ipv6: Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, u16::from(index)),
    }
}

/// The kinds of fixture frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FixtureKind {
    /// IPv4 ICMP echo request.
    Icmp,
    /// IPv4 TCP SYN to port 80.
    Tcp,
    /// IPv4 UDP to port 53.
    Udp,
    /// ARP request, broadcast.
    ArpBroadcast,
    /// IPv6 ICMPv6 echo request.
    Ipv6,
}

impl FixtureKind {
    /// Every kind, in file order.
    pub const ALL: [FixtureKind; 5] =
        [FixtureKind::Icmp, FixtureKind::Tcp, FixtureKind::Udp, FixtureKind::ArpBroadcast, FixtureKind::Ipv6];

    /// The name used for the fixture file (`<name>.hex`).
    pub fn name(self) -> &'static str {
        match self {
            FixtureKind::Icmp => "icmp",
            FixtureKind::Tcp => "tcp",
            FixtureKind::Udp => "udp",
            FixtureKind::ArpBroadcast => "arp-broadcast",
            FixtureKind::Ipv6 => "ipv6",
        }
    }

    /// What the frame is, for people.
    pub fn summary(self) -> &'static str {
        match self {
            FixtureKind::Icmp => "IPv4 ICMP echo request, id 0x1234 seq 1, 32 bytes of data",
            FixtureKind::Tcp => "IPv4 TCP SYN, port 40000 to 80, seq 1000, window 64240",
            FixtureKind::Udp => "IPv4 UDP, port 40000 to 53, 16 bytes of data",
            FixtureKind::ArpBroadcast => "ARP request (who-has to, tell from), broadcast",
            FixtureKind::Ipv6 => "IPv6 ICMPv6 echo request, id 0x1234 seq 1, 32 bytes of data",
        }
    }
}

/// The frame of `kind` that `from` sends to `to`.
pub fn frame(kind: FixtureKind, from: &Endpoint, to: &Endpoint) -> Vec<u8> {
    let over_ipv4 = |protocol, payload: &[u8]| {
        ethernet(to.mac, from.mac, EtherTypes::Ipv4, &ipv4(from.ipv4, to.ipv4, 0, protocol, payload))
    };
    match kind {
        FixtureKind::Icmp => over_ipv4(IpNextHeaderProtocols::Icmp, &icmp_echo()),
        FixtureKind::Tcp => over_ipv4(IpNextHeaderProtocols::Tcp, &tcp_syn(from.ipv4, to.ipv4)),
        FixtureKind::Udp => over_ipv4(IpNextHeaderProtocols::Udp, &udp(from.ipv4, to.ipv4)),
        FixtureKind::ArpBroadcast => ethernet(BROADCAST, from.mac, EtherTypes::Arp, &arp_request(from, to)),
        FixtureKind::Ipv6 => ethernet(to.mac, from.mac, EtherTypes::Ipv6, &ipv6_echo(from.ipv6, to.ipv6)),
    }
}

/// Bytes 0, 1, 2, …: easy to spot in a hex dump.
fn pattern(len: u8) -> Vec<u8> {
    (0..len).collect()
}

fn icmp_echo() -> Vec<u8> {
    let data = pattern(ECHO_PAYLOAD_LEN);
    let mut buffer = vec![0; MutableEchoRequestPacket::minimum_packet_size() + data.len()];
    let mut echo = MutableEchoRequestPacket::new(&mut buffer).expect(SIZED);
    echo.set_icmp_type(IcmpTypes::EchoRequest);
    echo.set_icmp_code(IcmpCode(0));
    echo.set_checksum(0);
    echo.set_identifier(ECHO_ID);
    echo.set_sequence_number(ECHO_SEQUENCE);
    echo.set_payload(&data);
    let checksum = icmp::checksum(&IcmpPacket::new(echo.packet()).expect(SIZED));
    echo.set_checksum(checksum);
    buffer
}

fn tcp_syn(source: Ipv4Addr, destination: Ipv4Addr) -> Vec<u8> {
    let mut buffer = vec![0; MutableTcpPacket::minimum_packet_size()];
    let mut tcp = MutableTcpPacket::new(&mut buffer).expect(SIZED);
    tcp.set_source(CLIENT_PORT);
    tcp.set_destination(80);
    tcp.set_sequence(1000);
    tcp.set_acknowledgement(0);
    tcp.set_data_offset(5);
    tcp.set_reserved(0);
    tcp.set_flags(TcpFlags::SYN);
    tcp.set_window(64240);
    tcp.set_checksum(0);
    tcp.set_urgent_ptr(0);
    let checksum = tcp::ipv4_checksum(&tcp.to_immutable(), &source, &destination);
    tcp.set_checksum(checksum);
    buffer
}

fn udp(source: Ipv4Addr, destination: Ipv4Addr) -> Vec<u8> {
    let data = pattern(UDP_PAYLOAD_LEN);
    let mut buffer = vec![0; MutableUdpPacket::minimum_packet_size() + data.len()];
    let length = u16::try_from(buffer.len()).unwrap_or(u16::MAX);
    let mut udp = MutableUdpPacket::new(&mut buffer).expect(SIZED);
    udp.set_source(CLIENT_PORT);
    udp.set_destination(53);
    udp.set_length(length);
    udp.set_checksum(0);
    udp.set_payload(&data);
    let checksum = udp::ipv4_checksum(&udp.to_immutable(), &source, &destination);
    udp.set_checksum(checksum);
    buffer
}

fn arp_request(from: &Endpoint, to: &Endpoint) -> Vec<u8> {
    let mut buffer = vec![0; MutableArpPacket::minimum_packet_size()];
    let mut arp = MutableArpPacket::new(&mut buffer).expect(SIZED);
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherTypes::Ipv4);
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    arp.set_operation(ArpOperations::Request);
    arp.set_sender_hw_addr(from.mac.into());
    arp.set_sender_proto_addr(from.ipv4);
    arp.set_target_hw_addr([0; 6].into());
    arp.set_target_proto_addr(to.ipv4);
    buffer
}

fn ipv6_echo(source: Ipv6Addr, destination: Ipv6Addr) -> Vec<u8> {
    let data = pattern(ECHO_PAYLOAD_LEN);
    let mut icmp = vec![0; MutableEchoRequestV6Packet::minimum_packet_size() + data.len()];
    let mut echo = MutableEchoRequestV6Packet::new(&mut icmp).expect(SIZED);
    echo.set_icmpv6_type(Icmpv6Types::EchoRequest);
    echo.set_icmpv6_code(Icmpv6Code(0));
    echo.set_checksum(0);
    echo.set_identifier(ECHO_ID);
    echo.set_sequence_number(ECHO_SEQUENCE);
    echo.set_payload(&data);
    let checksum = icmpv6::checksum(&Icmpv6Packet::new(echo.packet()).expect(SIZED), &source, &destination);
    echo.set_checksum(checksum);

    let mut buffer = vec![0; MutableIpv6Packet::minimum_packet_size() + icmp.len()];
    let length = u16::try_from(icmp.len()).unwrap_or(u16::MAX);
    let mut ip = MutableIpv6Packet::new(&mut buffer).expect(SIZED);
    ip.set_version(6);
    ip.set_traffic_class(0);
    ip.set_flow_label(0);
    ip.set_payload_length(length);
    ip.set_next_header(IpNextHeaderProtocols::Icmpv6);
    ip.set_hop_limit(TTL);
    ip.set_source(source);
    ip.set_destination(destination);
    ip.payload_mut().copy_from_slice(&icmp);
    buffer
}

/// Why a hex file does not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// A character that is neither a hex digit, whitespace nor part of a
    /// `#` comment line.
    #[error("line {line}, column {column}: {character:?} is not a hex digit")]
    Character {
        /// 1-based line number.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The offending character.
        character: char,
    },
    /// A line with an odd number of hex digits: a byte split across lines.
    #[error("line {line}: odd number of hex digits, a byte is split")]
    OddDigits {
        /// 1-based line number.
        line: usize,
    },
}

/// Reads the bytes of a fixture file: hex digits in pairs, whitespace
/// ignored, lines starting with `#` (after leading blanks) skipped.
///
/// # Errors
/// [`HexError`] names the line (and column) that does not read.
pub fn read_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut bytes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut high: Option<u8> = None;
        for (column, character) in line.chars().enumerate() {
            if character.is_whitespace() {
                continue;
            }
            let Some(digit) = character.to_digit(16) else {
                return Err(HexError::Character { line: index + 1, column: column + 1, character });
            };
            // to_digit(16) is below 16, so the cast is lossless.
            let digit = digit as u8;
            match high.take() {
                Some(high) => bytes.push(high << 4 | digit),
                None => high = Some(digit),
            }
        }
        if high.is_some() {
            return Err(HexError::OddDigits { line: index + 1 });
        }
    }
    Ok(bytes)
}

/// The text of a fixture file: `#` lines saying what the frame is, then
/// the frame as lowercase hex, 32 bytes a line.
pub fn write_hex(kind: FixtureKind, from: &Endpoint, to: &Endpoint) -> String {
    let describe = |endpoint: &Endpoint| {
        let mac: Vec<String> = endpoint.mac.iter().map(|b| format!("{b:02x}")).collect();
        format!("{} {} {}", mac.join(":"), endpoint.ipv4, endpoint.ipv6)
    };
    let mut text = format!(
        "# {}: {}\n# from {}\n# to   {}\n\
         # Generated by sim (sim/src/packets/fixtures.rs): `cargo test -p sim --lib packets`\n\
         # checks it is not stale; `TC_WRITE_FIXTURES=1 cargo test -p sim --lib packets` rewrites it.\n",
        kind.name(),
        kind.summary(),
        describe(from),
        describe(to),
    );
    for chunk in frame(kind, from, to).chunks(32) {
        let line: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests;
