//! Connections and ports: the handshake, echo, features, barrier, port
//! status, port_mod, restart, and bytes that are not what they should be.

use datapath::flows::Cookie;
use datapath::openflow::flow_mod::FlowMod;
use datapath::openflow::message::{
    self, Frame, Message, MultipartBody, MultipartRequest, VERSION_1_0, VERSION_1_5,
};
use datapath::openflow::port::{OFPPC_PORT_DOWN, PortDesc, PortMod10, PortReason};

use super::{DATAPATH_ID, Peer, classifier, frames, kind_code};
use crate::ovs::openflow_switch::{OpenFlowSwitch, OpenFlowSwitchError, PortConfigBits};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 7];

#[test]
fn the_handshake_agrees_on_the_highest_common_version_or_fails_as_ovs_does() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    for (header, bitmap, agreed) in [
        (VERSION_1_5, Some(1 << 6), Some(VERSION_1_5)),
        (VERSION_1_5, Some(1 << 1 | 1 << 4 | 1 << 6), Some(VERSION_1_5)),
        (VERSION_1_0, None, Some(VERSION_1_0)),
        // No bitmap: every version up to the header's, so 1.3 agrees on 1.0.
        (4, None, Some(VERSION_1_0)),
        (4, Some(1 << 4), None),
    ] {
        let id = switch.connect();
        switch.take_outgoing(id);
        switch.receive(id, &message::encode(header, 1, &Message::Hello { versions: bitmap })).unwrap();
        let features = message::encode(agreed.unwrap_or(header), 2, &Message::FeaturesRequest);
        let answers = match agreed {
            Some(_) => {
                switch.receive(id, &features).unwrap();
                frames(&switch.take_outgoing(id))
            }
            None => frames(&switch.take_outgoing(id)),
        };
        match agreed {
            Some(version) => {
                assert_eq!(answers.len(), 1);
                assert_eq!(answers[0].version, version);
                assert_eq!(
                    answers[0].message,
                    Message::FeaturesReply { datapath_id: DATAPATH_ID, n_tables: 254 }
                );
            }
            None => {
                let [Frame { message: Message::Error(error), .. }] = answers.as_slice() else {
                    panic!("{answers:?}")
                };
                assert_eq!((error.kind, error.code), (0, 0), "HELLO_FAILED/INCOMPATIBLE");
                assert!(switch.is_closed(id));
                assert_eq!(switch.receive(id, &features), Err(OpenFlowSwitchError::Closed(id)));
            }
        }
    }
}

#[test]
fn a_message_before_hello_closes_the_connection_as_ovs_does() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let id = switch.connect();
    switch.take_outgoing(id);
    switch.receive(id, &message::encode(VERSION_1_5, 1, &Message::FeaturesRequest)).unwrap();
    assert!(switch.is_closed(id));
    assert!(switch.take_outgoing(id).is_empty());
}

#[test]
fn echo_and_barrier_are_answered_with_the_requests_xid() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    for version in [VERSION_1_5, VERSION_1_0] {
        let peer = Peer::connect(&mut switch, version);
        let echo = peer.send(&mut switch, 77, &Message::EchoRequest(b"hi".to_vec()));
        assert_eq!((echo[0].xid, &echo[0].message), (77, &Message::EchoReply(b"hi".to_vec())));
        let barrier = peer.send(&mut switch, 78, &Message::BarrierRequest);
        assert_eq!(
            (barrier[0].version, barrier[0].xid, &barrier[0].message),
            (version, 78, &Message::BarrierReply)
        );
    }
}

