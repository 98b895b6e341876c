//! The test's node: OVN programming `br-int` with the Pods bound as
//! logical ports and an ACL, the collector, the dev API server; what it
//! looked like before the agent; the checks made against it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use datapath::encap::Tunnel;
use datapath::status::AgentStatus;
use tests::agent::AgentProcess;
use tests::capture::{Capture, Echo, echoes};
use tests::collector::{COLLECTOR_IP, Collector, INTERFACE, icmp_copies};
use tests::devcluster::{DevCluster, namespace_yaml};
use tests::ovn::Ovn;
use tests::ovs::Ovs;
use tests::pod::{Listener, Pod};

pub const NODE: &str = "node-1";
/// OVN-Kubernetes names a node's logical switch after the node.
const SWITCH: &str = NODE;
pub const WAIT: Duration = Duration::from_secs(20);
/// Echo requests per pair of Pods in each round of traffic.
const PINGS: u16 = 3;
/// The port the ACL drops, and one it lets through.
const DROPPED_PORT: u16 = 80;
const OPEN_PORT: u16 = 8080;

/// Where one round of traffic must be copied: the Pods whose traffic
/// (both directions) each target carries.
#[derive(Default)]
pub struct Copies<'a> {
    /// At the internal port `tap0`, when it exists.
    pub tap0: Option<Vec<&'a Pod>>,
    /// Through VXLAN (VNI 0) at the collector.
    pub vxlan: Vec<&'a Pod>,
    /// Through GENEVE (VNI 0) at the collector.
    pub geneve: Vec<&'a Pod>,
}

/// The node as OVN made it, and what it looked like before the agent.
/// Fields drop in order: listeners and Pods first, the switch last.
pub struct World {
    _listeners: [Listener; 2],
    pub web: Pod,
    pub client: Pod,
    pub db: Pod,
    pub cluster: DevCluster,
    pub collector: Collector,
    pub ovn: Ovn,
    pub ovs: Ovs,
    /// OVN's flows before the agent.
    ovn_flows: Vec<String>,
    /// [`World::rows`] before the agent.
    pub rows: String,
    /// `br-int`'s ports before the agent.
    ovn_ports: Vec<String>,
}

impl World {
    /// OVN with the Pods bound and the ACL installed, the dev API server
    /// with the Pods, the collector; OVN's policy checked.
    pub fn start() -> World {
        let ovs = Ovs::start();
        let ovn = Ovn::start(&ovs);
        ovn.add_switch(SWITCH);
        let collector = Collector::attach(&ovs);
        let cluster = DevCluster::start();
        cluster.apply(&[namespace_yaml("default"), namespace_yaml("prod")].concat());
        // The Pods exist before their ports, as a kubelet creates them:
        // the CNI writes the Pod's UID, the logical port asks for it.
        let bind = |namespace: &str, name: &str, index: u8, labels: &[(&str, &str)]| {
            let uid = cluster.create_pod_named(namespace, name, NODE, labels);
            ovn.attach_pod(&ovs, SWITCH, namespace, name, index, &uid)
        };
        let web = bind("default", "web-1", 1, &[("app", "web")]);
        let client = bind("default", "client", 2, &[("app", "client")]);
        let db = bind("prod", "db", 3, &[("app", "db"), ("tier", "back")]);
        let listeners = [web.listen(DROPPED_PORT), web.listen(OPEN_PORT)];
        let mut world = World {
            _listeners: listeners,
            web,
            client,
            db,
            cluster,
            collector,
            ovn,
            ovs,
            ovn_flows: Vec::new(),
            rows: String::new(),
            ovn_ports: Vec::new(),
        };
        // Both ports answer before the ACL: its drop is the ACL's.
        tests::cmd::wait_until("web-1's listeners", WAIT, || {
            world.connect(OPEN_PORT, 1) == Some(0) && world.connect(DROPPED_PORT, 1) == Some(0)
        });
        world.ovn.drop_tcp_to_port(SWITCH, DROPPED_PORT);
        world.assert_policy("before the agent");
        world.ovn_flows = world.flows().0;
        assert!(world.ovn_flows.len() > 100, "OVN programs br-int: {:#?}", world.ovn_flows);
        world.rows = world.rows();
        world.ovn_ports = world.ports();
        world
    }

