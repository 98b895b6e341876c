//! What cluster-wide objects cost the agent: it lists and watches every
//! Namespace (their labels are what `namespaceSelector` selects) and every
//! TrafficControl, whichever node their Pods are on. 5,000 Namespaces and
//! 10,000 TrafficControls (none selecting a Pod of this node, all naming
//! one target port) are created through the API; reported: the agent's
//! RSS before and after (and its peak), what each object costs, how long
//! until the last one is in a pass, and the status writes it made (none:
//! a node with nothing selected and nothing wrong reports nothing).

use devcluster::socket::client::Client;
use std::time::{Duration, Instant};

use tests::agent::AgentProcess;
use tests::proc_stats::ProcStats;

const NAMESPACES: usize = 5_000;
const TRAFFIC_CONTROLS: usize = 10_000;

pub fn measure(agent: &mut AgentProcess, api: &Client, server_pid: u32) {
    println!("cluster-wide objects: {NAMESPACES} Namespaces and {TRAFFIC_CONTROLS} TrafficControls");
    std::thread::sleep(Duration::from_secs(2));
    let before = stats(agent);
    let writes_before = metric(agent, "tc_agent_status_writes_total");
    let passes_before = metric(agent, "tc_agent_reconcile_duration_seconds_count");
    let planning_before = metric(agent, "tc_agent_pass_step_duration_seconds_sum{step=\"plan\"}");
    let cpu_ticks = |pid| ProcStats::read(pid).map_or(0, |s| s.cpu_ticks);
    let cpu_before = (cpu_ticks(agent.pid()), cpu_ticks(server_pid));
    let started = Instant::now();
    for i in 0..NAMESPACES {
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"team-{i:04}","labels":{{"team":"t{i:04}","tier":"t{}"}}}}}}"#,
            i % 7
        );
        super::request(api, "POST", "/api/v1/namespaces", &body);
    }
    for i in 0..TRAFFIC_CONTROLS {
        let body = format!(
            r#"{{"apiVersion":"crd.antrea.io/v1alpha2","kind":"TrafficControl","metadata":{{"name":"scale-{i:05}"}},"spec":{{"appliedTo":{{"namespaceSelector":{{"matchLabels":{{"team":"t{:04}"}}}},"podSelector":{{"matchLabels":{{"app":"a{}"}}}}}},"direction":"Both","action":"Mirror","targetPort":{{"ovsInternal":{{"name":"tap0"}}}}}}}}"#,
            i % NAMESPACES,
            i % 13
        );
        super::request(api, "POST", super::TRAFFIC_CONTROLS_PATH, &body);
    }
    let created = started.elapsed();
    // The cheap endpoint, not too often: building `/status` for 10,000
    // TrafficControls fifty times a second would be most of what is measured.
    let expected = TRAFFIC_CONTROLS as f64;
    let deadline = Instant::now() + Duration::from_secs(900);
    while metric(agent, "tc_agent_traffic_controls{state=\"realized\"}") < expected {
        assert!(Instant::now() < deadline, "not all realized after 15 minutes:\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(250));
    }
    let realized = started.elapsed();
    let cpu = |ticks: u64| ticks as f64 / 100.0;
    let (agent_cpu, server_cpu) =
        (cpu(cpu_ticks(agent.pid()) - cpu_before.0), cpu(cpu_ticks(server_pid) - cpu_before.1));
    std::thread::sleep(Duration::from_secs(5));
    let after = stats(agent);
    let objects = (NAMESPACES + TRAFFIC_CONTROLS) as f64;
    println!(
        "  created through the API in {:.1} s; all in a pass after {:.1} s",
        created.as_secs_f64(),
        realized.as_secs_f64()
    );
    println!(
        "  agent RSS: {:.1} MiB before, {:.1} MiB after (peak {:.1} MiB): {:.2} KiB per object",
        before.rss_mib(),
        after.rss_mib(),
        after.peak_rss_kib as f64 / 1024.0,
        (after.rss_kib.saturating_sub(before.rss_kib)) as f64 / objects
    );
    println!("  open descriptors: {} before, {} after", before.fds, after.fds);
    println!("  CPU meanwhile: agent {agent_cpu:.1} s, API server {server_cpu:.1} s");
    let writes = metric(agent, "tc_agent_status_writes_total") - writes_before;
    println!("  status writes for them: {writes}");
    let passes = metric(agent, "tc_agent_reconcile_duration_seconds_count") - passes_before;
    let planning = metric(agent, "tc_agent_pass_step_duration_seconds_sum{step=\"plan\"}") - planning_before;
    println!("  passes meanwhile: {passes} ({:.1} s planning in all)", planning);
    agent.wait_for("the switch holding the plan", Duration::from_secs(60), |a| {
        a.get("/status").is_some_and(|(_, body)| body.contains("\"inSync\": true"))
    });
}

/// The agent's `/proc` figures (it must still run).
pub fn stats(agent: &AgentProcess) -> ProcStats {
    ProcStats::read(agent.pid()).unwrap_or_else(|| panic!("the agent exited:\n{}", agent.log()))
}

fn metric(agent: &AgentProcess, series: &str) -> f64 {
    agent.metric(series).unwrap_or(0.0)
}
