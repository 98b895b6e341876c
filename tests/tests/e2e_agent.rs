//! The whole product on one node: `tc-devcluster`, real `kubectl`, a
//! private Open vSwitch with Pods in namespaces, and `tc-agent` as a
//! process. The harness plays kubelet and CNI (Pod objects, Pod ports).

use std::time::Duration;

use datapath::encap::{self, UdpKind};
use serde_json::Value;
use tests::agent::AgentProcess;
use tests::capture::Capture;
use tests::collector::{Collector, INTERFACE};
use tests::devcluster::{DevCluster, namespace_yaml};
use tests::ovs::Ovs;
use tests::pod::Pod;

const NODE: &str = "node-1";
const WAIT: Duration = Duration::from_secs(20);

fn fixture(path: &str) -> String {
    format!("{}/../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The agent's `/status`, parsed.
fn status(agent: &AgentProcess) -> Value {
    agent.get("/status").and_then(|(_, body)| serde_json::from_str(&body).ok()).unwrap_or_default()
}

fn entry<'a>(status: &'a Value, tc: &str) -> Option<&'a Value> {
    status["trafficControls"].as_array()?.iter().find(|t| t["name"] == tc)
}

fn pods_of(status: &Value, tc: &str) -> Vec<String> {
    entry(status, tc)
        .and_then(|t| t["pods"].as_array())
        .map(|p| p.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn in_sync(status: &Value) -> bool {
    status["flows"]["inSync"] == true
}

/// Waits until the agent's `/status` satisfies `check` with the switch in
/// sync with its plan.
fn wait_status(agent: &mut AgentProcess, what: &str, check: impl Fn(&Value) -> bool) {
    agent.wait_for(what, WAIT, |a| {
        let s = status(a);
        in_sync(&s) && check(&s)
    });
}

/// A condition of this node's status entry, via kubectl's JSONPath.
fn condition(cluster: &DevCluster, tc: &str, kind: &str, field: &str) -> String {
    let path = format!(
        "jsonpath={{.status.nodes[?(@.node==\"{NODE}\")].conditions[?(@.type==\"{kind}\")].{field}}}"
    );
    let output = cluster.try_kubectl(&["get", "tc", tc, "-o", &path]);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn wait_condition(cluster: &DevCluster, agent: &mut AgentProcess, tc: &str, kind: &str, status: &str) {
    agent.wait_for(&format!("tc/{tc} {kind}={status} in kubectl"), WAIT, |_| {
        condition(cluster, tc, kind, "status") == status
    });
}

/// Events about `tc`: (reason, message).
fn events(cluster: &DevCluster, tc: &str) -> Vec<(String, String)> {
    let list: Value =
        serde_json::from_str(&cluster.kubectl(&["get", "events", "-n", "default", "-o", "json"]))
            .unwrap_or_default();
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["involvedObject"]["name"] == tc)
                .map(|e| {
                    (
                        e["reason"].as_str().unwrap_or("").to_owned(),
                        e["message"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn uuids_of_interfaces(ovs: &Ovs) -> String {
    ovs.vsctl(&["--columns=_uuid,name,ofport", "list", "interface"])
}

#[test]
fn kubectl_apply_of_the_seed_mirrors_packets_reports_status_and_follows_the_cluster() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let collector = Collector::attach(&ovs);
    let web = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    let db = Pod::attach(&ovs, &bridge, "prod", "db", 3);
    let cluster = DevCluster::start();
    cluster.apply(&[namespace_yaml("default"), namespace_yaml("prod")].concat());
    cluster.create_pod(&web, NODE, &[("app", "web")]);
    cluster.create_pod(&client, NODE, &[("app", "client")]);
    cluster.create_pod(&db, NODE, &[("app", "db")]);
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.kubeconfig, NODE);
    agent.wait_ready(WAIT);

    // The guide's example, verbatim.
    let applied = cluster.kubectl(&["apply", "-f", &fixture("seed/mirror-web-app.yaml")]);
    assert!(applied.contains("trafficcontrol.crd.antrea.io/mirror-web-app created"), "{applied}");
    wait_status(&mut agent, "mirror-web-app realized for web-1", |s| {
        pods_of(s, "mirror-web-app") == ["default/web-1"]
            && entry(s, "mirror-web-app").unwrap()["progress"] == "Realized"
    });
    let at_collector = Capture::inbound(&collector.netns, INTERFACE, "udp port 4789");
    assert_eq!(web.ping(&client, 3).received, 3, "mirroring must not break the traffic");
    let mirrored = at_collector
        .stop()
        .iter()
        .filter_map(|frame| encap::decode(frame, UdpKind::Vxlan).ok())
        .filter(|e| e.inner.len() > 34 && e.inner[12..14] == [0x08, 0x00] && e.inner[23] == 1)
        .count();
    assert_eq!(mirrored, 6, "3 requests and 3 replies of web-1, each mirrored once");

    // What the user sees.
    let table = cluster.kubectl(&["get", "tc"]);
    assert!(
        table.lines().any(|l| l.split_whitespace().take(3).eq(["mirror-web-app", "Both", "Mirror"])),
        "{table}"
    );
    wait_condition(&cluster, &mut agent, "mirror-web-app", "Realized", "True");
    assert!(
        events(&cluster, "mirror-web-app").iter().any(|(reason, _)| reason == "Realized"),
        "a Realized Event: {:?}",
        events(&cluster, "mirror-web-app")
    );

    // A label change moves a Pod in; a new Pod is picked up.
    cluster.kubectl(&["label", "pod", "client", "app=web", "--overwrite"]);
    wait_status(&mut agent, "client selected after its label changed", |s| {
        pods_of(s, "mirror-web-app") == ["default/client", "default/web-1"]
    });
    let web2 = Pod::attach(&ovs, &bridge, "default", "web-2", 4);
    cluster.create_pod(&web2, NODE, &[("app", "web")]);
    wait_status(&mut agent, "the new Pod web-2 selected", |s| pods_of(s, "mirror-web-app").len() == 3);

    // A Namespace label change moves the Namespace's Pods in.
    cluster.apply(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: mirror-audited}\nspec:\n  appliedTo: {namespaceSelector: {matchLabels: {audit: \"on\"}}}\n  direction: Ingress\n  action: Mirror\n  targetPort: {ovsInternal: {name: tap0}}\n",
    );
    wait_status(&mut agent, "mirror-audited realized with no Pods", |s| {
        entry(s, "mirror-audited").is_some() && pods_of(s, "mirror-audited").is_empty()
    });
    cluster.kubectl(&["label", "namespace", "prod", "audit=on"]);
    wait_status(&mut agent, "prod's db selected after the Namespace label", |s| {
        pods_of(s, "mirror-audited") == ["prod/db"]
    });

    // Agent restart with nothing changed: no flow_mod, no port touched.
    let interfaces = uuids_of_interfaces(&ovs);
    let flows = ovs.dump_flows(&bridge);
    let log = agent.stop();
    assert!(!log.contains("panicked"), "{log}");
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.kubeconfig, NODE);
    agent.wait_ready(WAIT);
    wait_status(&mut agent, "the restarted agent in sync", |s| pods_of(s, "mirror-web-app").len() == 3);
    let metrics = agent.get("/metrics").map(|(_, body)| body).unwrap_or_default();
    assert!(metrics.lines().any(|l| l == "tc_agent_flow_mods_total 0"), "{metrics}");
    assert_eq!(uuids_of_interfaces(&ovs), interfaces, "no port was recreated or renumbered");
    assert_eq!(ovs.dump_flows(&bridge), flows);

    // Deleting a TrafficControl removes its flows and its port; the shared
    // switch stays as the other one needs it.
    let vxlan_port =
        entry(&status(&agent), "mirror-web-app").unwrap()["targetPort"].as_str().unwrap().to_owned();
    cluster.kubectl(&["delete", "tc", "mirror-web-app"]);
    wait_status(&mut agent, "mirror-web-app gone", |s| entry(s, "mirror-web-app").is_none());
    agent.wait_for("the VXLAN port deleted", WAIT, |_| {
        !ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == vxlan_port)
    });
    assert!(
        ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == "tap0"),
        "mirror-audited keeps tap0"
    );
}

#[test]
fn the_older_traffic_control_wins_the_other_gets_a_conflict_and_a_missing_device_fails_alone() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let web = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    let cluster = DevCluster::start();
    cluster.apply(&namespace_yaml("default"));
    cluster.create_pod(&web, NODE, &[("app", "web")]);
    cluster.create_pod(&client, NODE, &[("app", "client")]);
    let mirror = |name: &str, app: &str, target: &str| {
        format!(
            "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {{name: {name}}}\nspec:\n  appliedTo: {{podSelector: {{matchLabels: {{app: {app}}}}}}}\n  direction: Both\n  action: Mirror\n  targetPort: {{{target}}}\n"
        )
    };
    // "zz-first" is older: it wins although its name sorts last.
    cluster.apply(&mirror("zz-first", "web", "ovsInternal: {name: tap0}"));
    std::thread::sleep(Duration::from_millis(1100)); // creationTimestamp has 1 s resolution
    cluster.apply(&mirror("aa-second", "web", "ovsInternal: {name: tap1}"));
    cluster.apply(&mirror("no-device", "client", "device: {name: nosuchdev0}"));
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.kubeconfig, NODE);
    agent.wait_ready(WAIT);
    wait_status(&mut agent, "zz-first controls web-1", |s| {
        pods_of(s, "zz-first") == ["default/web-1"] && pods_of(s, "aa-second").is_empty()
    });
    let now = status(&agent);
    assert_eq!(entry(&now, "aa-second").unwrap()["lostPods"][0], "default/web-1");
    assert_eq!(entry(&now, "no-device").unwrap()["progress"], "Failed");

    wait_condition(&cluster, &mut agent, "aa-second", "Conflicted", "True");
    let message = condition(&cluster, "aa-second", "Conflicted", "message");
    assert!(message.contains("default/web-1 (controlled by tc/zz-first)"), "{message}");
    assert!(events(&cluster, "aa-second").iter().any(|(reason, _)| reason == "PodsControlledElsewhere"));
    wait_condition(&cluster, &mut agent, "no-device", "Realized", "False");
    let failure = condition(&cluster, "no-device", "Realized", "message");
    assert!(failure.contains("nosuchdev0"), "the failure names the device: {failure}");
    wait_condition(&cluster, &mut agent, "zz-first", "Realized", "True");

    // The failed one disturbs nothing: zz-first's mirror works.
    let capture = Capture::inbound(ovs.node(), "tap0", "icmp");
    assert_eq!(web.ping(&client, 2).received, 2);
    assert_eq!(capture.stop().len(), 4);
}
