//! The whole product on one node: `tc-devcluster`, real `kubectl`, a
//! private Open vSwitch with Pods in namespaces, and `tc-agent` as a
//! process. The harness plays kubelet and CNI (Pod objects, Pod ports).

use std::time::Duration;

use datapath::status::AgentStatus;
use tests::agent::AgentProcess;
use tests::capture::Capture;
use tests::collector::{Collector, INTERFACE, icmp_copies};
use tests::devcluster::{DevCluster, namespace_yaml};
use tests::ovs::Ovs;
use tests::pod::Pod;

const NODE: &str = "node-1";
const WAIT: Duration = Duration::from_secs(20);

fn fixture(path: &str) -> String {
    format!("{}/../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Waits until the agent's `/status` satisfies `check`, in sync.
fn wait_status(agent: &mut AgentProcess, what: &str, check: impl Fn(&AgentStatus) -> bool) {
    agent.wait_status(what, WAIT, check);
}

fn condition(cluster: &DevCluster, tc: &str, kind: &str, field: &str) -> String {
    cluster.condition(tc, NODE, kind, field)
}

fn wait_condition(cluster: &DevCluster, agent: &mut AgentProcess, tc: &str, kind: &str, status: &str) {
    agent.wait_for(&format!("tc/{tc} {kind}={status} in kubectl"), WAIT, |_| {
        condition(cluster, tc, kind, "status") == status
    });
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
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);

    // The guide's example, verbatim.
    let applied = cluster.kubectl(&["apply", "-f", &fixture("seed/mirror-web-app.yaml")]);
    assert!(applied.contains("trafficcontrol.crd.antrea.io/mirror-web-app created"), "{applied}");
    wait_status(&mut agent, "mirror-web-app realized for web-1", |s| {
        s.pods_of("mirror-web-app") == ["default/web-1"]
            && s.traffic_control("mirror-web-app").is_some_and(|t| t.progress == "Realized")
    });
    collector.resolve(&ovs);
    let at_collector = Capture::inbound(&collector.netns, INTERFACE, "udp port 4789");
    assert_eq!(web.ping(&client, 3).received, 3, "mirroring must not break the traffic");
    let mirrored = icmp_copies(&at_collector.stop()).len();
    assert_eq!(mirrored, 6, "3 requests and 3 replies of web-1, each mirrored once");

    // What the user sees.
    let table = cluster.kubectl(&["get", "tc"]);
    assert!(
        table.lines().any(|l| l.split_whitespace().take(3).eq(["mirror-web-app", "Both", "Mirror"])),
        "{table}"
    );
    wait_condition(&cluster, &mut agent, "mirror-web-app", "Realized", "True");
    assert!(
        cluster.events("mirror-web-app").iter().any(|(reason, _)| reason == "Realized"),
        "a Realized Event: {:?}",
        cluster.events("mirror-web-app")
    );

    // A label change moves a Pod in; a new Pod is picked up.
    cluster.kubectl(&["label", "pod", "client", "app=web", "--overwrite"]);
    wait_status(&mut agent, "client selected after its label changed", |s| {
        s.pods_of("mirror-web-app") == ["default/client", "default/web-1"]
    });
    let web2 = Pod::attach(&ovs, &bridge, "default", "web-2", 4);
    cluster.create_pod(&web2, NODE, &[("app", "web")]);
    wait_status(&mut agent, "the new Pod web-2 selected", |s| s.pods_of("mirror-web-app").len() == 3);

    // A Namespace label change moves the Namespace's Pods in.
    cluster.apply(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: mirror-audited}\nspec:\n  appliedTo: {namespaceSelector: {matchLabels: {audit: \"on\"}}}\n  direction: Ingress\n  action: Mirror\n  targetPort: {ovsInternal: {name: tap0}}\n",
    );
    wait_status(&mut agent, "mirror-audited realized with no Pods", |s| {
        s.traffic_control("mirror-audited").is_some() && s.pods_of("mirror-audited").is_empty()
    });
    cluster.kubectl(&["label", "namespace", "prod", "audit=on"]);
    wait_status(&mut agent, "prod's db selected after the Namespace label", |s| {
        s.pods_of("mirror-audited") == ["prod/db"]
    });

    // Agent restart with nothing changed: no flow_mod, no port touched.
    let interfaces = uuids_of_interfaces(&ovs);
    let flows = ovs.dump_flows(&bridge);
    let log = agent.stop();
    assert!(!log.contains("panicked"), "{log}");
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);
    wait_status(&mut agent, "the restarted agent in sync", |s| s.pods_of("mirror-web-app").len() == 3);
    let metrics = agent.get("/metrics").map(|(_, body)| body).unwrap_or_default();
    assert!(metrics.lines().any(|l| l == "tc_agent_flow_mods_total 0"), "{metrics}");
    assert_eq!(uuids_of_interfaces(&ovs), interfaces, "no port was recreated or renumbered");
    assert_eq!(ovs.dump_flows(&bridge), flows);

    // Deleting a TrafficControl removes its flows and its port; the shared
    // switch stays as the other one needs it.
    let vxlan_port = agent
        .status()
        .traffic_control("mirror-web-app")
        .map(|t| t.target_port.clone())
        .expect("a target port");
    cluster.kubectl(&["delete", "tc", "mirror-web-app"]);
    wait_status(&mut agent, "mirror-web-app gone", |s| s.traffic_control("mirror-web-app").is_none());
    agent.wait_for("the VXLAN port deleted", WAIT, |_| {
        !ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == vxlan_port)
    });
    // The agent's log says so in one line naming the port.
    let log = agent.log();
    let deleted = log
        .lines()
        .filter(|l| l.contains("deleted port") && l.contains(&format!("port={vxlan_port}")))
        .count();
    assert_eq!(deleted, 1, "one deletion line for {vxlan_port} in:\n{log}");
    assert!(
        ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == "tap0"),
        "mirror-audited keeps tap0"
    );
    cluster.assert_agent_requests_allowed_by_deploy_rbac();
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
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);
    wait_status(&mut agent, "zz-first controls web-1", |s| {
        s.pods_of("zz-first") == ["default/web-1"] && s.pods_of("aa-second").is_empty()
    });
    let now = agent.status();
    assert_eq!(now.traffic_control("aa-second").map(|e| e.lost_pods[0].as_str()), Some("default/web-1"));
    assert_eq!(now.traffic_control("no-device").map(|t| t.progress.as_str()), Some("Failed"));

    wait_condition(&cluster, &mut agent, "aa-second", "Conflicted", "True");
    let message = condition(&cluster, "aa-second", "Conflicted", "message");
    assert!(message.contains("default/web-1 (controlled by tc/zz-first)"), "{message}");
    assert!(cluster.events("aa-second").iter().any(|(reason, _)| reason == "PodsControlledElsewhere"));
    wait_condition(&cluster, &mut agent, "no-device", "Realized", "False");
    let failure = condition(&cluster, "no-device", "Realized", "message");
    assert!(failure.contains("nosuchdev0"), "the failure names the device: {failure}");
    let log = agent.log();
    for port in ["tap0", "tap1"] {
        let created = log
            .lines()
            .filter(|l| l.contains("created port") && l.contains(&format!("port={port} ")))
            .count();
        assert_eq!(created, 1, "one creation line for {port} in:\n{log}");
    }
    let refused = |l: &&str| {
        l.contains("TrafficControl refused on this node") && l.contains("traffic_control=no-device ")
    };
    assert_eq!(log.lines().filter(refused).count(), 1, "one refusal line for no-device in:\n{log}");
    assert!(
        log.lines().any(|l| l.contains("OVS could not set up port") && l.contains("nosuchdev0")),
        "{log}"
    );
    wait_condition(&cluster, &mut agent, "zz-first", "Realized", "True");

    // The failed one disturbs nothing: zz-first's mirror works.
    let capture = Capture::inbound(ovs.node(), "tap0", "icmp");
    assert_eq!(web.ping(&client, 2).received, 2);
    assert_eq!(capture.stop().len(), 4);

    // Every run decides the same: a restarted agent, deciding from
    // scratch, keeps zz-first and changes nothing on the switch.
    drop(agent.stop());
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);
    wait_status(&mut agent, "zz-first still controls web-1", |s| {
        s.pods_of("zz-first") == ["default/web-1"] && s.pods_of("aa-second").is_empty()
    });
    let metrics = agent.get("/metrics").map(|(_, body)| body).unwrap_or_default();
    assert!(metrics.lines().any(|l| l == "tc_agent_flow_mods_total 0"), "{metrics}");
    cluster.assert_agent_requests_allowed_by_deploy_rbac();
}

