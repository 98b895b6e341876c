use datapath::flows::{Cookie, MacAddr, OUTPUT_FOUND, OUTPUT_PORT, TC_TARGET, VlanMatch};

use std::collections::BTreeSet;

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
    let verdict = engine.process(&flows, &ports(&[1, 2, 3]), &[], 1, &frame([2, 0, 0, 0, 0, 2], [2; 6]));
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
    assert_eq!(engine.process(&flows, &ports, &[], 1, &frame(BROADCAST, a)).outputs, [2, 3]);
    assert_eq!(engine.process(&flows, &ports, &[], 2, &frame(a, b)).outputs, [1], "a was learned on 1");
    assert_eq!(engine.process(&flows, &ports, &[], 3, &frame(b, a)).outputs, [2], "b was learned on 2");
    engine.forget();
    assert_eq!(engine.process(&flows, &ports, &[], 3, &frame(b, a)).outputs, [1, 2]);
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
    assert_eq!(engine.process(&flows, &all, &[], 1, &untagged).outputs, [2], "pushed and set to 20");
    assert_eq!(engine.process(&flows, &all, &[], 1, &vlan10).outputs, [3], "popped");
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
        flow(Table::Output, 0, vec![], vec![Action::OutputReg(OUTPUT_PORT), Action::OutputReg(TC_TARGET)]),
    ];
    let mut engine = PacketEngine::default();
    let any = frame([2, 0, 0, 0, 0, 9], [2; 6]);
    assert!(engine.process(&flows, &ports(&[1, 2, 3]), &[], 1, &any).outputs.is_empty(), "in_port");
    assert_eq!(engine.process(&flows, &ports(&[1, 2, 3]), &[], 2, &any).outputs, [1]);
    assert!(engine.process(&flows, &ports(&[2, 3]), &[], 2, &any).outputs.is_empty(), "port 1 is gone");
    assert!(engine.process(&flows, &ports(&[1, 2, 3]), &[], 3, &any).outputs.is_empty(), "dropped");
    assert!(engine.process(&[], &ports(&[1, 2]), &[], 2, &any).outputs.is_empty(), "table miss");
    assert!(engine.process(&flows, &ports(&[1, 2]), &[], 2, &[0; 5]).outputs.is_empty(), "runt");
}

fn mirror(name: &str, select_src: &[u32], select_dst: &[u32], output: u32) -> EngineMirror {
    EngineMirror {
        name: name.to_owned(),
        select_src: select_src.iter().copied().collect(),
        select_dst: select_dst.iter().copied().collect(),
        output,
    }
}

/// A controller's table 0: 02:..:02 by an explicit output to port 2, the
/// MAC 02:..:04 dropped (an ACL), everything else NORMAL.
fn controller_flows() -> Vec<Flow> {
    vec![
        flow(Table::Classifier, 200, vec![Match::DlDst(MacAddr([2, 0, 0, 0, 0, 4]))], vec![Action::Drop]),
        flow(
            Table::Classifier,
            100,
            vec![Match::DlDst(MacAddr([2, 0, 0, 0, 0, 2]))],
            vec![Action::SetField(OUTPUT_PORT, 2), Action::OutputReg(OUTPUT_PORT)],
        ),
        flow(Table::Classifier, 0, vec![], vec![Action::Normal]),
    ]
}

#[test]
fn a_source_port_is_copied_on_arrival_before_the_tables_even_when_they_drop_it() {
    let mirrors = [mirror("m", &[1], &[], 9)];
    let mut engine = PacketEngine::default();
    let ports = ports(&[1, 2, 3, 4, 9]);
    let to_two = engine.process(&controller_flows(), &ports, &mirrors, 1, &frame([2, 0, 0, 0, 0, 2], [2; 6]));
    assert_eq!(to_two.outputs, [9, 2], "the copy first, as OVS mirrors on arrival");
    let dropped =
        engine.process(&controller_flows(), &ports, &mirrors, 1, &frame([2, 0, 0, 0, 0, 4], [2; 6]));
    assert_eq!(dropped.outputs, [9], "the ACL drops the packet, not its copy");
    let other = engine.process(&controller_flows(), &ports, &mirrors, 3, &frame([2, 0, 0, 0, 0, 2], [2; 6]));
    assert_eq!(other.outputs, [2], "port 3 is not selected");
}

