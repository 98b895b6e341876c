//! OpenFlow messages: the header, framing (how long is the next message),
//! and encoding and decoding of the messages the agent exchanges with
//! OVS. OpenFlow 1.5 for everything, plus OpenFlow 1.0 hello, echo,
//! barrier, error and port_mod for the no-flood session.

use super::DecodeError;
use super::flow_mod::{FlowDesc, FlowMod, FlowStatsEntry};
use super::port::{PortDesc, PortMod10, PortReason};
use super::switch_error::SwitchError;
use super::wire::{Reader, Writer, len16};
use crate::flows::Match;

/// OpenFlow 1.0's version number.
pub const VERSION_1_0: u8 = 1;
/// OpenFlow 1.5's version number.
pub const VERSION_1_5: u8 = 6;
/// The largest OpenFlow message (the length field is 16 bits).
pub const MAX_MESSAGE: usize = 65_535;
const HEADER_LEN: usize = 8;

/// A multipart request the agent sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultipartRequest {
    /// The flows whose cookie equals `cookie` under `cookie_mask` and
    /// whose match includes `matches` (empty: every flow).
    FlowDesc {
        /// A table, or `OFPTT_ALL`.
        table_id: u8,
        /// The cookie to match.
        cookie: u64,
        /// Which cookie bits must match.
        cookie_mask: u64,
        /// Fields the flows must match on (a loose match, as OpenFlow's
        /// flow stats request defines it).
        matches: Vec<Match>,
    },
    /// Every port.
    PortDesc,
}

/// A part of a multipart reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultipartBody {
    /// Flows.
    FlowDesc(Vec<FlowDesc>),
    /// Ports.
    PortDesc(Vec<PortDesc>),
    /// A kind the agent does not ask for.
    Other(u16),
}

/// Bundle control operations (`OFPBCT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleOp {
    /// Open a bundle.
    OpenRequest = 0,
    /// It is open.
    OpenReply = 1,
    /// Close it (no more messages).
    CloseRequest = 2,
    /// It is closed.
    CloseReply = 3,
    /// Apply every message at once.
    CommitRequest = 4,
    /// Applied.
    CommitReply = 5,
    /// Throw it away.
    DiscardRequest = 6,
    /// Thrown away.
    DiscardReply = 7,
}

/// `OFPBF_ATOMIC`: all or nothing.
pub const BUNDLE_ATOMIC: u16 = 1;
/// `OFPBF_ORDERED`: in the order added.
pub const BUNDLE_ORDERED: u16 = 2;

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Version negotiation; `versions` is the bitmap element, if any.
    Hello {
        /// Bit N set: version N is supported.
        versions: Option<u32>,
    },
    /// The switch reports an error.
    Error(SwitchError),
    /// A keep-alive to answer.
    EchoRequest(Vec<u8>),
    /// The answer to a keep-alive.
    EchoReply(Vec<u8>),
    /// Ask for the datapath's identity.
    FeaturesRequest,
    /// The datapath's identity.
    FeaturesReply {
        /// The datapath id.
        datapath_id: u64,
        /// Number of tables.
        n_tables: u8,
    },
    /// Change the flow table.
    FlowMod(FlowMod),
    /// A port came, went or changed.
    PortStatus {
        /// Why.
        reason: PortReason,
        /// The port.
        port: PortDesc,
    },
    /// An OpenFlow 1.0 port_mod.
    PortMod10(PortMod10),
    /// A multipart request.
    MultipartRequest(MultipartRequest),
    /// A part of a multipart reply; `more` says another part follows.
    MultipartReply {
        /// Whether more parts follow.
        more: bool,
        /// This part.
        body: MultipartBody,
    },
    /// Everything before this is done once the reply comes.
    BarrierRequest,
    /// Everything before the request is done.
    BarrierReply,
    /// Open, close, commit or discard a bundle.
    BundleControl {
        /// The bundle.
        bundle_id: u32,
        /// The operation.
        op: BundleOp,
        /// `BUNDLE_ATOMIC`, `BUNDLE_ORDERED`.
        flags: u16,
    },
    /// A message added to a bundle (its own xid is inside).
    BundleAdd {
        /// The bundle.
        bundle_id: u32,
        /// The bundle's flags.
        flags: u16,
        /// The encoded inner message.
        message: Vec<u8>,
    },
    /// Ask for port status messages (all reasons, in every controller
    /// role): OVS sends a service connection, such as one on a bridge's
    /// `.mgmt` socket, no asynchronous message unless asked.
    SetAsyncPortStatus,
    /// A message the agent does not use.
    Other {
        /// Its type.
        msg_type: u8,
    },
}

