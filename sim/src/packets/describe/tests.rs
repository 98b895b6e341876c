use std::net::Ipv4Addr;

use super::*;
use crate::packets::encapsulate::{TunnelHeader, Underlay, encapsulate};
use crate::packets::fixtures::{FixtureKind, frame, pod_endpoint};

fn underlay() -> Underlay {
    Underlay {
        local_mac: [2, 0, 0, 0, 0, 1],
        remote_mac: [2, 0, 0, 0, 0, 2],
        local_ip: Ipv4Addr::new(10, 0, 10, 1),
        remote_ip: Ipv4Addr::new(10, 0, 10, 2),
    }
}

fn tunneled(header: TunnelHeader, sequence: u32) -> Vec<u8> {
    let inner = frame(FixtureKind::Icmp, &pod_endpoint(1), &pod_endpoint(2));
    encapsulate(&underlay(), &header, &inner, sequence)
}

fn masked(frame: &[u8]) -> Vec<usize> {
    normalized(frame).iter().enumerate().filter(|(_, b)| b.is_none()).map(|(at, _)| at).collect()
}

const VXLAN: TunnelHeader = TunnelHeader::Vxlan { vni: 7, dst_port: 4789 };
const GENEVE: TunnelHeader = TunnelHeader::Geneve { vni: 8, dst_port: 6081 };
const GRE: TunnelHeader = TunnelHeader::Gre { key: Some(u32::MAX) };
const ERSPAN_V1: TunnelHeader = TunnelHeader::ErspanV1 { session_id: 1, index: 26 };
const ERSPAN_V2: TunnelHeader = TunnelHeader::ErspanV2 { session_id: 2, dir: 1, hardware_id: 12 };

#[test]
fn a_vxlan_frame_describes_its_fields_then_a_masked_dump() {
    let text = describe(&tunneled(VXLAN, 0));
    let expected_fields = "\
outer eth 02:00:00:00:00:01 > 02:00:00:00:00:02
outer ipv4 10.0.10.1 > 10.0.10.2 ttl 64 tos 0x00 df proto 17
udp dst 4789
vxlan vni 7
inner eth 02:00:00:00:00:01 > 02:00:00:00:00:02 ipv4 10.244.0.1 > 10.244.0.2 icmp echo-request

0000  02 00 00 00 00 02 02 00 00 00 00 01 08 00 45 00
0010  00 6e .. .. 40 00 40 11 .. .. 0a 00 0a 01 0a 00
0020  0a 02 .. .. 12 b5 00 5a .. .. 08 00 00 00 00 00
";
    assert!(text.starts_with(expected_fields), "{text}");
    assert_eq!(text.lines().count(), 6 + (124usize).div_ceil(16));
}

#[test]
fn each_tunnel_has_its_own_field_line() {
    let line = |header| describe(&tunneled(header, 0)).lines().nth(3).unwrap_or_default().to_owned();
    assert_eq!(line(GENEVE), "geneve vni 8 options 0");
    assert_eq!(describe(&tunneled(GRE, 0)).lines().nth(2), Some("gre key 0xffffffff"));
    assert_eq!(describe(&tunneled(ERSPAN_V1, 0)).lines().nth(2), Some("erspan v1 session 1 index 26"));
    assert_eq!(describe(&tunneled(ERSPAN_V2, 0)).lines().nth(2), Some("erspan v2 session 2 dir 1 hwid 12"));
    let keyless = describe(&tunneled(TunnelHeader::Gre { key: None }, 0));
    assert_eq!(keyless.lines().nth(2), Some("gre key none"));
}

#[test]
fn exactly_the_varying_bytes_are_masked() {
    // Ethernet 14 + IPv4 20: ID at 18, checksum at 24, transport at 34.
    let ip = [18, 19, 24, 25];
    let udp = [34, 35, 40, 41];
    let gre_sequence = [38, 39, 40, 41];
    let timestamp = [46, 47, 48, 49];
    assert_eq!(masked(&tunneled(VXLAN, 0)), [&ip[..], &udp].concat());
    assert_eq!(masked(&tunneled(GENEVE, 0)), [&ip[..], &udp].concat());
    assert_eq!(masked(&tunneled(GRE, 0)), ip);
    assert_eq!(masked(&tunneled(ERSPAN_V1, 0)), [&ip[..], &gre_sequence].concat());
    assert_eq!(masked(&tunneled(ERSPAN_V2, 0)), [&ip[..], &gre_sequence, &timestamp].concat());
}