#[test]
fn a_destination_port_is_copied_after_an_explicit_output_or_normal_and_not_when_nothing_leaves_by_it() {
    let mirrors = [mirror("m", &[], &[2, 3], 9)];
    let mut engine = PacketEngine::default();
    let ports = ports(&[1, 2, 3, 4, 9]);
    let explicit =
        engine.process(&controller_flows(), &ports, &mirrors, 1, &frame([2, 0, 0, 0, 0, 2], [2; 6]));
    assert_eq!(explicit.outputs, [2, 9]);
    // NORMAL floods the unknown 02:..:05 to 2, 3 and 4 (not to 9, the
    // mirror's output): one copy, though two selected ports got it.
    let flooded =
        engine.process(&controller_flows(), &ports, &mirrors, 1, &frame([2, 0, 0, 0, 0, 5], [2; 6]));
    assert_eq!(flooded.outputs, [2, 9, 3, 4]);
    // 02:..:05 speaks from 4: NORMAL learns it there, then forwards to it.
    engine.process(&controller_flows(), &ports, &mirrors, 4, &frame(BROADCAST, [2, 0, 0, 0, 0, 5]));
    let learned =
        engine.process(&controller_flows(), &ports, &mirrors, 1, &frame([2, 0, 0, 0, 0, 5], [2; 6]));
    assert_eq!(learned.outputs, [4], "4 is not selected");
    let dropped =
        engine.process(&controller_flows(), &ports, &mirrors, 3, &frame([2, 0, 0, 0, 0, 4], [2; 6]));
    assert!(dropped.outputs.is_empty(), "nothing left, nothing is copied: {dropped:?}");
    let back = engine.process(&controller_flows(), &ports, &mirrors, 2, &frame([2, 0, 0, 0, 0, 2], [2; 6]));
    assert!(back.outputs.is_empty(), "no output to the in_port, so no copy: {back:?}");
}

#[test]
fn a_packet_selected_for_one_output_port_several_times_is_copied_there_once() {
    let mut engine = PacketEngine::default();
    let ports = ports(&[1, 2, 3, 8, 9]);
    let unicast = frame([2, 0, 0, 0, 0, 2], [2; 6]);
    let both = [mirror("m", &[1], &[2], 9)];
    assert_eq!(engine.process(&controller_flows(), &ports, &both, 1, &unicast).outputs, [9, 2]);
    let same_output = [mirror("a", &[1], &[], 9), mirror("b", &[], &[2], 9)];
    assert_eq!(engine.process(&controller_flows(), &ports, &same_output, 1, &unicast).outputs, [9, 2]);
    let two_outputs = [mirror("a", &[1], &[], 8), mirror("b", &[], &[2], 9)];
    assert_eq!(engine.process(&controller_flows(), &ports, &two_outputs, 1, &unicast).outputs, [8, 2, 9]);
}

#[test]
fn a_copy_is_an_output_that_other_mirrors_copy_once_without_looping() {
    let mut engine = PacketEngine::default();
    let ports = ports(&[1, 2, 8, 9]);
    // a copies 1's packets to 8; b copies what leaves by 8 to 9; c copies
    // what leaves by 9 back to 8, which already has its copy.
    let chained = [mirror("a", &[1], &[], 8), mirror("b", &[], &[8], 9), mirror("c", &[], &[9], 8)];
    let verdict =
        engine.process(&controller_flows(), &ports, &chained, 1, &frame([2, 0, 0, 0, 0, 2], [2; 6]));
    assert_eq!(verdict.outputs, [8, 9, 2]);
}