/// One message with its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The OpenFlow version.
    pub version: u8,
    /// The transaction id.
    pub xid: u32,
    /// The message.
    pub message: Message,
}

/// The length of the message at the start of `buf`, once its header is
/// there (`None`: read more).
///
/// # Errors
/// [`DecodeError::Malformed`] when the header's length is impossible.
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if len < HEADER_LEN {
        return Err(DecodeError::malformed("header", format!("length {len} is shorter than a header")));
    }
    Ok(Some(len))
}

// Message types by version (they were renumbered after 1.0).
const T_HELLO: u8 = 0;
const T_ERROR: u8 = 1;
const T_ECHO_REQUEST: u8 = 2;
const T_ECHO_REPLY: u8 = 3;
const T_FEATURES_REQUEST: u8 = 5;
const T_FEATURES_REPLY: u8 = 6;
const T_PORT_STATUS: u8 = 12;
const T_FLOW_MOD: u8 = 14;
const T10_PORT_MOD: u8 = 15;
const T_MULTIPART_REQUEST: u8 = 18;
const T_MULTIPART_REPLY: u8 = 19;
const T10_BARRIER_REQUEST: u8 = 18;
const T10_BARRIER_REPLY: u8 = 19;
const T_BARRIER_REQUEST: u8 = 20;
const T_BARRIER_REPLY: u8 = 21;
const T_SET_ASYNC: u8 = 28;
const T_BUNDLE_CONTROL: u8 = 33;
const ASYNC_PORT_STATUS_SLAVE: u16 = 2;
const ASYNC_PORT_STATUS_MASTER: u16 = 3;
/// OFPPR_ADD | OFPPR_DELETE | OFPPR_MODIFY.
const PORT_STATUS_ALL_REASONS: u32 = 0b111;
const T_BUNDLE_ADD: u8 = 34;
const MP_FLOW_DESC: u16 = 1;
const MP_PORT_DESC: u16 = 13;
const HELLO_VERSION_BITMAP: u16 = 1;

fn message_type(version: u8, message: &Message) -> u8 {
    let v10 = version == VERSION_1_0;
    match message {
        Message::Hello { .. } => T_HELLO,
        Message::Error(_) => T_ERROR,
        Message::EchoRequest(_) => T_ECHO_REQUEST,
        Message::EchoReply(_) => T_ECHO_REPLY,
        Message::FeaturesRequest => T_FEATURES_REQUEST,
        Message::FeaturesReply { .. } => T_FEATURES_REPLY,
        Message::PortStatus { .. } => T_PORT_STATUS,
        Message::FlowMod(_) => T_FLOW_MOD,
        Message::PortMod10(_) => T10_PORT_MOD,
        Message::MultipartRequest(_) => T_MULTIPART_REQUEST,
        Message::MultipartReply { .. } => T_MULTIPART_REPLY,
        Message::BarrierRequest if v10 => T10_BARRIER_REQUEST,
        Message::BarrierRequest => T_BARRIER_REQUEST,
        Message::BarrierReply if v10 => T10_BARRIER_REPLY,
        Message::BarrierReply => T_BARRIER_REPLY,
        Message::BundleControl { .. } => T_BUNDLE_CONTROL,
        Message::BundleAdd { .. } => T_BUNDLE_ADD,
        Message::SetAsyncPortStatus => T_SET_ASYNC,
        Message::Other { msg_type } => *msg_type,
    }
}

