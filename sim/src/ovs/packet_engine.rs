//! The packet engine: runs a frame through the switch's flow tables from
//! an ingress port and says which ports it leaves by, the way
//! ovs-vswitchd's userspace datapath would for the subset the pipelines
//! here use (DESIGN §3): matches on `in_port`, registers, the VLAN tag and
//! `dl_dst`; actions `set_field` on registers, `goto_table`, `output:reg`,
//! `NORMAL`, `drop`, and `push_vlan`/`set_field:vlan_vid`/`pop_vlan`,
//! which change the tag later matches see; and the bridge's port mirrors
//! (`mirrors`: the `Mirror` table's semantics, which a shared bridge
//! realizes Mirror with). The simulated bridges have no VLANs, so `NORMAL`
//! and the mirrors ignore tags, and outputs are ports, not frames.
//!
//! OVS's rules that matter to mirroring, modelled here: a packet never
//! leaves by the port it came in on (neither `output` nor `NORMAL` sends it
//! back); output to a port that does not exist or is down is dropped;
//! `NORMAL` learns source MACs, forwards to the learned port and floods
//! the others (not to ports with `no-flood`, nor to a mirror's output
//! port) when the destination is unknown, broadcast or multicast; a table
//! without a matching flow drops.

mod mirrors;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use datapath::flows::{Action, Flow, Match, Table, VlanMatch};

pub use mirrors::EngineMirror;
use mirrors::Mirrors;

/// A bridge port as the engine needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnginePort {
    /// Its OpenFlow port number.
    pub ofport: u32,
    /// Excluded from `NORMAL`'s floods.
    pub no_flood: bool,
    /// Administratively down: nothing leaves by it.
    pub down: bool,
}

/// What became of one packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The ports it left by, in the order the actions (and mirrors) sent
    /// it; a mirror's copy is one of them.
    pub outputs: Vec<u32>,
    /// The flows it hit, in dump-flows text, and the mirrors that copied
    /// it (for failure messages).
    pub hits: Vec<String>,
}

/// The engine's memory: `NORMAL`'s MAC learning table.
#[derive(Clone, Debug, Default)]
pub struct PacketEngine {
    learned: BTreeMap<[u8; 6], u32>,
}

/// Registers 0..=15 (the pipeline uses 0, 1, 4 and 9).
type Registers = [u32; 16];

/// The bridge as one packet sees it, and where the packet went so far.
struct Delivery<'a> {
    ports: &'a [EnginePort],
    mirrors: Mirrors<'a>,
    in_port: u32,
    verdict: Verdict,
    /// Mirror output ports that already have their copy.
    mirrored: BTreeSet<u32>,
}

impl PacketEngine {
    /// Forgets every learned MAC (ovs-vswitchd restarted).
    pub fn forget(&mut self) {
        self.learned.clear();
    }

    /// Runs `frame`, received on `in_port`, through `mirrors` and `flows`.
    pub fn process(
        &mut self,
        flows: &[Flow],
        ports: &[EnginePort],
        mirrors: &[EngineMirror],
        in_port: u32,
        frame: &[u8],
    ) -> Verdict {
        let mut delivery = Delivery {
            ports,
            mirrors: Mirrors(mirrors),
            in_port,
            verdict: Verdict::default(),
            mirrored: BTreeSet::new(),
        };
        let Some(dl_dst) = mac_at(frame, 0) else { return delivery.verdict };
        let dl_src = mac_at(frame, 6).unwrap_or([0; 6]);
        if delivery.mirrors.reserves(in_port) {
            delivery.verdict.hits.push(format!("received on mirror output port {in_port}: dropped"));
            return delivery.verdict;
        }
        for mirror in delivery.mirrors.on_arrival(in_port) {
            delivery.mirror(mirror);
        }
        let mut vlan = tag_of(frame);
        let mut registers: Registers = [0; 16];
        let mut table = Some(Table::Classifier);
        while let Some(current) = table.take() {
            let packet = Packet { in_port, registers: &registers, vlan, dl_dst };
            let Some(flow) = lookup(flows, current, &packet) else { break };
            delivery.verdict.hits.push(flow.to_string());
            for action in &flow.actions {
                match *action {
                    Action::SetField(field, value) => {
                        let register = &mut registers[usize::from(field.reg)];
                        *register = (*register & !field.mask()) | ((value << field.start) & field.mask());
                    }
                    Action::GotoTable(next) => table = Some(next),
                    Action::OutputReg(field) => {
                        let port = (registers[usize::from(field.reg)] & field.mask()) >> field.start;
                        delivery.output(port);
                    }
                    Action::Normal => self.normal(&mut delivery, dl_src, dl_dst),
                    Action::Drop => return delivery.verdict,
                    Action::PushVlan => vlan = Some(0),
                    Action::SetVlanVid(vid) => vlan = vlan.map(|_| vid),
                    Action::PopVlan => vlan = None,
                }
            }
        }
        delivery.verdict
    }

