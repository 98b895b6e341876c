//! The switch's tests: the sans-IO core message by message (`flows`,
//! `bundles`, `connections`), and the agent's own client over an
//! in-memory pipe (`end_to_end`).

mod bundles;
mod connections;
mod end_to_end;
mod flows;

use datapath::flows::{Action, Cookie, Flow, Match, OUTPUT_PORT, PACKET_SOURCE, Table};
use datapath::openflow::flow_mod::{FlowDesc, FlowMod};
use datapath::openflow::message::{
    self, BUNDLE_ATOMIC, BUNDLE_ORDERED, BundleOp, Frame, Message, MultipartBody, MultipartRequest,
    VERSION_1_0, VERSION_1_5,
};
use datapath::openflow::switch_error::SwitchError;

use super::{ConnectionId, OpenFlowSwitch};

const DATAPATH_ID: u64 = 0xfeed;
const FLAGS: u16 = BUNDLE_ATOMIC | BUNDLE_ORDERED;

/// Splits bytes the switch sent into frames.
fn frames(bytes: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(len) = message::frame_length(&bytes[at..]).expect("framed") {
        out.push(message::decode(&bytes[at..at + len]).expect("decodes"));
        at += len;
    }
    assert_eq!(at, bytes.len(), "trailing bytes");
    out
}

/// A client's view of one connection to the core.
struct Peer {
    id: ConnectionId,
    version: u8,
}

impl Peer {
    /// Connects and says hello with `version` (1.5 also asks for port
    /// status); the switch's hello is consumed.
    fn connect(switch: &mut OpenFlowSwitch, version: u8) -> Peer {
        Peer::connect_as(switch, version, "")
    }

    /// [`Peer::connect`] from the host `name`.
    fn connect_as(switch: &mut OpenFlowSwitch, version: u8, name: &str) -> Peer {
        let id = switch.connect_from(name);
        let hello = frames(&switch.take_outgoing(id));
        assert_eq!(hello[0].message, Message::Hello { versions: Some(1 << 1 | 1 << 6) });
        let versions = (version != VERSION_1_0).then_some(1 << version);
        switch.receive(id, &message::encode(version, 1, &Message::Hello { versions })).unwrap();
        let peer = Peer { id, version };
        if version == VERSION_1_5 {
            assert_eq!(peer.send(switch, 2, &Message::SetAsyncPortStatus), []);
        }
        peer
    }

    /// Sends `message` and returns what the switch answered.
    fn send(&self, switch: &mut OpenFlowSwitch, xid: u32, message: &Message) -> Vec<Frame> {
        self.send_bytes(switch, &message::encode(self.version, xid, message))
    }

    fn send_bytes(&self, switch: &mut OpenFlowSwitch, bytes: &[u8]) -> Vec<Frame> {
        switch.receive(self.id, bytes).expect("the switch takes the bytes");
        frames(&switch.take_outgoing(self.id))
    }

    /// Sends flow_mods outside a bundle; panics on any answer.
    fn flow_mods(&self, switch: &mut OpenFlowSwitch, flow_mods: &[FlowMod]) {
        for (xid, flow_mod) in (100..).zip(flow_mods) {
            assert_eq!(self.send(switch, xid, &Message::FlowMod(flow_mod.clone())), []);
        }
    }

    /// Opens bundle 1, adds `flow_mods` (xids 11, 12, ...), commits (xid
    /// 99); every answer, in order.
    fn bundle(&self, switch: &mut OpenFlowSwitch, flow_mods: &[FlowMod]) -> Vec<Frame> {
        let control = |op| Message::BundleControl { bundle_id: 1, op, flags: FLAGS };
        let mut answers = self.send(switch, 10, &control(BundleOp::OpenRequest));
        for (xid, flow_mod) in (11..).zip(flow_mods) {
            let add = message::encode_bundle_add(xid, 1, FLAGS, &Message::FlowMod(flow_mod.clone()));
            answers.extend(self.send_bytes(switch, &add));
        }
        answers.extend(self.send(switch, 99, &control(BundleOp::CommitRequest)));
        answers
    }

    /// Every flow a stats request selects, the parts joined, and how many
    /// parts came.
    fn dump(
        &self,
        switch: &mut OpenFlowSwitch,
        cookie: u64,
        mask: u64,
        matches: Vec<Match>,
    ) -> (Vec<FlowDesc>, usize) {
        let request = MultipartRequest::FlowDesc { table_id: 0xff, cookie, cookie_mask: mask, matches };
        let parts = self.send(switch, 50, &Message::MultipartRequest(request));
        let mut flows = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let Message::MultipartReply { more, body: MultipartBody::FlowDesc(some) } = &part.message else {
                panic!("{part:?}")
            };
            assert_eq!((part.xid, *more), (50, i + 1 < parts.len()));
            flows.extend(some.iter().cloned());
        }
        (flows, parts.len())
    }

    fn dump_all(&self, switch: &mut OpenFlowSwitch) -> Vec<FlowDesc> {
        self.dump(switch, 0, 0, Vec::new()).0
    }
}

/// The error in `frame`, and the xid of the request it names.
fn error_of(frame: &Frame) -> (&SwitchError, Option<u32>) {
    let Message::Error(error) = &frame.message else { panic!("not an error: {frame:?}") };
    assert_eq!(error.request_xid(), Some(frame.xid), "the error's xid is its request's");
    (error, error.request_xid())
}

/// (type, code) of an error frame.
fn kind_code(frame: &Frame) -> (u16, u16) {
    let (error, _) = error_of(frame);
    (error.kind, error.code)
}

fn classifier(port: u32, cookie: Cookie) -> Flow {
    Flow::new(
        cookie,
        Table::Classifier,
        190,
        vec![Match::InPort(port)],
        vec![Action::SetField(PACKET_SOURCE, 3), Action::GotoTable(Table::L2ForwardingCalc)],
    )
}

fn output(port: u32) -> Flow {
    Flow::new(
        Cookie::pipeline(),
        Table::Output,
        200,
        vec![Match::Reg(OUTPUT_PORT, port)],
        vec![Action::OutputReg(OUTPUT_PORT)],
    )
}
