//! One message's handling: which messages each version may send, the
//! first message (which must be a hello), and every request other than
//! bundles (see `bundle`).

use datapath::flows::Match;
use datapath::openflow::flow_mod::{FlowStatsEntry, OFPTT_ALL, ReceivedFlowMod};
use datapath::openflow::message::{
    self, Frame, MAX_MESSAGE, Message, MultipartBody, MultipartRequest, VERSION_1_0, VERSION_1_5,
};
use datapath::openflow::port::{PortMod10, PortReason};
use datapath::openflow::wire::Reader;

use super::connection::{SUPPORTED_VERSIONS, negotiate};
use super::flow_table::{FlowChange, N_TABLES};
use super::match_key::MatchKey;
use super::refusal::Refusal;
use super::{ConnectionId, OpenFlowSwitch};

const T_HELLO: u8 = 0;
const T_ERROR: u8 = 1;
const T_ECHO_REQUEST: u8 = 2;
const T_ECHO_REPLY: u8 = 3;
const T_FEATURES_REQUEST: u8 = 5;
pub(super) const T_FLOW_MOD: u8 = 14;
const T10_PORT_MOD: u8 = 15;
const T_MULTIPART_REQUEST: u8 = 18;
const T10_BARRIER_REQUEST: u8 = 18;
const T_BARRIER_REQUEST: u8 = 20;
const T_SET_ASYNC: u8 = 28;
const T_BUNDLE_CONTROL: u8 = 33;
const T_BUNDLE_ADD: u8 = 34;
const MP_FLOW_DESC: u16 = 1;
const MP_PORT_DESC: u16 = 13;
/// Flows (or ports) per multipart reply part: small enough that a dump of
/// a real plan comes in several parts, so the client's reassembly works.
pub(super) const ENTRIES_PER_PART: usize = 100;

/// Message types a connection of `version` may send the switch.
fn handled(version: u8, msg_type: u8) -> bool {
    let common = [T_HELLO, T_ERROR, T_ECHO_REQUEST, T_ECHO_REPLY, T_FEATURES_REQUEST];
    common.contains(&msg_type)
        || match version {
            VERSION_1_0 => [T10_PORT_MOD, T10_BARRIER_REQUEST].contains(&msg_type),
            _ => [
                T_FLOW_MOD,
                T_MULTIPART_REQUEST,
                T_BARRIER_REQUEST,
                T_SET_ASYNC,
                T_BUNDLE_CONTROL,
                T_BUNDLE_ADD,
            ]
            .contains(&msg_type),
        }
}

/// The refusal for a message of a handled type that our codec cannot
/// read: what OVS says for the part that is wrong, else a bad length.
pub(super) fn malformed(version: u8, frame: &[u8]) -> Refusal {
    let byte = |at: usize| frame.get(at).copied();
    let u16_at = |at: usize| Some(u16::from_be_bytes([byte(at)?, byte(at + 1)?]));
    match (version, byte(1)) {
        (VERSION_1_5, Some(T_FLOW_MOD)) if byte(25).is_some_and(|c| ![0, 2, 3, 4].contains(&c)) => {
            Refusal::BadCommand
        }
        (VERSION_1_5, Some(T_MULTIPART_REQUEST))
            if u16_at(8).is_some_and(|t| t != MP_FLOW_DESC && t != MP_PORT_DESC) =>
        {
            Refusal::BadMultipart
        }
        (VERSION_1_5, Some(T_BUNDLE_CONTROL)) if u16_at(12).is_some_and(|op| op > 7) => {
            Refusal::BundleBadType
        }
        _ => Refusal::BadLen,
    }
}

/// Reads and checks a flow_mod frame the codec has decoded.
pub(super) fn flow_change(version: u8, frame: &[u8]) -> Result<FlowChange, Refusal> {
    let body = frame.get(8..).ok_or(Refusal::BadLen)?;
    let received =
        ReceivedFlowMod::read(&mut Reader::new(body, "flow_mod")).map_err(|_| malformed(version, frame))?;
    FlowChange::check(received)
}

