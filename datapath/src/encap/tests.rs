use super::*;

const INNER: [u8; 18] = [0x0a, 0x58, 0, 0, 0, 2, 0x0a, 0x58, 0, 0, 0, 1, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef];

/// Outer Ethernet + IPv4 (no options) + `l4` (protocol `proto`).
fn ipv4_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + l4.len()) as u16;
    frame.extend([0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, proto, 0, 0]);
    frame.extend([10, 0, 10, 1, 10, 0, 10, 2]);
    frame.extend(l4);
    frame
}

fn udp(dst: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut out = vec![0xc3, 0x50, (dst >> 8) as u8, dst as u8, (len >> 8) as u8, len as u8, 0, 0];
    out.extend(payload);
    out
}

fn with_inner(header: &[u8]) -> Vec<u8> {
    let mut out = header.to_vec();
    out.extend(INNER);
    out
}

#[test]
fn vxlan_gives_the_vni_and_the_inner_frame() {
    let frame = ipv4_frame(17, &udp(4789, &with_inner(&[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0])));
    let decoded = decode(&frame, UdpKind::Vxlan).unwrap();
    assert_eq!(decoded.tunnel, Tunnel::Vxlan { vni: 0x123456 });
    assert_eq!((decoded.outer_dst, decoded.udp_dst_port), ("10.0.10.2".parse().unwrap(), Some(4789)));
    assert_eq!(decoded.inner, INNER);
}

#[test]
fn geneve_skips_its_options() {
    // Option length 2 (8 bytes of options), protocol 0x6558, VNI 1.
    let mut header = vec![0x02, 0, 0x65, 0x58, 0, 0, 1, 0];
    header.extend([0u8; 8]);
    let frame = ipv4_frame(17, &udp(6081, &with_inner(&header)));
    let decoded = decode(&frame, UdpKind::Vxlan).unwrap();
    assert_eq!(decoded.tunnel, Tunnel::Geneve { vni: 1, options_len: 8 });
    assert_eq!(decoded.inner, INNER);
}

#[test]
fn a_udp_tunnel_on_another_port_is_read_as_told() {
    let frame = ipv4_frame(17, &udp(9999, &with_inner(&[0, 0, 0x65, 0x58, 0, 0, 7, 0])));
    assert_eq!(decode(&frame, UdpKind::Geneve).unwrap().tunnel, Tunnel::Geneve { vni: 7, options_len: 0 });
}

#[test]
fn gre_gives_the_full_32_bit_key() {
    let frame = ipv4_frame(47, &with_inner(&[0x20, 0, 0x65, 0x58, 0xff, 0xff, 0xff, 0xff]));
    let decoded = decode(&frame, UdpKind::Vxlan).unwrap();
    assert_eq!(decoded.tunnel, Tunnel::Gre { key: Some(u32::MAX) });
    assert_eq!(decoded.inner, INNER);
    let keyless = ipv4_frame(47, &with_inner(&[0, 0, 0x65, 0x58]));
    assert_eq!(decode(&keyless, UdpKind::Vxlan).unwrap().tunnel, Tunnel::Gre { key: None });
}

#[test]
fn erspan_type_ii_gives_session_and_index() {
    // GRE with sequence number, then ERSPAN II: version 1, session 1, index 26.
    let mut header = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 5];
    header.extend([0x10, 0, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1a]);
    let decoded = decode(&ipv4_frame(47, &with_inner(&header)), UdpKind::Vxlan).unwrap();
    assert_eq!(decoded.tunnel, Tunnel::ErspanV1 { session_id: 1, index: 26 });
    assert_eq!(decoded.inner, INNER);
}

#[test]
fn erspan_type_iii_gives_session_direction_and_hardware_id() {
    // ERSPAN III: version 2, session 1023, timestamp, SGT, then
    // P/FT/HW ID 4/D 1/Gra/O 0.
    let mut header = vec![0x10, 0, 0x22, 0xeb, 0, 0, 0, 5];
    header.extend([0x20, 0, 0x03, 0xff, 1, 2, 3, 4, 0, 0]);
    header.extend(((4u16 << 4) | (1 << 3)).to_be_bytes());
    let decoded = decode(&ipv4_frame(47, &with_inner(&header)), UdpKind::Vxlan).unwrap();
    assert_eq!(decoded.tunnel, Tunnel::ErspanV2 { session_id: 1023, dir: 1, hardware_id: 4 });
    assert_eq!(decoded.inner, INNER);
}

#[test]
fn non_tunnel_and_truncated_frames_are_errors_not_panics() {
    let icmp = ipv4_frame(1, &[8, 0, 0, 0]);
    assert!(matches!(decode(&icmp, UdpKind::Vxlan), Err(EncapError::NotTunnel(_))));
    let frame = ipv4_frame(17, &udp(4789, &with_inner(&[0x08, 0, 0, 0, 0, 0, 1, 0])));
    for len in 0..frame.len() - INNER.len() {
        assert!(decode(&frame[..len], UdpKind::Vxlan).is_err(), "{len} bytes");
    }
}
