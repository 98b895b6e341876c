//! One stage of the demo: apply a TrafficControl with kubectl, wait for
//! the agent, send pings while a live table shows where packets land,
//! then check the counts.

use std::time::{Duration, Instant};

use super::{Console, DemoError};
use datapath::status::AgentStatus;

use crate::agent::AgentProcess;
use crate::capture::Capture;
use crate::collector::{Collector, INTERFACE, icmp_copies};
use crate::devcluster::DevCluster;
use crate::firewall::{forwarding_bridge, icmp_forwarded};
use crate::ovs::{Bridge, Ovs};
use crate::pod::Pod;

/// The nftables table of the demo's IPS.
const IPS_TABLE: &str = "ips";
/// The reason of the Event that says a TrafficControl lost Pods to an
/// older one.
const CONFLICT: &str = "PodsControlledElsewhere";
/// How long copies may trail the last ping.
const SETTLE: Duration = Duration::from_secs(3);

/// What the demo runs on.
pub struct World<'a> {
    pub ovs: &'a Ovs,
    pub bridge: &'a Bridge,
    pub cluster: &'a DevCluster,
    pub collector: &'a Collector,
    /// The bridge is a CNI's (the agent in shared mode: Mirror rows, no
    /// flow of its own).
    pub shared: bool,
}

/// Where a stage's target copies are counted.
pub enum Target {
    /// Decapsulated at the collector (VXLAN, GENEVE).
    Collector,
    /// An OVS internal port of the node (its tap device).
    Local(&'static str),
}

/// One example, applied and checked.
pub struct Stage {
    pub title: &'static str,
    pub name: &'static str,
    pub manifest: String,
    pub target: Target,
    /// ICMP packets the target must see.
    pub at_target: u64,
    /// ICMP packets the IPS must pass back through the return port.
    pub passed_back: Option<u64>,
    /// Put an IPS between tap0 and tap1.
    pub ips: bool,
    /// `kubectl delete` it afterwards.
    pub delete_after: bool,
}

impl Stage {
    /// Runs the stage; returns the checks that failed.
    pub fn run(
        &self,
        console: &mut Console<'_>,
        world: &World<'_>,
        agent: &mut AgentProcess,
        traffic: &[(&Pod, &Pod)],
        pings: u32,
    ) -> Result<Vec<String>, DemoError> {
        console.say(&format!("\n== {}", self.title));
        let mut failures = Vec::new();
        let flow_mods_before = agent.flow_mods_total().unwrap_or(0);
        apply(console, world.cluster, &self.manifest);
        let realized = console.wait(&format!("{} realized", self.name), || {
            let status = agent.status();
            // In its own pipeline, a realized TrafficControl has written
            // flows; on a shared bridge it writes none, only a Mirror row.
            (world.shared || agent.flow_mods_total().unwrap_or(0) > flow_mods_before)
                && status.in_sync()
                && status.traffic_control(self.name).is_some_and(|t| t.progress == "Realized")
        })?;
        failures.extend(realized.err());
        let node = world.ovs.node();
        if let Target::Local(port) = self.target {
            // The tap device is OVS's; up, and quiet (no IPv6 of its own).
            node.exec(&["sysctl", "-qw", &format!("net.ipv6.conf.{port}.disable_ipv6=1")]);
            node.exec(&["ip", "link", "set", port, "up"]);
        }
        if self.ips {
            forwarding_bridge(node, "ips0", ["tap0", "tap1"], IPS_TABLE);
            console
                .say("   IPS: a Linux bridge forwards what arrives on tap0 out of tap1 (nftables counts it)");
        }
        if let Target::Collector = self.target {
            world.collector.resolve(world.ovs);
        }
        let capture = match self.target {
            Target::Collector => Capture::inbound(&world.collector.netns, INTERFACE, "udp or proto gre"),
            Target::Local(port) => Capture::inbound(node, port, "icmp"),
        };
        let count = |capture: &Capture| match self.target {
            Target::Collector => icmp_copies(&capture.frames_so_far()).len() as u64,
            Target::Local(_) => capture.frames_so_far().len() as u64,
        };
        let passed_back = || self.ips.then(|| icmp_forwarded(node, IPS_TABLE));
        let pairs: Vec<String> = traffic
            .iter()
            .map(|(a, b)| format!("{}/{} -> {}/{}", a.namespace, a.name, b.namespace, b.name))
            .collect();
        console.say(&format!("   {pings} pings each: {}", pairs.join(", ")));
        console.say(&header());
        let received: u64 = std::thread::scope(|scope| {
            let pinging =
                scope.spawn(|| traffic.iter().map(|(a, b)| u64::from(a.ping(b, pings).received)).sum());
            while !pinging.is_finished() {
                console.say(&self.row(&agent.status(), count(&capture), passed_back()));
                std::thread::sleep(Duration::from_millis(500));
            }
            pinging.join().unwrap_or(0)
        });
        let settled = Instant::now() + SETTLE;
        while count(&capture) < self.at_target && Instant::now() < settled {
            std::thread::sleep(Duration::from_millis(50));
        }
        let (at_target, back) = (count(&capture), passed_back());
        console.say(&self.row(&agent.status(), at_target, back));
        let sent = u64::from(pings) * traffic.len() as u64;
        if received != sent {
            failures.push(format!("{}: {received} of {sent} pings answered", self.name));
        }
        if at_target != self.at_target {
            failures.push(format!(
                "{}: {at_target} ICMP packets at the target, expected {}",
                self.name, self.at_target
            ));
        }
        if back != self.passed_back {
            failures.push(format!("{}: {back:?} passed back, expected {:?}", self.name, self.passed_back));
        }
        let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
        console.say(&format!(
            "   {verdict}: {received}/{sent} pings answered, {at_target} copies at the target"
        ));
        if self.delete_after {
            world.cluster.kubectl(&["delete", "tc", self.name]);
            console.say(&format!("$ kubectl delete tc {}", self.name));
            let gone = console.wait(&format!("{} removed", self.name), || {
                agent.status().traffic_control(self.name).is_none()
            })?;
            failures.extend(gone.err());
        }
        Ok(failures)
    }