impl OpenFlowSwitch {
    /// Queues `message` on connection `id`.
    pub(super) fn reply(&mut self, id: ConnectionId, xid: u32, message: &Message) {
        if let Some(connection) = self.connections.get_mut(&id) {
            connection.send(xid, message);
        }
    }

    /// Queues the error `refusal` about `request` (a whole frame).
    pub(super) fn refuse(&mut self, id: ConnectionId, refusal: Refusal, request: &[u8]) {
        if let Some(connection) = self.connections.get_mut(&id) {
            let bytes = refusal.encode(connection.wire_version(), request);
            connection.send_bytes(&bytes);
        }
    }

    /// Handles one whole message from connection `id`.
    pub(super) fn handle(&mut self, id: ConnectionId, frame: &[u8]) {
        let Some(connection) = self.connections.get(&id) else { return };
        let &[header_version, msg_type, ..] = frame else { return };
        match connection.version {
            None => self.first_message(id, frame),
            // OVS drops a message of another version (after logging it).
            Some(version)
                if header_version != version
                    && ![T_HELLO, T_ERROR, T_ECHO_REQUEST, T_ECHO_REPLY].contains(&msg_type) => {}
            Some(version) if !handled(version, msg_type) => self.refuse(id, Refusal::BadType, frame),
            Some(version) => match message::decode(frame) {
                Ok(decoded) => self.dispatch(id, version, decoded, frame),
                Err(_) => self.refuse(id, malformed(version, frame), frame),
            },
        }
    }

    /// The first message must be a hello with a version in common: else
    /// OVS closes the connection (after a hello-failed error when there
    /// is no common version).
    fn first_message(&mut self, id: ConnectionId, frame: &[u8]) {
        let Some(connection) = self.connections.get_mut(&id) else { return };
        let Ok(Frame { version, message: Message::Hello { versions }, .. }) = message::decode(frame) else {
            connection.close_abruptly();
            return;
        };
        match negotiate(version, versions) {
            Some(agreed) => connection.version = Some(agreed),
            None => {
                let theirs = versions.map_or_else(|| format!("up to {version:#04x}"), |b| format!("{b:#b}"));
                let explanation = format!(
                    "We support versions {SUPPORTED_VERSIONS:#b} (bitmap); you support {theirs}, no common version."
                );
                connection.close_abruptly();
                connection.send_bytes(&Refusal::encode_hello_failed(&explanation));
            }
        }
    }

    fn dispatch(&mut self, id: ConnectionId, version: u8, decoded: Frame, frame: &[u8]) {
        let xid = decoded.xid;
        match decoded.message {
            Message::EchoRequest(data) => self.reply(id, xid, &Message::EchoReply(data)),
            Message::FeaturesRequest => {
                let features = Message::FeaturesReply { datapath_id: self.datapath_id, n_tables: N_TABLES };
                self.reply(id, xid, &features);
            }
            // Everything before it is done: the switch works in order.
            Message::BarrierRequest => self.reply(id, xid, &Message::BarrierReply),
            Message::MultipartRequest(MultipartRequest::FlowDesc {
                table_id,
                cookie,
                cookie_mask,
                matches,
            }) => {
                if table_id >= N_TABLES && table_id != OFPTT_ALL {
                    self.refuse(id, Refusal::BadTableId, frame);
                } else {
                    self.flow_stats(id, xid, table_id, cookie, cookie_mask, &matches);
                }
            }
            Message::MultipartRequest(MultipartRequest::PortDesc) => self.port_desc(id, xid),
            Message::FlowMod(_) => self.flow_mod(id, version, frame),
            Message::BundleControl { bundle_id, op, flags } => {
                self.bundle_control(id, xid, bundle_id, op, flags, frame);
            }
            Message::BundleAdd { bundle_id, flags, message } => {
                self.bundle_add(id, xid, bundle_id, flags, &message, frame);
            }
            Message::PortMod10(port_mod) => self.port_mod(id, &port_mod, frame),
            Message::Other { msg_type: T_SET_ASYNC } => self.set_async(id, frame),
            // OVS logs a peer's error and ignores replies it did not ask for.
            Message::Hello { .. } | Message::Error(_) | Message::EchoReply(_) => {}
            _ => self.refuse(id, Refusal::BadType, frame),
        }
    }

