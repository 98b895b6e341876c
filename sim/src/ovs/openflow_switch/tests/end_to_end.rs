//! The agent's own OpenFlow client (`actors`) against the switch served
//! on an in-memory pipe: the handshake on 1.5 and 1.0, `sync_flows` of real
//! plans, dumps, port_mods, port status and a restart.

use datapath::plan::BridgeMode;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use actors::openflow_connection::{ConnectionError, OpenFlowConnection};
use actors::operations::sync_flows;
use datapath::flows::{Action, Cookie, Flow, Match, Table};
use datapath::manifest::parse_documents;
use datapath::offline::{Objects, plan_offline};
use datapath::openflow::flow_mod::FlowMod;
use datapath::openflow::message::{VERSION_1_0, VERSION_1_5};
use datapath::openflow::port::{PortMod10, PortReason};
use datapath::validate::Validator;
use tokio::io::DuplexStream;

use super::{DATAPATH_ID, classifier};
use crate::ovs::openflow_switch::{OpenFlowSwitch, PortConfigBits, SharedSwitch};

/// Longer than any answer takes; a broken switch fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(10);
/// Room in each direction of the pipe.
const PIPE: usize = 256 * 1024;
const SEEDS: [&str; 3] =
    ["seed/mirror-web-app.yaml", "seed/mirror-all-to-remote.yaml", "seed/redirect-prod-to-local.yaml"];
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 7];

fn world() -> SharedSwitch {
    SharedSwitch::new(OpenFlowSwitch::new(DATAPATH_ID))
}

async fn connect(switch: &SharedSwitch, version: u8) -> OpenFlowConnection<DuplexStream> {
    let (client, server) = tokio::io::duplex(PIPE);
    tokio::spawn(switch.clone().serve(server));
    OpenFlowConnection::handshake(client, version, DEADLINE).await.expect("the handshake completes")
}

/// The flows planned for `node-1` from the cluster fixture and `files`.
fn planned(files: &[&str]) -> Vec<Flow> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let validator = Validator::new();
    let mut objects = Objects::default();
    for file in ["cluster/namespaces.yaml", "cluster/pods.yaml"].iter().chain(files) {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        objects.add_documents(&validator, parse_documents(&text).expect("fixture YAML"));
    }
    plan_offline("node-1", &objects, BridgeMode::Owned).flows
}

fn text_of(flows: &[Flow]) -> String {
    let mut sorted = flows.to_vec();
    sorted.sort();
    sorted.iter().map(|f| format!("{f}\n")).collect()
}

#[tokio::test]
async fn the_agents_client_connects_on_1_5_and_1_0() {
    let switch = world();
    let mut of15 = connect(&switch, VERSION_1_5).await;
    let mut of10 = connect(&switch, VERSION_1_0).await;
    assert_eq!((of15.datapath_id(), of10.datapath_id()), (DATAPATH_ID, DATAPATH_ID));
    of15.barrier().await.unwrap();
    of10.barrier().await.unwrap();
    assert_eq!(switch.read(OpenFlowSwitch::open_connections), 2);
}

#[tokio::test]
async fn a_real_plan_goes_in_one_bundle_and_an_unchanged_one_costs_zero_flow_mods() {
    let switch = world();
    let mut of15 = connect(&switch, VERSION_1_5).await;
    let mut desired = planned(&SEEDS);
    let kinds = |f: &Flow| {
        let actions = f.actions.iter().map(|a| format!("action {:?}", std::mem::discriminant(a)));
        let matches = f.matches.iter().map(|m| format!("match {:?}", std::mem::discriminant(m)));
        actions.chain(matches).collect::<Vec<_>>()
    };
    let mut every_kind: Vec<String> = desired.iter().flat_map(kinds).collect();
    every_kind.sort();
    every_kind.dedup();
    assert_eq!(every_kind.len(), 5 + 3, "the plan has every Action and Match kind");
    // Enough Pods that the dump comes back in several parts.
    desired.extend((1000..1150).map(|port| classifier(port, Cookie::pipeline())));

    let report = sync_flows(&mut of15, &desired).await.unwrap();
    assert_eq!((report.added, report.modified, report.deleted), (desired.len(), 0, 0));
    assert_eq!(switch.read(OpenFlowSwitch::dump_flows_text), text_of(&desired));
    let applied = switch.read(OpenFlowSwitch::flow_mods_applied);
    assert_eq!(applied, desired.len() as u64);

    let again = sync_flows(&mut of15, &desired).await.unwrap();
    assert_eq!(again.flow_mods(), 0);
    assert_eq!(switch.read(OpenFlowSwitch::flow_mods_applied), applied);
    assert_eq!(of15.dump_flows(Cookie::AGENT, Cookie::AGENT_MASK).await.unwrap().len(), desired.len());
}