#[test]
fn a_mirror_output_port_is_never_flooded_to_forwarded_to_by_normal_or_listened_to() {
    let mirrors = [mirror("m", &[1], &[], 9)];
    let mut engine = PacketEngine::default();
    let ports = ports(&[1, 2, 3, 9]);
    let flows = controller_flows();
    let from_three = engine.process(&flows, &ports, &mirrors, 3, &frame(BROADCAST, [2, 0, 0, 0, 0, 3]));
    assert_eq!(from_three.outputs, [1, 2], "no flood to 9");
    // What 9 sends is dropped before the tables: not forwarded, not learned.
    let from_nine =
        engine.process(&flows, &ports, &mirrors, 9, &frame([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 9]));
    assert!(from_nine.outputs.is_empty(), "{from_nine:?}");
    let to_nine = engine.process(&flows, &ports, &mirrors, 3, &frame([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 3]));
    assert_eq!(to_nine.outputs, [1, 2], "02:..:09 was not learned, so it floods (not to 9)");
    // A MAC learned on 9 before it became a mirror's output: NORMAL drops.
    engine.process(&flows, &ports, &[], 9, &frame(BROADCAST, [2, 0, 0, 0, 0, 9]));
    let learned = engine.process(&flows, &ports, &mirrors, 3, &frame([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 3]));
    assert!(learned.outputs.is_empty(), "{learned:?}");
    // An explicit output still reaches it (OVS checks NORMAL only).
    let explicit = [flow(
        Table::Classifier,
        0,
        vec![],
        vec![Action::SetField(OUTPUT_PORT, 9), Action::OutputReg(OUTPUT_PORT)],
    )];
    assert_eq!(engine.process(&explicit, &ports, &mirrors, 3, &frame(BROADCAST, [2; 6])).outputs, [9]);
}

#[test]
fn a_mirror_output_port_that_is_down_gets_no_copy() {
    let mirrors = [mirror("m", &[1], &[], 9)];
    let mut ports = ports(&[1, 2, 9]);
    ports[2].down = true;
    let verdict = PacketEngine::default().process(
        &controller_flows(),
        &ports,
        &mirrors,
        1,
        &frame([2, 0, 0, 0, 0, 2], [2; 6]),
    );
    assert_eq!(verdict.outputs, [2]);
}

#[test]
fn a_mirror_that_selects_nothing_still_reserves_its_output_port() {
    // ovs-vswitchd configures a mirror with empty selections (bridge.c
    // `mirror_configure` needs only an output): nothing is copied, and
    // NORMAL still keeps out of its output port.
    let mirrors = [mirror("idle", &[], &[], 9)];
    let verdict = PacketEngine::default().process(
        &controller_flows(),
        &ports(&[1, 2, 9]),
        &mirrors,
        1,
        &frame(BROADCAST, [2; 6]),
    );
    assert_eq!(verdict.outputs, [2]);
}

#[test]
fn an_output_to_a_port_that_is_down_is_still_copied_and_to_a_missing_port_is_not() {
    // OVS composes the output to a down port (the device drops it), so
    // the mirrors of that port see it; a port that does not exist is
    // skipped before the mirrors (`check_output_prerequisites`).
    let mirrors = [mirror("m", &[], &[2], 9)];
    let mut down = ports(&[1, 2, 9]);
    down[1].down = true;
    let to_two = frame([2, 0, 0, 0, 0, 2], [2; 6]);
    let verdict = PacketEngine::default().process(&controller_flows(), &down, &mirrors, 1, &to_two);
    assert_eq!(verdict.outputs, [9]);
    let verdict = PacketEngine::default().process(&controller_flows(), &ports(&[1, 9]), &mirrors, 1, &to_two);
    assert!(verdict.outputs.is_empty(), "{verdict:?}");
}

#[test]
fn a_port_that_is_one_mirrors_output_and_anothers_source_receives_nothing() {
    let mirrors = [mirror("a", &[], &[], 2), mirror("b", &[2], &[], 9)];
    let verdict = PacketEngine::default().process(
        &controller_flows(),
        &ports(&[1, 2, 9]),
        &mirrors,
        2,
        &frame(BROADCAST, [2; 6]),
    );
    assert!(verdict.outputs.is_empty(), "dropped on arrival, before the source mirror: {verdict:?}");
}

#[test]
fn copies_are_named_in_the_hits_for_failure_messages() {
    let mirrors = [mirror("tc-tap0", &[1], &[], 9)];
    let verdict = PacketEngine::default().process(
        &controller_flows(),
        &ports(&[1, 2, 9]),
        &mirrors,
        1,
        &frame([2, 0, 0, 0, 0, 2], [2; 6]),
    );
    assert_eq!(verdict.hits[0], "mirror tc-tap0: copy to 9");
}

/// Where a packet is going, for the oracle.
#[derive(Clone, Copy, Debug)]
enum Destination {
    Broadcast,
    /// A MAC NORMAL learned on this port.
    LearnedOn(u32),
}