/// Encodes `inner` as a message of bundle `bundle_id`: the bundle-add and
/// the message inside share one xid, as OpenFlow requires (OVS refuses
/// anything else with `OFPBFC_MSG_BAD_XID`), so a switch error about either
/// names the same request.
pub fn encode_bundle_add(xid: u32, bundle_id: u32, flags: u16, inner: &Message) -> Vec<u8> {
    let message = encode(VERSION_1_5, xid, inner);
    encode(VERSION_1_5, xid, &Message::BundleAdd { bundle_id, flags, message })
}

/// Encodes one message.
pub fn encode(version: u8, xid: u32, message: &Message) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(version).u8(message_type(version, message)).u16(0).u32(xid);
    write_body(&mut w, message);
    let len = len16(w.len());
    w.set_u16(2, len);
    w.finish()
}

fn write_body(w: &mut Writer, message: &Message) {
    match message {
        Message::Hello { versions: Some(bitmap) } => {
            w.u16(HELLO_VERSION_BITMAP).u16(8).u32(*bitmap);
        }
        Message::Error(error) => {
            w.u16(error.kind).u16(error.code).bytes(&error.data);
        }
        Message::EchoRequest(data) | Message::EchoReply(data) => {
            w.bytes(data);
        }
        Message::FeaturesReply { datapath_id, n_tables } => {
            w.u64(*datapath_id).u32(0).u8(*n_tables).u8(0).zeros(2).u32(0).u32(0);
        }
        Message::FlowMod(flow_mod) => flow_mod.write(w),
        Message::PortMod10(port_mod) => port_mod.write(w),
        Message::PortStatus { reason, port } => {
            w.u8(*reason as u8).zeros(7);
            port.write(w);
        }
        Message::MultipartRequest(request) => write_multipart_request(w, request),
        Message::MultipartReply { more, body } => write_multipart_reply(w, *more, body),
        Message::BundleControl { bundle_id, op, flags } => {
            w.u32(*bundle_id).u16(*op as u16).u16(*flags);
        }
        Message::BundleAdd { bundle_id, flags, message } => {
            w.u32(*bundle_id).u16(0).u16(*flags).bytes(message);
        }
        Message::SetAsyncPortStatus => {
            for property in [ASYNC_PORT_STATUS_SLAVE, ASYNC_PORT_STATUS_MASTER] {
                w.u16(property).u16(8).u32(PORT_STATUS_ALL_REASONS);
            }
        }
        Message::Hello { versions: None }
        | Message::FeaturesRequest
        | Message::BarrierRequest
        | Message::BarrierReply
        | Message::Other { .. } => {}
    }
}

fn write_multipart_request(w: &mut Writer, request: &MultipartRequest) {
    match request {
        MultipartRequest::FlowDesc { table_id, cookie, cookie_mask, matches } => {
            w.u16(MP_FLOW_DESC).u16(0).zeros(4);
            w.u8(*table_id).zeros(3).u32(super::flow_mod::OFPP_ANY).u32(super::flow_mod::OFPP_ANY).zeros(4);
            w.u64(*cookie).u64(*cookie_mask);
            super::oxm::write_match(w, matches);
        }
        MultipartRequest::PortDesc => {
            w.u16(MP_PORT_DESC).u16(0).zeros(4).u32(super::flow_mod::OFPP_ANY).zeros(4);
        }
    }
}

/// Encodes replies too, so tests and the simulated switch speak both sides.
fn write_multipart_reply(w: &mut Writer, more: bool, body: &MultipartBody) {
    let flags = u16::from(more);
    match body {
        MultipartBody::PortDesc(ports) => {
            w.u16(MP_PORT_DESC).u16(flags).zeros(4);
            ports.iter().for_each(|p| p.write(w));
        }
        MultipartBody::FlowDesc(flows) => {
            w.u16(MP_FLOW_DESC).u16(flags).zeros(4);
            for flow in flows {
                write_flow_desc(w, flow);
            }
        }
        MultipartBody::Other(kind) => {
            w.u16(*kind).u16(flags).zeros(4);
        }
    }
}