/// (added, modified, deleted) from `old` to `new`, by identity, worked
/// out here rather than by the agent's own diff.
fn difference(old: &[Flow], new: &[Flow]) -> (usize, usize, usize) {
    type Identity = (Table, u16, Vec<Match>);
    let by_key = |flows: &[Flow]| -> BTreeMap<Identity, (Cookie, Vec<Action>)> {
        flows
            .iter()
            .map(|f| ((f.table, f.priority, f.matches.clone()), (f.cookie, f.actions.clone())))
            .collect()
    };
    let (old, new) = (by_key(old), by_key(new));
    let added = new.keys().filter(|k| !old.contains_key(*k)).count();
    let deleted = old.keys().filter(|k| !new.contains_key(*k)).count();
    let modified = new.iter().filter(|(k, v)| old.get(*k).is_some_and(|o| o != *v)).count();
    (added, modified, deleted)
}

#[tokio::test]
async fn a_changed_plan_sends_exactly_the_difference() {
    let switch = world();
    let mut of15 = connect(&switch, VERSION_1_5).await;
    // The other seeds add flows and take Pods over from the web app's
    // TrafficControl (same identity, another cookie); going back deletes.
    let (one, all) = (planned(&SEEDS[..1]), planned(&SEEDS));
    sync_flows(&mut of15, &one).await.unwrap();
    for (from, to) in [(&one, &all), (&all, &one)] {
        let applied = switch.read(OpenFlowSwitch::flow_mods_applied);
        let (added, modified, deleted) = difference(from, to);
        let report = sync_flows(&mut of15, to).await.unwrap();
        assert_eq!((report.added, report.modified, report.deleted), (added, modified, deleted));
        assert_eq!(
            switch.read(OpenFlowSwitch::flow_mods_applied) - applied,
            (added + modified + deleted) as u64
        );
        assert_eq!(switch.read(OpenFlowSwitch::dump_flows_text), text_of(to));
        assert_eq!(sync_flows(&mut of15, to).await.unwrap().flow_mods(), 0, "converged");
    }
    let ((added, modified, _), (_, _, deleted)) = (difference(&one, &all), difference(&all, &one));
    assert!(added > 0 && modified > 0 && deleted > 0, "the change adds, modifies and deletes");
}

#[tokio::test]
async fn dumps_and_port_mods_round_trip_through_the_client() {
    let switch = world();
    let mut of15 = connect(&switch, VERSION_1_5).await;
    let mut of10 = connect(&switch, VERSION_1_0).await;
    switch.with(|s| {
        s.add_port(1, "pod-a", [2, 0, 0, 0, 0, 1]);
        s.add_port_with_config(7, "tc-target", MAC, PortConfigBits { no_flood: false, down: true });
    });
    let ports = of15.dump_ports().await.unwrap();
    assert_eq!(
        ports.iter().map(|p| (p.port_no, p.name.as_str())).collect::<Vec<_>>(),
        [(1, "pod-a"), (7, "tc-target")]
    );

    // What the port manager does: the address from a 1.5 dump, the
    // port_mod on 1.0.
    let target = &ports[1];
    let port_no = u16::try_from(target.port_no).unwrap();
    of10.port_mod(PortMod10::traffic_control_port(port_no, target.hw_addr)).await.unwrap();
    assert_eq!(switch.read(|s| s.port_config(7)), Some(PortConfigBits { no_flood: true, down: false }));
    let refused = of10.port_mod(PortMod10::no_flood(port_no, [0; 6], true)).await.unwrap_err();
    let ConnectionError::Refused { error, .. } = refused else { panic!("{refused:?}") };
    assert_eq!((error.kind, error.code), (4, 1), "OpenFlow 1.0's PORT_MOD_FAILED/BAD_HW_ADDR");

    let flows = planned(&SEEDS);
    sync_flows(&mut of15, &flows).await.unwrap();
    let port = flows
        .iter()
        .find_map(|f| f.matches.iter().find_map(|m| if let Match::InPort(p) = m { Some(*p) } else { None }))
        .expect("a flow on a port");
    let dumped =
        of15.dump_flows_matching(Cookie::AGENT, Cookie::AGENT_MASK, vec![Match::InPort(port)]).await.unwrap();
    let expected: Vec<Flow> =
        flows.iter().filter(|f| f.matches.contains(&Match::InPort(port))).cloned().collect();
    let mut got: Vec<Flow> = dumped.iter().filter_map(|d| d.flow()).collect();
    got.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!((got, dumped.len()), (expected_sorted, expected.len()));
}