/// What OVS would do, computed apart from the engine: the forwarded
/// ports, then every mirror output the packet earns (on arrival, or for
/// an output it selects, a copy being an output too), once each.
fn oracle(mirrors: &[EngineMirror], all: &[u32], in_port: u32, to: Destination) -> BTreeSet<u32> {
    let reserved: BTreeSet<u32> = mirrors.iter().map(|m| m.output).collect();
    if reserved.contains(&in_port) {
        return BTreeSet::new();
    }
    let forwarded: BTreeSet<u32> = match to {
        Destination::Broadcast => {
            all.iter().copied().filter(|p| *p != in_port && !reserved.contains(p)).collect()
        }
        Destination::LearnedOn(port) if port == in_port || reserved.contains(&port) => BTreeSet::new(),
        Destination::LearnedOn(port) => BTreeSet::from([port]),
    };
    let mut out = forwarded.clone();
    let mut copied: BTreeSet<u32> =
        mirrors.iter().filter(|m| m.select_src.contains(&in_port)).map(|m| m.output).collect();
    copied.extend(mirrors.iter().filter(|m| !m.select_dst.is_disjoint(&forwarded)).map(|m| m.output));
    loop {
        let more: BTreeSet<u32> = mirrors
            .iter()
            .filter(|m| !m.select_dst.is_disjoint(&copied) && !copied.contains(&m.output))
            .map(|m| m.output)
            .collect();
        if more.is_empty() {
            break;
        }
        copied.extend(more);
    }
    out.extend(copied);
    out
}

/// Every selection of two mirrors over three ports (the second with the
/// first's output port, or its own), from every port, to a broadcast or
/// a MAC learned on any port: the engine sends each packet where the
/// oracle says, never twice by one port, copies of arrival first.
#[test]
fn every_selection_of_two_mirrors_matches_the_oracle() {
    let all = [1, 2, 3, 4, 5];
    let selectable = [1, 2, 3];
    let subsets: Vec<Vec<u32>> = (0u8..8)
        .map(|bits| selectable.iter().copied().filter(|p| bits & (1 << (p - 1)) != 0).collect())
        .collect();
    let flows = [flow(Table::Classifier, 0, vec![], vec![Action::Normal])];
    let mac = |port: u32| [2, 0, 0, 0, 1, u8::try_from(port).unwrap_or(0xff)];
    let mut cases = 0;
    for b_output in [4, 5] {
        for (a_src, a_dst, b_src, b_dst) in quadruples(&subsets).into_iter().map(|[a, b, c, d]| (a, b, c, d))
        {
            let mirrors = [mirror("a", a_src, a_dst, 4), mirror("b", b_src, b_dst, b_output)];
            for in_port in all {
                for to in
                    [Destination::Broadcast].into_iter().chain(all.iter().map(|p| Destination::LearnedOn(*p)))
                {
                    let mut engine = PacketEngine::default();
                    let dst = match to {
                        Destination::Broadcast => BROADCAST,
                        Destination::LearnedOn(port) => {
                            // Learned before any mirror reserved the port.
                            engine.process(&flows, &ports(&all), &[], port, &frame(BROADCAST, mac(port)));
                            mac(port)
                        }
                    };
                    let verdict =
                        engine.process(&flows, &ports(&all), &mirrors, in_port, &frame(dst, mac(9)));
                    let got: BTreeSet<u32> = verdict.outputs.iter().copied().collect();
                    let case = format!("{mirrors:?} from {in_port} to {to:?}: {verdict:?}");
                    assert_eq!(got.len(), verdict.outputs.len(), "a port got two copies: {case}");
                    assert_eq!(got, oracle(&mirrors, &all, in_port, to), "{case}");
                    let arrival: BTreeSet<u32> = mirrors
                        .iter()
                        .filter(|m| m.select_src.contains(&in_port))
                        .map(|m| m.output)
                        .collect();
                    let first: BTreeSet<u32> = verdict.outputs.iter().take(arrival.len()).copied().collect();
                    if !verdict.outputs.is_empty() {
                        assert_eq!(first, arrival, "arrival copies come first: {case}");
                    }
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 2 * 8 * 8 * 8 * 8 * 5 * 6);
}

/// Every 4-tuple of `items`.
fn quadruples<T>(items: &[T]) -> Vec<[&T; 4]> {
    let mut tuples = Vec::new();
    for a in items {
        for b in items {
            for c in items {
                for d in items {
                    tuples.push([a, b, c, d]);
                }
            }
        }
    }
    tuples
}