    fn row(&self, status: &AgentStatus, at_target: u64, passed_back: Option<u64>) -> String {
        let pods = status.pods_of(self.name).join(",");
        let port = status.traffic_control(self.name).map(|t| t.target_port.clone()).unwrap_or_default();
        let back = passed_back.map_or_else(|| "-".to_owned(), |n| n.to_string());
        format!("   {:<24} {:<36} {:<16} {:>9} {:>11}", self.name, pods, port, at_target, back)
    }
}

fn header() -> String {
    format!(
        "   {:<24} {:<36} {:<16} {:>9} {:>11}",
        "TRAFFICCONTROL", "SELECTED PODS", "TARGET PORT", "AT TARGET", "PASSED BACK"
    )
}

/// `kubectl apply -f FILE`, showing what kubectl prints (warnings too).
fn apply(console: &mut Console<'_>, cluster: &DevCluster, manifest: &str) {
    let file = std::env::temp_dir().join(format!("{}.yaml", crate::cmd::unique("tc-demo-")));
    std::fs::write(&file, manifest).expect("a temporary manifest");
    let path = file.to_string_lossy().into_owned();
    let output = cluster.try_kubectl(&["apply", "-f", &path]);
    let _ = std::fs::remove_file(&file);
    console.say("$ kubectl apply -f -  <<EOF");
    for line in manifest.lines() {
        console.say(&format!("  {line}"));
    }
    console.say("EOF");
    show(console, &output);
}

/// What kubectl printed, warnings included, indented.
fn show(console: &mut Console<'_>, output: &std::process::Output) {
    for text in [&output.stdout, &output.stderr] {
        for line in String::from_utf8_lossy(text).lines() {
            console.say(&format!("  {line}"));
        }
    }
}

/// All three examples at once, as `kubectl apply -f fixtures/seed/`: one
/// TrafficControl per Pod (the oldest, then the name, wins), the others
/// told of the conflict; then `kubectl get tc` and the flows.
pub fn all_together(
    console: &mut Console<'_>,
    world: &World<'_>,
    agent: &mut AgentProcess,
) -> Result<Vec<String>, DemoError> {
    console.say("\n== all three examples at once: kubectl apply -f fixtures/seed/");
    let seed = format!("{}/../fixtures/seed/", env!("CARGO_MANIFEST_DIR"));
    show(console, &world.cluster.try_kubectl(&["apply", "-f", &seed]));
    let names = ["mirror-all-to-remote", "mirror-web-app", "redirect-prod-to-local"];
    let mut failures = Vec::new();
    let all_seen = console.wait("the three TrafficControls realized", || {
        let status = agent.status();
        status.in_sync() && names.iter().all(|n| status.traffic_control(n).is_some())
    })?;
    failures.extend(all_seen.err());
    let status = agent.status();
    let mut controlled: Vec<String> = names.iter().flat_map(|n| status.pods_of(n)).collect();
    for name in names {
        console.say(&format!("   {name:<24} controls {:?}", status.pods_of(name)));
    }
    controlled.sort();
    let before = controlled.len();
    controlled.dedup();
    if controlled.len() != before || controlled.len() != 3 {
        failures.push(format!("every Pod must have exactly one TrafficControl: {controlled:?}"));
    }
    // The two that lost their Pods say so, in an Event each.
    let conflicted = |name: &str| {
        world
            .cluster
            .events(name)
            .into_iter()
            .filter(|(reason, _)| reason == CONFLICT)
            .map(|(_, m)| m)
            .collect()
    };
    for name in names.iter().filter(|n| status.pods_of(n).is_empty()) {
        let reported = console.wait(&format!("a {CONFLICT} Event on tc/{name}"), || {
            !Vec::<String>::is_empty(&conflicted(name))
        })?;
        failures.extend(reported.err());
        for message in conflicted(name) {
            console.say(&format!("   event on tc/{name}: {CONFLICT}: {message}"));
        }
    }
    console.say("$ kubectl get tc");
    for line in world.cluster.kubectl(&["get", "tc"]).lines() {
        console.say(&format!("  {line}"));
    }
    if world.shared {
        show_mirrors(console, world);
    } else {
        console.say(&format!("$ ovs-ofctl -O OpenFlow15 dump-flows {} --no-stats", world.bridge.name));
        for flow in world.ovs.dump_flows(world.bridge) {
            console.say(&format!("  {flow}"));
        }
    }
    Ok(failures)
}

/// The switch's Mirror rows, as `ovs-vsctl list mirror` shows them (the
/// columns a reader checks), each Port's UUID followed by its name.
fn show_mirrors(console: &mut Console<'_>, world: &World<'_>) {
    let columns = "name,external_ids,select_src_port,select_dst_port,output_port";
    console.say(&format!("$ ovs-vsctl --columns={columns} list mirror   # ports named in (...)"));
    let ports = world.ovs.vsctl(&["--format=csv", "--no-headings", "--columns=_uuid,name", "list", "port"]);
    let mut text = world.ovs.vsctl(&[&format!("--columns={columns}"), "list", "mirror"]);
    for (uuid, name) in ports.lines().filter_map(|line| line.split_once(',')) {
        text = text.replace(uuid, &format!("{} ({name})", &uuid[..8.min(uuid.len())]));
    }
    for line in text.lines() {
        console.say(&format!("  {line}"));
    }
}

/// A TrafficControl the agent must refuse on this bridge: applied, then
/// its `Realized=False` condition and Event shown; checked that its
/// message contains `why` and that the switch is unchanged.
pub fn refused(
    console: &mut Console<'_>,
    world: &World<'_>,
    title: &str,
    name: &str,
    manifest: &str,
    why: &str,
) -> Result<Vec<String>, DemoError> {
    console.say(&format!("\n== {title}"));
    let ports_before = world.ovs.vsctl(&["list-ports", &world.bridge.name]);
    apply(console, world.cluster, manifest);
    let mut failures = Vec::new();
    let condition = |field: &str| world.cluster.condition(name, super::NODE, "Realized", field);
    let refused = console.wait(&format!("{name} refused"), || condition("status") == "False")?;
    failures.extend(refused.err());
    let message = condition("message");
    console.say(&format!("   condition Realized=False, reason {}: {message}", condition("reason")));
    for (reason, event) in world.cluster.events(name) {
        console.say(&format!("   event on tc/{name}: {reason}: {event}"));
    }
    if !message.contains(why) {
        failures.push(format!("{name}: the condition does not say {why:?}: {message:?}"));
    }
    if world.ovs.vsctl(&["list-ports", &world.bridge.name]) != ports_before {
        failures.push(format!("{name}: a refused TrafficControl changed the bridge's ports"));
    }
    let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
    console.say(&format!("   {verdict}: refused, nothing made"));
    world.cluster.kubectl(&["delete", "tc", name]);
    console.say(&format!("$ kubectl delete tc {name}"));
    Ok(failures)
}