#[test]
fn port_status_goes_only_to_connections_that_asked_for_it() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let asked = Peer::connect(&mut switch, VERSION_1_5);
    let silent = switch.connect();
    switch
        .receive(silent, &message::encode(VERSION_1_5, 1, &Message::Hello { versions: Some(1 << 6) }))
        .unwrap();
    let of10 = Peer::connect(&mut switch, VERSION_1_0);
    for id in [silent, of10.id] {
        switch.take_outgoing(id);
    }
    switch.add_port(7, "tap7", MAC);
    assert!(switch.remove_port(7));
    assert!(!switch.remove_port(7));
    let port = PortDesc { port_no: 7, hw_addr: MAC, name: "tap7".into(), config: 0, state: 0 };
    let received: Vec<Message> =
        frames(&switch.take_outgoing(asked.id)).into_iter().map(|f| f.message).collect();
    assert_eq!(
        received,
        [
            Message::PortStatus { reason: PortReason::Add, port: port.clone() },
            Message::PortStatus { reason: PortReason::Delete, port }
        ]
    );
    assert!(switch.take_outgoing(silent).is_empty(), "a service connection gets nothing it did not ask for");
    assert!(switch.take_outgoing(of10.id).is_empty());
}

#[test]
fn port_mod_checks_the_port_and_its_address_then_sets_the_bits() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let watcher = Peer::connect(&mut switch, VERSION_1_5);
    let of10 = Peer::connect(&mut switch, VERSION_1_0);
    switch.add_port_with_config(7, "tc-target", MAC, PortConfigBits { no_flood: false, down: true });
    switch.take_outgoing(watcher.id);
    // OpenFlow 1.0 numbers PORT_MOD_FAILED 4 (1.1+: 7).
    let wrong_port = peer_port_mod(&of10, &mut switch, PortMod10::no_flood(8, MAC, true));
    assert_eq!(wrong_port, [(4, 0)], "OFPPMFC_BAD_PORT");
    let wrong_address = peer_port_mod(&of10, &mut switch, PortMod10::no_flood(7, [2, 0, 0, 0, 0, 8], true));
    assert_eq!(wrong_address, [(4, 1)], "OFPPMFC_BAD_HW_ADDR");
    assert_eq!(switch.port_config(7), Some(PortConfigBits { no_flood: false, down: true }));

    assert_eq!(peer_port_mod(&of10, &mut switch, PortMod10::traffic_control_port(7, MAC)), []);
    assert_eq!(switch.port_config(7), Some(PortConfigBits { no_flood: true, down: false }));
    let seen = frames(&switch.take_outgoing(watcher.id));
    assert!(
        matches!(&seen[..], [f] if matches!(&f.message, Message::PortStatus { reason: PortReason::Modify, port } if port.config == 0))
    );
    // Only the bits in the mask change.
    assert_eq!(
        peer_port_mod(
            &of10,
            &mut switch,
            PortMod10 {
                config: OFPPC_PORT_DOWN,
                mask: OFPPC_PORT_DOWN,
                ..PortMod10::no_flood(7, MAC, false)
            }
        ),
        []
    );
    assert_eq!(switch.port_config(7), Some(PortConfigBits { no_flood: true, down: true }));
    let seen = frames(&switch.take_outgoing(watcher.id));
    assert!(
        matches!(&seen[..], [f] if matches!(&f.message, Message::PortStatus { reason: PortReason::Modify, port } if port.config == OFPPC_PORT_DOWN))
    );

    let dump = watcher.send(&mut switch, 5, &Message::MultipartRequest(MultipartRequest::PortDesc));
    let [
        Frame {
            message: Message::MultipartReply { more: false, body: MultipartBody::PortDesc(ports) }, ..
        },
    ] = dump.as_slice()
    else {
        panic!("{dump:?}")
    };
    assert_eq!(ports.len(), 1);
    assert_eq!(
        (ports[0].config, ports[0].name.as_str()),
        (OFPPC_PORT_DOWN, "tc-target"),
        "1.5 shows down, not no-flood"
    );
}

/// Sends a port_mod and a barrier; the errors before the barrier reply.
fn peer_port_mod(peer: &Peer, switch: &mut OpenFlowSwitch, port_mod: PortMod10) -> Vec<(u16, u16)> {
    let mut answers = peer.send(switch, 40, &Message::PortMod10(port_mod));
    answers.extend(peer.send(switch, 41, &Message::BarrierRequest));
    assert_eq!(answers.last().map(|f| (f.xid, &f.message)), Some((41, &Message::BarrierReply)));
    answers[..answers.len() - 1].iter().map(kind_code).collect()
}

