//! Both directions of the messages a switch sends: what the simulated
//! switch writes must read back as what it meant.

use super::*;
use crate::openflow::port::OFPPC_PORT_DOWN;

fn round_trip(version: u8, xid: u32, message: Message) {
    let bytes = encode(version, xid, &message);
    assert_eq!(frame_length(&bytes), Ok(Some(bytes.len())));
    assert_eq!(decode(&bytes), Ok(Frame { version, xid, message }));
}

fn port(port_no: u32) -> PortDesc {
    PortDesc { port_no, hw_addr: [2, 0, 0, 0, 0, 7], name: "tap7".into(), config: OFPPC_PORT_DOWN, state: 1 }
}

#[test]
fn every_message_a_switch_sends_reads_back() {
    round_trip(VERSION_1_5, 0, Message::Hello { versions: Some(1 << 1 | 1 << 6) });
    round_trip(VERSION_1_5, 3, Message::FeaturesReply { datapath_id: 0xfeed, n_tables: 254 });
    round_trip(VERSION_1_0, 3, Message::FeaturesReply { datapath_id: 0xfeed, n_tables: 254 });
    round_trip(VERSION_1_5, 4, Message::EchoReply(b"ping".to_vec()));
    round_trip(VERSION_1_5, 5, Message::BarrierReply);
    round_trip(VERSION_1_0, 5, Message::BarrierReply);
    round_trip(VERSION_1_5, 0, Message::PortStatus { reason: PortReason::Add, port: port(7) });
    round_trip(VERSION_1_5, 0, Message::PortStatus { reason: PortReason::Delete, port: port(8) });
    round_trip(
        VERSION_1_5,
        6,
        Message::MultipartReply { more: true, body: MultipartBody::PortDesc(vec![port(1), port(2)]) },
    );
    for op in [BundleOp::OpenReply, BundleOp::CloseReply, BundleOp::CommitReply, BundleOp::DiscardReply] {
        round_trip(VERSION_1_5, 7, Message::BundleControl { bundle_id: 9, op, flags: 0 });
    }
    let request = encode(VERSION_1_5, 8, &Message::BarrierRequest);
    let error = SwitchError { kind: 17, code: 13, data: request };
    assert_eq!(error.request_xid(), Some(8));
    round_trip(VERSION_1_5, 8, Message::Error(error));
}

#[test]
fn set_async_for_port_status_is_recognised() {
    let ask = encode(VERSION_1_5, 1, &Message::SetAsyncPortStatus);
    assert_eq!(decode(&ask).map(|f| f.message), Ok(Message::Other { msg_type: T_SET_ASYNC }));
    assert_eq!(set_async_port_status(&ask), Ok(Some(true)));
    let mut off = Writer::new();
    off.u8(VERSION_1_5).u8(T_SET_ASYNC).u16(16).u32(2).u16(ASYNC_PORT_STATUS_MASTER).u16(8).u32(0);
    assert_eq!(set_async_port_status(&off.finish()), Ok(Some(false)));
    let packet_in_only = [VERSION_1_5, T_SET_ASYNC, 0, 16, 0, 0, 0, 3, 0, 0, 0, 8, 0, 0, 0, 1];
    assert_eq!(set_async_port_status(&packet_in_only), Ok(None));
    let cut = [VERSION_1_5, T_SET_ASYNC, 0, 14, 0, 0, 0, 3, 0, 3, 0, 8, 0, 0];
    assert!(set_async_port_status(&cut).is_err());
}

#[test]
fn an_empty_flow_stats_reply_is_one_part_with_no_flows() {
    let bytes = encode_flow_stats_reply(2, false, &[]);
    assert_eq!(
        decode(&bytes).map(|f| f.message),
        Ok(Message::MultipartReply { more: false, body: MultipartBody::FlowDesc(Vec::new()) })
    );
}
