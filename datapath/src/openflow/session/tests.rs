use super::*;
use crate::flows::{Action, Cookie, Flow, Match, Table};
use crate::openflow::flow_mod::FlowDesc;
use crate::openflow::port::PortMod10;

/// Splits bytes the session sent into frames.
fn frames(bytes: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(len) = message::frame_length(&bytes[at..]).unwrap() {
        out.push(message::decode(&bytes[at..at + len]).unwrap());
        at += len;
    }
    assert_eq!(at, bytes.len(), "trailing bytes");
    out
}

fn from_switch(xid: u32, message: Message) -> Vec<u8> {
    message::encode(VERSION_1_5, xid, &message)
}

/// A session past the handshake.
fn ready() -> Session {
    let mut session = Session::new(VERSION_1_5);
    let sent = frames(&session.take_outgoing());
    let features_xid = sent[1].xid;
    let mut reply = from_switch(1, Message::Hello { versions: Some(1 << 6 | 1 << 4) });
    reply.extend(from_switch(features_xid, Message::FeaturesReply { datapath_id: 42, n_tables: 254 }));
    assert_eq!(session.receive(&reply).unwrap(), [Event::Ready { datapath_id: 42 }]);
    session
}

fn flow(port: u32) -> Flow {
    Flow::new(
        Cookie::pipeline(),
        Table::Classifier,
        190,
        vec![Match::InPort(port)],
        vec![Action::GotoTable(Table::L2ForwardingCalc)],
    )
}

fn desc(flow: &Flow) -> FlowDesc {
    FlowDesc::of(flow)
}

#[test]
fn the_handshake_sends_hello_with_only_our_version_then_asks_for_features() {
    let mut session = Session::new(VERSION_1_5);
    let sent = frames(&session.take_outgoing());
    assert_eq!(sent[0].message, Message::Hello { versions: Some(1 << 6) });
    assert_eq!(sent[1].message, Message::FeaturesRequest);
    assert_eq!(sent[2].message, Message::Other { msg_type: 28 }, "asks for port status");
    ready();
}

#[test]
fn a_switch_without_our_version_ends_the_session() {
    let mut session = Session::new(VERSION_1_5);
    let hello = message::encode(4, 1, &Message::Hello { versions: Some(1 << 4) });
    assert!(matches!(session.receive(&hello), Err(SessionError::Version { ours: 6, .. })));
    let mut old = Session::new(VERSION_1_5);
    let plain = message::encode(4, 1, &Message::Hello { versions: None });
    assert!(matches!(old.receive(&plain), Err(SessionError::Version { ours: 6, .. })));
    let mut bitmap_without_ours = Session::new(VERSION_1_5);
    let newer_header = message::encode(6, 1, &Message::Hello { versions: Some(1 << 4 | 1 << 1) });
    assert!(bitmap_without_ours.receive(&newer_header).is_err());
}

#[test]
fn echo_requests_are_answered_with_the_same_xid_and_data() {
    let mut session = ready();
    session.take_outgoing();
    assert!(session.receive(&from_switch(77, Message::EchoRequest(b"hi".to_vec()))).unwrap().is_empty());
    let sent = frames(&session.take_outgoing());
    assert_eq!((sent[0].xid, &sent[0].message), (77, &Message::EchoReply(b"hi".to_vec())));
}

