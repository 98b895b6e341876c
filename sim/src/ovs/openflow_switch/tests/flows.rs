//! flow_mods one at a time, and flow stats: identity, add, strict modify,
//! deletes, flows the model cannot represent, checks, dumps.

use datapath::flows::{
    Action, Cookie, Flow, Match, OUTPUT_FOUND, OUTPUT_PORT, PACKET_SOURCE, RegField, Table,
};
use datapath::openflow::flow_mod::{FlowMod, MatchSpec};
use datapath::openflow::message::{self, Frame, Message, MultipartBody, MultipartRequest, VERSION_1_5};
use datapath::openflow::oxm;
use datapath::openflow::wire::Writer;

use super::{DATAPATH_ID, Peer, classifier, frames, kind_code, output};
use crate::ovs::openflow_switch::OpenFlowSwitch;

/// apply_actions(output:5): an action the pipeline never makes.
const OUTPUT_5: [u8; 24] = [0, 4, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
/// eth_type=0x0800: a match field the codec does not model.
const ETH_TYPE_IP: [u8; 6] = [0x80, 0x00, 0x0a, 0x02, 0x08, 0x00];

fn switch_and_peer() -> (OpenFlowSwitch, Peer) {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let peer = Peer::connect(&mut switch, VERSION_1_5);
    (switch, peer)
}

/// A frame with `instructions` appended (and its length fixed).
fn with_instructions(mut frame: Vec<u8>, instructions: &[u8]) -> Vec<u8> {
    frame.extend_from_slice(instructions);
    let len = u16::try_from(frame.len()).unwrap().to_be_bytes();
    frame[2..4].copy_from_slice(&len);
    frame
}

#[test]
fn an_add_of_the_same_identity_replaces_its_cookie_and_actions() {
    let (mut switch, peer) = switch_and_peer();
    let first = classifier(4, Cookie::pipeline());
    let second = Flow { actions: vec![Action::Drop], ..classifier(4, Cookie::port()) };
    peer.flow_mods(&mut switch, &[FlowMod::add(&first), FlowMod::add(&second)]);
    assert_eq!(switch.flows(), [second]);
    assert_eq!(switch.flow_mods_applied(), 2);
}

#[test]
fn a_match_is_a_set_of_fields_however_it_is_written() {
    let (mut switch, peer) = switch_and_peer();
    let flow = Flow::new(
        Cookie::pipeline(),
        Table::TrafficControl,
        100,
        vec![Match::Reg(OUTPUT_PORT, 3), Match::InPort(4)],
        vec![Action::GotoTable(Table::Output)],
    );
    let reversed = FlowMod {
        matches: MatchSpec::Fields(vec![Match::InPort(4), Match::Reg(OUTPUT_PORT, 3)]),
        ..FlowMod::add(&flow)
    };
    peer.flow_mods(&mut switch, &[FlowMod::add(&flow), reversed]);
    assert_eq!(switch.flow_count(), 1);
    let dumped = peer.dump_all(&mut switch);
    assert_eq!(dumped[0].flow(), Some(flow.clone()));
    // OVS reports registers as packet registers: other bytes, same match.
    let mut sent = Writer::new();
    flow.matches.iter().for_each(|m| oxm::write_match_field(&mut sent, m));
    assert_ne!(dumped[0].raw_match, sent.finish());
    let delete = FlowMod::delete_strict(2, 100, MatchSpec::Raw(dumped[0].raw_match.clone()));
    peer.flow_mods(&mut switch, &[delete]);
    assert_eq!(switch.flow_count(), 0);
}

#[test]
fn a_strict_modify_changes_the_actions_keeps_the_cookie_and_adds_nothing() {
    let (mut switch, peer) = switch_and_peer();
    peer.flow_mods(&mut switch, &[FlowMod::add(&classifier(4, Cookie::pipeline()))]);
    let changed = Flow { actions: vec![Action::Normal], ..classifier(4, Cookie::port()) };
    let absent = classifier(5, Cookie::pipeline());
    peer.flow_mods(&mut switch, &[FlowMod::modify_strict(&changed), FlowMod::modify_strict(&absent)]);
    // OpenFlow 1.2+ (and OVS): the cookie only selects, nothing is added.
    assert_eq!(switch.flows(), [Flow { cookie: Cookie::pipeline(), ..changed }]);
    assert_eq!(switch.flow_mods_applied(), 3, "a modify that finds nothing is still applied");
}

#[test]
fn a_strict_delete_removes_only_its_exact_identity() {
    let (mut switch, peer) = switch_and_peer();
    let high = classifier(4, Cookie::pipeline());
    let low = Flow { priority: 100, ..high.clone() };
    let wider = Flow::new(Cookie::pipeline(), Table::Classifier, 190, vec![], vec![Action::Drop]);
    let other_table = Flow { table: Table::TrafficControl, actions: vec![Action::Drop], ..high.clone() };
    let flows = [&high, &low, &wider, &other_table].map(FlowMod::add);
    peer.flow_mods(&mut switch, &flows);
    peer.flow_mods(&mut switch, &[FlowMod::delete_strict(0, 190, MatchSpec::Fields(vec![Match::InPort(4)]))]);
    assert_eq!(switch.flows(), [wider.clone(), low.clone(), other_table]);
    // In every table at once with OFPTT_ALL.
    peer.flow_mods(
        &mut switch,
        &[FlowMod::delete_strict(0xff, 190, MatchSpec::Fields(vec![Match::InPort(4)]))],
    );
    assert_eq!(switch.flows(), [wider, low]);
}

#[test]
fn a_cookie_masked_delete_removes_those_cookies_in_every_table() {
    let (mut switch, peer) = switch_and_peer();
    let foreign = classifier(9, Cookie(0x1234));
    let flows =
        [classifier(4, Cookie::pipeline()), classifier(5, Cookie::port()), output(3), foreign.clone()];
    peer.flow_mods(&mut switch, &flows.each_ref().map(FlowMod::add));
    peer.flow_mods(&mut switch, &[FlowMod::delete_by_cookie(Cookie::pipeline().0, Cookie::EXACT_MASK)]);
    assert_eq!(switch.flows(), [classifier(5, Cookie::port()), foreign.clone()]);
    peer.flow_mods(&mut switch, &[FlowMod::delete_by_cookie(Cookie::AGENT, Cookie::AGENT_MASK)]);
    assert_eq!(switch.flows(), [foreign], "not the agent's: untouched");
}

#[test]
fn flows_the_model_cannot_represent_are_dumped_as_they_came_and_can_be_deleted() {
    let (mut switch, peer) = switch_and_peer();
    let mut raw_match = ETH_TYPE_IP.to_vec();
    raw_match.extend([0x80, 0x00, 0x00, 0x04, 0, 0, 0, 4]); // in_port=4
    let flow_mod = FlowMod {
        matches: MatchSpec::Raw(raw_match),
        actions: vec![],
        ..FlowMod::add(&classifier(4, Cookie(0x99)))
    };
    let frame = with_instructions(message::encode(VERSION_1_5, 7, &Message::FlowMod(flow_mod)), &OUTPUT_5);
    assert_eq!(peer.send_bytes(&mut switch, &frame), []);

    let request = MultipartRequest::FlowDesc { table_id: 0xff, cookie: 0, cookie_mask: 0, matches: vec![] };
    switch.receive(peer.id, &message::encode(VERSION_1_5, 8, &Message::MultipartRequest(request))).unwrap();
    let reply = switch.take_outgoing(peer.id);
    assert!(reply.windows(OUTPUT_5.len()).any(|w| w == OUTPUT_5), "instructions as they came");
    let descs = peer.dump_all(&mut switch);
    let [desc] = descs.as_slice() else { panic!("{descs:?}") };
    assert!(desc.raw_match.windows(ETH_TYPE_IP.len()).any(|w| w == ETH_TYPE_IP), "the field as it came");
    assert_eq!((desc.flow(), desc.actions.clone()), (None, Err("output to port 5".to_owned())));
    assert!(switch.flows().is_empty());
    assert_eq!(
        switch.dump_flows_text(),
        format!(
            "cookie=0x99, priority=190,in_port=4,oxm(0x8000:5)=0800 actions=raw({})\n",
            OUTPUT_5.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    );
    // The agent deletes what it cannot read by the bytes it was shown.
    peer.flow_mods(&mut switch, &[FlowMod::delete_strict(0, 190, MatchSpec::Raw(desc.raw_match.clone()))]);
    assert_eq!(switch.flow_count(), 0);
}

#[test]
fn a_register_matched_twice_is_refused_as_ovs_refuses_it() {
    let (mut switch, peer) = switch_and_peer();
    let twice = Flow::new(
        Cookie::pipeline(),
        Table::Output,
        300,
        vec![Match::Reg(PACKET_SOURCE, 3), Match::Reg(OUTPUT_FOUND, 1)],
        vec![Action::Normal],
    );
    let answers = peer.send(&mut switch, 21, &Message::FlowMod(FlowMod::add(&twice)));
    assert_eq!(answers.iter().map(kind_code).collect::<Vec<_>>(), [(4, 10)], "OFPBMC_DUP_FIELD");
    assert_eq!(answers[0].xid, 21);
    assert_eq!((switch.flow_count(), switch.flow_mods_applied()), (0, 0));
}

#[test]
fn goto_table_must_go_forward_and_tables_must_exist() {
    let (mut switch, peer) = switch_and_peer();
    let back = Flow::new(
        Cookie::pipeline(),
        Table::TrafficControl,
        1,
        vec![],
        vec![Action::GotoTable(Table::Classifier)],
    );
    let same = Flow { actions: vec![Action::GotoTable(Table::TrafficControl)], ..back.clone() };
    let answers = peer.send(&mut switch, 1, &Message::FlowMod(FlowMod::add(&back)));
    assert_eq!(answers.iter().map(kind_code).collect::<Vec<_>>(), [(3, 2)], "OFPBIC_BAD_TABLE_ID");
    let answers = peer.send(&mut switch, 2, &Message::FlowMod(FlowMod::add(&same)));
    assert_eq!(answers.iter().map(kind_code).collect::<Vec<_>>(), [(3, 2)]);
    let nowhere = FlowMod { table_id: 254, actions: vec![], ..FlowMod::add(&back) };
    let answers = peer.send(&mut switch, 3, &Message::FlowMod(nowhere));
    assert_eq!(answers.iter().map(kind_code).collect::<Vec<_>>(), [(5, 2)], "OFPFMFC_BAD_TABLE_ID");
    assert_eq!(switch.flow_count(), 0);
    // Output to a port that does not exist is fine, as in OVS.
    peer.flow_mods(&mut switch, &[FlowMod::add(&output(4242))]);
    assert_eq!(switch.flow_count(), 1);
}

#[test]
fn dumps_select_by_table_cookie_and_loose_match() {
    let (mut switch, peer) = switch_and_peer();
    let flows = [classifier(4, Cookie::pipeline()), classifier(5, Cookie::port()), output(3), output(4)];
    peer.flow_mods(&mut switch, &flows.each_ref().map(FlowMod::add));
    let selected = |switch: &mut OpenFlowSwitch, cookie, mask, matches| -> Vec<Flow> {
        peer.dump(switch, cookie, mask, matches).0.iter().filter_map(|d| d.flow()).collect()
    };
    assert_eq!(selected(&mut switch, 0, 0, vec![Match::InPort(4)]), [flows[0].clone()]);
    // reg1[0..7]=4 is looser than reg1=4: the flow matches on at least it.
    let low_bits = Match::Reg(RegField { reg: 1, start: 0, end: 7 }, 4);
    assert_eq!(selected(&mut switch, 0, 0, vec![low_bits]), [flows[3].clone()]);
    assert_eq!(selected(&mut switch, 0, 0, vec![Match::Reg(OUTPUT_PORT, 5)]), []);
    assert_eq!(
        selected(&mut switch, Cookie::pipeline().0, u64::MAX, vec![]),
        [flows[0].clone(), flows[2].clone(), flows[3].clone()]
    );
    let request = MultipartRequest::FlowDesc { table_id: 3, cookie: 0, cookie_mask: 0, matches: vec![] };
    let answers = peer.send(&mut switch, 5, &Message::MultipartRequest(request));
    let [Frame { message: Message::MultipartReply { body: MultipartBody::FlowDesc(descs), .. }, .. }] =
        answers.as_slice()
    else {
        panic!("{answers:?}")
    };
    assert_eq!(
        descs.iter().filter_map(|d| d.flow()).collect::<Vec<_>>(),
        [flows[2].clone(), flows[3].clone()]
    );
}

#[test]
fn a_large_dump_comes_in_parts_of_a_hundred_in_dump_order() {
    let (mut switch, peer) = switch_and_peer();
    let flows: Vec<Flow> = (1..=250).rev().map(|port| classifier(port, Cookie::pipeline())).collect();
    peer.flow_mods(&mut switch, &flows.iter().map(FlowMod::add).collect::<Vec<_>>());
    let (dumped, parts) = peer.dump(&mut switch, 0, 0, vec![]);
    assert_eq!(parts, 3);
    let ports: Vec<u32> = dumped
        .iter()
        .map(|d| {
            d.flow().map_or(0, |f| match f.matches[0] {
                Match::InPort(port) => port,
                _ => 0,
            })
        })
        .collect();
    assert_eq!(ports, (1..=250).collect::<Vec<_>>());
    let (none, parts) = peer.dump(&mut switch, 1, u64::MAX, vec![]);
    assert_eq!((none.len(), parts), (0, 1), "an empty dump is one empty part");
}

#[test]
fn the_text_dump_is_dump_flows_no_stats_sorted_like_the_plan() {
    let (mut switch, peer) = switch_and_peer();
    let mut flows = vec![
        output(3),
        classifier(5, Cookie::port()),
        Flow::new(
            Cookie::pipeline(),
            Table::Classifier,
            0,
            vec![],
            vec![Action::GotoTable(Table::L2ForwardingCalc)],
        ),
        classifier(4, Cookie::pipeline()),
        Flow::new(
            Cookie::pipeline(),
            Table::L2ForwardingCalc,
            200,
            vec![Match::DlDst("02:00:00:00:00:01".parse().unwrap())],
            vec![Action::SetField(OUTPUT_PORT, 1), Action::GotoTable(Table::TrafficControl)],
        ),
    ];
    peer.flow_mods(&mut switch, &flows.iter().map(FlowMod::add).collect::<Vec<_>>());
    flows.sort();
    let expected: String = flows.iter().map(|f| format!("{f}\n")).collect();
    assert_eq!(switch.dump_flows_text(), expected);
    assert_eq!(switch.flows(), flows);
    assert!(expected.starts_with("cookie=0x7463010000000000, priority=190,in_port=4 actions="));
}

#[test]
fn a_truncated_flow_mod_is_refused_and_the_connection_goes_on() {
    let (mut switch, peer) = switch_and_peer();
    let mut frame = message::encode(VERSION_1_5, 31, &Message::FlowMod(FlowMod::add(&output(3))));
    frame.truncate(40);
    frame[2..4].copy_from_slice(&40u16.to_be_bytes());
    let answers = peer.send_bytes(&mut switch, &frame);
    assert_eq!(answers.iter().map(kind_code).collect::<Vec<_>>(), [(1, 6)], "OFPBRC_BAD_LEN");
    let mut bad_command = message::encode(VERSION_1_5, 32, &Message::FlowMod(FlowMod::add(&output(3))));
    bad_command[25] = 1; // a loose modify, which the switch does not model
    let answers = peer.send_bytes(&mut switch, &bad_command);
    assert_eq!(answers.iter().map(kind_code).collect::<Vec<_>>(), [(5, 6)], "OFPFMFC_BAD_COMMAND");
    assert_eq!(frames(&switch.take_outgoing(peer.id)), []);
    peer.flow_mods(&mut switch, &[FlowMod::add(&output(3))]);
    assert_eq!(switch.flow_count(), 1);
}

/// Who changed the tables is what a shared bridge's invariant asks: every
/// flow an add, a modify or a delete touched counts for the sender's
/// host, in a bundle too; a delete that matches nothing touches nothing.
#[test]
fn flow_changes_are_counted_for_the_host_that_sent_them() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let agent = Peer::connect_as(&mut switch, VERSION_1_5, "node-1");
    let controller = Peer::connect_as(&mut switch, VERSION_1_5, "cni-1");
    controller.flow_mods(&mut switch, &[FlowMod::add(&output(1)), FlowMod::add(&output(2))]);
    agent.flow_mods(&mut switch, &[FlowMod::delete_by_cookie(0xdead, u64::MAX)]);
    assert_eq!((switch.flows_changed_by("cni-1"), switch.flows_changed_by("node-1")), (2, 0));
    agent.flow_mods(&mut switch, &[FlowMod::add(&output(2))]);
    assert_eq!(switch.flows_changed_by("node-1"), 1, "the same flow again is still sent");
    let answers = agent.bundle(&mut switch, &[FlowMod::add(&output(3)), FlowMod::add(&output(4))]);
    assert!(answers.iter().all(|a| !matches!(a.message, Message::Error(_))), "{answers:?}");
    assert_eq!(switch.flows_changed_by("node-1"), 3);
    agent.flow_mods(&mut switch, &[FlowMod::delete_by_cookie(Cookie::pipeline().0, u64::MAX)]);
    assert_eq!(switch.flows_changed_by("node-1"), 7, "four flows deleted");
    assert_eq!(switch.flows_changed_by("nobody"), 0);
}
