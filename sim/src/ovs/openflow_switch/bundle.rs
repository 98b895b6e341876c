//! Bundles, per connection, as OVS keeps them: a flow_mod is checked when
//! it is added (a refusal then names the bundle-add's xid, and the bundle
//! stays open for the client to discard); a commit applies every flow_mod
//! in order and, if one fails, undoes them all, sends the error about that
//! flow_mod, then `OFPBFC_MSG_FAILED` about the commit. A committed bundle
//! is visible to every connection at once (the switch is one state).
//!
//! Only flow_mods may be bundled here (OVS also takes port_mods, group_mods
//! and packet-outs).

use std::collections::BTreeMap;

use datapath::openflow::message::{self, BundleOp, Message};

use super::dispatch::{T_FLOW_MOD, flow_change, malformed};
use super::flow_table::FlowChange;
use super::refusal::Refusal;
use super::{ConnectionId, OpenFlowSwitch};

/// An open bundle.
#[derive(Debug)]
pub struct Bundle {
    flags: u16,
    closed: bool,
    messages: Vec<Bundled>,
}

/// A checked flow_mod and its frame (for the error if the commit fails).
#[derive(Debug)]
struct Bundled {
    request: Vec<u8>,
    change: FlowChange,
}

impl OpenFlowSwitch {
    /// Open, close, commit or discard a bundle of connection `id`.
    pub(super) fn bundle_control(
        &mut self,
        id: ConnectionId,
        xid: u32,
        bundle_id: u32,
        op: BundleOp,
        flags: u16,
        frame: &[u8],
    ) {
        let outcome = if op == BundleOp::CommitRequest {
            match self.connections.get_mut(&id).and_then(|c| c.bundles.remove(&bundle_id)) {
                None => Err(Refusal::BundleBadId),
                Some(bundle) if bundle.flags != flags => Err(Refusal::BundleBadFlags),
                Some(bundle) => self.commit(id, bundle),
            }
        } else {
            let Some(connection) = self.connections.get_mut(&id) else { return };
            control(&mut connection.bundles, bundle_id, op, flags)
        };
        match outcome {
            Ok(reply) => self.reply(id, xid, &Message::BundleControl { bundle_id, op: reply, flags: 0 }),
            Err(refusal) => self.refuse(id, refusal, frame),
        }
    }

    /// Adds a flow_mod to a bundle (opening it, as OVS does, if it is not
    /// open yet), once it has passed the checks OVS makes when it decodes.
    pub(super) fn bundle_add(
        &mut self,
        id: ConnectionId,
        xid: u32,
        bundle_id: u32,
        flags: u16,
        inner: &[u8],
        frame: &[u8],
    ) {
        let Some(connection) = self.connections.get_mut(&id) else { return };
        let added = bundled(connection.wire_version(), xid, inner).and_then(|change| {
            add(&mut connection.bundles, bundle_id, flags, Bundled { request: inner.to_vec(), change })
        });
        if let Err(refusal) = added {
            self.refuse(id, refusal, frame);
        }
    }

    /// Applies every flow_mod of `bundle` in order, or none.
    fn commit(&mut self, id: ConnectionId, bundle: Bundle) -> Result<BundleOp, Refusal> {
        let mut journal = Vec::new();
        for bundled in &bundle.messages {
            if let Err(refusal) = self.flows.apply(&bundled.change, &mut journal) {
                self.flows.revert(journal);
                self.refuse(id, refusal, &bundled.request);
                return Err(Refusal::BundleMsgFailed);
            }
        }
        self.flow_mods_applied += bundle.messages.len() as u64;
        self.note_flow_changes(id, journal.len());
        self.generation += 1;
        Ok(BundleOp::CommitReply)
    }
}

/// Reads and checks a bundled message: a whole flow_mod with the add's
/// xid and version.
fn bundled(version: u8, xid: u32, inner: &[u8]) -> Result<FlowChange, Refusal> {
    if message::frame_length(inner) != Ok(Some(inner.len())) {
        return Err(Refusal::BundleMsgBadLen);
    }
    let &[inner_version, inner_type, _, _, a, b, c, d, ..] = inner else {
        return Err(Refusal::BundleMsgBadLen);
    };
    if inner_type != T_FLOW_MOD {
        return Err(Refusal::BundleMsgUnsupported);
    }
    if inner_version != version {
        return Err(Refusal::BadVersion);
    }
    if u32::from_be_bytes([a, b, c, d]) != xid {
        return Err(Refusal::BundleMsgBadXid);
    }
    match message::decode(inner) {
        Ok(_) => flow_change(version, inner),
        Err(_) => Err(malformed(version, inner)),
    }
}

/// Open, close or discard (a commit needs the switch).
fn control(
    bundles: &mut BTreeMap<u32, Bundle>,
    bundle_id: u32,
    op: BundleOp,
    flags: u16,
) -> Result<BundleOp, Refusal> {
    match op {
        BundleOp::OpenRequest => open(bundles, bundle_id, flags),
        BundleOp::CloseRequest => close(bundles, bundle_id, flags),
        BundleOp::DiscardRequest => {
            bundles.remove(&bundle_id).map(|_| BundleOp::DiscardReply).ok_or(Refusal::BundleBadId)
        }
        // Replies are the switch's to send; a commit is not handled here.
        BundleOp::CommitRequest
        | BundleOp::OpenReply
        | BundleOp::CloseReply
        | BundleOp::CommitReply
        | BundleOp::DiscardReply => Err(Refusal::BundleBadType),
    }
}

/// Opening an id that is open is refused, and OVS drops that bundle too.
fn open(bundles: &mut BTreeMap<u32, Bundle>, bundle_id: u32, flags: u16) -> Result<BundleOp, Refusal> {
    if bundles.remove(&bundle_id).is_some() {
        return Err(Refusal::BundleBadId);
    }
    bundles.insert(bundle_id, Bundle { flags, closed: false, messages: Vec::new() });
    Ok(BundleOp::OpenReply)
}

fn close(bundles: &mut BTreeMap<u32, Bundle>, bundle_id: u32, flags: u16) -> Result<BundleOp, Refusal> {
    let bundle = bundles.get_mut(&bundle_id).ok_or(Refusal::BundleBadId)?;
    let refusal = if bundle.closed {
        Refusal::BundleClosed
    } else if bundle.flags != flags {
        Refusal::BundleBadFlags
    } else {
        bundle.closed = true;
        return Ok(BundleOp::CloseReply);
    };
    bundles.remove(&bundle_id);
    Err(refusal)
}

fn add(
    bundles: &mut BTreeMap<u32, Bundle>,
    bundle_id: u32,
    flags: u16,
    bundled: Bundled,
) -> Result<(), Refusal> {
    let Some(bundle) = bundles.get_mut(&bundle_id) else {
        bundles.insert(bundle_id, Bundle { flags, closed: false, messages: vec![bundled] });
        return Ok(());
    };
    let refusal = if bundle.closed {
        Refusal::BundleClosed
    } else if bundle.flags != flags {
        Refusal::BundleBadFlags
    } else {
        bundle.messages.push(bundled);
        return Ok(());
    };
    bundles.remove(&bundle_id);
    Err(refusal)
}