#[tokio::test]
async fn a_port_added_after_the_handshake_reaches_the_client_as_port_status() {
    let switch = world();
    let mut of15 = connect(&switch, VERSION_1_5).await;
    switch.with(|s| s.add_port(9, "late", MAC));
    let added = tokio::time::timeout(DEADLINE, of15.next_port_status()).await.expect("in time").unwrap();
    assert_eq!((added.reason, added.port.port_no, added.port.name.as_str()), (PortReason::Add, 9, "late"));
    switch.with(|s| s.remove_port(9));
    let deleted = tokio::time::timeout(DEADLINE, of15.next_port_status()).await.expect("in time").unwrap();
    assert_eq!((deleted.reason, deleted.port.port_no), (PortReason::Delete, 9));
}

#[tokio::test]
async fn a_refused_bundle_changes_nothing_and_names_the_flow_mod() {
    let switch = world();
    let mut of15 = connect(&switch, VERSION_1_5).await;
    let flows = planned(&SEEDS[..1]);
    sync_flows(&mut of15, &flows).await.unwrap();
    let (text, applied) = switch.read(|s| (s.dump_flows_text(), s.flow_mods_applied()));

    let backwards =
        Flow::new(Cookie::pipeline(), Table::Output, 5, vec![], vec![Action::GotoTable(Table::Classifier)]);
    let bundle = [FlowMod::add(&classifier(4000, Cookie::pipeline())), FlowMod::add(&backwards)];
    let refused = of15.apply(&bundle).await.unwrap_err();
    let ConnectionError::Refused { error, offending } = refused else { panic!("{refused:?}") };
    assert_eq!((error.kind, error.code), (3, 2), "refused at its add: OFPBIC_BAD_TABLE_ID");
    assert_eq!(offending, Some(format!("add {backwards}")));

    // A failure only the commit finds: the table is full.
    let table_0 = flows.iter().filter(|f| f.table == Table::Classifier).count();
    switch.with(|s| s.set_flow_limit(Some(table_0)));
    let refused = of15.apply(&bundle[..1]).await.unwrap_err();
    let ConnectionError::Refused { error, offending } = refused else { panic!("{refused:?}") };
    assert_eq!((error.kind, error.code), (17, 13), "OFPBFC_MSG_FAILED");
    assert_eq!(offending, Some(format!("add {}", classifier(4000, Cookie::pipeline()))));
    assert_eq!(switch.read(|s| (s.dump_flows_text(), s.flow_mods_applied())), (text, applied));
    // The connection goes on.
    switch.with(|s| s.set_flow_limit(None));
    assert_eq!(sync_flows(&mut of15, &flows).await.unwrap().flow_mods(), 0);
}

#[tokio::test]
async fn a_restart_ends_every_connection_and_a_new_one_reinstalls_the_plan() {
    let switch = world();
    let mut of15 = connect(&switch, VERSION_1_5).await;
    let mut of10 = connect(&switch, VERSION_1_0).await;
    let flows = planned(&SEEDS);
    sync_flows(&mut of15, &flows).await.unwrap();
    switch.with(OpenFlowSwitch::restart);
    let gone = |e: &ConnectionError| matches!(e, ConnectionError::Closed | ConnectionError::Io(_));
    let after15 = of15.dump_flows(0, 0).await.unwrap_err();
    assert!(gone(&after15), "{after15:?}");
    let after10 = of10.barrier().await.unwrap_err();
    assert!(gone(&after10), "{after10:?}");
    assert_eq!(switch.read(OpenFlowSwitch::open_connections), 0);

    let mut again = connect(&switch, VERSION_1_5).await;
    let report = sync_flows(&mut again, &flows).await.unwrap();
    assert_eq!((report.added, report.flow_mods()), (flows.len(), flows.len()));
    assert_eq!(switch.read(OpenFlowSwitch::dump_flows_text), text_of(&flows));
}
