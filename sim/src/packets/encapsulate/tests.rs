use std::collections::BTreeMap;
use std::net::IpAddr;

use datapath::encap::{Tunnel, UdpKind, decode};
use pnet_packet::Packet;
use pnet_packet::ethernet::EthernetPacket;
use pnet_packet::ipv4::{self, Ipv4Packet};

use super::*;
use crate::packets::fixtures::{FixtureKind, frame, pod_endpoint};

fn underlay() -> Underlay {
    Underlay {
        local_mac: [2, 0, 0, 0, 0x10, 1],
        remote_mac: [2, 0, 0, 0, 0x10, 2],
        local_ip: Ipv4Addr::new(10, 0, 10, 1),
        remote_ip: Ipv4Addr::new(10, 0, 10, 2),
    }
}

fn icmp() -> Vec<u8> {
    frame(FixtureKind::Icmp, &pod_endpoint(1), &pod_endpoint(2))
}

fn all_headers() -> [(TunnelHeader, Tunnel, Option<u16>); 6] {
    [
        (TunnelHeader::Vxlan { vni: 7, dst_port: 4789 }, Tunnel::Vxlan { vni: 7 }, Some(4789)),
        (
            TunnelHeader::Geneve { vni: 8, dst_port: 6081 },
            Tunnel::Geneve { vni: 8, options_len: 0 },
            Some(6081),
        ),
        (TunnelHeader::Gre { key: Some(u32::MAX) }, Tunnel::Gre { key: Some(u32::MAX) }, None),
        (TunnelHeader::Gre { key: None }, Tunnel::Gre { key: None }, None),
        (
            TunnelHeader::ErspanV1 { session_id: 1, index: 26 },
            Tunnel::ErspanV1 { session_id: 1, index: 26 },
            None,
        ),
        (
            TunnelHeader::ErspanV2 { session_id: 2, dir: 1, hardware_id: 12 },
            Tunnel::ErspanV2 { session_id: 2, dir: 1, hardware_id: 12 },
            None,
        ),
    ]
}

#[test]
fn every_tunnel_decodes_back_to_its_fields_and_the_original_frame() {
    let inner = icmp();
    for (header, tunnel, udp_port) in all_headers() {
        let packet = encapsulate(&underlay(), &header, &inner, 5);
        let decoded = decode(&packet, UdpKind::Vxlan).unwrap();
        assert_eq!(decoded.outer_src, IpAddr::from([10, 0, 10, 1]), "{header:?}");
        assert_eq!(decoded.outer_dst, IpAddr::from([10, 0, 10, 2]), "{header:?}");
        assert_eq!(decoded.udp_dst_port, udp_port, "{header:?}");
        assert_eq!(decoded.tunnel, tunnel, "{header:?}");
        assert_eq!(decoded.inner, inner, "{header:?}");
    }
}

#[test]
fn the_outer_headers_are_what_ovs_writes_by_default() {
    let inner = icmp();
    for (header, _, _) in all_headers() {
        let packet = encapsulate(&underlay(), &header, &inner, 5);
        let ethernet = EthernetPacket::new(&packet).unwrap();
        assert_eq!(ethernet.get_source().octets(), underlay().local_mac);
        assert_eq!(ethernet.get_destination().octets(), underlay().remote_mac);
        assert_eq!(ethernet.get_ethertype(), EtherTypes::Ipv4);
        let ip = Ipv4Packet::new(ethernet.payload()).unwrap();
        assert_eq!((ip.get_header_length(), ip.get_dscp(), ip.get_ecn(), ip.get_ttl()), (5, 0, 0, 64));
        assert_eq!((ip.get_identification(), ip.get_flags(), ip.get_fragment_offset()), (0, 0b010, 0));
        assert_eq!(usize::from(ip.get_total_length()), packet.len() - 14);
        assert_eq!(ip.get_checksum(), ipv4::checksum(&ip), "{header:?}: IPv4 header checksum");
    }
}

