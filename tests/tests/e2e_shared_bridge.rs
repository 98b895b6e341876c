//! The agent in shared mode on a bridge whose OpenFlow tables another
//! controller programs (here the test plays it: NORMAL forwarding and an
//! ACL that drops TCP to port 80, under a cookie of its own). The agent
//! writes no flow: Mirror is realized with a `Mirror` row, one copy per
//! packet per direction; the controller's flows are byte for byte the same
//! before, during and after; Redirect is refused with a condition that
//! says why; deleting the TrafficControls removes exactly what the agent
//! created. (Beside a real OVN: `e2e_ovn.rs`.)

use std::time::Duration;

use tests::agent::AgentProcess;
use tests::capture::Capture;
use tests::devcluster::{DevCluster, namespace_yaml};
use tests::ovs::{Bridge, Ovs};
use tests::pod::Pod;

const NODE: &str = "node-1";
const WAIT: Duration = Duration::from_secs(20);
const CNI_COOKIE: &str = "0xc0ffee";

fn mirror(name: &str, app: &str, direction: &str, target: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: {name}}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {{app: {app}}}}}}}\n  direction: {direction}\n  action: Mirror\n  targetPort: {{{target}}}\n"
    )
}

const REDIRECT: &str = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: redirect-db}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: db}}}\n  direction: Both\n  action: Redirect\n  targetPort: {ovsInternal: {name: tap5}}\n  returnPort: {ovsInternal: {name: tap6}}\n";

/// What the "CNI" installs: forwarding, and an ACL dropping TCP to :80.
fn program_the_cni(ovs: &Ovs, bridge: &Bridge) {
    ovs.ofctl(bridge, "add-flow", &[&format!("cookie={CNI_COOKIE},priority=0,actions=NORMAL")]);
    ovs.ofctl(bridge, "add-flow", &[&format!("cookie={CNI_COOKIE},priority=100,tcp,tp_dst=80,actions=drop")]);
}

/// The controller's flows as `dump-flows` prints them, without counters.
fn cni_flows(ovs: &Ovs, bridge: &Bridge) -> Vec<String> {
    ovs.dump_flows(bridge).into_iter().filter(|f| f.contains(&format!("cookie={CNI_COOKIE}"))).collect()
}

