//! A simulated OpenFlow switch: the subset of ovs-vswitchd's OpenFlow the
//! agent uses, as a deterministic sans-IO core ([`OpenFlowSwitch`]: bytes
//! in per connection, bytes out) and a loop that serves it on any byte
//! stream ([`SharedSwitch::serve`]: an in-memory pipe in tests, turmoil's
//! TCP in the world). It speaks through our own codec
//! (`datapath::openflow`), both directions.
//!
//! What it does, as OVS does it:
//! - hello with a version bitmap; OpenFlow 1.5 and 1.0; no common version
//!   is a hello-failed error, then the connection closes;
//! - features (a fixed datapath id, 254 tables), echo, barrier;
//! - flow_mods (add, strict modify, strict and cookie-masked delete),
//!   alone or in bundles that apply all or nothing, visible to every
//!   connection at once; a flow is (table, priority, match as a set);
//!   fields and instructions the codec does not model are kept as bytes
//!   and dumped back as they came;
//! - flow stats (loose match, cookie mask) in parts of at most 100 flows,
//!   port desc, port status to connections that asked with set-async;
//! - OpenFlow 1.0 port_mod (no-flood, port down) with OVS's checks;
//! - anything else is refused with `OFPBRC_BAD_TYPE`, never a panic.
//!
//! It also holds the bridge's port mirrors as ovs-vswitchd configures
//! them from OVSDB, for the packet engine.
//!
//! Deliberately not: packets (the packet engine's job), timeouts, flow
//! statistics, groups, meters, roles, loose modify, 1.0 flow_mods.
//!
//! Modules: `refusal` (the errors, named), `match_key` (a match as an
//! identity), `flow_table` (flows and flow_mod semantics), `ports` (ports
//! and port_mod), `connection` (one connection's state), `bundle`
//! (bundles), `dispatch` (one message's handling), `serve` (the loop on a
//! stream).

mod bundle;
mod connection;
mod dispatch;
mod flow_table;
mod match_key;
mod ports;
mod refusal;
mod serve;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use datapath::flows::Flow;
use datapath::openflow::DecodeError;
use datapath::openflow::message::{Message, VERSION_1_5};
use datapath::openflow::port::{PortDesc, PortReason};

use super::packet_engine::{EngineMirror, EnginePort, PacketEngine, Verdict};
use connection::Connection;
use flow_table::FlowTable;
pub use ports::PortConfigBits;
use ports::PortTable;
pub use serve::SharedSwitch;

/// Names one connection to the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(u64);

/// Why the switch could not take bytes from a connection.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenFlowSwitchError {
    /// The id was never handed out, or was disconnected since.
    #[error("there is no OpenFlow connection {0:?}")]
    UnknownConnection(ConnectionId),
    /// The switch closed the connection (restart, failed hello, bytes
    /// that cannot be framed); the peer must reconnect.
    #[error("OpenFlow connection {0:?} is closed")]
    Closed(ConnectionId),
    /// A header's length is impossible, so nothing after it can be read;
    /// the switch closed the connection.
    #[error("OpenFlow connection {connection:?} sent bytes that cannot be framed")]
    Unframeable {
        /// The connection, now closed.
        connection: ConnectionId,
        /// What is wrong with the bytes.
        #[source]
        source: DecodeError,
    },
}

/// The switch: flow tables, ports, connections.
#[derive(Debug)]
pub struct OpenFlowSwitch {
    datapath_id: u64,
    flows: FlowTable,
    ports: PortTable,
    connections: BTreeMap<ConnectionId, Connection>,
    next_connection: u64,
    flow_mods_applied: u64,
    /// Flows added, changed or deleted, by the peer whose flow_mods did it
    /// (so an invariant can say who touched the tables).
    flows_changed_by: BTreeMap<String, u64>,
    /// Moves whenever flows, ports, port settings or mirrors change.
    generation: u64,
    engine: PacketEngine,
    /// The bridge's port mirrors, as ovs-vswitchd configured them from
    /// OVSDB (they are not OpenFlow's: a restart keeps them).
    mirrors: Vec<EngineMirror>,
}

