//! From the request to the first copy at the target, in each bridge mode:
//! what a user who applies a Mirror TrafficControl waits for before the
//! IDS sees traffic. One selected Pod pings another every millisecond the
//! whole time; the target is an OVS internal port the agent creates
//! (`tap0`), and a capture on every interface of the switch's namespace
//! (`tcpdump -i any`, which sees a port created after it started) gives
//! the kernel's timestamp of the first ICMP packet on it. Three series per
//! round, each from a settled switch without the port:
//!
//! - the API request that `kubectl apply` makes (a POST), as the rest of
//!   this bench times the agent;
//! - `kubectl apply` itself, process start included: what the user sees;
//! - the reference: OVS's own port mirroring set up by hand, one
//!   `ovs-vsctl` transaction creating an internal port and a `Mirror` row
//!   selecting the Pod's port both ways, then `ip link set up` (the agent
//!   brings its port up too).
//!
//! The agent's time includes the watch event reaching it, its pass, OVS
//! creating the port, the port coming up and the flows (owned) or row
//! (shared) taking effect; a copy of a packet sent in the last millisecond
//! before that is missed, so all three series carry up to 1 ms of the
//! ping's interval.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tests::agent::AgentProcess;
use tests::devcluster::{DevCluster, namespace_yaml};
use tests::ovs::Ovs;
use tests::pod::Pod;

use super::{NODE, TRAFFIC_CONTROLS_PATH, report, request, settle, tc_json, wait_port_gone};

/// The benchmark's TrafficControl, selecting `app: web`.
const NAME: &str = "first-copy";
/// The agent's target port (tc_json's) and the reference's.
const TARGET: &str = "tap0";
const REFERENCE: &str = "ref0";

/// [`latency`] on an owned bridge, then on a shared one.
pub fn both_modes(runs: usize) {
    latency("owned", runs);
    latency("shared", runs);
}

/// Runs `runs` rounds in `mode` and prints p50/p99 of each series and the
/// ratio of the agent's (API request) to the reference's.
fn latency(mode: &str, runs: usize) {
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    if mode == "shared" {
        // The CNI's forwarding under its own cookie, as on a real br-int.
        ovs.ofctl(&bridge, "add-flow", &["cookie=0xc1,priority=0,actions=NORMAL"]);
    }
    let web = Pod::attach(&ovs, &bridge, "default", "web", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    let cluster = DevCluster::start();
    cluster.apply(&namespace_yaml("default"));
    cluster.create_pod(&web, NODE, &[("app", "web")]);
    cluster.create_pod(&client, NODE, &[("app", "client")]);
    let mut agent = AgentProcess::start_in_mode(&ovs, &bridge, &cluster.agent_kubeconfig, NODE, mode);
    agent.wait_ready(Duration::from_secs(30));
    let api = cluster.client();

    let web_port = ovs.port_uuid(&web.port);
    let copies = CopyWatch::start(&ovs);
    let _traffic = Traffic::start(&web, &client);
    let manifest = tc_json(NAME, "web");
    let path = format!("{TRAFFIC_CONTROLS_PATH}/{NAME}");
    let delete = || {
        request(&api, "DELETE", &path, "");
        wait_port_gone(&ovs, &bridge, TARGET);
        settle();
    };

    println!(
        "\nfirst copy at the target, {mode} bridge, one Pod pinging every 1 ms, {runs} runs (+1 warm-up)"
    );
    let started = SystemTime::now();
    request(&api, "POST", TRAFFIC_CONTROLS_PATH, &manifest);
    copies.first_after(TARGET, started);
    delete();
    let (mut via_api, mut via_kubectl, mut reference) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = SystemTime::now();
        request(&api, "POST", TRAFFIC_CONTROLS_PATH, &manifest);
        via_api.push(copies.first_after(TARGET, started));
        delete();

        let started = SystemTime::now();
        cluster.apply(&manifest);
        via_kubectl.push(copies.first_after(TARGET, started));
        delete();

        let started = SystemTime::now();
        ovs.add_port_mirror(&bridge, REFERENCE, std::slice::from_ref(&web_port));
        ovs.node().exec(&["ip", "link", "set", REFERENCE, "up"]);
        reference.push(copies.first_after(REFERENCE, started));
        ovs.remove_port_mirror(&bridge, REFERENCE);
        wait_port_gone(&ovs, &bridge, REFERENCE);
        settle();
    }
    let api_p50 = report("API request (kubectl apply's POST) to the first copy", &mut via_api);
    report("kubectl apply (process start included) to the first copy", &mut via_kubectl);
    let reference_p50 =
        report("reference: ovs-vsctl port + Mirror row, ip link set up, to the first copy", &mut reference);
    println!("  ratio (p50): API request / reference {:.2}", api_p50 / reference_p50);
}

/// A ping from `from` to `to` every millisecond until dropped.
struct Traffic(Child);

impl Traffic {
    fn start(from: &Pod, to: &Pod) -> Traffic {
        let child = Command::new("ip")
            .args(["netns", "exec", from.netns.name(), "ping", "-n", "-q", "-i", "0.001", &to.ip])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ping (apt-get install -y iputils-ping)");
        tests::leftovers::record(&tests::leftovers::Owned::Process(child.id()));
        Traffic(child)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ICMP packets on any interface of the switch's namespace, as (kernel
/// timestamp, interface) from `tcpdump -i any` as it prints them.
struct CopyWatch {
    child: Child,
    packets: Receiver<(SystemTime, String)>,
}

impl CopyWatch {
    fn start(ovs: &Ovs) -> CopyWatch {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ovs.node().name()])
            .args(["tcpdump", "-i", "any", "-n", "-l", "-tt", "--immediate-mode", "icmp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump (apt-get install -y tcpdump)");
        tests::leftovers::record(&tests::leftovers::Owned::Process(child.id()));
        let stdout = child.stdout.take().expect("tcpdump's output");
        let (send, packets) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(packet) = parse_line(&line)
                    && send.send(packet).is_err()
                {
                    return;
                }
            }
        });
        CopyWatch { child, packets }
    }

    /// How long after `since` the first packet on `interface` was stamped
    /// (waiting up to 30 s for it); packets seen before are skipped.
    fn first_after(&self, interface: &str, since: SystemTime) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.packets.recv_timeout(left) {
                Ok((stamp, on)) if on == interface => {
                    if let Ok(after) = stamp.duration_since(since) {
                        return after;
                    }
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no copy at {interface} within 30 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("tcpdump stopped"),
            }
        }
    }
}

impl Drop for CopyWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `1764720000.123456 tap0  In  IP 10.88.0.1 > ...`: the stamp and the
/// interface.
fn parse_line(line: &str) -> Option<(SystemTime, String)> {
    let mut words = line.split_whitespace();
    let (seconds, micros) = words.next()?.split_once('.')?;
    let stamp =
        UNIX_EPOCH + Duration::from_secs(seconds.parse().ok()?) + Duration::from_micros(micros.parse().ok()?);
    Some((stamp, words.next()?.to_owned()))
}

#[cfg(test)]
mod parsing {
    use super::*;

    #[test]
    fn a_tcpdump_line_gives_its_stamp_and_interface() {
        let line =
            "1764720000.012345 tap0  In  IP 10.88.0.1 > 10.88.0.2: ICMP echo request, id 7, seq 1, length 64";
        let (stamp, interface) = parse_line(line).expect("a packet line");
        assert_eq!(stamp, UNIX_EPOCH + Duration::from_micros(1_764_720_000_012_345));
        assert_eq!(interface, "tap0");
        assert_eq!(parse_line("tcpdump: data link type LINUX_SLL2"), None);
    }
}
