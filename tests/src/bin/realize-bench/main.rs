//! Realization latency and steady-state cost of the agent, end to end:
//! `tc-devcluster`, `tc-agent` as a process, a private OVS.
//!
//! 1. Latency: a TrafficControl selecting 250 Pods (OVS internal ports
//!    with the CNI's external_ids; no traffic needed) is created through
//!    the API; the time until all its flows are on the switch is measured
//!    by polling the switch for one of them over our OpenFlow client (the
//!    bundle is atomic; a full dump checks the rest). Two cases: a new
//!    TrafficControl (its target port is created too) and a selector change
//!    of an existing one (flows only). p50/p99 over `--runs`, with the
//!    references measured in the same run: `ovs-ofctl --bundle add-flows`
//!    of the same flows and `ovs-vsctl add-port` of an internal port.
//! 2. The same two cases on a shared bridge (the agent in shared mode:
//!    a `Mirror` row, no flow; see [`shared`]), against `ovs-vsctl`
//!    making the same row.
//! 3. From the request to the first copy at the target, in each mode, one
//!    Pod pinging every millisecond: the API request, `kubectl apply`, and
//!    OVS's own port mirroring set up by hand (see [`first_copy`]).
//! 4. Steady state: 1,000 Pods and 100 TrafficControls; the agent's RSS,
//!    and its CPU time over 10 idle seconds.
//! 5. Cluster-wide objects: 5,000 Namespaces and 10,000 TrafficControls;
//!    the agent's RSS per object (see [`cluster_scale`]).
//!
//! `cargo run --release -p tests --bin realize-bench -- [--runs N] [--log FILE] [--only cluster-scale|first-copy]`
//! (`--log FILE`: the agent's whole log, each pass with its steps' times,
//! written to FILE; `TC_AGENT=PATH` times another build of `tc-agent`, to
//! compare two commits against references measured the same way)

mod cluster_scale;
mod first_copy;
mod shared;

use devcluster::socket::client::Client;
use std::time::{Duration, Instant};

use actors::openflow_connection::connect_unix;
use datapath::flows::{Cookie, Match};
use datapath::openflow::flow_mod::known_fields;
use tests::agent::AgentProcess;
use tests::devcluster::{DevCluster, namespace_yaml, pod_yaml};
use tests::ovs::{Bridge, Ovs};

const NODE: &str = "node-1";
const SELECTED: usize = 250;
/// The API path of TrafficControls.
const TRAFFIC_CONTROLS_PATH: &str = "/apis/crd.antrea.io/v1alpha2/trafficcontrols";

