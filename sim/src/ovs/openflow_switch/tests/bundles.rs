//! Bundles: all or nothing, in order, visible everywhere at once, and the
//! errors the agent's session expects when a flow_mod is refused.

use datapath::flows::{Action, Cookie, Flow, Table};
use datapath::openflow::flow_mod::FlowMod;
use datapath::openflow::message::{self, BundleOp, Message, VERSION_1_5};

use super::{DATAPATH_ID, FLAGS, Peer, classifier, error_of, kind_code, output};
use crate::ovs::openflow_switch::OpenFlowSwitch;

fn control(op: BundleOp) -> Message {
    Message::BundleControl { bundle_id: 1, op, flags: FLAGS }
}

fn reply(op: BundleOp) -> Message {
    Message::BundleControl { bundle_id: 1, op, flags: 0 }
}

#[test]
fn a_bundle_applies_nothing_until_its_commit_then_everything_for_everyone() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let (agent, other) = (Peer::connect(&mut switch, VERSION_1_5), Peer::connect(&mut switch, VERSION_1_5));
    assert_eq!(
        agent.send(&mut switch, 10, &control(BundleOp::OpenRequest))[0].message,
        reply(BundleOp::OpenReply)
    );
    for (xid, flow) in (11..).zip([classifier(4, Cookie::pipeline()), output(4)]) {
        let add = message::encode_bundle_add(xid, 1, FLAGS, &Message::FlowMod(FlowMod::add(&flow)));
        assert_eq!(agent.send_bytes(&mut switch, &add), []);
    }
    assert_eq!(agent.send(&mut switch, 13, &Message::BarrierRequest)[0].message, Message::BarrierReply);
    assert_eq!(other.dump_all(&mut switch), [], "nothing before the commit");
    let committed = agent.send(&mut switch, 14, &control(BundleOp::CommitRequest));
    assert_eq!((committed[0].xid, &committed[0].message), (14, &reply(BundleOp::CommitReply)));
    assert_eq!(other.dump_all(&mut switch).len(), 2);
    assert_eq!(switch.flow_mods_applied(), 2);
}

#[test]
fn a_flow_mod_refused_at_its_add_names_the_add_and_a_discard_applies_nothing() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let agent = Peer::connect(&mut switch, VERSION_1_5);
    let back =
        Flow::new(Cookie::pipeline(), Table::Output, 1, vec![], vec![Action::GotoTable(Table::Classifier)]);
    agent.send(&mut switch, 10, &control(BundleOp::OpenRequest));
    let good = message::encode_bundle_add(11, 1, FLAGS, &Message::FlowMod(FlowMod::add(&output(3))));
    let bad = message::encode_bundle_add(12, 1, FLAGS, &Message::FlowMod(FlowMod::add(&back)));
    assert_eq!(agent.send_bytes(&mut switch, &good), []);
    let refused = agent.send_bytes(&mut switch, &bad);
    assert_eq!(refused.iter().map(kind_code).collect::<Vec<_>>(), [(3, 2)]);
    assert_eq!(error_of(&refused[0]).1, Some(12), "the bundle-add's xid, as the session expects");
    let discarded = agent.send(&mut switch, 13, &control(BundleOp::DiscardRequest));
    assert_eq!(discarded[0].message, reply(BundleOp::DiscardReply));
    assert_eq!((switch.flow_count(), switch.flow_mods_applied()), (0, 0));
}

#[test]
fn a_commit_that_fails_half_way_undoes_everything_and_names_the_flow_mod() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let agent = Peer::connect(&mut switch, VERSION_1_5);
    agent.flow_mods(&mut switch, &[FlowMod::add(&classifier(1, Cookie::pipeline()))]);
    let before = switch.dump_flows_text();
    switch.set_flow_limit(Some(2));
    // delete 1, add 2 and 3 (fits), add 4 (the table is full): all undone.
    let flow_mods = [
        FlowMod::delete_by_cookie(Cookie::pipeline().0, u64::MAX),
        FlowMod::add(&classifier(2, Cookie::pipeline())),
        FlowMod::add(&classifier(3, Cookie::pipeline())),
        FlowMod::add(&classifier(4, Cookie::pipeline())),
        FlowMod::add(&classifier(5, Cookie::pipeline())),
    ];
    let answers = agent.bundle(&mut switch, &flow_mods);
    assert_eq!(answers[0].message, reply(BundleOp::OpenReply));
    let errors: Vec<_> = answers[1..].iter().map(|f| (f.xid, kind_code(f))).collect();
    assert_eq!(
        errors,
        [(14, (5, 1)), (99, (17, 13))],
        "TABLE_FULL about add 4, then MSG_FAILED about the commit"
    );
    assert_eq!(switch.dump_flows_text(), before);
    assert_eq!(switch.flow_mods_applied(), 1);
    // With room, the same bundle goes through, in order.
    switch.set_flow_limit(None);
    let answers = agent.bundle(&mut switch, &flow_mods);
    assert_eq!(answers.last().map(|f| &f.message), Some(&reply(BundleOp::CommitReply)));
    assert_eq!(switch.flows(), (2..=5).map(|p| classifier(p, Cookie::pipeline())).collect::<Vec<_>>());
}

#[test]
fn bundle_misuse_gets_the_errors_ovs_gives() {
    let mut switch = OpenFlowSwitch::new(DATAPATH_ID);
    let agent = Peer::connect(&mut switch, VERSION_1_5);
    let codes = |answers: Vec<message::Frame>| answers.iter().map(kind_code).collect::<Vec<_>>();
    agent.send(&mut switch, 1, &control(BundleOp::OpenRequest));
    assert_eq!(codes(agent.send(&mut switch, 2, &control(BundleOp::OpenRequest))), [(17, 2)], "BAD_ID");
    assert_eq!(
        codes(agent.send(&mut switch, 3, &control(BundleOp::CommitRequest))),
        [(17, 2)],
        "and it is gone"
    );
    let not_a_flow_mod = message::encode_bundle_add(4, 1, FLAGS, &Message::BarrierRequest);
    assert_eq!(codes(agent.send_bytes(&mut switch, &not_a_flow_mod)), [(17, 10)], "MSG_UNSUP");
    let mut other_xid = message::encode_bundle_add(5, 1, FLAGS, &Message::FlowMod(FlowMod::add(&output(3))));
    other_xid[16 + 7] = 6; // the inner message's xid
    assert_eq!(codes(agent.send_bytes(&mut switch, &other_xid)), [(17, 9)], "MSG_BAD_XID");
    // An add opens the bundle implicitly; other flags later are refused.
    let add =
        |xid, flags| message::encode_bundle_add(xid, 2, flags, &Message::FlowMod(FlowMod::add(&output(xid))));
    assert_eq!(agent.send_bytes(&mut switch, &add(7, FLAGS)), []);
    assert_eq!(codes(agent.send_bytes(&mut switch, &add(8, 0))), [(17, 7)], "BAD_FLAGS");
    let close = Message::BundleControl { bundle_id: 3, op: BundleOp::CloseRequest, flags: 0 };
    assert_eq!(codes(agent.send(&mut switch, 9, &close)), [(17, 2)]);
    assert_eq!(codes(agent.send(&mut switch, 10, &control(BundleOp::CommitReply))), [(17, 6)], "BAD_TYPE");
    assert_eq!(switch.flow_count(), 0);
}
