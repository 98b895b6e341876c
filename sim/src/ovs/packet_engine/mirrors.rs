//! The bridge's port mirrors as ovs-vswitchd applies them to one packet
//! (ovs-vswitchd.conf.db(5), table `Mirror`; `ofproto-dpif-xlate.c`,
//! OVS 3.1):
//!
//! - a packet received on a port of a mirror's `select_src_port` is
//!   copied to the mirror's output port when it arrives, before the flow
//!   tables run (so even a packet the tables then drop is copied);
//! - each time the packet is output to a port of a mirror's
//!   `select_dst_port` (by an OpenFlow `output` or by `NORMAL`), it is
//!   copied right after that output;
//! - a packet is copied to one output port at most once, however many
//!   reasons or `Mirror` rows select it for that port (OVS's
//!   `dup_mirrors`); a copy is itself an output, so the mirrors that
//!   select its port apply to it, with the same rule;
//! - an output port is reserved for mirroring: `NORMAL` never floods to
//!   it and drops a packet whose destination was learned on it, and a
//!   packet received on it is dropped before the flow tables.
//!
//! Not modelled: `select_all`, `select_vlan`, `output_vlan` (RSPAN),
//! `snaplen`, filters, statistics. What the database holds beyond what
//! ovs-vswitchd would configure (a mirror without an output port, ports
//! without an ofport, more than 32 mirrors) is the caller's to leave out.

use std::collections::BTreeSet;

/// One `Mirror` row, by ofport, as ovs-vswitchd configured it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineMirror {
    /// Its name (for failure messages).
    pub name: String,
    /// Ports whose received packets it copies.
    pub select_src: BTreeSet<u32>,
    /// Ports whose sent packets it copies.
    pub select_dst: BTreeSet<u32>,
    /// Where the copies go.
    pub output: u32,
}

/// The mirrors of a bridge.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mirrors<'a>(pub &'a [EngineMirror]);

impl<'a> Mirrors<'a> {
    /// Whether `port` is reserved for mirroring.
    pub fn reserves(self, port: u32) -> bool {
        self.0.iter().any(|m| m.output == port)
    }

    /// The mirrors that copy what arrives on `port`.
    pub fn on_arrival(self, port: u32) -> impl Iterator<Item = &'a EngineMirror> {
        self.0.iter().filter(move |m| m.select_src.contains(&port))
    }

    /// The mirrors that copy what leaves by `port`.
    pub fn on_departure(self, port: u32) -> impl Iterator<Item = &'a EngineMirror> {
        self.0.iter().filter(move |m| m.select_dst.contains(&port))
    }
}
