//! Our OpenFlow encoder, judged by OVS's own decoder: every message the
//! agent sends is written to a file and read back by `ovs-ofctl ofp-parse`,
//! which must print exactly what we meant (for flows: the planner's text).

use datapath::plan::BridgeMode;
use std::path::Path;

use datapath::flows::{Cookie, Flow, Match};
use datapath::manifest::parse_documents;
use datapath::offline::{Objects, plan_offline};
use datapath::openflow::flow_mod::{FlowMod, MatchSpec};
use datapath::openflow::message::{
    self, BUNDLE_ATOMIC, BUNDLE_ORDERED, BundleOp, Message, MultipartRequest, VERSION_1_0, VERSION_1_5,
};
use datapath::openflow::port::PortMod10;
use datapath::pass::{SwitchState, pass};
use datapath::validate::Validator;
use tests::ovs_text::{as_flow_mod_add, ofp_parse};

/// Every flow shape the planner makes: the seed examples and a Redirect,
/// each direction, on the cluster fixture.
fn planned_flows() -> Vec<Flow> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let validator = Validator::new();
    let mut objects = Objects::default();
    for file in [
        "seed/mirror-web-app.yaml",
        "seed/redirect-prod-to-local.yaml",
        "cluster/pods.yaml",
        "cluster/namespaces.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect("fixture");
        objects.add_documents(&validator, parse_documents(&text).expect("yaml"));
    }
    let redirect = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: ips, creationTimestamp: '2020-01-01T00:00:00Z'}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: db}}}\n  direction: Egress\n  action: Redirect\n  targetPort: {ovsInternal: {name: fw-in}}\n  returnPort: {ovsInternal: {name: fw-out}}\n";
    objects.add_documents(&validator, parse_documents(redirect).expect("yaml"));
    let mut flows = plan_offline("node-1", &objects, BridgeMode::Owned).flows;
    assert!(flows.len() > 30);
    for flow in vlan_flows(&objects) {
        if !flows.contains(&flow) {
            flows.push(flow);
        }
    }
    flows
}

/// The same, on a bridge whose Pod ports are in VLANs 10 and 20 and one
/// a trunk: the VLAN register, tags pushed and popped, VLAN matches.
fn vlan_flows(objects: &Objects) -> Vec<Flow> {
    let mut ports = datapath::offline::pod_ports("node-1", &objects.pods);
    for (port, tag) in ports.iter_mut().zip([Some(10), Some(20), None, Some(20)]) {
        port.tag = tag;
        if tag.is_none() {
            port.trunks = vec![10, 20];
        }
    }
    let switch = SwitchState { mode: BridgeMode::Owned, ports, ..SwitchState::default() };
    let flows = pass(&objects.cluster("node-1"), &switch).plan.flows;
    assert!(flows.iter().any(|f| f.to_string().contains("dl_vlan=")), "VLAN flows are planned");
    flows
}

#[test]
fn every_planned_flow_encodes_as_ovs_reads_it() {
    let flows = planned_flows();
    let encoded: Vec<Vec<u8>> = flows
        .iter()
        .zip(1u32..)
        .map(|(flow, xid)| message::encode(VERSION_1_5, xid, &Message::FlowMod(FlowMod::add(flow))))
        .collect();
    let printed = ofp_parse(&encoded);
    assert_eq!(printed.len(), flows.len(), "{printed:#?}");
    for ((flow, line), xid) in flows.iter().zip(&printed).zip(1u32..) {
        let expected =
            format!("OFPT_FLOW_MOD (OF1.5) (xid={xid:#x}): {}", as_flow_mod_add(&flow.to_string()));
        assert_eq!(line, &expected, "{flow}");
    }
}

#[test]
fn every_planned_flow_round_trips_through_our_decoder() {
    for flow in planned_flows() {
        let bytes = message::encode(VERSION_1_5, 7, &Message::FlowMod(FlowMod::add(&flow)));
        let frame = message::decode(&bytes).expect("decodes");
        let Message::FlowMod(flow_mod) = frame.message else { panic!("not a flow_mod") };
        assert_eq!(flow_mod.flow(), Some(flow));
    }
}

