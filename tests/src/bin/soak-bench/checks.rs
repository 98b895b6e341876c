//! Convergence: whether the agent and the real switch hold what the world
//! says, checked on three levels, each independent of the others:
//!
//! 1. the agent's `/status`: ready, its plan's flows on the switch
//!    (`inSync`), the same TrafficControls, each `Realized` and
//!    controlling exactly the Pods the world's rules give it;
//! 2. the switch's ports: the agent's ports (its `external_ids` mark) are
//!    exactly the live TrafficControls' target ports, each with an ofport;
//!    no `Mirror` row (an owned bridge mirrors with flows);
//! 3. the switch's flows by the agent's cookie: per live TrafficControl, one
//!    flow per controlled Pod and direction, to the target's ofport; none
//!    for a deleted one; port classification only for the agent's ports.
//!
//! It only reads; the churn changes things. A check that fails says what
//! is pending, so a timeout reports the last reason.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use datapath::flows::Cookie;
use datapath::ports::{OWNER_KEY, OWNER_VALUE};
use tests::agent::AgentProcess;
use tests::ovs::{Bridge, Ovs};
use tests::proc_stats::ProcStats;

use crate::world::World;

/// The cookie category of the pipeline's own flows (bits 40..47).
const PIPELINE_CATEGORY: u64 = 1;
/// The cookie category of the port classification flows.
const PORT_CATEGORY: u64 = 2;
/// The cookie category of TrafficControl flows.
const TC_CATEGORY: u64 = 3;

/// The switch and the agent, as the checks read them.
pub struct Node<'a> {
    /// The private switch.
    pub ovs: &'a Ovs,
    /// The agent's bridge.
    pub bridge: &'a Bridge,
    /// The agent.
    pub agent: &'a AgentProcess,
}

/// One of the agent's flows, as `ovs-ofctl dump-flows` prints it.
struct Flow {
    cookie: u64,
    /// `priority=N` and the match fields, e.g. `110 in_port=3`.
    key: String,
    actions: String,
    text: String,
}

impl Flow {
    fn parse(line: &str) -> Option<Flow> {
        let (head, actions) = line.split_once(" actions=")?;
        let mut cookie = None;
        let mut priority = "0";
        let mut fields = Vec::new();
        for part in head.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("cookie", hex)) => cookie = u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok(),
                Some(("priority", p)) => priority = p,
                Some(("table" | "duration" | "n_packets" | "n_bytes" | "idle_age", _)) => {}
                _ => fields.push(part),
            }
        }
        Some(Flow {
            cookie: cookie?,
            key: format!("{priority} {}", fields.join(",")),
            actions: actions.to_owned(),
            text: line.to_owned(),
        })
    }

    fn category(&self) -> u64 {
        (self.cookie >> 40) & 0xff
    }

    /// The `in_port` it matches, if any.
    fn in_port(&self) -> Option<u32> {
        self.key.split([' ', ',']).find_map(|f| f.strip_prefix("in_port="))?.parse().ok()
    }
}