#[test]
fn message_types_the_switch_does_not_handle_are_refused_and_the_connection_goes_on() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let peer = Peer::connect(&mut switch, VERSION_1_5);
    let of10 = Peer::connect(&mut switch, VERSION_1_0);
    for (peer, msg_type) in [(&peer, 7), (&peer, 24), (&peer, 15), (&of10, 14), (&of10, 33)] {
        let answers = peer.send(&mut switch, 9, &Message::Other { msg_type });
        assert_eq!(answers.iter().map(kind_code).collect::<Vec<_>>(), [(1, 1)], "type {msg_type}");
    }
    let table_stats = [VERSION_1_5, 18, 0, 16, 0, 0, 0, 9, 0, 3, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        peer.send_bytes(&mut switch, &table_stats).iter().map(kind_code).collect::<Vec<_>>(),
        [(1, 2)]
    );
    assert_eq!(peer.send(&mut switch, 10, &Message::BarrierRequest)[0].message, Message::BarrierReply);
    assert!(!switch.is_closed(peer.id));
}

#[test]
fn bytes_may_arrive_one_at_a_time() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let peer = Peer::connect(&mut switch, VERSION_1_5);
    let mut bytes =
        message::encode(VERSION_1_5, 3, &Message::FlowMod(FlowMod::add(&classifier(4, Cookie::pipeline()))));
    bytes.extend(message::encode(VERSION_1_5, 4, &Message::BarrierRequest));
    for byte in &bytes {
        switch.receive(peer.id, std::slice::from_ref(byte)).unwrap();
    }
    assert_eq!(frames(&switch.take_outgoing(peer.id))[0].message, Message::BarrierReply);
    assert_eq!(switch.flows(), [classifier(4, Cookie::pipeline())]);
}

#[test]
fn garbage_is_refused_or_closes_the_connection_but_never_panics() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    // A fixed-seed generator: the same bytes every run, no OS randomness.
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8
    };
    for round in 0..300 {
        let peer = Peer::connect(&mut switch, if round % 3 == 0 { VERSION_1_0 } else { VERSION_1_5 });
        let len = 8 + usize::from(next()) % 64;
        let mut bytes: Vec<u8> = (0..len).map(|_| next()).collect();
        bytes[0] = peer.version;
        bytes[1] = [14, 18, 33, 34, 28, 15, next()][round % 7];
        bytes[2..4].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        let _ = switch.receive(peer.id, &bytes);
        let _ = switch.take_outgoing(peer.id);
        switch.disconnect(peer.id);
    }
    let peer = Peer::connect(&mut switch, VERSION_1_5);
    let unframeable = [VERSION_1_5, 2, 0, 4, 0, 0, 0, 1];
    assert!(matches!(switch.receive(peer.id, &unframeable), Err(OpenFlowSwitchError::Unframeable { .. })));
    assert!(switch.is_closed(peer.id));
}

#[test]
fn a_restart_forgets_flows_and_port_config_and_closes_every_connection() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let peer = Peer::connect(&mut switch, VERSION_1_5);
    let of10 = Peer::connect(&mut switch, VERSION_1_0);
    switch.add_port(7, "tc-target", MAC);
    switch.take_outgoing(peer.id);
    peer.flow_mods(&mut switch, &[FlowMod::add(&classifier(7, Cookie::port()))]);
    assert_eq!(peer_port_mod(&of10, &mut switch, PortMod10::no_flood(7, MAC, true)), []);
    switch.add_port(8, "late", MAC);
    switch.restart();
    assert_eq!((switch.flow_count(), switch.dump_flows_text()), (0, String::new()));
    assert_eq!(switch.port_config(7), Some(PortConfigBits::default()));
    assert_eq!(switch.ports().len(), 2, "ports come from OVSDB and stay");
    assert!(switch.is_closed(peer.id) && switch.is_closed(of10.id));
    assert_eq!(switch.open_connections(), 0);
    assert!(switch.take_outgoing(peer.id).is_empty(), "the queued port status died with the process");
    assert_eq!(switch.flow_mods_applied(), 1);
    let again = Peer::connect(&mut switch, VERSION_1_5);
    assert_eq!(again.dump_all(&mut switch), []);
}