fn main() {
    tests::require_tools(
        "realize-bench",
        &[&tests::SWITCH_TOOLS[..], &[tests::KUBECTL, ("tcpdump", "apt-get install -y tcpdump")]].concat(),
    );
    let runs: usize =
        std::env::args().skip_while(|a| a != "--runs").nth(1).and_then(|n| n.parse().ok()).unwrap_or(30);
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    if only.as_deref() == Some("first-copy") {
        first_copy::both_modes(runs);
        return;
    }
    let BenchNode { ovs, bridge, cluster, mut agent } = BenchNode::start("owned");
    let api = cluster.client();
    if only.as_deref() == Some("cluster-scale") {
        cluster_scale::measure(&mut agent, &api, cluster.pid());
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    println!("realization latency, {SELECTED} selected Pods, {runs} runs (+1 warm-up)");
    let name = "bench";
    let cookie = Cookie::traffic_control(name).0;
    let count = |runtime: &tokio::runtime::Runtime| {
        runtime.block_on(async {
            let mut switch = connect_unix(&bridge.mgmt).await.expect("OpenFlow");
            switch.dump_flows(cookie, u64::MAX).await.expect("dump").len()
        })
    };
    // Warm-up: learn how many flows the TrafficControl has.
    request(&api, "POST", TRAFFIC_CONTROLS_PATH, &tc_json(name, "bench"));
    agent.wait_for("the warm-up TrafficControl realized", Duration::from_secs(30), |a| {
        a.get("/status").is_some_and(|(_, b)| b.contains("\"inSync\": true") && b.contains("p249"))
    });
    let expected = count(&runtime);
    println!("  {expected} flows per run");
    // The arrival is watched through one of the flows: a bundle is atomic,
    // so the first flow seen means all are there (checked with a full dump
    // each time). Polling a 500-flow dump instead would load the switch
    // the agent is timed on.
    let probe = runtime.block_on(async {
        let mut switch = connect_unix(&bridge.mgmt).await.expect("OpenFlow");
        let flows = switch.dump_flows(cookie, u64::MAX).await.expect("dump");
        flows.last().and_then(|f| known_fields(f.fields.clone())).expect("a flow of the TrafficControl")
    });
    let arrived = |runtime: &tokio::runtime::Runtime, started: Instant| {
        wait_flows_through(runtime, &bridge, cookie, &probe, expected) - started
    };

    // The reference flows: the TrafficControl's own, as the switch holds
    // them, added by `ovs-ofctl --bundle add-flows` (process start
    // included, as a user would run it).
    let text = ovs.ofctl(&bridge, "dump-flows", &[&format!("cookie={cookie:#x}/-1"), "--no-stats"]);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| l.starts_with("cookie=")).collect();
    assert_eq!(lines.len(), expected, "the reference needs the TrafficControl's flows");
    let file = std::env::temp_dir().join(format!("tc-realize-bench-{}.txt", std::process::id()));
    std::fs::write(&file, lines.join("\n") + "\n").expect("flow file");

    // Each round times the agent and the references in turn, each from a
    // settled switch (ovs-vswitchd done with the previous step), so that
    // drifting load on the machine hits all of them alike.
    let mut created = Vec::new();
    let mut reselected = Vec::new();
    let mut reference = Vec::new();
    let mut port_reference = Vec::new();
    for run in 0..runs {
        request(&api, "DELETE", &format!("{TRAFFIC_CONTROLS_PATH}/{name}"), "");
        wait_flows(&runtime, &bridge, cookie, 0);
        wait_port_gone(&ovs, &bridge, "tap0");
        settle();
        let started = Instant::now();
        request(&api, "POST", TRAFFIC_CONTROLS_PATH, &tc_json(name, "bench"));
        created.push(arrived(&runtime, started));

        // Selector away and back: flows only, the port stays.
        patch_selector(&api, name, "nobody");
        wait_flows(&runtime, &bridge, cookie, 0);
        settle();
        let started = Instant::now();
        patch_selector(&api, name, "bench");
        reselected.push(arrived(&runtime, started));

        // The same flows through ovs-ofctl, on the same switch (the agent
        // has no pass to run meanwhile: nothing changes in the cluster).
        patch_selector(&api, name, "nobody");
        wait_flows(&runtime, &bridge, cookie, 0);
        settle();
        let started = Instant::now();
        ovs.ofctl(&bridge, "add-flows", &["--bundle", &file.to_string_lossy()]);
        reference.push(started.elapsed());
        assert_eq!(count(&runtime), expected);
        ovs.ofctl(&bridge, "del-flows", &[&format!("cookie={cookie:#x}/-1")]);
        wait_flows(&runtime, &bridge, cookie, 0);

        // And a port: `ovs-vsctl add-port` of an internal port, which
        // waits until ovs-vswitchd has it, as the agent waits for the
        // ofport.
        settle();
        let port = format!("ref{run}");
        let started = Instant::now();
        ovs.vsctl(&["add-port", &bridge.name, &port, "--", "set", "interface", &port, "type=internal"]);
        port_reference.push(started.elapsed());
        ovs.vsctl(&["del-port", &bridge.name, &port]);
        patch_selector(&api, name, "bench");
        wait_flows(&runtime, &bridge, cookie, expected);
    }
    let _ = std::fs::remove_file(&file);

    let created_p50 = report("new TrafficControl (port + flows)", &mut created);
    let reselected_p50 = report("selector change (flows only)", &mut reselected);
    let reference_p50 = report("reference: ovs-ofctl --bundle add-flows of the same flows", &mut reference);
    let port_p50 = report("reference: ovs-vsctl add-port of an internal port", &mut port_reference);
    println!(
        "  ratios (p50): selector change / add-flows {:.2}; new TrafficControl / (add-port + add-flows) {:.2}",
        reselected_p50 / reference_p50,
        created_p50 / (port_p50 + reference_p50)
    );
    // How much of that is the agent's pass itself (plan, ports, bundle),
    // the rest being the watch delivery and the switch applying the bundle.
    let value = |series: &str| agent.metric(series).unwrap_or(0.0);
    let passes = value("tc_agent_reconcile_duration_seconds_count");
    if passes > 0.0 {
        println!(
            "  agent passes: {passes} (mean {:.1} ms per pass, in the agent)",
            value("tc_agent_reconcile_duration_seconds_sum") / passes * 1e3
        );
        for step in
            ["host_network", "read_ports", "dump_flows", "plan", "port_operations", "openflow_operations"]
        {
            let label = format!("{{step=\"{step}\"}}");
            let count = value(&format!("tc_agent_pass_step_duration_seconds_count{label}"));
            if count > 0.0 {
                let sum = value(&format!("tc_agent_pass_step_duration_seconds_sum{label}"));
                println!("    {step}: mean {:.2} ms over {count} steps", sum / count * 1e3);
            }
        }
    }
    if let Some(path) = std::env::args().skip_while(|a| a != "--log").nth(1) {
        // The agent's whole log (each pass's steps, event arrivals).
        std::fs::write(&path, agent.log()).expect("the agent's log");
        println!("  the agent's log: {path}");
    }

    shared::latency(runs);
    first_copy::both_modes(runs);
    steady_state(&cluster, &mut agent, &api);
    cluster_scale::measure(&mut agent, &api, cluster.pid());
}

