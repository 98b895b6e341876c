//! The errors the switch answers with, named as OVS names them, and their
//! numbers on the wire. OpenFlow 1.0 numbers its error types differently
//! (port_mod failures are type 4 there, 7 since 1.1), as OVS does when it
//! encodes an error for a 1.0 connection.

use datapath::openflow::message::{Message, VERSION_1_0, VERSION_1_5, encode};
use datapath::openflow::switch_error::SwitchError;

/// How much of the offending request an error carries (OVS, like the
/// OpenFlow spec's minimum, sends the first 64 bytes).
const ECHOED_BYTES: usize = 64;

/// Why the switch refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `OFPHFC_INCOMPATIBLE`: no version in common.
    HelloIncompatible,
    /// `OFPBRC_BAD_VERSION`: a bundled message of another version.
    BadVersion,
    /// `OFPBRC_BAD_TYPE`: a message type the switch does not handle.
    BadType,
    /// `OFPBRC_BAD_MULTIPART`: a multipart type the switch does not handle.
    BadMultipart,
    /// `OFPBRC_BAD_LEN`: a message cut short or inconsistent.
    BadLen,
    /// `OFPBRC_BAD_TABLE_ID`: a flow stats request for no such table.
    BadTableId,
    /// `OFPBIC_BAD_TABLE_ID`: goto_table to this or an earlier table, or
    /// past the last one.
    GotoBadTable,
    /// `OFPBMC_BAD_LEN`: a match field cut short.
    MatchBadLen,
    /// `OFPBMC_DUP_FIELD`: a field (or register) matched twice.
    DupField,
    /// `OFPFMFC_TABLE_FULL`: the table is at its flow limit.
    TableFull,
    /// `OFPFMFC_BAD_TABLE_ID`: no such table (or ALL for an add).
    FlowModBadTable,
    /// `OFPFMFC_BAD_COMMAND`: a flow_mod command the switch does not handle.
    BadCommand,
    /// `OFPPMFC_BAD_PORT`: port_mod of a port that does not exist.
    BadPort,
    /// `OFPPMFC_BAD_HW_ADDR`: port_mod whose address is not the port's.
    BadHwAddr,
    /// `OFPBFC_BAD_ID`: no such bundle, or opened twice.
    BundleBadId,
    /// `OFPBFC_BUNDLE_CLOSED`: added to or closed after a close.
    BundleClosed,
    /// `OFPBFC_BAD_TYPE`: a bundle control type a switch does not take.
    BundleBadType,
    /// `OFPBFC_BAD_FLAGS`: flags other than those the bundle was opened with.
    BundleBadFlags,
    /// `OFPBFC_MSG_BAD_LEN`: the bundled message's length is inconsistent.
    BundleMsgBadLen,
    /// `OFPBFC_MSG_BAD_XID`: the bundled message's xid is not the add's.
    BundleMsgBadXid,
    /// `OFPBFC_MSG_UNSUP`: a message a bundle cannot hold.
    BundleMsgUnsupported,
    /// `OFPBFC_MSG_FAILED`: a bundled message failed, so the commit did.
    BundleMsgFailed,
}

impl Refusal {
    /// The error's (type, code) as a connection of `version` reads them.
    pub fn kind_code(self, version: u8) -> (u16, u16) {
        let port_mod_failed = if version == VERSION_1_0 { 4 } else { 7 };
        match self {
            Refusal::HelloIncompatible => (0, 0),
            Refusal::BadVersion => (1, 0),
            Refusal::BadType => (1, 1),
            Refusal::BadMultipart => (1, 2),
            Refusal::BadLen => (1, 6),
            Refusal::BadTableId => (1, 9),
            Refusal::GotoBadTable => (3, 2),
            Refusal::MatchBadLen => (4, 1),
            Refusal::DupField => (4, 10),
            Refusal::TableFull => (5, 1),
            Refusal::FlowModBadTable => (5, 2),
            Refusal::BadCommand => (5, 6),
            Refusal::BadPort => (port_mod_failed, 0),
            Refusal::BadHwAddr => (port_mod_failed, 1),
            Refusal::BundleBadId => (17, 2),
            Refusal::BundleClosed => (17, 4),
            Refusal::BundleBadType => (17, 6),
            Refusal::BundleBadFlags => (17, 7),
            Refusal::BundleMsgBadLen => (17, 8),
            Refusal::BundleMsgBadXid => (17, 9),
            Refusal::BundleMsgUnsupported => (17, 10),
            Refusal::BundleMsgFailed => (17, 13),
        }
    }

    /// The error message about `request` (a whole frame) on a connection
    /// of `version`: the request's xid, and its start as data.
    pub fn encode(self, version: u8, request: &[u8]) -> Vec<u8> {
        let xid = request.get(4..8).map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]));
        let (kind, code) = self.kind_code(version);
        let data = request[..request.len().min(ECHOED_BYTES)].to_vec();
        encode(version, xid, &Message::Error(SwitchError { kind, code, data }))
    }

    /// The hello-failed error OVS sends before it closes a connection
    /// that shares no version with it; `data` is its explanation.
    pub fn encode_hello_failed(explanation: &str) -> Vec<u8> {
        let (kind, code) = Refusal::HelloIncompatible.kind_code(VERSION_1_5);
        encode(
            VERSION_1_5,
            0,
            &Message::Error(SwitchError { kind, code, data: explanation.as_bytes().to_vec() }),
        )
    }
}
