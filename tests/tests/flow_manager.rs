//! The flow manager's I/O step against a real ovs-vswitchd: what it
//! installs, what it leaves alone, and what it sends when nothing changed.

use actors::openflow_connection::{ConnectionError, connect_unix};
use actors::operations::sync_flows;
use datapath::flows::{Action, Cookie, Flow, RegField, Table};
use datapath::openflow::flow_mod::FlowMod;
use tests::ovs::Ovs;
use tests::plans::every_shape;

#[tokio::test(flavor = "current_thread")]
async fn flows_installed_through_our_client_dump_exactly_as_ovs_ofctl_add_flows_of_the_same_text() {
    let ovs = Ovs::start();
    let ours = ovs.add_bridge("bro");
    let theirs = ovs.add_bridge("brt");
    let flows = every_shape().flows;
    let mut connection = connect_unix(&ours.mgmt).await.expect("OpenFlow connection");
    let report = sync_flows(&mut connection, &flows).await.expect("sync");
    assert_eq!(report.added, flows.len());
    let text: String = flows.iter().map(|f| format!("{f}\n")).collect();
    let file = std::env::temp_dir().join(format!("tc-flows-{}.txt", std::process::id()));
    std::fs::write(&file, text).expect("flow file");
    ovs.ofctl(&theirs, "add-flows", &["--bundle", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
    let (a, b) = (ovs.dump_flows(&ours), ovs.dump_flows(&theirs));
    assert_eq!(a.len(), flows.len());
    assert_eq!(a, b);
    // And the switch holds exactly the planner's text.
    let mut planned: Vec<String> = flows.iter().map(ToString::to_string).collect();
    planned.sort();
    assert_eq!(a, planned);
}

#[tokio::test(flavor = "current_thread")]
async fn an_unchanged_plan_sends_no_flow_mod_and_a_changed_one_only_the_difference() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let mut flows = every_shape().flows;
    let mut connection = connect_unix(&bridge.mgmt).await.expect("OpenFlow connection");
    sync_flows(&mut connection, &flows).await.expect("first sync");
    let again = sync_flows(&mut connection, &flows).await.expect("second sync");
    assert_eq!(again.flow_mods(), 0);
    let removed = flows.remove(0);
    let changed =
        flows.iter_mut().find(|f| f.table == Table::TrafficControl && f.priority < 300).expect("a TC flow");
    changed.actions[0] = Action::SetField(datapath::flows::TC_TARGET, 99);
    let report = sync_flows(&mut connection, &flows).await.expect("third sync");
    assert_eq!((report.added, report.modified, report.deleted), (0, 1, 1));
    assert!(!ovs.dump_flows(&bridge).contains(&removed.to_string()));
}

#[tokio::test(flavor = "current_thread")]
async fn after_ovs_vswitchd_restarts_every_flow_is_reinstalled() {
    let mut ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let flows = every_shape().flows;
    {
        let mut connection = connect_unix(&bridge.mgmt).await.expect("OpenFlow connection");
        sync_flows(&mut connection, &flows).await.expect("sync");
    }
    ovs.restart_vswitchd();
    assert!(ovs.dump_flows(&bridge).is_empty(), "a restart loses the flows");
    let mut connection = connect_unix(&bridge.mgmt).await.expect("reconnect");
    let report = sync_flows(&mut connection, &flows).await.expect("resync");
    assert_eq!(report.added, flows.len());
    assert_eq!(ovs.dump_flows(&bridge).len(), flows.len());
}

#[tokio::test(flavor = "current_thread")]
async fn only_the_agents_own_flows_are_ever_deleted() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    ovs.ofctl(&bridge, "add-flow", &["cookie=0x1,table=7,priority=5,actions=drop"]);
    let mut connection = connect_unix(&bridge.mgmt).await.expect("OpenFlow connection");
    sync_flows(&mut connection, &every_shape().flows).await.expect("sync");
    let report = sync_flows(&mut connection, &[]).await.expect("sync to nothing");
    assert!(report.deleted > 30);
    assert_eq!(ovs.dump_flows(&bridge), ["cookie=0x1, table=7, priority=5 actions=drop"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_bundle_changes_nothing_and_names_the_flow_the_switch_refused() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let mut connection = connect_unix(&bridge.mgmt).await.expect("OpenFlow connection");
    let fine = Flow::new(Cookie::pipeline(), Table::Output, 7, vec![], vec![Action::Normal]);
    // Bits 20..35 of a 32-bit register: OVS refuses it when it is added.
    let bad = Flow::new(
        Cookie::pipeline(),
        Table::Output,
        5,
        vec![],
        vec![Action::OutputReg(RegField { reg: 0, start: 20, end: 35 })],
    );
    let error = connection.apply(&[FlowMod::add(&fine), FlowMod::add(&bad)]).await.expect_err("refused");
    let ConnectionError::Refused { error, offending } = &error else { panic!("{error}") };
    assert_eq!(error.to_string(), "OFPET_BAD_ACTION/BAD_SET_LEN");
    assert_eq!(offending.as_deref(), Some(format!("add {bad}").as_str()));
    assert!(ovs.dump_flows(&bridge).is_empty(), "the accepted flow of a refused bundle must not be applied");
    // The connection is still usable.
    connection.apply(&[FlowMod::add(&fine)]).await.expect("a good bundle");
    assert_eq!(ovs.dump_flows(&bridge).len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_switch_reports_a_new_port_and_its_removal_on_our_connection() {
    use datapath::openflow::port::PortReason;
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let mut connection = connect_unix(&bridge.mgmt).await.expect("OpenFlow connection");
    ovs.vsctl(&["add-port", &bridge.name, "tap7", "--", "set", "interface", "tap7", "type=internal"]);
    ovs.wait_for_ofport("tap7");
    ovs.vsctl(&["del-port", &bridge.name, "tap7"]);
    // A dump round trip makes sure everything the switch sent before has been read.
    let mut seen = Vec::new();
    for _ in 0..50 {
        connection.dump_ports().await.expect("port dump");
        seen.extend(
            connection.take_port_status().into_iter().filter(|s| s.port.name == "tap7").map(|s| s.reason),
        );
        if seen.contains(&PortReason::Delete) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen.first(), Some(&PortReason::Add), "{seen:?}");
    assert_eq!(seen.last(), Some(&PortReason::Delete), "{seen:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_flow_that_moves_to_another_traffic_control_gets_its_cookie() {
    // Found by the simulation (issue 5): a strict modify never changes a
    // cookie in OpenFlow 1.5, so a flow whose only difference was its
    // cookie was "modified" on every pass and never converged.
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let flows = every_shape().flows;
    let mut connection = connect_unix(&bridge.mgmt).await.expect("OpenFlow connection");
    sync_flows(&mut connection, &flows).await.expect("first sync");
    let mut moved = flows.clone();
    let flow =
        moved.iter_mut().find(|f| f.table == Table::TrafficControl && f.priority < 300).expect("a TC flow");
    flow.cookie = Cookie::traffic_control("another");
    let wanted = flow.to_string();
    let report = sync_flows(&mut connection, &moved).await.expect("sync");
    assert_eq!(report.modified, 1);
    assert!(ovs.dump_flows(&bridge).contains(&wanted), "the switch holds {wanted}");
    let again = sync_flows(&mut connection, &moved).await.expect("resync");
    assert_eq!(again.flow_mods(), 0, "converged");
}
