//! The agent's actors on a real switch, fed facts directly (no API
//! server): they realize a TrafficControl, follow Pod changes with one
//! coalesced pass per burst, delete the port only after its flows, and
//! reinstall everything after ovs-vswitchd restarts, and never send a run
//! planned for a switch that has since restarted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::agent::connector::SocketConnector;
use actors::agent::flow_manager::FlowManager;
use actors::agent::messages::{
    ApplyOpenFlowOperations, DumpAgentFlows, NamespacesObserved, PodsObserved, SwitchConnected,
    TrafficControlsObserved,
};
use actors::agent::reconciler::Tuning;
use actors::agent::runner::{self, Agent};
use actors::agent::state::AgentState;
use actors::config::OvsSocket;
use actors::reconcile::Applied;
use datapath::api::TrafficControl;
use datapath::cluster::PodInfo;
use datapath::flow_diff;
use datapath::flows::{Action as FlowAction, Cookie, Flow, Table};
use datapath::pass::Operation;
use datapath::plan::BridgeMode;
use tests::capture::Capture;
use tests::ovs::{Bridge, Ovs};
use tests::plans::{mirror_to, traffic_controls};
use tests::pod::Pod;

fn selecting(name: &str, app: &str) -> String {
    mirror_to(name, "ovsInternal: {name: tap0}")
        .replace("podSelector: {}", &format!("podSelector: {{matchLabels: {{app: {app}}}}}"))
}

fn start_agent(ovs: &Ovs, bridge: &Bridge) -> Agent {
    let connector = SocketConnector {
        ovsdb: OvsSocket::Unix(ovs.db_socket()),
        openflow: OvsSocket::Unix(bridge.mgmt.clone()),
    };
    runner::start(
        connector,
        bridge.name.clone(),
        AgentState::new("node-1", BridgeMode::Owned),
        None,
        Tuning::default(),
    )
}

fn observe(agent: &Agent, tcs: Vec<TrafficControl>, pods: Vec<PodInfo>) {
    agent.reconciler.do_send(NamespacesObserved(Arc::from([])));
    agent.reconciler.do_send(PodsObserved(pods.into()));
    agent.reconciler.do_send(TrafficControlsObserved {
        valid: tcs.into(),
        invalid: Arc::default(),
        uids: Arc::new(BTreeMap::new()),
        this_node: Arc::default(),
    });
}