    /// The agent in shared mode on `br-int`, ready.
    pub fn start_agent(&self) -> AgentProcess {
        let mut agent = AgentProcess::start_in_mode(
            &self.ovs,
            self.ovn.br_int(),
            &self.cluster.agent_kubeconfig,
            NODE,
            "shared",
        );
        agent.wait_ready(WAIT);
        agent
    }

    /// `br-int`'s flows: (OVN's, the agent's).
    fn flows(&self) -> (Vec<String>, Vec<String>) {
        self.ovs.flows_by_owner(self.ovn.br_int())
    }

    /// Asserts that OVN's flows are as before the agent and that the agent
    /// has none.
    pub fn assert_flows(&self, when: &str) {
        let (ovn, agent) = self.flows();
        assert!(agent.is_empty(), "{when}: the agent wrote flows on a shared bridge:\n{}", agent.join("\n"));
        assert!(ovn == self.ovn_flows, "{when}: OVN's flows changed:\n{}", diff(&self.ovn_flows, &ovn));
    }

    /// The switch's configuration: `br-int`'s row, every Port, Interface
    /// and Mirror (sorted records of the columns that do not change by
    /// themselves). ovn-controller's own progress marks on `br-int`
    /// (`ovn-nb-cfg`, `ovn-nb-cfg-ts`) are left out: it writes them
    /// whenever it catches up with the NB database.
    pub fn rows(&self) -> String {
        let list = |columns: &str, table: &str| {
            let text = self.ovs.vsctl(&["--columns", columns, "list", table]);
            let mut records: Vec<String> = text
                .split("\n\n")
                .map(|record| record.lines().map(without_ovn_progress).collect::<Vec<_>>().join("\n"))
                .filter(|r| !r.trim().is_empty())
                .collect();
            records.sort();
            records.join("\n\n")
        };
        [
            list(
                "name,fail_mode,protocols,datapath_type,controller,other_config,external_ids,ports,mirrors",
                "bridge",
            ),
            list("name,interfaces,external_ids,other_config,tag,trunks,vlan_mode", "port"),
            list("name,type,options,external_ids,other_config,ofport", "interface"),
            list("name,external_ids,select_src_port,select_dst_port,output_port", "mirror"),
        ]
        .join("\n\n")
    }

    /// `br-int`'s ports.
    pub fn ports(&self) -> Vec<String> {
        self.ovs.vsctl(&["list-ports", &self.ovn.br_int().name]).lines().map(str::to_owned).collect()
    }