fn write_flow_desc(w: &mut Writer, flow: &FlowDesc) {
    let mut instructions = Writer::new();
    if let Ok(actions) = &flow.actions {
        super::actions::write_instructions(&mut instructions, actions);
    }
    let entry = FlowStatsEntry {
        table_id: flow.table_id,
        priority: flow.priority,
        cookie: flow.cookie,
        raw_match: flow.raw_match.clone(),
        raw_instructions: instructions.finish(),
    };
    entry.write(w);
}

/// Encodes one part of an OpenFlow 1.5 flow stats reply from the bytes a
/// switch holds (see [`FlowStatsEntry`]); `more` says another part follows.
pub fn encode_flow_stats_reply(xid: u32, more: bool, flows: &[FlowStatsEntry]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(VERSION_1_5).u8(T_MULTIPART_REPLY).u16(0).u32(xid);
    w.u16(MP_FLOW_DESC).u16(u16::from(more)).zeros(4);
    for flow in flows {
        flow.write(&mut w);
    }
    let len = len16(w.len());
    w.set_u16(2, len);
    w.finish()
}

/// What an OpenFlow 1.4+ set-async message (a whole frame, which
/// [`decode`] leaves as [`Message::Other`] type 28) says about port
/// status: `Some(true)` when it asks for some reasons in some role,
/// `Some(false)` when it turns them all off, `None` when it does not say.
///
/// # Errors
/// [`DecodeError::Malformed`] when a property is cut short.
pub fn set_async_port_status(frame: &[u8]) -> Result<Option<bool>, DecodeError> {
    let mut r = Reader::new(frame, "set async");
    r.skip(HEADER_LEN)?;
    let mut port_status = None;
    while r.remaining() > 0 {
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(DecodeError::malformed("async property", format!("length {len}")));
        }
        let mut property = r.sub(len - 4, "async property")?;
        if matches!(kind, ASYNC_PORT_STATUS_SLAVE | ASYNC_PORT_STATUS_MASTER) {
            let on = property.u32()? != 0;
            port_status = Some(port_status.unwrap_or(false) || on);
        }
    }
    Ok(port_status)
}

/// Decodes exactly one message (`buf` is the whole frame).
///
/// # Errors
/// [`DecodeError::Malformed`] when the message is cut short or
/// inconsistent. A message type the agent does not use is not an error
/// ([`Message::Other`]).
pub fn decode(buf: &[u8]) -> Result<Frame, DecodeError> {
    let mut r = Reader::new(buf, "message");
    let version = r.u8()?;
    let msg_type = r.u8()?;
    let len = usize::from(r.u16()?);
    let xid = r.u32()?;
    if len != buf.len() {
        return Err(DecodeError::malformed(
            "header",
            format!("length {len} but the frame has {} bytes", buf.len()),
        ));
    }
    let mut body = Reader::new(r.rest(), "message body");
    let message = decode_body(version, msg_type, &mut body)?;
    Ok(Frame { version, xid, message })
}

