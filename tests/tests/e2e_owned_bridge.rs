//! An owned bridge must be the agent's: started in owned mode on a bridge
//! whose pipeline tables hold someone else's flows, the agent writes
//! nothing, exits as it does for a bad configuration (code 2) and says
//! which tables and cookies it found and what to do; on a bridge with only
//! the flow OVS puts in every new bridge, it starts.

use std::time::Duration;

use tests::agent::AgentProcess;
use tests::devcluster::DevCluster;
use tests::ovs::Ovs;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn an_owned_bridge_with_someone_elses_flows_is_refused_and_left_as_it_was() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    for flow in [
        "cookie=0x1f,table=0,priority=100,in_port=1,actions=drop",
        "cookie=0x0,table=0,priority=0,actions=drop",
        "cookie=0xa,table=2,priority=5,actions=NORMAL",
        "cookie=0xb,table=40,priority=5,actions=NORMAL",
    ] {
        ovs.ofctl(&bridge, "add-flow", &[flow]);
    }
    let before = ovs.dump_flows(&bridge);
    let cluster = DevCluster::start();
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, "node-1");
    assert_eq!(agent.wait_exit(WAIT), Some(2), "refused like a bad configuration");
    let log = agent.log();
    let expected = format!(
        "bridge {} is not the agent's to own: 3 flows the agent did not write, in table 0 (cookies 0x0, 0x1f) and table 2 (cookie 0xa)",
        bridge.name
    );
    assert!(log.contains(&expected), "{log}");
    assert!(log.contains("set trafficControl.bridgeMode: shared"), "{log}");
    assert_eq!(ovs.dump_flows(&bridge), before, "not a flow changed");
}

#[test]
fn a_new_bridge_with_only_ovs_default_flow_is_the_agents() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    // What `ovs-vsctl add-br` leaves in a bridge without a controller.
    ovs.ofctl(&bridge, "add-flow", &["priority=0,actions=NORMAL"]);
    let cluster = DevCluster::start();
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, "node-1");
    agent.wait_status("the pipeline installed", WAIT, |s| s.ready);
    let flows = ovs.dump_flows(&bridge);
    assert!(
        flows.iter().any(|f| f.contains("priority=0 actions=goto_table:1")),
        "the agent's table-0 default replaced OVS's: {flows:#?}"
    );
    assert!(
        !flows.iter().any(|f| f.ends_with("actions=NORMAL") && f.starts_with("cookie=0x0,")),
        "{flows:#?}"
    );
}