#[test]
fn tunnel_headers_have_ovs_bytes() {
    let inner = icmp();
    // Outer Ethernet and IPv4 are 34 bytes; the tunnel header follows.
    let header_bytes = |header: TunnelHeader, len: usize| {
        encapsulate(&underlay(), &header, &inner, 5)[34..34 + len].to_vec()
    };
    // UDP checksum 0; VXLAN: I flag, VNI 7.
    let vxlan = header_bytes(TunnelHeader::Vxlan { vni: 7, dst_port: 4789 }, 16);
    assert_eq!((&vxlan[2..8], &vxlan[8..]), (&[0x12, 0xb5, 0, 90, 0, 0][..], &[8, 0, 0, 0, 0, 0, 7, 0][..]));
    // GENEVE: version 0, no options, O and C clear, protocol 0x6558, VNI 8.
    let geneve = header_bytes(TunnelHeader::Geneve { vni: 8, dst_port: 6081 }, 16);
    assert_eq!(&geneve[8..], [0, 0, 0x65, 0x58, 0, 0, 8, 0]);
    // GRE: only K, protocol Ethernet, the key.
    assert_eq!(
        header_bytes(TunnelHeader::Gre { key: Some(0xdead_beef) }, 8),
        [0x20, 0, 0x65, 0x58, 0xde, 0xad, 0xbe, 0xef]
    );
    assert_eq!(header_bytes(TunnelHeader::Gre { key: None }, 4), [0, 0, 0x65, 0x58]);
    // ERSPAN II: GRE with only S and the sequence, no key; version 1,
    // VLAN/COS/En/T 0, session 1, index 26.
    let v1 = header_bytes(TunnelHeader::ErspanV1 { session_id: 1, index: 26 }, 16);
    assert_eq!(v1, [0x10, 0, 0x88, 0xbe, 0, 0, 0, 5, 0x10, 0, 0, 1, 0, 0, 0, 0x1a]);
    // ERSPAN III: GRE S and sequence; version 2, session 0x3ff, timestamp
    // 0, SGT 0, then P/FT 0, HW ID 12, D 1, Gra 0, O 0.
    let v2 = header_bytes(TunnelHeader::ErspanV2 { session_id: 0x3ff, dir: 1, hardware_id: 12 }, 20);
    assert_eq!(v2, [0x10, 0, 0x22, 0xeb, 0, 0, 0, 5, 0x20, 0, 3, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xc8]);
}

#[test]
fn the_udp_source_port_is_in_ovs_range_and_stable_per_flow() {
    let header = TunnelHeader::Vxlan { vni: 7, dst_port: 4789 };
    let port = |inner: &[u8]| {
        let packet = encapsulate(&underlay(), &header, inner, 0);
        u16::from_be_bytes([packet[34], packet[35]])
    };
    let mut ports = Vec::new();
    for index in 1..=40 {
        for kind in FixtureKind::ALL {
            let inner = frame(kind, &pod_endpoint(index), &pod_endpoint(index + 1));
            let chosen = port(&inner);
            assert!((SOURCE_PORT_MIN..SOURCE_PORT_MAX).contains(&chosen), "{chosen}");
            assert_eq!(chosen, port(&inner), "same flow, same port");
            ports.push(chosen);
        }
    }
    ports.sort_unstable();
    ports.dedup();
    assert!(ports.len() > 100, "flows spread over ports: {} distinct of 200", ports.len());
}

#[test]
fn the_outer_tos_inherits_ecn_with_ce_as_ect0() {
    let header = TunnelHeader::Gre { key: None };
    let outer_tos = |inner_tos: u8| {
        let mut inner = icmp();
        inner[15] = inner_tos;
        encapsulate(&underlay(), &header, &inner, 0)[15]
    };
    assert_eq!([outer_tos(0xb8), outer_tos(0x01), outer_tos(0x02), outer_tos(0x03)], [0, 1, 2, 2]);
}

#[test]
fn the_sequence_number_goes_only_into_erspan() {
    let inner = icmp();
    for (header, _, _) in all_headers() {
        let (first, second) =
            (encapsulate(&underlay(), &header, &inner, 1), encapsulate(&underlay(), &header, &inner, 2));
        let is_erspan = matches!(header, TunnelHeader::ErspanV1 { .. } | TunnelHeader::ErspanV2 { .. });
        assert_eq!(first != second, is_erspan, "{header:?}");
        if is_erspan {
            assert_eq!(&second[38..42], [0, 0, 0, 2]);
        }
    }
}

fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn options_as_the_agent_writes_them_give_the_header() {
    let cases = [
        (
            "vxlan",
            options(&[("dst_port", "4789"), ("key", "7"), ("remote_ip", "10.0.10.2")]),
            TunnelHeader::Vxlan { vni: 7, dst_port: 4789 },
        ),
        (
            "geneve",
            options(&[("dst_port", "6082"), ("key", "0x8")]),
            TunnelHeader::Geneve { vni: 8, dst_port: 6082 },
        ),
        ("vxlan", options(&[]), TunnelHeader::Vxlan { vni: 0, dst_port: 4789 }),
        ("geneve", options(&[]), TunnelHeader::Geneve { vni: 0, dst_port: 6081 }),
        (
            "gre",
            options(&[("key", "4294967295"), ("remote_ip", "10.0.10.2")]),
            TunnelHeader::Gre { key: Some(u32::MAX) },
        ),
        ("gre", options(&[("remote_ip", "10.0.10.2")]), TunnelHeader::Gre { key: None }),
        (
            "erspan",
            options(&[("erspan_idx", "0x1a"), ("erspan_ver", "1"), ("key", "1"), ("remote_ip", "10.0.10.2")]),
            TunnelHeader::ErspanV1 { session_id: 1, index: 26 },
        ),
        (
            "erspan",
            options(&[("erspan_dir", "1"), ("erspan_hwid", "0xc"), ("erspan_ver", "2"), ("key", "1")]),
            TunnelHeader::ErspanV2 { session_id: 1, dir: 1, hardware_id: 12 },
        ),
        (
            "erspan",
            options(&[("erspan_ver", "2")]),
            TunnelHeader::ErspanV2 { session_id: 0, dir: 0, hardware_id: 0 },
        ),
    ];
    for (kind, options, expected) in cases {
        assert_eq!(header_from_options(kind, &options), Ok(expected), "{kind} {options:?}");
    }
}