#[test]
fn a_multipart_flow_dump_is_reassembled_into_one_event() {
    let mut session = ready();
    let request = session.dump_flows(Cookie::AGENT, Cookie::AGENT_MASK);
    let xid = frames(&session.take_outgoing())[0].xid;
    let (a, b) = (flow(1), flow(2));
    let mut bytes = from_switch(
        xid,
        Message::MultipartReply { more: true, body: MultipartBody::FlowDesc(vec![desc(&a)]) },
    );
    bytes.extend(from_switch(
        xid,
        Message::MultipartReply { more: false, body: MultipartBody::FlowDesc(vec![desc(&b)]) },
    ));
    let events = session.receive(&bytes).unwrap();
    let [Event::Flows { request: got, flows }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(*got, request);
    assert_eq!(flows.iter().map(FlowDesc::flow).collect::<Vec<_>>(), [Some(a), Some(b)]);
    assert!(session.is_idle());
}

#[test]
fn bytes_may_arrive_one_at_a_time() {
    let mut session = ready();
    let request = session.barrier();
    let xid = frames(&session.take_outgoing())[0].xid;
    let bytes = from_switch(xid, Message::BarrierReply);
    let mut events = Vec::new();
    for byte in bytes {
        events.extend(session.receive(&[byte]).unwrap());
    }
    assert_eq!(events, [Event::Done { request }]);
}

#[test]
fn a_bundle_is_opened_filled_checked_then_committed_with_shared_xids() {
    let mut session = ready();
    let request = session.apply(&[FlowMod::add(&flow(1)), FlowMod::add(&flow(2))]);
    let sent = frames(&session.take_outgoing());
    assert_eq!(sent.len(), 4);
    let Message::BundleControl { bundle_id, op: BundleOp::OpenRequest, flags } = sent[0].message else {
        panic!()
    };
    assert_eq!(flags, BUNDLE_ATOMIC | BUNDLE_ORDERED);
    for add in &sent[1..3] {
        let Message::BundleAdd { bundle_id: id, message: inner, .. } = &add.message else { panic!() };
        assert_eq!(*id, bundle_id);
        assert_eq!(message::decode(inner).unwrap().xid, add.xid, "inner and outer xids are equal");
    }
    assert_eq!(sent[3].message, Message::BarrierRequest, "no commit before every add is known accepted");
    let mut replies =
        from_switch(sent[0].xid, Message::BundleControl { bundle_id, op: BundleOp::OpenReply, flags });
    replies.extend(from_switch(sent[3].xid, Message::BarrierReply));
    assert!(session.receive(&replies).unwrap().is_empty());
    let commit = frames(&session.take_outgoing());
    assert!(
        matches!(commit[0].message, Message::BundleControl { op: BundleOp::CommitRequest, bundle_id: b, .. } if b == bundle_id)
    );
    let reply =
        from_switch(commit[0].xid, Message::BundleControl { bundle_id, op: BundleOp::CommitReply, flags });
    assert_eq!(session.receive(&reply).unwrap(), [Event::Done { request }]);
    assert!(session.is_idle());
}

#[test]
fn a_bundle_with_a_refused_add_is_discarded_not_committed() {
    let mut session = ready();
    let bad = flow(9);
    let request = session.apply(&[FlowMod::add(&flow(1)), FlowMod::add(&bad)]);
    let sent = frames(&session.take_outgoing());
    let mut replies =
        from_switch(sent[2].xid, Message::Error(SwitchError { kind: 2, code: 14, data: vec![] }));
    replies.extend(from_switch(sent[3].xid, Message::BarrierReply));
    let events = session.receive(&replies).unwrap();
    let [Event::Failed { request: got, error, offending }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(*got, request);
    assert_eq!(error.to_string(), "OFPET_BAD_ACTION/BAD_SET_LEN");
    assert_eq!(offending.as_deref(), Some(format!("add {bad}").as_str()));
    let after = frames(&session.take_outgoing());
    assert!(matches!(
        after.as_slice(),
        [Frame { message: Message::BundleControl { op: BundleOp::DiscardRequest, .. }, .. }]
    ));
}

#[test]
fn a_failed_commit_is_reported() {
    let mut session = ready();
    let request = session.apply(&[FlowMod::add(&flow(1))]);
    let sent = frames(&session.take_outgoing());
    session.receive(&from_switch(sent[2].xid, Message::BarrierReply)).unwrap();
    let commit = frames(&session.take_outgoing());
    let error = Message::Error(SwitchError { kind: 17, code: 13, data: vec![] });
    let events = session.receive(&from_switch(commit[0].xid, error)).unwrap();
    assert!(
        matches!(events.as_slice(), [Event::Failed { request: r, offending: None, .. }] if *r == request),
        "{events:?}"
    );
    assert!(session.is_idle());
}

#[test]
fn a_refused_port_mod_fails_its_request_and_its_barrier_is_ignored() {
    let mut session = Session::new(VERSION_1_0);
    let hello = frames(&session.take_outgoing());
    assert_eq!(hello[0].message, Message::Hello { versions: None });
    let request = session.port_mod(PortMod10::no_flood(3, [2, 0, 0, 0, 0, 3], true));
    let sent = frames(&session.take_outgoing());
    let v10 = |xid, m| message::encode(VERSION_1_0, xid, &m);
    let mut replies = v10(1, Message::Hello { versions: None });
    replies.extend(v10(sent[0].xid, Message::Error(SwitchError { kind: 4, code: 1, data: vec![] })));
    replies.extend(v10(sent[1].xid, Message::BarrierReply));
    let events = session.receive(&replies).unwrap();
    assert!(matches!(events.as_slice(), [Event::Failed { request: r, .. }] if *r == request), "{events:?}");
}

#[test]
fn errors_about_unknown_requests_are_reported_as_such() {
    let mut session = ready();
    let error = SwitchError { kind: 1, code: 1, data: vec![] };
    assert_eq!(
        session.receive(&from_switch(999, Message::Error(error.clone()))).unwrap(),
        [Event::UnsolicitedError(error)]
    );
}

#[test]
fn malformed_bytes_end_the_session_instead_of_panicking() {
    let mut session = ready();
    assert!(session.receive(&[6, 14, 0, 3, 0, 0, 0, 1]).is_err());
    let mut truncated_flow_mod = ready();
    assert!(truncated_flow_mod.receive(&[6, 14, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0]).is_err());
}

#[test]
fn port_status_is_passed_on() {
    let mut session = ready();
    let port = PortDesc { port_no: 5, hw_addr: [2, 0, 0, 0, 0, 5], name: "tap0".into(), config: 0, state: 0 };
    let events = session
        .receive(&from_switch(0, Message::PortStatus { reason: PortReason::Add, port: port.clone() }))
        .unwrap();
    assert_eq!(events, [Event::PortStatus { reason: PortReason::Add, port }]);
}
