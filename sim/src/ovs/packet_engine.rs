//! The packet engine: runs a frame through the switch's flow tables from
//! an ingress port and says which ports it leaves by, the way
//! ovs-vswitchd's userspace datapath would for the subset the pipeline
//! uses (DESIGN §3): matches on `in_port`, registers, the VLAN tag and
//! `dl_dst`; actions `set_field` on registers, `goto_table`, `output:reg`,
//! `NORMAL`, `drop`, and `push_vlan`/`set_field:vlan_vid`/`pop_vlan`,
//! which change the tag later matches see. The simulated bridges have no
//! VLANs, so `NORMAL` ignores tags and outputs are ports, not frames.
//!
//! OVS's rules that matter to mirroring, modelled here: a packet never
//! leaves by the port it came in on (neither `output` nor `NORMAL` sends it
//! back); output to a port that does not exist or is down is dropped;
//! `NORMAL` learns source MACs, forwards to the learned port and floods
//! the others (not to ports with `no-flood`) when the destination is
//! unknown, broadcast or multicast; a table without a matching flow drops.

use std::collections::BTreeMap;

use datapath::flows::{Action, Flow, Match, Table, VlanMatch};

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
    /// The ports it left by, in the order the actions sent it.
    pub outputs: Vec<u32>,
    /// The flows it hit, in dump-flows text (for failure messages).
    pub hits: Vec<String>,
}

/// The engine's memory: `NORMAL`'s MAC learning table.
#[derive(Clone, Debug, Default)]
pub struct PacketEngine {
    learned: BTreeMap<[u8; 6], u32>,
}

/// Registers 0..=15 (the pipeline uses 0, 1, 4 and 9).
type Registers = [u32; 16];

impl PacketEngine {
    /// Forgets every learned MAC (ovs-vswitchd restarted).
    pub fn forget(&mut self) {
        self.learned.clear();
    }

    /// Runs `frame`, received on `in_port`, through `flows`.
    pub fn process(&mut self, flows: &[Flow], ports: &[EnginePort], in_port: u32, frame: &[u8]) -> Verdict {
        let mut verdict = Verdict::default();
        let Some(dl_dst) = mac_at(frame, 0) else { return verdict };
        let dl_src = mac_at(frame, 6).unwrap_or([0; 6]);
        let mut vlan = tag_of(frame);
        let mut registers: Registers = [0; 16];
        let mut table = Some(Table::Classifier);
        while let Some(current) = table.take() {
            let packet = Packet { in_port, registers: &registers, vlan, dl_dst };
            let Some(flow) = lookup(flows, current, &packet) else { break };
            verdict.hits.push(flow.to_string());
            for action in &flow.actions {
                match *action {
                    Action::SetField(field, value) => {
                        let register = &mut registers[usize::from(field.reg)];
                        *register = (*register & !field.mask()) | ((value << field.start) & field.mask());
                    }
                    Action::GotoTable(next) => table = Some(next),
                    Action::OutputReg(field) => {
                        let port = (registers[usize::from(field.reg)] & field.mask()) >> field.start;
                        output(ports, in_port, port, &mut verdict.outputs);
                    }
                    Action::Normal => self.normal(ports, in_port, dl_src, dl_dst, &mut verdict.outputs),
                    Action::Drop => return verdict,
                    Action::PushVlan => vlan = Some(0),
                    Action::SetVlanVid(vid) => vlan = vlan.map(|_| vid),
                    Action::PopVlan => vlan = None,
                }
            }
        }
        verdict
    }

