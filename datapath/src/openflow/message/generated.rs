//! Property tests: every message the agent builds, over generated flows,
//! ports and payloads, decodes back to itself. A small deterministic
//! generator (one seed, printed on failure) instead of a property-testing
//! dependency.

use super::*;
use crate::flows::{
    Action, Cookie, Flow, MacAddr, OUTPUT_FOUND, OUTPUT_PORT, PACKET_SOURCE, RegField, TC_ACTION, TC_TARGET,
    Table, VLAN_ID, VlanMatch,
};
use crate::openflow::flow_mod::MatchSpec;

/// xorshift64*: enough to spread cases, reproducible from the seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
    fn chance(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        (0..self.below(max + 1)).map(|_| self.next() as u8).collect()
    }
}

const FIELDS: [RegField; 6] = [PACKET_SOURCE, OUTPUT_FOUND, OUTPUT_PORT, TC_ACTION, TC_TARGET, VLAN_ID];

fn field_value(g: &mut Gen) -> (RegField, u32) {
    let field = FIELDS[g.below(FIELDS.len())];
    (field, g.u32() & (field.mask() >> field.start))
}

fn flow(g: &mut Gen) -> Flow {
    let mut matches = Vec::new();
    if g.chance() {
        matches.push(Match::InPort(g.u32()));
    }
    if g.chance() {
        matches.push(Match::DlDst(MacAddr(std::array::from_fn(|_| g.next() as u8))));
    }
    match g.below(3) {
        0 => matches.push(Match::Vlan(VlanMatch::Id(g.u32() as u16 & 0xfff))),
        1 => matches.push(Match::Vlan(VlanMatch::Tagged)),
        _ => {}
    }
    // One value per register field (two fields of a register combine).
    let mut fields: Vec<(RegField, u32)> = (0..g.below(3)).map(|_| field_value(g)).collect();
    fields.sort_by_key(|(f, _)| *f);
    fields.dedup_by_key(|(f, _)| f.reg);
    matches.extend(fields.into_iter().map(|(f, v)| Match::Reg(f, v)));
    let table = Table::ALL[g.below(Table::ALL.len())];
    let actions = if g.below(8) == 0 { vec![Action::Drop] } else { actions(g) };
    Flow::new(Cookie(g.next()), table, g.u32() as u16, matches, actions)
}

fn actions(g: &mut Gen) -> Vec<Action> {
    let mut actions: Vec<Action> = (0..g.below(4))
        .map(|_| match g.below(6) {
            0 => {
                let (field, value) = field_value(g);
                Action::SetField(field, value)
            }
            1 => Action::OutputReg(FIELDS[g.below(FIELDS.len())]),
            2 => Action::Normal,
            3 => Action::PushVlan,
            4 => Action::SetVlanVid(g.u32() as u16 & 0xfff),
            _ => Action::PopVlan,
        })
        .collect();
    if actions.is_empty() || g.chance() {
        actions.push(Action::GotoTable(Table::ALL[g.below(Table::ALL.len())]));
    }
    actions
}

fn port(g: &mut Gen) -> PortDesc {
    let name: String = (0..g.below(16)).map(|_| char::from(b'a' + g.below(26) as u8)).collect();
    PortDesc {
        port_no: g.u32(),
        hw_addr: std::array::from_fn(|_| g.next() as u8),
        name,
        config: g.u32(),
        state: g.u32(),
    }
}

fn reads_back(seed: u64, version: u8, xid: u32, message: Message) {
    let bytes = encode(version, xid, &message);
    assert_eq!(frame_length(&bytes), Ok(Some(bytes.len())), "SEED={seed}");
    assert_eq!(decode(&bytes), Ok(Frame { version, xid, message }), "SEED={seed}");
}

fn flow_mods(flow: &Flow, g: &mut Gen) -> Vec<FlowMod> {
    vec![
        FlowMod::add(flow),
        FlowMod::modify_strict(flow),
        FlowMod::delete_strict(flow.table.id(), flow.priority, MatchSpec::Fields(flow.matches.clone())),
        FlowMod::delete_by_cookie(flow.cookie.0, g.next()),
    ]
}