#[test]
fn numbers_read_in_the_base_ovs_reads_them() {
    // OVS reads erspan_idx and erspan_hwid with strtol(…, 16): "26" is 0x26.
    let v1 = options(&[("erspan_idx", "26"), ("erspan_ver", "1")]);
    assert_eq!(header_from_options("erspan", &v1), Ok(TunnelHeader::ErspanV1 { session_id: 0, index: 0x26 }));
    // key is strtoull(…, 0): a leading 0 is octal.
    assert_eq!(
        header_from_options("gre", &options(&[("key", "010")])),
        Ok(TunnelHeader::Gre { key: Some(8) })
    );
    // dst_port is atoi, which would read "0x12b5" as 0.
    let error = header_from_options("vxlan", &options(&[("dst_port", "0x12b5")])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "option dst_port=\"0x12b5\": must be a decimal number (OVS reads it with atoi)"
    );
}

#[test]
fn bad_options_are_refused_naming_option_and_value() {
    let refused = |kind: &str, pairs: &[(&str, &str)]| {
        header_from_options(kind, &options(pairs)).unwrap_err().to_string()
    };
    assert_eq!(
        refused("vxlan", &[("key", "16777216")]),
        "option key=\"16777216\": must be at most 16777215 (a 24-bit VNI)"
    );
    assert_eq!(
        refused("gre", &[("key", "flow")]),
        "option key=\"flow\": must be a number: decimal, 0x hex or 0-prefixed octal"
    );
    assert_eq!(
        refused("gre", &[("key", "-1")]),
        "option key=\"-1\": must be a number: decimal, 0x hex or 0-prefixed octal"
    );
    assert_eq!(refused("geneve", &[("dst_port", "0")]), "option dst_port=\"0\": must be a port, 1 to 65535");
    assert_eq!(
        refused("geneve", &[("dst_port", "70000")]),
        "option dst_port=\"70000\": must be a port, 1 to 65535"
    );
    assert_eq!(refused("erspan", &[("key", "1")]), "option erspan_ver is missing");
    assert_eq!(refused("erspan", &[("erspan_ver", "3")]), "option erspan_ver=\"3\": must be 1 or 2");
    assert_eq!(refused("erspan", &[("erspan_ver", "0")]), "option erspan_ver=\"0\": must be 1 or 2");
    assert_eq!(
        refused("erspan", &[("erspan_ver", "1"), ("key", "1024")]),
        "option key=\"1024\": must be at most 1023 (a 10-bit session ID)"
    );
    assert_eq!(
        refused("erspan", &[("erspan_ver", "1"), ("erspan_idx", "0x100000")]),
        "option erspan_idx=\"0x100000\": must be at most 0xfffff (20 bits)"
    );
    assert_eq!(
        refused("erspan", &[("erspan_ver", "2"), ("erspan_hwid", "0x40")]),
        "option erspan_hwid=\"0x40\": must be at most 0x3f (6 bits)"
    );
    assert_eq!(
        refused("erspan", &[("erspan_ver", "2"), ("erspan_dir", "2")]),
        "option erspan_dir=\"2\": must be 0 (ingress) or 1 (egress)"
    );
    assert_eq!(
        refused("stt", &[]),
        "interface type \"stt\" is not a tunnel the simulator builds (vxlan, geneve, gre, erspan)"
    );
}

#[test]
fn remote_ip_reads_an_address_and_ignores_flow() {
    assert_eq!(remote_ip(&options(&[("remote_ip", "10.0.10.2")])), Some(IpAddr::from([10, 0, 10, 2])));
    assert_eq!(remote_ip(&options(&[("remote_ip", "fd00::2")])), "fd00::2".parse().ok());
    assert_eq!(remote_ip(&options(&[("remote_ip", "flow")])), None);
    assert_eq!(remote_ip(&options(&[])), None);
}