impl Node<'_> {
    /// Waits until [`Node::check`] holds for `world`, at most `deadline`:
    /// how long it took, or the last reason it did not hold.
    pub fn converge(&self, world: &World, deadline: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            let reason = match self.check(world) {
                Ok(()) => return Ok(started.elapsed()),
                Err(reason) => reason,
            };
            if ProcStats::read(self.agent.pid()).is_none() {
                return Err("the agent exited".to_owned());
            }
            if started.elapsed() > deadline {
                return Err(format!("not converged after {deadline:?}: {reason}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Whether the agent and the switch hold what `world` says now; if
    /// not, what is pending.
    pub fn check(&self, world: &World) -> Result<(), String> {
        self.check_status(world)?;
        let ofports = self.ofports();
        let targets = self.check_ports(world, &ofports)?;
        self.check_flows(world, &ofports, &targets)
    }

    fn check_status(&self, world: &World) -> Result<(), String> {
        let status = self.agent.status();
        if !status.ready {
            return Err("the agent is not ready".into());
        }
        if !status.in_sync() {
            return Err(format!("the agent's plan is not on the switch: {:?}", status.flows));
        }
        let names: BTreeSet<&str> = status.traffic_controls.iter().map(|t| t.name.as_str()).collect();
        let want: BTreeSet<&str> = world.tcs.keys().map(String::as_str).collect();
        if names != want {
            return Err(format!("/status has TrafficControls {names:?}, the API {want:?}"));
        }
        for (name, pods) in world.controlled() {
            let Some(tc) = status.traffic_control(&name) else { continue };
            if tc.progress != "Realized" {
                return Err(format!("tc {name} is {} ({})", tc.progress, tc.reason));
            }
            let have: BTreeSet<String> = tc.pods.iter().cloned().collect();
            if have != pods {
                return Err(format!("tc {name} controls {have:?}, should control {pods:?}"));
            }
            let target = world.tcs[&name].spec.target.port_name();
            if tc.target_port != target {
                return Err(format!("tc {name} targets {}, should target {target}", tc.target_port));
            }
        }
        Ok(())
    }

    /// Every interface's ofport (none while OVS has not given one).
    fn ofports(&self) -> BTreeMap<String, Option<u32>> {
        let csv =
            self.ovs.vsctl(&["--format=csv", "--no-headings", "--columns=name,ofport", "list", "interface"]);
        csv.lines()
            .filter_map(|l| l.split_once(','))
            .map(|(name, ofport)| {
                let ofport = ofport.trim().parse::<i64>().ok().filter(|p| *p > 0);
                (name.trim_matches('"').to_owned(), ofport.and_then(|p| u32::try_from(p).ok()))
            })
            .collect()
    }

    /// The agent's ports by their mark.
    pub fn agent_ports(&self) -> BTreeSet<String> {
        let mark = format!("external_ids:{OWNER_KEY}={OWNER_VALUE}");
        let names = self.ovs.vsctl(&["--bare", "--columns=name", "find", "interface", &mark]);
        names.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    /// The agent's `Mirror` rows (the bridge's, all of them: the agent is
    /// the only one that could make one here).
    pub fn mirrors(&self) -> Vec<String> {
        let names = self.ovs.vsctl(&["--bare", "--columns=name", "list", "mirror"]);
        names.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    /// Checks the agent's ports; returns each TrafficControl's target
    /// ofport.
    fn check_ports(
        &self,
        world: &World,
        ofports: &BTreeMap<String, Option<u32>>,
    ) -> Result<BTreeMap<String, u32>, String> {
        let have = self.agent_ports();
        let want = world.target_ports();
        if have != want {
            return Err(format!("the agent's ports are {have:?}, the live targets {want:?}"));
        }
        let mirrors = self.mirrors();
        if !mirrors.is_empty() {
            return Err(format!("Mirror rows on an owned bridge: {mirrors:?}"));
        }
        let mut targets = BTreeMap::new();
        for (name, tc) in &world.tcs {
            let port = tc.spec.target.port_name();
            let ofport = ofports.get(&port).copied().flatten().ok_or(format!("{port} has no ofport yet"))?;
            targets.insert(name.clone(), ofport);
        }
        Ok(targets)
    }

    /// The agent's flows (cookie `0x7463…`).
    fn agent_flows(&self) -> Vec<Flow> {
        let all = format!("cookie={:#x}/{:#x}", Cookie::AGENT, Cookie::AGENT_MASK);
        let dump = self.ovs.ofctl(self.bridge, "dump-flows", &["--no-stats", "--no-names", &all]);
        dump.lines().filter_map(|l| Flow::parse(l.trim())).collect()
    }

    fn check_flows(
        &self,
        world: &World,
        ofports: &BTreeMap<String, Option<u32>>,
        targets: &BTreeMap<String, u32>,
    ) -> Result<(), String> {
        let flows = self.agent_flows();
        let mut by_cookie: BTreeMap<u64, Vec<&Flow>> = BTreeMap::new();
        for flow in flows.iter().filter(|f| f.category() == TC_CATEGORY) {
            by_cookie.entry(flow.cookie).or_default().push(flow);
        }
        for (name, pods) in world.controlled() {
            let tc = &world.tcs[&name];
            let mut want = BTreeSet::new();
            for pod in &pods {
                let port = &world.pods[pod].pod.port;
                let ofport = ofports.get(port).copied().flatten().ok_or(format!("{port} has no ofport"))?;
                if tc.spec.direction.egress() {
                    want.insert(format!("110 in_port={ofport}"));
                }
                if tc.spec.direction.ingress() {
                    want.insert(format!("100 reg1={ofport:#x}"));
                }
            }
            let mine = by_cookie.remove(&Cookie::traffic_control(&name).0).unwrap_or_default();
            let have: BTreeSet<String> = mine.iter().map(|f| f.key.clone()).collect();
            if have != want {
                return Err(format!("tc {name}'s flows match {have:?}, should match {want:?}"));
            }
            let to = format!("set_field:{:#x}->reg9", targets[&name]);
            if let Some(stray) = mine.iter().find(|f| !f.actions.contains(&to)) {
                return Err(format!("tc {name}'s flow does not send to its target ({to}): {}", stray.text));
            }
        }
        if let Some(flows) = by_cookie.values().next() {
            return Err(format!("flows of no live TrafficControl: {}", flows[0].text));
        }
        // The pipeline itself (tables' defaults, Pod forwarding): lost with
        // ovs-vswitchd's flows at a restart; `/status` compares it with the
        // plan, this only makes sure it is there at all.
        if !flows.iter().any(|f| f.category() == PIPELINE_CATEGORY) {
            return Err("no pipeline flows on the switch".into());
        }
        let agent_ofports: BTreeSet<u32> = targets.values().copied().collect();
        let classified: BTreeSet<u32> =
            flows.iter().filter(|f| f.category() == PORT_CATEGORY).filter_map(Flow::in_port).collect();
        if classified != agent_ofports {
            return Err(format!(
                "port classification flows for ofports {classified:?}, the targets are {agent_ofports:?}"
            ));
        }
        Ok(())
    }

    /// What of the agent's is left on the switch once every TrafficControl
    /// is gone: its ports, TrafficControl and port flows, mirrors (the
    /// pipeline's own flows stay while the agent runs, by design).
    pub fn leftovers(&self) -> Vec<String> {
        let ports = self.agent_ports().into_iter().map(|p| format!("port {p}"));
        let flows = self
            .agent_flows()
            .into_iter()
            .filter(|f| f.category() == TC_CATEGORY || f.category() == PORT_CATEGORY)
            .map(|f| format!("flow {}", f.text));
        let mirrors = self.mirrors().into_iter().map(|m| format!("mirror {m}"));
        ports.chain(flows).chain(mirrors).collect()
    }

    /// The agent's pipeline flows (category 1), which stay.
    pub fn pipeline_flows(&self) -> usize {
        self.agent_flows().iter().filter(|f| f.category() == PIPELINE_CATEGORY).count()
    }
}

/// The checks can fail: against a world with a TrafficControl the API
/// does not have, [`Node::check`] must say so (a vacuous check would pass
/// every soak).
pub fn self_test(node: &Node<'_>) -> Result<(), String> {
    let mut world = World::default();
    node.check(&world).map_err(|why| format!("the empty world does not check: {why}"))?;
    let spec = crate::world::TcSpec {
        selector: crate::world::Selector::All,
        direction: crate::world::Direction::Both,
        target: crate::world::Target::Internal("tap9"),
    };
    world.tcs.insert("phantom".into(), crate::world::SoakTc { spec, created: String::new() });
    match node.check(&world) {
        Ok(()) => Err("the checks passed for a TrafficControl that does not exist".into()),
        Err(_) => Ok(()),
    }
}