    fn normal(&mut self, delivery: &mut Delivery<'_>, src: [u8; 6], dst: [u8; 6]) {
        let in_port = delivery.in_port;
        if src[0] & 1 == 0 {
            self.learned.insert(src, in_port);
        }
        let known = (dst[0] & 1 == 0).then(|| self.learned.get(&dst).copied()).flatten();
        match known {
            // OVS drops rather than floods: "learned port is a mirror port".
            Some(port) if delivery.mirrors.reserves(port) => {}
            Some(port) => delivery.output(port),
            None => {
                let flooded: Vec<u32> = delivery
                    .ports
                    .iter()
                    .filter(|p| !p.no_flood && p.ofport != in_port && !delivery.mirrors.reserves(p.ofport))
                    .map(|p| p.ofport)
                    .collect();
                for port in flooded {
                    delivery.output(port);
                }
            }
        }
    }
}

impl<'a> Delivery<'a> {
    /// The packet leaves by `port` (an `output` action, `NORMAL`, or a
    /// mirror's copy), then the mirrors that select `port` copy it.
    fn output(&mut self, port: u32) {
        if port == self.in_port {
            return;
        }
        let Some(found) = self.ports.iter().find(|p| p.ofport == port) else { return };
        if !found.down {
            self.verdict.outputs.push(port);
        }
        // OVS mirrors an output to a port that is down too: the output
        // action is there, the device drops it.
        let mirrors = self.mirrors;
        for mirror in mirrors.on_departure(port) {
            self.mirror(mirror);
        }
    }

    /// One copy to `mirror`'s output port, unless it has one already.
    fn mirror(&mut self, mirror: &'a EngineMirror) {
        if self.mirrored.insert(mirror.output) {
            self.verdict.hits.push(format!("mirror {}: copy to {}", mirror.name, mirror.output));
            self.output(mirror.output);
        }
    }
}

/// What flows match on, at one table.
struct Packet<'a> {
    in_port: u32,
    registers: &'a Registers,
    /// The outer tag's VLAN ID, if tagged.
    vlan: Option<u16>,
    dl_dst: [u8; 6],
}

/// The highest-priority flow of `table` that matches.
fn lookup<'a>(flows: &'a [Flow], table: Table, packet: &Packet<'_>) -> Option<&'a Flow> {
    flows
        .iter()
        .filter(|flow| flow.table == table)
        .filter(|flow| {
            flow.matches.iter().all(|m| match *m {
                Match::InPort(port) => port == packet.in_port,
                Match::Reg(field, value) => {
                    packet.registers[usize::from(field.reg)] & field.mask()
                        == (value << field.start) & field.mask()
                }
                Match::Vlan(VlanMatch::Id(vid)) => packet.vlan == Some(vid),
                Match::Vlan(VlanMatch::Tagged) => packet.vlan.is_some(),
                Match::DlDst(mac) => mac.0 == packet.dl_dst,
            })
        })
        // Equal priorities that overlap are undefined in OpenFlow; the
        // planner never makes them, and the first keeps runs repeatable.
        .max_by_key(|flow| (flow.priority, std::cmp::Reverse(flow.key())))
}

/// The VLAN ID of an 802.1Q-tagged frame.
fn tag_of(frame: &[u8]) -> Option<u16> {
    match frame.get(12..16)? {
        [0x81, 0x00, high, low] => Some(u16::from_be_bytes([*high, *low]) & 0xfff),
        _ => None,
    }
}

fn mac_at(frame: &[u8], at: usize) -> Option<[u8; 6]> {
    frame.get(at..at + 6).and_then(|b| b.try_into().ok())
}