impl OpenFlowSwitch {
    /// A switch with no flows, no ports and no connections.
    pub fn new(datapath_id: u64) -> Self {
        OpenFlowSwitch {
            datapath_id,
            flows: FlowTable::default(),
            ports: PortTable::default(),
            connections: BTreeMap::new(),
            next_connection: 1,
            flow_mods_applied: 0,
            flows_changed_by: BTreeMap::new(),
            generation: 0,
            engine: PacketEngine::default(),
            mirrors: Vec::new(),
        }
    }

    /// The datapath id the features reply gives.
    pub fn datapath_id(&self) -> u64 {
        self.datapath_id
    }

    /// Accepts a connection from an unnamed peer; the switch's hello is
    /// queued on it.
    pub fn connect(&mut self) -> ConnectionId {
        self.connect_from("")
    }

    /// Accepts a connection from `peer` (a host's name), whose flow
    /// changes are counted under that name.
    pub fn connect_from(&mut self, peer: &str) -> ConnectionId {
        let id = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.connections.insert(id, Connection::new(peer.to_owned()));
        id
    }

    /// Forgets a connection (the peer went away, or its loop ended); its
    /// open bundles are discarded.
    pub fn disconnect(&mut self, id: ConnectionId) {
        self.connections.remove(&id);
    }

    /// Takes bytes read from connection `id` and handles every whole
    /// message in them; a partial message waits for the rest.
    ///
    /// # Errors
    /// [`OpenFlowSwitchError`] when the connection is unknown or closed, or
    /// the bytes cannot be framed (the connection is closed then). A
    /// message the switch refuses is not an error here: the refusal is an
    /// OpenFlow error message queued for the peer.
    pub fn receive(&mut self, id: ConnectionId, bytes: &[u8]) -> Result<(), OpenFlowSwitchError> {
        let connection = self.connections.get_mut(&id).ok_or(OpenFlowSwitchError::UnknownConnection(id))?;
        if connection.closed {
            return Err(OpenFlowSwitchError::Closed(id));
        }
        connection.push_incoming(bytes);
        loop {
            let Some(connection) = self.connections.get_mut(&id) else { return Ok(()) };
            if connection.closed {
                return Ok(());
            }
            match connection.next_frame() {
                Ok(Some(frame)) => self.handle(id, &frame),
                Ok(None) => return Ok(()),
                Err(source) => {
                    connection.close_abruptly();
                    return Err(OpenFlowSwitchError::Unframeable { connection: id, source });
                }
            }
        }
    }

    /// The bytes to write to connection `id` (empties its queue).
    pub fn take_outgoing(&mut self, id: ConnectionId) -> Vec<u8> {
        self.connections.get_mut(&id).map(Connection::take_outgoing).unwrap_or_default()
    }

    /// Whether the switch closed connection `id` (an unknown id counts as
    /// closed): its loop should write what is left and end.
    pub fn is_closed(&self, id: ConnectionId) -> bool {
        self.connections.get(&id).is_none_or(|c| c.closed)
    }

    /// Connections the switch has not closed.
    pub fn open_connections(&self) -> usize {
        self.connections.values().filter(|c| !c.closed).count()
    }

    /// Adds a port that is up and floods; connections that asked get a
    /// port status (ADD, or MODIFY when `ofport` existed).
    pub fn add_port(&mut self, ofport: u32, name: &str, hw_addr: [u8; 6]) {
        self.add_port_with_config(ofport, name, hw_addr, PortConfigBits::default());
    }

    /// Adds a port with `config` (e.g. an internal port whose device is
    /// still down); a restart returns it to this config.
    pub fn add_port_with_config(
        &mut self,
        ofport: u32,
        name: &str,
        hw_addr: [u8; 6],
        config: PortConfigBits,
    ) {
        let replaced = self.ports.add(ofport, name, hw_addr, config);
        self.generation += 1;
        let reason = if replaced { PortReason::Modify } else { PortReason::Add };
        if let Some(desc) = self.ports.desc(ofport) {
            self.port_status(reason, &desc, None);
        }
    }

    /// Removes a port; connections that asked get a port status (DELETE).
    /// `false` when there was no such port.
    pub fn remove_port(&mut self, ofport: u32) -> bool {
        match self.ports.remove(ofport) {
            Some(desc) => {
                self.generation += 1;
                self.port_status(PortReason::Delete, &desc, None);
                true
            }
            None => false,
        }
    }

    /// A port's config bits, as the last port_mod left them.
    pub fn port_config(&self, ofport: u32) -> Option<PortConfigBits> {
        self.ports.config(ofport)
    }