#[test]
fn the_geneve_and_local_port_seed_examples_work_through_kubectl_apply() {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let collector = Collector::attach(&ovs);
    let web = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    let db = Pod::attach(&ovs, &bridge, "prod", "db", 3);
    let api = Pod::attach(&ovs, &bridge, "prod", "api", 4);
    let cluster = DevCluster::start();
    cluster.apply(&[namespace_yaml("default"), namespace_yaml("prod")].concat());
    for (pod, app) in [(&web, "web"), (&client, "client"), (&db, "db"), (&api, "api")] {
        cluster.create_pod(pod, NODE, &[("app", app)]);
    }
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);

    // mirror-all-to-remote: an empty podSelector selects every Pod of every
    // Namespace; copies go to the collector over GENEVE.
    cluster.kubectl(&["apply", "-f", &fixture("seed/mirror-all-to-remote.yaml")]);
    wait_status(&mut agent, "mirror-all-to-remote controls all four Pods", |s| {
        s.pods_of("mirror-all-to-remote") == ["default/client", "default/web-1", "prod/api", "prod/db"]
    });
    wait_condition(&cluster, &mut agent, "mirror-all-to-remote", "Realized", "True");
    collector.resolve(&ovs);
    let at_collector = Capture::inbound(&collector.netns, INTERFACE, "udp port 6081");
    assert_eq!(web.ping(&client, 2).received, 2);
    assert_eq!(db.ping(&api, 1).received, 1);
    assert_eq!(
        icmp_copies(&at_collector.stop()).len(),
        6,
        "3 requests and 3 replies, each copied once although both ends are selected"
    );
    let geneve_port = agent
        .status()
        .traffic_control("mirror-all-to-remote")
        .map(|t| t.target_port.clone())
        .expect("a target port");
    cluster.kubectl(&["delete", "-f", &fixture("seed/mirror-all-to-remote.yaml")]);
    agent.wait_for("the GENEVE port deleted", WAIT, |_| {
        !ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == geneve_port)
    });

    // redirect-prod-to-local: despite its name a Mirror, of prod's Pods, to
    // tap0; its returnPort is created but, with Mirror, never used, and
    // kubectl says so.
    let applied = cluster.try_kubectl(&["apply", "-f", &fixture("seed/redirect-prod-to-local.yaml")]);
    assert!(applied.status.success());
    let warning = String::from_utf8_lossy(&applied.stderr);
    assert!(warning.contains("spec.returnPort") && warning.contains("only used by Redirect"), "{warning}");
    wait_status(&mut agent, "redirect-prod-to-local controls prod's Pods", |s| {
        s.pods_of("redirect-prod-to-local") == ["prod/api", "prod/db"]
            && s.traffic_control("mirror-all-to-remote").is_none()
    });
    let ports = ovs.vsctl(&["list-ports", &bridge.name]);
    assert!(ports.lines().any(|p| p == "tap0") && ports.lines().any(|p| p == "tap1"), "{ports}");
    let at_tap0 = Capture::inbound(ovs.node(), "tap0", "icmp");
    assert_eq!(db.ping(&api, 2).received, 2);
    assert_eq!(web.ping(&client, 2).received, 2);
    let copies = at_tap0.stop();
    assert_eq!(copies.len(), 4, "prod's 2 requests and 2 replies, once each; nothing from default");
    let prod = [db.ip.parse::<std::net::Ipv4Addr>().ok(), api.ip.parse().ok()];
    for frame in &copies {
        let source = frame.get(26..30).map(|b| std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        assert!(prod.contains(&source), "a copy from outside prod: {source:?}");
    }
    let table = cluster.kubectl(&["get", "tc"]);
    assert!(table.contains("redirect-prod-to-local"), "{table}");
}