    /// Mirror rows: (name, UUID, whether the agent's mark is on it).
    pub fn mirrors(&self) -> Vec<(String, String, bool)> {
        let csv = self.ovs.vsctl(&[
            "--format=csv",
            "--no-headings",
            "--data=bare",
            "--columns=name,_uuid,external_ids",
            "list",
            "mirror",
        ]);
        let mut rows: Vec<(String, String, bool)> = csv
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, ',');
                let (name, uuid, ids) = (fields.next()?, fields.next()?, fields.next().unwrap_or_default());
                Some((name.to_owned(), uuid.to_owned(), ids.contains("antrea-type=traffic-control")))
            })
            .collect();
        rows.sort();
        rows
    }

    /// The agent's ports and mirrors are each TrafficControl's target port
    /// and its `tc-<port>` mirror, one row each, marked as the agent's;
    /// nothing else is new on the switch.
    pub fn assert_agent_objects(&self, status: &AgentStatus, when: &str) {
        let mut targets: Vec<String> =
            status.traffic_controls.iter().map(|t| t.target_port.clone()).collect();
        targets.sort();
        targets.dedup();
        let mut new_ports: Vec<String> =
            self.ports().into_iter().filter(|p| !self.ovn_ports.contains(p)).collect();
        new_ports.sort();
        assert_eq!(new_ports, targets, "{when}: the agent's ports on br-int");
        let mirrors = self.mirrors();
        let names: Vec<String> = mirrors.iter().map(|(name, _, _)| name.clone()).collect();
        let expected: Vec<String> = targets.iter().map(|t| format!("tc-{t}")).collect();
        assert_eq!(names, expected, "{when}: the mirrors, one per target port: {mirrors:?}");
        assert!(mirrors.iter().all(|(_, _, marked)| *marked), "{when}: marked as the agent's: {mirrors:?}");
    }

    /// OVN's policy holds: pings between the Pods are answered, TCP to the
    /// open port connects, TCP to the dropped port is dropped (times out,
    /// not refused: the SYN never reaches the listener).
    pub fn assert_policy(&self, when: &str) {
        for (from, to) in [(&self.web, &self.client), (&self.client, &self.db)] {
            let pings = from.ping(to, 2);
            assert_eq!(pings.received, 2, "{when}: OVN forwards {} -> {}: {pings:?}", from.name, to.name);
        }
        assert_eq!(self.connect(OPEN_PORT, 5), Some(0), "{when}: TCP to web-1:{OPEN_PORT} connects");
        assert_eq!(
            self.connect(DROPPED_PORT, 1),
            Some(124),
            "{when}: OVN's ACL drops TCP to web-1:{DROPPED_PORT}"
        );
    }

    /// Connects from client to web-1's `port` (see [`Pod::connect`]).
    fn connect(&self, port: u16, seconds: u32) -> Option<i32> {
        self.client.connect(&self.web, port, seconds)
    }

    /// Pings web-1 -> client and client -> db at once, and checks that each
    /// target received exactly one copy of every packet of its Pods.
    ///
    /// Nothing is purged first: a flow OVS cached before a new tunnel
    /// mirror could send must get the copy all the same (the agent's
    /// no-flood port_mod on the mirror's port makes OVS translate its
    /// flows again; without it, a run under load lost every GENEVE copy
    /// after a VXLAN mirror had come and gone).
    pub fn assert_copies(&self, copies: &Copies<'_>, when: &str) {
        if !copies.vxlan.is_empty() || !copies.geneve.is_empty() {
            self.collector.resolve(&self.ovs);
        }
        // The datapath caches flows translated before the mirror changed;
        // under load the revalidators may not have redone them yet when
        // the pings start, and those packets would miss the new mirror.
        // A user's traffic gets the mirror a moment later; the count here
        // must be exact, so wait for the revalidators first.
        self.ovs.appctl(&["revalidator/wait"]);
        let at_collector = Capture::inbound(&self.collector.netns, INTERFACE, "udp or proto gre");
        let at_tap0 = copies.tap0.as_ref().map(|_| Capture::inbound(self.ovs.node(), "tap0", "icmp"));
        let traffic = [(&self.web, &self.client), (&self.client, &self.db)];
        std::thread::scope(|scope| {
            let pinging: Vec<_> =
                traffic.iter().map(|(from, to)| scope.spawn(|| from.ping(to, u32::from(PINGS)))).collect();
            for (ping, (from, to)) in pinging.into_iter().zip(&traffic) {
                let pings = ping.join().expect("ping thread");
                assert_eq!(
                    pings.received,
                    u32::from(PINGS),
                    "{when}: {} -> {}: {pings:?}",
                    from.name,
                    to.name
                );
            }
        });
        let expected = |selected: &[&Pod]| -> Vec<Echo> {
            let is_selected = |ip: Ipv4Addr| selected.iter().any(|p| p.ip.parse() == Ok(ip));
            let mut list: Vec<Echo> = traffic
                .iter()
                .flat_map(|(from, to)| {
                    Echo::of_ping(from.ip.parse().expect("IPv4"), to.ip.parse().expect("IPv4"), PINGS)
                })
                .filter(|e| is_selected(e.from) || is_selected(e.to))
                .collect();
            list.sort();
            list
        };
        if let (Some(capture), Some(selected)) = (at_tap0, &copies.tap0) {
            assert_eq!(echoes(capture.stop()), expected(selected), "{when}: the copies at tap0");
        }
        let decoded = icmp_copies(&at_collector.stop());
        assert!(decoded.iter().all(|c| c.outer_dst.to_string() == COLLECTOR_IP), "{when}: {decoded:#?}");
        let through = |kind: fn(&Tunnel) -> bool| {
            echoes(decoded.iter().filter(|c| kind(&c.tunnel)).map(|c| c.inner.clone()))
        };
        let (vxlan, geneve) = (expected(&copies.vxlan), expected(&copies.geneve));
        assert_eq!(through(|t| matches!(t, Tunnel::Vxlan { vni: 0 })), vxlan, "{when}: VXLAN copies");
        assert_eq!(through(|t| matches!(t, Tunnel::Geneve { vni: 0, .. })), geneve, "{when}: GENEVE copies");
        assert_eq!(decoded.len(), vxlan.len() + geneve.len(), "{when}: no other copy at the collector");
    }

    /// Deletes TrafficControls and waits until the switch is as OVN made
    /// it (every port and mirror of the agent gone, nothing else changed).
    pub fn delete(&self, agent: &mut AgentProcess, names: &[&str]) {
        let mut args = vec!["delete", "tc"];
        args.extend_from_slice(names);
        self.cluster.kubectl(&args);
        agent.wait_for("the agent's ports and mirrors gone", WAIT, |_| self.mirrors().is_empty());
        agent.wait_for("the switch as OVN made it", WAIT, |_| self.rows() == self.rows);
    }
}