/// Passes completed so far, from the reconcile histogram's count.
fn passes(state: &AgentState) -> u64 {
    let text = state.metrics.render();
    text.lines()
        .find_map(|l| l.strip_prefix("tc_agent_reconcile_duration_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the switch holds the last plan and `check` accepts it.
async fn converged(agent: &Agent, what: &str, check: impl Fn(&datapath::plan::Plan) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(realized) = agent.state.realized()
            && check(&realized.plan)
            && let Ok(Ok(observed)) = agent.readers.flows.send(DumpAgentFlows).await
            && flow_diff::drift(&realized.plan.flows, &observed.flows).is_empty()
        {
            return;
        }
        assert!(Instant::now() < deadline, "the agent never converged: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn the_actors_realize_follow_pod_changes_in_coalesced_passes_and_clean_up() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let web = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    actix_rt::System::new().block_on(async {
        let agent = start_agent(&ovs, &bridge);
        let tcs = traffic_controls(&selecting("mirror-web", "web"));
        observe(&agent, tcs.clone(), vec![web.info(&[("app", "web")]), client.info(&[("app", "client")])]);
        converged(&agent, "web-1 mirrored", |plan| plan.effective.len() == 1).await;
        assert!(ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == "tap0"));
        let capture = Capture::inbound(ovs.node(), "tap0", "icmp");
        assert_eq!(web.ping(&client, 2).received, 2);
        assert_eq!(capture.stop().len(), 4, "both directions of web-1's pings are mirrored once");

        // A burst of label flips: one or two passes, not one per event.
        let before = passes(&agent.state);
        for i in 0..50 {
            let app = if i % 2 == 0 { "client" } else { "web" };
            agent.reconciler.do_send(PodsObserved(
                vec![web.info(&[("app", app)]), client.info(&[("app", "web")])].into(),
            ));
        }
        converged(&agent, "both Pods mirrored", |plan| plan.effective.len() == 2).await;
        let burst = passes(&agent.state) - before;
        eprintln!("50 Pod events took {burst} passes");
        assert!((1..=3).contains(&burst), "50 events took {burst} passes");

        // The TrafficControl goes: its flows and then its port.
        observe(&agent, Vec::new(), vec![web.info(&[]), client.info(&[])]);
        converged(&agent, "nothing mirrored", |plan| {
            plan.traffic_controls.is_empty() && plan.effective.is_empty()
        })
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == "tap0") {
            assert!(Instant::now() < deadline, "tap0 was never deleted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(web.ping(&client, 2).received, 2, "forwarding is untouched");
    });
}

#[test]
fn after_ovs_vswitchd_restarts_the_actors_reinstall_flows_on_their_own() {
    let mut ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let web = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    actix_rt::System::new().block_on(async {
        let agent = start_agent(&ovs, &bridge);
        observe(
            &agent,
            traffic_controls(&selecting("mirror-web", "web")),
            vec![web.info(&[("app", "web")]), client.info(&[("app", "client")])],
        );
        converged(&agent, "web-1 mirrored", |plan| plan.effective.len() == 1).await;
        let planned = agent.state.realized().map(|r| r.plan.flows.len()).unwrap_or_default();

        let killed = Instant::now();
        ovs.restart_vswitchd();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let flows = ovs.dump_flows(&bridge);
            let flows_back =
                flows.len() >= planned && flows.iter().any(|f| f.contains("tap0") || f.contains("output:"));
            // The new ovs-vswitchd forgot the port config; the agent says it again.
            if flows_back && ovs.is_no_flood(&bridge, "tap0") {
                break;
            }
            assert!(Instant::now() < deadline, "flows and no-flood never came back after the restart");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        converged(&agent, "plan restored", |_| true).await;
        eprintln!("flows and port config restored {:?} after ovs-vswitchd was restarted", killed.elapsed());
        let capture = Capture::inbound(ovs.node(), "tap0", "icmp");
        assert_eq!(web.ping(&client, 2).received, 2);
        assert_eq!(capture.stop().len(), 4, "mirroring works again after the restart");
    });
}

/// Records what the flow manager's switch watch reports.
struct Watched(Arc<std::sync::Mutex<Vec<bool>>>);

impl actix::Actor for Watched {
    type Context = actix::Context<Self>;
}

impl actix::Handler<SwitchConnected> for Watched {
    type Result = ();

    fn handle(&mut self, connected: SwitchConnected, _: &mut Self::Context) {
        self.0.lock().expect("the test's own lock").push(connected.reconnected);
    }
}

/// A run of operations planned for connections of an older epoch never
/// reaches the switch: once ovs-vswitchd restarted (it forgot the port
/// settings the run assumed) and the flow manager's watch saw it, the run
/// is answered `NewEpoch` and nothing is sent; planned again for the new
/// epoch, it is carried out.
#[test]
fn a_run_planned_before_a_restart_never_reaches_the_restarted_switch() {
    let mut ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    actix_rt::System::new().block_on(async {
        use actix::Actor as _;
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let watched = Watched(seen.clone()).start();
        let connector = SocketConnector {
            ovsdb: OvsSocket::Unix(ovs.db_socket()),
            openflow: OvsSocket::Unix(bridge.mgmt.clone()),
        };
        let flows = FlowManager::new(connector, watched.recipient()).start();
        let before = flows.send(DumpAgentFlows).await.expect("mailbox").expect("dump").epoch;
        let flow = Flow::new(Cookie::pipeline(), Table::Output, 7, vec![], vec![FlowAction::Normal]);
        let run = |epoch| ApplyOpenFlowOperations {
            epoch,
            operations: vec![Operation::ApplyFlows(flow_diff::diff(std::slice::from_ref(&flow), &[]))],
        };

        ovs.restart_vswitchd();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.lock().expect("the test's own lock").contains(&true) {
            assert!(Instant::now() < deadline, "the flow manager never saw the switch come back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stale = flows.send(run(before)).await.expect("mailbox").expect("answered");
        let Applied::NewEpoch(now) = stale else { panic!("a stale run was carried out: {stale:?}") };
        assert!(now > before, "{now:?} after {before:?}");
        assert!(ovs.dump_flows(&bridge).is_empty(), "nothing of the stale run reached the switch");
        let fresh = flows.send(run(now)).await.expect("mailbox").expect("carried out");
        assert_eq!(fresh, Applied::Done);
        assert_eq!(ovs.dump_flows(&bridge).len(), 1);
    });
}