#[test]
fn frames_differing_only_in_varying_bytes_describe_alike() {
    let built = tunneled(VXLAN, 0);
    let mut captured = built.clone();
    // Another IP ID (and so checksum), another source port and a checksum.
    captured[18..20].copy_from_slice(&[0xab, 0xcd]);
    captured[24..26].copy_from_slice(&[0x12, 0x34]);
    captured[34..36].copy_from_slice(&[0xc0, 0x01]);
    captured[40..42].copy_from_slice(&[0x55, 0xaa]);
    assert_eq!(describe(&captured), describe(&built));
    assert_eq!(normalized(&captured), normalized(&built));

    let mut later = tunneled(ERSPAN_V2, 41);
    later[46..50].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    assert_eq!(describe(&later), describe(&tunneled(ERSPAN_V2, 0)));
    assert_eq!(describe(&tunneled(ERSPAN_V1, 7)), describe(&tunneled(ERSPAN_V1, 0)));
}

#[test]
fn frames_differing_in_a_built_field_do_not() {
    let other_vni = TunnelHeader::Vxlan { vni: 8, dst_port: 4789 };
    assert_ne!(describe(&tunneled(VXLAN, 0)), describe(&tunneled(other_vni, 0)));
    let other_hwid = TunnelHeader::ErspanV2 { session_id: 2, dir: 1, hardware_id: 13 };
    assert_ne!(describe(&tunneled(ERSPAN_V2, 0)), describe(&tunneled(other_hwid, 0)));
    // A byte no field line prints still shows in the dump: the IPv4 TTL.
    let built = tunneled(GRE, 0);
    let mut captured = built.clone();
    captured[22] = 63;
    assert_ne!(normalized(&captured), normalized(&built));
}

#[test]
fn a_udp_tunnel_on_another_port_is_recognized_by_its_header() {
    let geneve = describe(&tunneled(TunnelHeader::Geneve { vni: 9, dst_port: 7000 }, 0));
    assert_eq!(geneve.lines().nth(3), Some("geneve vni 9 options 0"));
    let vxlan = describe(&tunneled(TunnelHeader::Vxlan { vni: 9, dst_port: 7000 }, 0));
    assert_eq!(vxlan.lines().nth(3), Some("vxlan vni 9"));
}

#[test]
fn inner_summaries_name_each_fixture() {
    let (from, to) = (pod_endpoint(1), pod_endpoint(2));
    let summaries: Vec<String> =
        FixtureKind::ALL.iter().map(|&kind| summary(&frame(kind, &from, &to))).collect();
    let eth = "eth 02:00:00:00:00:01 > 02:00:00:00:00:02";
    assert_eq!(
        summaries,
        [
            format!("{eth} ipv4 10.244.0.1 > 10.244.0.2 icmp echo-request"),
            format!("{eth} ipv4 10.244.0.1 > 10.244.0.2 tcp 40000 > 80 syn"),
            format!("{eth} ipv4 10.244.0.1 > 10.244.0.2 udp 40000 > 53"),
            "eth 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff arp who-has 10.244.0.2 tell 10.244.0.1".to_owned(),
            format!("{eth} ipv6 fd00:10:244::1 > fd00:10:244::2 icmpv6 echo-request"),
        ]
    );
}

#[test]
fn truncated_and_plain_frames_still_describe() {
    let built = tunneled(ERSPAN_V2, 0);
    for len in [0, 10, 14, 20, 34, 40, 45, 50] {
        let text = describe(&built[..len]);
        assert!(text.ends_with('\n'), "{len}: {text}");
    }
    let plain = describe(&frame(FixtureKind::Udp, &pod_endpoint(1), &pod_endpoint(2)));
    assert!(plain.contains("not a tunnel packet"), "{plain}");
}