    /// Every port as a 1.5 port desc dump shows it, in ofport order.
    pub fn ports(&self) -> Vec<PortDesc> {
        self.ports.descs()
    }

    /// Limits every table to `limit` flows (`None`: no limit): an add past
    /// it fails with `OFPFMFC_TABLE_FULL`, at commit time in a bundle.
    pub fn set_flow_limit(&mut self, limit: Option<usize>) {
        self.flows.set_limit(limit);
    }

    /// What an ovs-vswitchd restart does to OpenFlow: every flow and every
    /// port's config is gone, and every connection is closed (what was
    /// queued on them is lost). Ports stay: they come from OVSDB. The
    /// count of applied flow_mods is the simulation's and stays.
    pub fn restart(&mut self) {
        self.generation += 1;
        self.flows.clear();
        self.ports.reset_config();
        self.engine.forget();
        for connection in self.connections.values_mut() {
            connection.close_abruptly();
        }
    }

    /// A frame arrives on port `in_port`: where the flow tables send it.
    pub fn inject(&mut self, in_port: u32, frame: &[u8]) -> Verdict {
        let ports: Vec<EnginePort> = self
            .ports
            .descs()
            .iter()
            .map(|desc| {
                let config = self.ports.config(desc.port_no).unwrap_or_default();
                EnginePort { ofport: desc.port_no, no_flood: config.no_flood, down: config.down }
            })
            .collect();
        let flows = self.flows.typed();
        self.engine.process(&flows, &ports, &self.mirrors, in_port, frame)
    }

    /// Configures the bridge's port mirrors (ovs-vswitchd reading the
    /// `Mirror` table); the generation moves when they change.
    pub fn set_mirrors(&mut self, mirrors: Vec<EngineMirror>) {
        if self.mirrors != mirrors {
            self.mirrors = mirrors;
            self.generation += 1;
        }
    }

    /// The bridge's port mirrors, as configured.
    pub fn mirrors(&self) -> &[EngineMirror] {
        &self.mirrors
    }

    /// The flows the pipeline's model can represent, in dump order.
    pub fn flows(&self) -> Vec<Flow> {
        self.flows.typed()
    }

    /// How many flows the switch holds (including ones the model cannot
    /// represent).
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Every flow as `ovs-ofctl dump-flows --no-stats` prints it, one line
    /// each, in dump order. A flow the model cannot represent prints its
    /// foreign fields as `oxm(class:field)=hex` and foreign instructions as
    /// `raw(hex)`.
    pub fn dump_flows_text(&self) -> String {
        self.flows.text()
    }

    /// flow_mods applied since the switch was made: direct ones, and each
    /// one of a committed bundle (a refused bundle applies none).
    pub fn flow_mods_applied(&self) -> u64 {
        self.flow_mods_applied
    }

    /// How many flows `peer`'s flow_mods added, changed or deleted (an add
    /// that replaces an identical flow counts: it was sent).
    pub fn flows_changed_by(&self, peer: &str) -> u64 {
        self.flows_changed_by.get(peer).copied().unwrap_or(0)
    }

    /// Counts `changed` flows against connection `id`'s peer.
    fn note_flow_changes(&mut self, id: ConnectionId, changed: usize) {
        let Some(peer) = self.connections.get(&id).map(|c| c.peer.clone()) else { return };
        *self.flows_changed_by.entry(peer).or_default() += changed as u64;
    }

    /// A number that moves whenever flows, ports, port settings or mirrors
    /// change (and only then): what invariant checks watch.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Sends a port status to every connection that asked for them (with
    /// set-async: OVS sends a service connection, such as the bridge's
    /// `.mgmt` socket, no asynchronous message it did not ask for; a 1.0
    /// connection cannot ask). `source` is the connection whose port_mod
    /// caused it: before 1.5, OVS does not send it back there.
    fn port_status(&mut self, reason: PortReason, port: &PortDesc, source: Option<ConnectionId>) {
        let message = Message::PortStatus { reason, port: port.clone() };
        for (id, connection) in &mut self.connections {
            let echo_to_source = Some(*id) == source && connection.version < Some(VERSION_1_5);
            if !connection.closed && connection.port_status && !echo_to_source {
                connection.send(0, &message);
            }
        }
    }
}