    fn normal(&mut self, ports: &[EnginePort], in_port: u32, src: [u8; 6], dst: [u8; 6], out: &mut Vec<u32>) {
        if src[0] & 1 == 0 {
            self.learned.insert(src, in_port);
        }
        let known = (dst[0] & 1 == 0).then(|| self.learned.get(&dst).copied()).flatten();
        match known {
            Some(port) => output(ports, in_port, port, out),
            None => {
                for port in ports.iter().filter(|p| !p.no_flood && p.ofport != in_port) {
                    output(ports, in_port, port.ofport, out);
                }
            }
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

fn output(ports: &[EnginePort], in_port: u32, port: u32, out: &mut Vec<u32>) {
    if port == in_port {
        return;
    }
    if ports.iter().any(|p| p.ofport == port && !p.down) {
        out.push(port);
    }
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

#[cfg(test)]
mod tests {
    use datapath::flows::{Cookie, MacAddr, OUTPUT_FOUND, OUTPUT_PORT, TC_TARGET};

    use super::*;

    const BROADCAST: [u8; 6] = [0xff; 6];

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut frame = dst.to_vec();
        frame.extend(src);
        frame.extend([0x08, 0x00]);
        frame
    }

    fn ports(numbers: &[u32]) -> Vec<EnginePort> {
        numbers.iter().map(|&ofport| EnginePort { ofport, no_flood: false, down: false }).collect()
    }

    fn flow(table: Table, priority: u16, matches: Vec<Match>, actions: Vec<Action>) -> Flow {
        Flow::new(Cookie::pipeline(), table, priority, matches, actions)
    }

    #[test]
    fn registers_carry_values_between_tables_and_output_reads_them() {
        let flows = [
            flow(Table::Classifier, 0, vec![], vec![Action::GotoTable(Table::L2ForwardingCalc)]),
            flow(
                Table::L2ForwardingCalc,
                200,
                vec![Match::DlDst(MacAddr([2, 0, 0, 0, 0, 2]))],
                vec![
                    Action::SetField(OUTPUT_PORT, 2),
                    Action::SetField(OUTPUT_FOUND, 1),
                    Action::GotoTable(Table::Output),
                ],
            ),
            flow(
                Table::Output,
                200,
                vec![Match::Reg(OUTPUT_FOUND, 1)],
                vec![Action::OutputReg(OUTPUT_PORT), Action::OutputReg(TC_TARGET)],
            ),
            flow(Table::Output, 0, vec![], vec![Action::Normal]),
        ];
        let mut engine = PacketEngine::default();
        let verdict = engine.process(&flows, &ports(&[1, 2, 3]), 1, &frame([2, 0, 0, 0, 0, 2], [2; 6]));
        // reg9 is 0: no port 0, nothing sent there.
        assert_eq!(verdict.outputs, [2]);
        assert_eq!(verdict.hits.len(), 3);
    }

    #[test]
    fn normal_floods_the_unknown_except_in_port_and_no_flood_ports_then_learns() {
        let flows = [flow(Table::Classifier, 0, vec![], vec![Action::Normal])];
        let mut ports = ports(&[1, 2, 3, 4]);
        ports[3].no_flood = true;
        let mut engine = PacketEngine::default();
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        assert_eq!(engine.process(&flows, &ports, 1, &frame(BROADCAST, a)).outputs, [2, 3]);
        assert_eq!(engine.process(&flows, &ports, 2, &frame(a, b)).outputs, [1], "a was learned on 1");
        assert_eq!(engine.process(&flows, &ports, 3, &frame(b, a)).outputs, [2], "b was learned on 2");
        engine.forget();
        assert_eq!(engine.process(&flows, &ports, 3, &frame(b, a)).outputs, [1, 2]);
    }

    #[test]
    fn vlan_matches_see_the_frames_tag_as_the_actions_change_it() {
        let tagged = |vid| Match::Vlan(VlanMatch::Id(vid));
        let flows = [
            flow(
                Table::Classifier,
                20,
                vec![tagged(10)],
                vec![Action::PopVlan, Action::GotoTable(Table::Output)],
            ),
            flow(
                Table::Classifier,
                10,
                vec![],
                vec![Action::PushVlan, Action::SetVlanVid(20), Action::GotoTable(Table::Output)],
            ),
            flow(
                Table::Output,
                20,
                vec![tagged(20)],
                vec![Action::SetField(OUTPUT_PORT, 2), Action::OutputReg(OUTPUT_PORT)],
            ),
            flow(Table::Output, 10, vec![Match::Vlan(VlanMatch::Tagged)], vec![Action::Drop]),
            flow(
                Table::Output,
                0,
                vec![],
                vec![Action::SetField(OUTPUT_PORT, 3), Action::OutputReg(OUTPUT_PORT)],
            ),
        ];
        let mut engine = PacketEngine::default();
        let untagged = frame([2, 0, 0, 0, 0, 9], [2; 6]);
        let mut vlan10 = untagged[..12].to_vec();
        vlan10.extend([0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        let all = ports(&[1, 2, 3]);
        assert_eq!(engine.process(&flows, &all, 1, &untagged).outputs, [2], "pushed and set to 20");
        assert_eq!(engine.process(&flows, &all, 1, &vlan10).outputs, [3], "popped");
    }

    #[test]
    fn nothing_goes_back_out_of_its_in_port_to_a_missing_port_or_after_a_drop() {
        let flows = [
            flow(Table::Classifier, 10, vec![Match::InPort(3)], vec![Action::Drop]),
            flow(
                Table::Classifier,
                0,
                vec![],
                vec![Action::SetField(OUTPUT_PORT, 1), Action::GotoTable(Table::Output)],
            ),
            flow(
                Table::Output,
                0,
                vec![],
                vec![Action::OutputReg(OUTPUT_PORT), Action::OutputReg(TC_TARGET)],
            ),
        ];
        let mut engine = PacketEngine::default();
        let any = frame([2, 0, 0, 0, 0, 9], [2; 6]);
        assert!(engine.process(&flows, &ports(&[1, 2, 3]), 1, &any).outputs.is_empty(), "in_port");
        assert_eq!(engine.process(&flows, &ports(&[1, 2, 3]), 2, &any).outputs, [1]);
        assert!(engine.process(&flows, &ports(&[2, 3]), 2, &any).outputs.is_empty(), "port 1 is gone");
        assert!(engine.process(&flows, &ports(&[1, 2, 3]), 3, &any).outputs.is_empty(), "dropped");
        assert!(engine.process(&[], &ports(&[1, 2]), 2, &any).outputs.is_empty(), "table miss");
        assert!(engine.process(&flows, &ports(&[1, 2]), 2, &[0; 5]).outputs.is_empty(), "runt");
    }
}
