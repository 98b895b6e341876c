//! One OpenFlow connection's state on the switch side: bytes waiting to be
//! framed, bytes waiting to be sent, the negotiated version, whether it
//! asked for port status, and its open bundles.

use std::collections::BTreeMap;

use datapath::openflow::message::{self, Message, VERSION_1_0, VERSION_1_5};

use super::bundle::Bundle;

/// The versions the switch speaks, as a hello bitmap.
pub const SUPPORTED_VERSIONS: u32 = 1 << VERSION_1_0 | 1 << VERSION_1_5;

/// A connection's state.
#[derive(Debug)]
pub struct Connection {
    /// Who is on the other end (the peer host's name; empty if unknown).
    pub peer: String,
    /// The negotiated version; `None` until the peer's hello.
    pub version: Option<u8>,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    /// Closed by the switch (restart, failed hello, unframeable bytes).
    pub closed: bool,
    /// Whether it asked for port status (set-async).
    pub port_status: bool,
    /// Its open bundles.
    pub bundles: BTreeMap<u32, Bundle>,
}

impl Connection {
    /// A new connection from `peer`; OVS sends its hello at once, offering every
    /// version it speaks.
    pub fn new(peer: String) -> Self {
        let mut connection = Connection {
            peer,
            version: None,
            inbox: Vec::new(),
            outbox: Vec::new(),
            closed: false,
            port_status: false,
            bundles: BTreeMap::new(),
        };
        let hello = Message::Hello { versions: Some(SUPPORTED_VERSIONS) };
        connection.outbox.extend(message::encode(VERSION_1_5, 0, &hello));
        connection
    }

    /// The version to write in: the negotiated one, 1.5 before that.
    pub fn wire_version(&self) -> u8 {
        self.version.unwrap_or(VERSION_1_5)
    }

    /// Queues `message` as the answer to (or, xid 0, unprompted on) this
    /// connection.
    pub fn send(&mut self, xid: u32, message: &Message) {
        let bytes = message::encode(self.wire_version(), xid, message);
        self.outbox.extend(bytes);
    }

    /// Queues bytes already encoded.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.outbox.extend_from_slice(bytes);
    }

    /// Takes what is queued to be written.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbox)
    }

    /// Closes the connection; what was queued is lost, as in a crash.
    pub fn close_abruptly(&mut self) {
        self.closed = true;
        self.outbox.clear();
        self.inbox.clear();
        self.bundles.clear();
    }

    /// Adds bytes read from the peer.
    pub fn push_incoming(&mut self, bytes: &[u8]) {
        self.inbox.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived.
    ///
    /// # Errors
    /// The framing error when the header's length is impossible: the
    /// stream cannot be read further.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, datapath::openflow::DecodeError> {
        match message::frame_length(&self.inbox)? {
            Some(len) if self.inbox.len() >= len => Ok(Some(self.inbox.drain(..len).collect())),
            _ => Ok(None),
        }
    }
}

/// The version OVS agrees on from the peer's hello: the highest in both
/// sets, where a hello without a bitmap offers every version up to its
/// header's. `None`: nothing in common.
pub fn negotiate(header_version: u8, bitmap: Option<u32>) -> Option<u8> {
    let theirs = bitmap.unwrap_or_else(|| {
        let upto = u32::from(header_version.min(31));
        let all = if upto == 31 { u32::MAX } else { (1u32 << (upto + 1)) - 1 };
        all & !1
    });
    let common = theirs & SUPPORTED_VERSIONS;
    (common != 0).then(|| (31 - common.leading_zeros()) as u8)
}