#[test]
fn every_message_the_agent_builds_decodes_back_to_itself_for_generated_values() {
    for seed in 1..=400u64 {
        let g = &mut Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let xid = g.u32();
        let flow = flow(g);
        for flow_mod in flow_mods(&flow, g) {
            reads_back(seed, VERSION_1_5, xid, Message::FlowMod(flow_mod.clone()));
            let bundle_id = g.u32();
            let add = encode_bundle_add(
                xid,
                bundle_id,
                BUNDLE_ATOMIC | BUNDLE_ORDERED,
                &Message::FlowMod(flow_mod.clone()),
            );
            let Ok(Frame { message: Message::BundleAdd { message: inner, .. }, xid: outer, .. }) =
                decode(&add)
            else {
                panic!("SEED={seed}: a bundle add decodes as one");
            };
            assert_eq!(outer, xid, "SEED={seed}");
            assert_eq!(
                decode(&inner).map(|f| (f.xid, f.message)),
                Ok((xid, Message::FlowMod(flow_mod))),
                "SEED={seed}"
            );
        }
        let request = MultipartRequest::FlowDesc {
            table_id: g.next() as u8,
            cookie: g.next(),
            cookie_mask: g.next(),
            matches: flow.matches.clone(),
        };
        reads_back(seed, VERSION_1_5, xid, Message::MultipartRequest(request));
        reads_back(seed, VERSION_1_5, xid, Message::MultipartRequest(MultipartRequest::PortDesc));
        let flows = (0..g.below(4)).map(|_| FlowDesc::of(&self::flow(g))).collect();
        let more = g.chance();
        reads_back(
            seed,
            VERSION_1_5,
            xid,
            Message::MultipartReply { more, body: MultipartBody::FlowDesc(flows) },
        );
        let ports = (0..g.below(4)).map(|_| port(g)).collect();
        reads_back(
            seed,
            VERSION_1_5,
            xid,
            Message::MultipartReply { more, body: MultipartBody::PortDesc(ports) },
        );
        let reason = [PortReason::Add, PortReason::Delete, PortReason::Modify][g.below(3)];
        reads_back(seed, VERSION_1_5, xid, Message::PortStatus { reason, port: port(g) });
        let (port_no, mac) = (g.u32() as u16, std::array::from_fn(|_| g.next() as u8));
        for port_mod in [
            PortMod10::no_flood(port_no, mac, g.chance()),
            PortMod10::up(port_no, mac),
            PortMod10::traffic_control_port(port_no, mac),
        ] {
            reads_back(seed, VERSION_1_0, xid, Message::PortMod10(port_mod));
        }
        for version in [VERSION_1_0, VERSION_1_5] {
            reads_back(seed, version, xid, Message::EchoRequest(g.bytes(64)));
            reads_back(seed, version, xid, Message::EchoReply(g.bytes(64)));
            reads_back(seed, version, xid, Message::BarrierRequest);
            let error = SwitchError { kind: g.next() as u16, code: g.next() as u16, data: g.bytes(64) };
            reads_back(seed, version, xid, Message::Error(error));
        }
        reads_back(seed, VERSION_1_5, xid, Message::Hello { versions: Some(g.u32()) });
        reads_back(seed, VERSION_1_0, xid, Message::Hello { versions: None });
        reads_back(seed, VERSION_1_5, xid, Message::FeaturesRequest);
        let op = [
            BundleOp::OpenRequest,
            BundleOp::CloseRequest,
            BundleOp::CommitRequest,
            BundleOp::DiscardRequest,
        ][g.below(4)];
        let flags = g.next() as u16;
        reads_back(seed, VERSION_1_5, xid, Message::BundleControl { bundle_id: g.u32(), op, flags });
        let ask = encode(VERSION_1_5, xid, &Message::SetAsyncPortStatus);
        assert_eq!(set_async_port_status(&ask), Ok(Some(true)), "SEED={seed}");
    }
}