/// A switch with [`SELECTED`] Pod ports, the dev API server with their
/// Pods, and the agent ready in `mode`.
struct BenchNode {
    ovs: Ovs,
    bridge: Bridge,
    cluster: DevCluster,
    agent: AgentProcess,
}

impl BenchNode {
    fn start(mode: &str) -> BenchNode {
        let ovs = Ovs::start();
        let bridge = ovs.add_bridge("br");
        if mode == "shared" {
            // The CNI's forwarding under its own cookie, as on a real br-int.
            ovs.ofctl(&bridge, "add-flow", &["cookie=0xc1,priority=0,actions=NORMAL"]);
        }
        add_pod_ports(&ovs, &bridge, SELECTED);
        let cluster = DevCluster::start();
        cluster.apply(&namespace_yaml("default"));
        let pods: String =
            (0..SELECTED).map(|i| pod_yaml("default", &format!("p{i}"), NODE, &[("app", "bench")])).collect();
        cluster.apply(&pods);
        let mut agent = AgentProcess::start_in_mode(&ovs, &bridge, &cluster.agent_kubeconfig, NODE, mode);
        agent.wait_ready(Duration::from_secs(30));
        BenchNode { ovs, bridge, cluster, agent }
    }
}

/// `count` internal ports that look like Pod ports to the agent.
fn add_pod_ports(ovs: &Ovs, bridge: &Bridge, count: usize) {
    let mut args: Vec<String> = Vec::new();
    for i in 0..count {
        let port = format!("pp{i}");
        if !args.is_empty() {
            args.push("--".into());
        }
        args.extend([
            "add-port".into(),
            bridge.name.clone(),
            port.clone(),
            "--".into(),
            "set".into(),
            "interface".into(),
            port,
            "type=internal".into(),
            format!("external_ids:pod-name=p{i}"),
            "external_ids:pod-namespace=default".into(),
            format!("external_ids:attached-mac=\"02:99:00:00:{:02x}:{:02x}\"", i / 256, i % 256),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ovs.vsctl(&args);
}

fn tc_json(name: &str, app: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1alpha2","kind":"TrafficControl","metadata":{{"name":"{name}"}},"spec":{{"appliedTo":{{"podSelector":{{"matchLabels":{{"app":"{app}"}}}}}},"direction":"Both","action":"Mirror","targetPort":{{"ovsInternal":{{"name":"tap0"}}}}}}}}"#
    )
}

fn patch_selector(api: &Client, name: &str, app: &str) {
    let body = format!(r#"{{"spec":{{"appliedTo":{{"podSelector":{{"matchLabels":{{"app":"{app}"}}}}}}}}}}"#);
    request_typed(
        api,
        "PATCH",
        &format!("{TRAFFIC_CONTROLS_PATH}/{name}"),
        &body,
        "application/merge-patch+json",
    );
}

fn request(api: &Client, method: &str, path: &str, body: &str) {
    request_typed(api, method, path, body, "application/json");
}

fn request_typed(api: &Client, method: &str, path: &str, body: &str, content_type: &str) {
    let answer = api.request(method, path, Some((content_type, body)));
    assert!(answer.as_ref().is_ok_and(|(code, _)| (200..300).contains(code)), "{method} {path}: {answer:?}");
}

/// Waits until a flow of `cookie` matching `probe` is on the switch, and
/// returns when it was first seen; then checks that all `expected` are.
fn wait_flows_through(
    runtime: &tokio::runtime::Runtime,
    bridge: &Bridge,
    cookie: u64,
    probe: &[Match],
    expected: usize,
) -> Instant {
    runtime.block_on(async {
        let mut switch = connect_unix(&bridge.mgmt).await.expect("OpenFlow");
        let deadline = Instant::now() + Duration::from_secs(30);
        while switch.dump_flows_matching(cookie, u64::MAX, probe.to_vec()).await.expect("dump").is_empty() {
            assert!(Instant::now() < deadline, "the probe flow never arrived");
            // Every probe is a request ovs-vswitchd serves while it works
            // on the bundle being timed: poll gently.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let seen = Instant::now();
        let all = switch.dump_flows(cookie, u64::MAX).await.expect("dump").len();
        assert_eq!(all, expected, "the bundle is atomic: all flows arrive with the first");
        seen
    })
}

fn wait_flows(runtime: &tokio::runtime::Runtime, bridge: &Bridge, cookie: u64, expected: usize) {
    runtime.block_on(async {
        let mut switch = connect_unix(&bridge.mgmt).await.expect("OpenFlow");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let flows = switch.dump_flows(cookie, u64::MAX).await.expect("dump").len();
            if flows == expected {
                return;
            }
            assert!(Instant::now() < deadline, "{flows} flows, never {expected}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
}

/// Lets ovs-vswitchd finish what the last step started (a deleted port's
/// device, revalidation) before the next timed step.
fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

/// Waits until the bridge no longer has `port`.
fn wait_port_gone(ovs: &Ovs, bridge: &Bridge, port: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ovs.vsctl(&["list-ports", &bridge.name]).lines().any(|p| p == port) {
        assert!(Instant::now() < deadline, "{port} was never deleted");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Prints p50/p99/min/max of `samples`; returns the p50 in ms.
fn report(what: &str, samples: &mut [Duration]) -> f64 {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "  {what}: p50 {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        at(0.0),
        at(1.0)
    );
    at(0.5)
}

/// 1,000 Pods and 100 TrafficControls: RSS, then CPU over 10 idle seconds.
fn steady_state(cluster: &DevCluster, agent: &mut AgentProcess, api: &Client) {
    let more: String = (SELECTED..1000)
        .map(|i| pod_yaml("default", &format!("p{i}"), NODE, &[("app", &format!("a{}", i % 100))]))
        .collect();
    cluster.apply(&more);
    for i in 0..100 {
        let body = tc_json(&format!("tc{i:03}"), &format!("a{i}")).replace("tap0", &format!("tap{}", i % 10));
        request(api, "POST", TRAFFIC_CONTROLS_PATH, &body);
    }
    agent.wait_for("1,000 Pods and 100 TrafficControls realized", Duration::from_secs(60), |a| {
        a.get("/status").is_some_and(|(_, b)| b.contains("\"inSync\": true") && b.contains("tc099"))
    });
    std::thread::sleep(Duration::from_secs(2));
    let stats = || cluster_scale::stats(agent);
    let before = stats();
    std::thread::sleep(Duration::from_secs(10));
    let idle = stats().cpu_ticks - before.cpu_ticks;
    println!("steady state, 1,000 Pods (250 with ports) and 101 TrafficControls");
    println!("  agent RSS: {} kB", before.rss_kib);
    println!("  agent CPU over 10 idle seconds: {} ms", idle * 10);
}
