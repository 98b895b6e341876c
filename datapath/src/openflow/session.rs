//! One OpenFlow connection's protocol state, sans-IO: feed it the bytes
//! that arrive, take the bytes it wants sent, and read the events.
//!
//! It negotiates the version, answers the switch's echo requests, numbers
//! requests (xids) and matches replies to them, reassembles multipart
//! replies, and turns a list of flow_mods into one atomic, ordered bundle
//! whose failure names the flow_mod the switch refused. It does not open
//! sockets, keep time or retry: the connection in `actors` does, and a
//! reconnect is a new `Session`.

use std::collections::{BTreeMap, VecDeque};

use super::DecodeError;
use super::flow_mod::{FlowDesc, FlowMod};
use super::message::{
    self, BUNDLE_ATOMIC, BUNDLE_ORDERED, BundleOp, Frame, Message, MultipartBody, MultipartRequest,
    VERSION_1_0, VERSION_1_5,
};
use super::port::{PortDesc, PortMod10, PortReason};
use super::switch_error::SwitchError;
use crate::flows::Match;

/// Names one request made through a session, in the events that answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// What happened on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The version is agreed and the switch has said who it is.
    Ready {
        /// The datapath id.
        datapath_id: u64,
    },
    /// The flows a dump asked for.
    Flows {
        /// The dump.
        request: RequestId,
        /// The flows, in the switch's order.
        flows: Vec<FlowDesc>,
    },
    /// The switch's ports.
    Ports {
        /// The dump.
        request: RequestId,
        /// The ports.
        ports: Vec<PortDesc>,
    },
    /// A port came, went or changed.
    PortStatus {
        /// Why.
        reason: PortReason,
        /// The port.
        port: PortDesc,
    },
    /// A bundle was applied, or a port_mod/barrier completed.
    Done {
        /// The request.
        request: RequestId,
    },
    /// The switch refused a request; nothing of a refused bundle applied.
    Failed {
        /// The request.
        request: RequestId,
        /// The switch's error.
        error: SwitchError,
        /// The flow_mod the switch refused, in ovs-ofctl text, when known.
        offending: Option<String>,
    },
    /// The switch reported an error about no request we know of.
    UnsolicitedError(SwitchError),
}

/// The connection cannot go on; make a new session on a new connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The switch sent bytes that are not OpenFlow.
    #[error("the switch sent a malformed message")]
    Decode(#[from] DecodeError),
    /// The switch does not speak our version.
    #[error("the switch speaks OpenFlow versions {theirs:#b} (bitmap), not version {ours}")]
    Version {
        /// Our wire version.
        ours: u8,
        /// Their version bitmap (or their header version as one bit).
        theirs: u32,
    },
    /// The switch refused the hello.
    #[error("the switch refused the handshake: {0}")]
    Handshake(SwitchError),
}

#[derive(Debug)]
enum Pending {
    Features,
    FlowDump {
        request: RequestId,
        flows: Vec<FlowDesc>,
    },
    PortDump {
        request: RequestId,
        ports: Vec<PortDesc>,
    },
    BundleOpen {
        request: RequestId,
    },
    BundleAdd {
        request: RequestId,
        flow_mod: String,
    },
    /// The barrier after a bundle's adds: every add error is in by then.
    BundleCheck {
        request: RequestId,
        bundle_id: u32,
    },
    BundleCommit {
        request: RequestId,
    },
    BundleDiscard,
    PortMod {
        request: RequestId,
    },
    Barrier {
        request: RequestId,
    },
}