fn decode_body(version: u8, msg_type: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    let v10 = version == VERSION_1_0;
    Ok(match msg_type {
        T_HELLO => Message::Hello { versions: read_hello_bitmap(r)? },
        T_ERROR => Message::Error(SwitchError { kind: r.u16()?, code: r.u16()?, data: r.rest().to_vec() }),
        T_ECHO_REQUEST => Message::EchoRequest(r.rest().to_vec()),
        T_ECHO_REPLY => Message::EchoReply(r.rest().to_vec()),
        T_FEATURES_REQUEST => Message::FeaturesRequest,
        T_FEATURES_REPLY => {
            let datapath_id = r.u64()?;
            r.skip(4)?;
            Message::FeaturesReply { datapath_id, n_tables: r.u8()? }
        }
        T_PORT_STATUS if !v10 => {
            let reason = match r.u8()? {
                0 => PortReason::Add,
                1 => PortReason::Delete,
                _ => PortReason::Modify,
            };
            r.skip(7)?;
            Message::PortStatus { reason, port: PortDesc::read(r)? }
        }
        T_FLOW_MOD if !v10 => Message::FlowMod(FlowMod::read(r)?),
        T10_PORT_MOD if v10 => Message::PortMod10(PortMod10::read(r)?),
        T10_BARRIER_REQUEST if v10 => Message::BarrierRequest,
        T10_BARRIER_REPLY if v10 => Message::BarrierReply,
        T_MULTIPART_REQUEST => Message::MultipartRequest(read_multipart_request(r)?),
        T_MULTIPART_REPLY => read_multipart_reply(r)?,
        T_BARRIER_REQUEST => Message::BarrierRequest,
        T_BARRIER_REPLY => Message::BarrierReply,
        T_BUNDLE_CONTROL => {
            let bundle_id = r.u32()?;
            let op = bundle_op(r.u16()?)?;
            Message::BundleControl { bundle_id, op, flags: r.u16()? }
        }
        T_BUNDLE_ADD => {
            let bundle_id = r.u32()?;
            r.skip(2)?;
            let flags = r.u16()?;
            Message::BundleAdd { bundle_id, flags, message: r.rest().to_vec() }
        }
        other => Message::Other { msg_type: other },
    })
}

fn read_hello_bitmap(r: &mut Reader<'_>) -> Result<Option<u32>, DecodeError> {
    while r.remaining() >= 4 {
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(DecodeError::malformed("hello element", format!("length {len}")));
        }
        let mut element = r.sub(len - 4, "hello element")?;
        r.skip(len.next_multiple_of(8) - len).ok();
        if kind == HELLO_VERSION_BITMAP {
            return Ok(Some(element.u32()?));
        }
    }
    Ok(None)
}

fn bundle_op(v: u16) -> Result<BundleOp, DecodeError> {
    Ok(match v {
        0 => BundleOp::OpenRequest,
        1 => BundleOp::OpenReply,
        2 => BundleOp::CloseRequest,
        3 => BundleOp::CloseReply,
        4 => BundleOp::CommitRequest,
        5 => BundleOp::CommitReply,
        6 => BundleOp::DiscardRequest,
        7 => BundleOp::DiscardReply,
        other => return Err(DecodeError::malformed("bundle control", format!("type {other}"))),
    })
}

fn read_multipart_request(r: &mut Reader<'_>) -> Result<MultipartRequest, DecodeError> {
    let kind = r.u16()?;
    r.skip(6)?;
    match kind {
        MP_FLOW_DESC => {
            let table_id = r.u8()?;
            r.skip(15)?;
            let cookie = r.u64()?;
            let cookie_mask = r.u64()?;
            let (fields, _) = super::oxm::read_match(r)?;
            let matches = super::flow_mod::known_fields(fields).ok_or_else(|| {
                DecodeError::malformed("flow stats request", "a match field this codec does not model".into())
            })?;
            Ok(MultipartRequest::FlowDesc { table_id, cookie, cookie_mask, matches })
        }
        MP_PORT_DESC => Ok(MultipartRequest::PortDesc),
        other => Err(DecodeError::malformed("multipart request", format!("type {other}"))),
    }
}

fn read_multipart_reply(r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    let kind = r.u16()?;
    let more = r.u16()? & 1 != 0;
    r.skip(4)?;
    let body = match kind {
        MP_FLOW_DESC => {
            let mut flows = Vec::new();
            while r.remaining() > 0 {
                flows.push(FlowDesc::read(r)?);
            }
            MultipartBody::FlowDesc(flows)
        }
        MP_PORT_DESC => {
            let mut ports = Vec::new();
            while r.remaining() > 0 {
                ports.push(PortDesc::read(r)?);
            }
            MultipartBody::PortDesc(ports)
        }
        other => MultipartBody::Other(other),
    };
    Ok(Message::MultipartReply { more, body })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod generated;