/// The agent's flows (cookie 0x7463… in the top bits).
fn agent_flows(ovs: &Ovs, bridge: &Bridge) -> Vec<String> {
    ovs.ofctl(bridge, "dump-flows", &["cookie=0x7463000000000000/0xffff000000000000", "--no-stats"])
        .lines()
        .filter(|l| l.contains("cookie="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn on_a_bridge_another_controller_programs_the_agent_mirrors_with_mirror_rows_and_writes_no_flow() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let web = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    let db = Pod::attach(&ovs, &bridge, "default", "db", 3);
    program_the_cni(&ovs, &bridge);
    // Someone else's mirror on the same bridge: never touched.
    ovs.vsctl(&[
        "--",
        "--id=@p",
        "get",
        "port",
        &db.port,
        "--",
        "--id=@m",
        "create",
        "mirror",
        "name=cni-mirror",
        "select-dst-port=@p",
        "--",
        "add",
        "bridge",
        &bridge.name,
        "mirrors",
        "@m",
    ]);
    let before = cni_flows(&ovs, &bridge);
    assert_eq!(before.len(), 2, "{before:?}");
    let cluster = DevCluster::start();
    cluster.apply(&namespace_yaml("default"));
    cluster.create_pod(&web, NODE, &[("app", "web")]);
    cluster.create_pod(&client, NODE, &[("app", "client")]);
    cluster.create_pod(&db, NODE, &[("app", "db")]);
    cluster.apply(&mirror("mirror-web", "web", "Both", "ovsInternal: {name: tap0}"));
    cluster.apply(REDIRECT);

    let mut agent = AgentProcess::start_in_mode(&ovs, &bridge, &cluster.agent_kubeconfig, NODE, "shared");
    agent.wait_ready(WAIT);
    agent.wait_status("mirror-web realized with its mirror row", WAIT, |s| {
        s.pods_of("mirror-web") == ["default/web-1"]
            && s.traffic_control("mirror-web").is_some_and(|t| t.progress == "Realized")
    });
    let status = agent.status();
    assert_eq!(status.bridge_mode.name(), "shared");
    assert!(agent_flows(&ovs, &bridge).is_empty(), "the agent wrote flows: {:?}", agent_flows(&ovs, &bridge));
    let mirrors = ovs.vsctl(&["--columns=name,external_ids", "list", "mirror"]);
    assert!(mirrors.contains("tc-tap0") && mirrors.contains("cni-mirror"), "{mirrors}");

    // One copy per packet per direction: requests from web, replies to it.
    let capture = Capture::inbound(ovs.node(), "tap0", "icmp");
    let at_client = Capture::inbound(&client.netns, "eth0", "icmp[icmptype] == icmp-echo");
    assert_eq!(web.ping(&client, 4).received, 4, "the CNI's forwarding goes on");
    assert_eq!(capture.stop().len(), 8, "each request and each reply once");
    assert_eq!(at_client.stop().len(), 4, "mirroring adds no duplicate at the destination");
    // The CNI's ACL still drops what it drops.
    let port80 =
        client.netns.try_exec(&["timeout", "1", "bash", "-c", &format!("echo > /dev/tcp/{}/80", web.ip)]);
    assert!(!port80.status.success(), "the ACL's drop is still there");
    // Nothing of an unselected Pod's traffic.
    let capture = Capture::inbound(ovs.node(), "tap0", "icmp");
    assert_eq!(client.ping(&db, 2).received, 2);
    assert!(capture.stop().is_empty(), "client and db are not selected");

    // Redirect is refused, saying why and what to do; it creates nothing.
    agent.wait_for("redirect-db refused in kubectl", WAIT, |_| {
        cluster.condition("redirect-db", NODE, "Realized", "status") == "False"
    });
    let message = cluster.condition("redirect-db", NODE, "Realized", "message");
    assert!(
        message.contains("Redirect needs the agent's own OpenFlow pipeline")
            && message.contains("bridgeMode: owned"),
        "{message}"
    );
    let ports = ovs.vsctl(&["list-ports", &bridge.name]);
    assert!(!ports.lines().any(|p| p == "tap5" || p == "tap6"), "{ports}");

    // The controller's flows never changed.
    assert_eq!(cni_flows(&ovs, &bridge), before);
    // The agent restarted: still nothing of its own in the tables, the
    // mirror is the same row.
    let uuid = ovs.vsctl(&["--columns=_uuid", "find", "mirror", "name=tc-tap0"]);
    drop(agent.stop());
    let mut agent = AgentProcess::start_in_mode(&ovs, &bridge, &cluster.agent_kubeconfig, NODE, "shared");
    agent.wait_ready(WAIT);
    agent.wait_status("the restarted agent in sync", WAIT, |s| s.pods_of("mirror-web") == ["default/web-1"]);
    assert_eq!(ovs.vsctl(&["--columns=_uuid", "find", "mirror", "name=tc-tap0"]), uuid);
    assert_eq!(cni_flows(&ovs, &bridge), before);

    // Deleting the TrafficControls removes exactly what the agent made.
    cluster.kubectl(&["delete", "tc", "mirror-web", "redirect-db"]);
    agent.wait_for("the agent's mirror and port gone", WAIT, |_| {
        !ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == "tap0")
            && !ovs.vsctl(&["--columns=name", "list", "mirror"]).contains("tc-tap0")
    });
    assert!(
        ovs.vsctl(&["--columns=name", "list", "mirror"]).contains("cni-mirror"),
        "the other mirror stays"
    );
    assert_eq!(cni_flows(&ovs, &bridge), before);
    assert!(agent_flows(&ovs, &bridge).is_empty());
    cluster.assert_agent_requests_allowed_by_deploy_rbac();
}