impl Pending {
    fn request(&self) -> Option<RequestId> {
        match self {
            Pending::Features | Pending::BundleDiscard => None,
            Pending::FlowDump { request, .. }
            | Pending::PortDump { request, .. }
            | Pending::BundleOpen { request }
            | Pending::BundleAdd { request, .. }
            | Pending::BundleCheck { request, .. }
            | Pending::BundleCommit { request }
            | Pending::PortMod { request }
            | Pending::Barrier { request } => Some(*request),
        }
    }
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Session {
    version: u8,
    hello_received: bool,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    next_xid: u32,
    next_request: u64,
    next_bundle: u32,
    pending: BTreeMap<u32, Pending>,
    /// The first refused message of a bundle, kept until its check.
    refused: BTreeMap<RequestId, (SwitchError, String)>,
    events: VecDeque<Event>,
}

impl Session {
    /// A session for OpenFlow 1.5 (the pipeline) or 1.0 (no-flood
    /// port_mods); the hello and the features request are queued.
    pub fn new(version: u8) -> Self {
        let mut session = Session {
            version,
            hello_received: false,
            inbox: Vec::new(),
            outbox: Vec::new(),
            next_xid: 1,
            next_request: 1,
            next_bundle: 1,
            pending: BTreeMap::new(),
            refused: BTreeMap::new(),
            events: VecDeque::new(),
        };
        // A 1.0 switch predates hello elements; 1.5 says exactly what it speaks.
        let versions = (version != VERSION_1_0).then_some(1u32 << version);
        session.send(Message::Hello { versions });
        let xid = session.send(Message::FeaturesRequest);
        session.pending.insert(xid, Pending::Features);
        if version == VERSION_1_5 {
            // The pipeline's session must see ports come and go.
            session.send(Message::SetAsyncPortStatus);
        }
        session
    }