/// Waits until the agent reports `expected` (TrafficControl → its Pods),
/// each realized, the switch in sync with its plan.
///
/// # Panics
/// After [`WAIT`], with the agent's status and the switch's mirrors.
pub fn wait_realized(world: &World, agent: &AgentProcess, expected: &[(&str, &[&str])], what: &str) {
    let done = |s: &AgentStatus| {
        s.in_sync()
            && s.traffic_controls.len() == expected.len()
            && expected.iter().all(|(name, pods)| {
                s.pods_of(name) == *pods && s.traffic_control(name).is_some_and(|t| t.progress == "Realized")
            })
    };
    let deadline = Instant::now() + WAIT;
    while !done(&agent.status()) {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}\n/status: {}\nmirrors:\n{}",
            agent.get("/status").map(|(_, body)| body).unwrap_or_default(),
            world.ovs.vsctl(&["list", "mirror"]),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A line of `ovs-vsctl list` without ovn-controller's progress marks in
/// a map (`ovn-nb-cfg="7", ovn-nb-cfg-ts="..."`).
fn without_ovn_progress(line: &str) -> String {
    let Some((column, map)) = line.split_once(": {") else { return line.to_owned() };
    let pairs: Vec<&str> =
        map.trim_end_matches('}').split(", ").filter(|pair| !pair.starts_with("ovn-nb-cfg")).collect();
    format!("{column}: {{{}}}", pairs.join(", "))
}

/// The lines only in `expected` (-) and only in `actual` (+).
fn diff(expected: &[String], actual: &[String]) -> String {
    let gone = expected.iter().filter(|l| !actual.contains(l)).map(|l| format!("- {l}"));
    let new = actual.iter().filter(|l| !expected.contains(l)).map(|l| format!("+ {l}"));
    gone.chain(new).collect::<Vec<_>>().join("\n")
}

/// What the switch and OVN looked like when a test panicked, printed on
/// the way out (the temp dirs and their logs go with the values).
pub struct DiagnoseOnPanic<'a>(pub &'a World);

impl Drop for DiagnoseOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let World { ovs, ovn, .. } = self.0;
        // Nothing here may panic again: that would abort the test binary.
        let tool = |program: &str, args: &[&str]| {
            let output =
                tests::cmd::output(program.as_ref(), args, &[("OVS_RUNDIR", ovs.run_dir().as_os_str())]);
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        let db = format!("--db=unix:{}", ovs.db_socket().display());
        let vsctl = |args: &[&str]| tool("ovs-vsctl", &[&[db.as_str()], args].concat());
        eprintln!(
            "== mirrors\n{}\n== interfaces\n{}\n== tnl/neigh/show\n{}\n== datapath flows\n{}\n== ovs-vswitchd's log\n{}\n== ovn-controller's log\n{}",
            vsctl(&["list", "mirror"]),
            vsctl(&["--columns=name,type,options,ofport,external_ids,error", "list", "interface"]),
            tool("ovs-appctl", &["-t", "ovs-vswitchd", "tnl/neigh/show"]),
            tool("ovs-appctl", &["-t", "ovs-vswitchd", "dpctl/dump-flows"]),
            ovs.log_tail("ovs-vswitchd"),
            ovn.log_tail("ovn-controller"),
        );
    }
}