    fn flow_stats(
        &mut self,
        id: ConnectionId,
        xid: u32,
        table_id: u8,
        cookie: u64,
        mask: u64,
        matches: &[Match],
    ) {
        let entries = self.flows.select(table_id, cookie, mask, &MatchKey::of(matches));
        let parts = split_parts(entries, entry_len);
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.iter().enumerate() {
            let bytes = message::encode_flow_stats_reply(xid, i < last, part);
            if let Some(connection) = self.connections.get_mut(&id) {
                connection.send_bytes(&bytes);
            }
        }
    }

    fn port_desc(&mut self, id: ConnectionId, xid: u32) {
        let parts = split_parts(self.ports.descs(), |_| 40);
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let reply = Message::MultipartReply { more: i < last, body: MultipartBody::PortDesc(part) };
            self.reply(id, xid, &reply);
        }
    }

    /// A flow_mod outside a bundle: applied at once, or refused whole.
    fn flow_mod(&mut self, id: ConnectionId, version: u8, frame: &[u8]) {
        let mut journal = Vec::new();
        let applied = flow_change(version, frame).and_then(|change| self.flows.apply(&change, &mut journal));
        match applied {
            Ok(()) => {
                self.flow_mods_applied += 1;
                self.note_flow_changes(id, journal.len());
                self.generation += 1;
            }
            Err(refusal) => {
                self.flows.revert(journal);
                self.refuse(id, refusal, frame);
            }
        }
    }

    /// An OpenFlow 1.0 port_mod: no reply when it works (a barrier
    /// confirms it); connections that asked see the port modified.
    fn port_mod(&mut self, id: ConnectionId, port_mod: &PortMod10, frame: &[u8]) {
        match self.ports.port_mod(port_mod) {
            Ok(Some(desc)) => {
                self.generation += 1;
                self.port_status(PortReason::Modify, &desc, Some(id));
            }
            Ok(None) => {}
            Err(refusal) => self.refuse(id, refusal, frame),
        }
    }

    fn set_async(&mut self, id: ConnectionId, frame: &[u8]) {
        match message::set_async_port_status(frame) {
            Ok(Some(on)) => {
                if let Some(connection) = self.connections.get_mut(&id) {
                    connection.port_status = on;
                }
            }
            Ok(None) => {}
            Err(_) => self.refuse(id, Refusal::BadLen, frame),
        }
    }
}

/// A flow desc's length on the wire.
fn entry_len(entry: &FlowStatsEntry) -> usize {
    24 + (4 + entry.raw_match.len()).next_multiple_of(8) + 8 + entry.raw_instructions.len()
}

/// Splits a reply's entries into parts of at most [`ENTRIES_PER_PART`]
/// that each fit one message; always at least one (possibly empty) part.
fn split_parts<T>(entries: Vec<T>, len: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    const HEADERS: usize = 16;
    let mut parts = vec![Vec::new()];
    let mut size = HEADERS;
    for entry in entries {
        let entry_size = len(&entry);
        let full = parts.last().is_some_and(|p| {
            p.len() >= ENTRIES_PER_PART || (!p.is_empty() && size + entry_size > MAX_MESSAGE)
        });
        if full {
            parts.push(Vec::new());
            size = HEADERS;
        }
        size += entry_size;
        if let Some(part) = parts.last_mut() {
            part.push(entry);
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_split_every_hundred_entries_and_never_empty() {
        assert_eq!(split_parts(Vec::<u8>::new(), |_| 1), [Vec::<u8>::new()]);
        let parts = split_parts((0..250).collect(), |_| 100);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
        let big = split_parts((0..4).collect::<Vec<u32>>(), |_| 30_000);
        assert_eq!(big.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2], "each part fits one message");
    }

    #[test]
    fn each_version_has_its_own_message_types() {
        assert!(handled(VERSION_1_0, T10_PORT_MOD) && !handled(VERSION_1_5, T10_PORT_MOD));
        assert!(handled(VERSION_1_5, T_BUNDLE_ADD) && !handled(VERSION_1_0, T_BUNDLE_ADD));
        assert!(!handled(VERSION_1_0, T_FLOW_MOD), "1.0 flow_mods are not modelled");
    }
}