    /// The bytes to write to the connection (empties the queue).
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbox)
    }

    /// Whether requests are waiting for an answer.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    fn send(&mut self, message: Message) -> u32 {
        let xid = self.xid();
        self.outbox.extend(message::encode(self.version, xid, &message));
        xid
    }

    fn xid(&mut self) -> u32 {
        let xid = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        xid
    }

    fn request(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    /// Asks for the flows whose cookie equals `cookie` under `mask`.
    pub fn dump_flows(&mut self, cookie: u64, mask: u64) -> RequestId {
        self.dump_flows_matching(cookie, mask, Vec::new())
    }

    /// Asks for the flows of [`Session::dump_flows`] that also match on
    /// `matches` (e.g. one Pod's port), answered the same way.
    pub fn dump_flows_matching(&mut self, cookie: u64, mask: u64, matches: Vec<Match>) -> RequestId {
        let request = self.request();
        let dump = MultipartRequest::FlowDesc {
            table_id: super::flow_mod::OFPTT_ALL,
            cookie,
            cookie_mask: mask,
            matches,
        };
        let xid = self.send(Message::MultipartRequest(dump));
        self.pending.insert(xid, Pending::FlowDump { request, flows: Vec::new() });
        request
    }

    /// Asks for every port.
    pub fn dump_ports(&mut self) -> RequestId {
        let request = self.request();
        let xid = self.send(Message::MultipartRequest(MultipartRequest::PortDesc));
        self.pending.insert(xid, Pending::PortDump { request, ports: Vec::new() });
        request
    }

    /// Applies `flow_mods` in one atomic, ordered bundle: all or nothing,
    /// in this order. Answered by [`Event::Done`] or [`Event::Failed`]
    /// (see the module doc for the check before the commit).
    pub fn apply(&mut self, flow_mods: &[FlowMod]) -> RequestId {
        let request = self.request();
        let bundle_id = self.next_bundle;
        self.next_bundle = self.next_bundle.wrapping_add(1);
        let flags = BUNDLE_ATOMIC | BUNDLE_ORDERED;
        let open = self.send(Message::BundleControl { bundle_id, op: BundleOp::OpenRequest, flags });
        self.pending.insert(open, Pending::BundleOpen { request });
        for flow_mod in flow_mods {
            let xid = self.xid();
            let inner = Message::FlowMod(flow_mod.clone());
            self.outbox.extend(message::encode_bundle_add(xid, bundle_id, flags, &inner));
            self.pending.insert(xid, Pending::BundleAdd { request, flow_mod: describe(flow_mod) });
        }
        let check = self.send(Message::BarrierRequest);
        self.pending.insert(check, Pending::BundleCheck { request, bundle_id });
        request
    }

    /// Changes a port's config bits (an OpenFlow 1.0 session only: that is
    /// where no-flood exists), confirmed by a barrier.
    pub fn port_mod(&mut self, port_mod: PortMod10) -> RequestId {
        let request = self.request();
        let xid = self.send(Message::PortMod10(port_mod));
        self.pending.insert(xid, Pending::PortMod { request });
        let barrier = self.send(Message::BarrierRequest);
        self.pending.insert(barrier, Pending::Barrier { request });
        request
    }

    /// Asks for a barrier: answered once everything sent before is done.
    pub fn barrier(&mut self) -> RequestId {
        let request = self.request();
        let xid = self.send(Message::BarrierRequest);
        self.pending.insert(xid, Pending::Barrier { request });
        request
    }

    /// Sends a keep-alive (the caller decides when, and when it is late).
    pub fn echo(&mut self) {
        self.send(Message::EchoRequest(Vec::new()));
    }

    /// Consumes bytes from the connection and returns what they mean.
    ///
    /// # Errors
    /// [`SessionError`] when the connection cannot go on (malformed bytes,
    /// no common version); the session must then be dropped.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<Event>, SessionError> {
        self.inbox.extend_from_slice(bytes);
        let mut consumed = 0;
        while let Some(len) = message::frame_length(&self.inbox[consumed..])? {
            if self.inbox.len() - consumed < len {
                break;
            }
            let frame = message::decode(&self.inbox[consumed..consumed + len])?;
            consumed += len;
            self.handle(frame)?;
        }
        self.inbox.drain(..consumed);
        Ok(self.events.drain(..).collect())
    }

    fn handle(&mut self, frame: Frame) -> Result<(), SessionError> {
        let Frame { version, xid, message } = frame;
        match message {
            Message::Hello { versions } => {
                // With a bitmap, our version must be in it; without one, the
                // agreed version is the lower of the two headers'.
                let agreed = match versions {
                    Some(bitmap) => bitmap & (1 << self.version) != 0,
                    None => version >= self.version,
                };
                if !agreed {
                    let theirs = versions.unwrap_or(1 << version.min(31));
                    return Err(SessionError::Version { ours: self.version, theirs });
                }
                self.hello_received = true;
            }
            Message::EchoRequest(data) => {
                self.outbox.extend(message::encode(self.version, xid, &Message::EchoReply(data)));
            }
            Message::Error(error) if !self.hello_received || error.kind == 0 => {
                return Err(SessionError::Handshake(error));
            }
            Message::Error(error) => self.on_error(xid, error),
            Message::FeaturesReply { datapath_id, .. } => {
                if let Some(Pending::Features) = self.pending.remove(&xid) {
                    self.events.push_back(Event::Ready { datapath_id });
                }
            }
            Message::MultipartReply { more, body } => self.on_multipart(xid, more, body),
            Message::BundleControl { op: BundleOp::CommitReply, .. } => self.on_commit(xid),
            Message::BundleControl { op: BundleOp::OpenReply | BundleOp::DiscardReply, .. } => {
                self.pending.remove(&xid);
            }
            Message::BarrierReply => self.on_barrier(xid),
            Message::PortStatus { reason, port } => self.events.push_back(Event::PortStatus { reason, port }),
            _ => {}
        }
        Ok(())
    }

    fn on_multipart(&mut self, xid: u32, more: bool, body: MultipartBody) {
        match (self.pending.get_mut(&xid), body) {
            (Some(Pending::FlowDump { flows, .. }), MultipartBody::FlowDesc(part)) => flows.extend(part),
            (Some(Pending::PortDump { ports, .. }), MultipartBody::PortDesc(part)) => ports.extend(part),
            _ => return,
        }
        if more {
            return;
        }
        match self.pending.remove(&xid) {
            Some(Pending::FlowDump { request, flows }) => {
                self.events.push_back(Event::Flows { request, flows })
            }
            Some(Pending::PortDump { request, ports }) => {
                self.events.push_back(Event::Ports { request, ports })
            }
            _ => {}
        }
    }

    fn on_commit(&mut self, xid: u32) {
        if let Some(Pending::BundleCommit { request }) = self.pending.remove(&xid) {
            self.forget(request);
            self.events.push_back(Event::Done { request });
        }
    }

    fn on_barrier(&mut self, xid: u32) {
        match self.pending.remove(&xid) {
            Some(Pending::Barrier { request }) => {
                self.forget(request);
                self.events.push_back(Event::Done { request });
            }
            Some(Pending::BundleCheck { request, bundle_id }) => self.commit_or_discard(request, bundle_id),
            _ => {}
        }
    }

    fn commit_or_discard(&mut self, request: RequestId, bundle_id: u32) {
        let flags = BUNDLE_ATOMIC | BUNDLE_ORDERED;
        match self.refused.remove(&request) {
            Some((error, offending)) => {
                self.forget(request);
                let discard =
                    self.send(Message::BundleControl { bundle_id, op: BundleOp::DiscardRequest, flags });
                self.pending.insert(discard, Pending::BundleDiscard);
                self.events.push_back(Event::Failed { request, error, offending: Some(offending) });
            }
            None => {
                let commit =
                    self.send(Message::BundleControl { bundle_id, op: BundleOp::CommitRequest, flags });
                self.pending.insert(commit, Pending::BundleCommit { request });
            }
        }
    }

    /// Drops what is left of a finished request (a bundle's adds, a
    /// port_mod before its barrier).
    fn forget(&mut self, request: RequestId) {
        self.pending.retain(|_, p| p.request() != Some(request));
        self.refused.remove(&request);
    }

    fn on_error(&mut self, xid: u32, error: SwitchError) {
        let Some(pending) = self.pending.remove(&xid) else {
            self.events.push_back(Event::UnsolicitedError(error));
            return;
        };
        match pending {
            // Reported at the bundle's check, which then discards it.
            Pending::BundleAdd { request, flow_mod } => {
                self.refused.entry(request).or_insert((error, flow_mod));
            }
            Pending::BundleDiscard => {}
            Pending::BundleOpen { request } | Pending::BundleCommit { request } => {
                let offending = self.refused.remove(&request).map(|(_, flow_mod)| flow_mod);
                self.forget(request);
                self.events.push_back(Event::Failed { request, error, offending });
            }
            other => {
                if let Some(request) = other.request() {
                    self.forget(request);
                    self.events.push_back(Event::Failed { request, error, offending: None });
                }
            }
        }
    }
}

/// A flow_mod as a person reads it.
fn describe(flow_mod: &FlowMod) -> String {
    use super::flow_mod::{Command, MatchSpec};
    let verb = match flow_mod.command {
        Command::Add => "add",
        Command::ModifyStrict => "modify",
        Command::Delete => "delete",
        Command::DeleteStrict => "delete",
    };
    match (flow_mod.flow(), &flow_mod.matches) {
        (Some(flow), _) if matches!(flow_mod.command, Command::Add | Command::ModifyStrict) => {
            format!("{verb} {flow}")
        }
        (_, MatchSpec::Fields(fields)) => {
            let fields: Vec<String> = fields.iter().map(ToString::to_string).collect();
            format!("{verb} table={}, priority={},{}", flow_mod.table_id, flow_mod.priority, fields.join(","))
        }
        (_, MatchSpec::Raw(_)) => {
            format!("{verb} table={}, priority={} (match as dumped)", flow_mod.table_id, flow_mod.priority)
        }
    }
}

/// Makes an OpenFlow 1.5 session (the pipeline's).
pub fn pipeline_session() -> Session {
    Session::new(VERSION_1_5)
}

#[cfg(test)]
mod tests;