#[test]
fn deletes_modifies_bundles_multiparts_and_port_mods_read_as_meant() {
    let flow = planned_flows().remove(0);
    let messages = [
        message::encode(VERSION_1_5, 1, &Message::Hello { versions: Some(1 << VERSION_1_5) }),
        message::encode(
            VERSION_1_5,
            2,
            &Message::FlowMod(FlowMod::delete_by_cookie(Cookie::AGENT, Cookie::AGENT_MASK)),
        ),
        message::encode(
            VERSION_1_5,
            3,
            &Message::FlowMod(FlowMod::delete_strict(
                flow.table.id(),
                flow.priority,
                MatchSpec::Fields(flow.matches.clone()),
            )),
        ),
        message::encode(VERSION_1_5, 4, &Message::FlowMod(FlowMod::modify_strict(&flow))),
        message::encode(
            VERSION_1_5,
            5,
            &Message::BundleControl {
                bundle_id: 9,
                op: BundleOp::OpenRequest,
                flags: BUNDLE_ATOMIC | BUNDLE_ORDERED,
            },
        ),
        message::encode_bundle_add(
            6,
            9,
            BUNDLE_ATOMIC | BUNDLE_ORDERED,
            &Message::FlowMod(FlowMod::add(&flow)),
        ),
        message::encode(
            VERSION_1_5,
            7,
            &Message::BundleControl {
                bundle_id: 9,
                op: BundleOp::CommitRequest,
                flags: BUNDLE_ATOMIC | BUNDLE_ORDERED,
            },
        ),
        message::encode(
            VERSION_1_5,
            8,
            &Message::MultipartRequest(MultipartRequest::FlowDesc {
                table_id: 0xff,
                cookie: Cookie::AGENT,
                cookie_mask: Cookie::AGENT_MASK,
                matches: vec![Match::InPort(6)],
            }),
        ),
        message::encode(VERSION_1_5, 9, &Message::MultipartRequest(MultipartRequest::PortDesc)),
        message::encode(VERSION_1_5, 10, &Message::BarrierRequest),
        message::encode(
            VERSION_1_0,
            12,
            &Message::PortMod10(PortMod10::no_flood(3, [2, 0, 0, 0, 0, 3], true)),
        ),
        message::encode(VERSION_1_0, 13, &Message::BarrierRequest),
        message::encode(VERSION_1_5, 14, &Message::EchoReply(b"ping".to_vec())),
        message::encode(VERSION_1_5, 15, &Message::SetAsyncPortStatus),
    ];
    let printed = ofp_parse(&messages);
    let expect = [
        "OFPT_HELLO (OF1.5) (xid=0x1):",
        "OFPT_FLOW_MOD (OF1.5) (xid=0x2): DEL table:255 priority=0 cookie:0x7463000000000000/0xffff000000000000 actions=drop",
        "OFPT_FLOW_MOD (OF1.5) (xid=0x3): DEL_STRICT priority=200,in_port=6 actions=drop",
        "OFPT_FLOW_MOD (OF1.5) (xid=0x4): MOD_STRICT priority=200,in_port=6 actions=drop",
        "OFPT_BUNDLE_CONTROL (OF1.5) (xid=0x5):\n bundle_id=0x9 type=OPEN_REQUEST flags=atomic ordered",
        "OFPT_BUNDLE_ADD_MESSAGE (OF1.5) (xid=0x6):\n bundle_id=0x9 flags=atomic ordered",
        "OFPT_FLOW_MOD (OF1.5) (xid=0x6): ADD priority=200,in_port=6 cookie:0x7463020000000000 actions=drop",
        "OFPT_BUNDLE_CONTROL (OF1.5) (xid=0x7):\n bundle_id=0x9 type=COMMIT_REQUEST flags=atomic ordered",
        "OFPST_FLOW request (OF1.5) (xid=0x8):",
        "OFPST_PORT_DESC request (OF1.5) (xid=0x9): port=ANY",
        "OFPT_BARRIER_REQUEST (OF1.5) (xid=0xa):",
        "OFPT_PORT_MOD (xid=0xc): port: 3: addr:02:00:00:00:00:03",
        "OFPT_BARRIER_REQUEST (xid=0xd):",
        "OFPT_ECHO_REPLY (OF1.5) (xid=0xe): 4 bytes of payload",
        "OFPT_SET_ASYNC (OF1.5) (xid=0xf):",
    ];
    assert_eq!(printed.len(), expect.len(), "{printed:#?}");
    for (line, prefix) in printed.iter().zip(expect) {
        assert!(line.starts_with(prefix), "expected {prefix:?}, OVS printed {line:?}");
    }
    assert!(!printed.iter().any(|p| p.contains("error")), "{printed:#?}");
    assert!(printed[8].contains("in_port=6"), "the dump's match: {}", printed[8]);
    let async_config: String = printed[14].split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(async_config.contains("PORT_STATUS: add delete modify"), "{async_config}");
    let port_mod: Vec<&str> = printed[11].split_whitespace().collect();
    assert!(
        port_mod.windows(2).any(|w| w == ["config:", "NO_FLOOD"])
            && port_mod.windows(2).any(|w| w == ["mask:", "NO_FLOOD"]),
        "{}",
        printed[11]
    );
}
