//! The world: an `apiserver` host, and per node an `ovs-N` host and a
//! `node-N` host running the agent (and, on a shared bridge, a `cni-N`
//! host: the controller that owns the bridge's tables), on one turmoil
//! simulation seeded by the caller. The test drives it like a user and a kubelet would: objects
//! through the API server, Pod ports through the node's OVS, faults
//! through turmoil, and time by stepping the simulation.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actors::agent::reconciler::Tuning;
use actors::agent::state::AgentState;
use datapath::cluster::PodRef;
use serde_json::Value;

use devcluster::ApiServer;
use devcluster::apiserver::cluster::Target;
use devcluster::apiserver::resources::{NAMESPACES, PODS, ResourceType, TRAFFIC_CONTROLS};
use devcluster::apiserver::status::ApiError;

use super::apiserver_host::{self, sim_clock};
pub use super::bridge_setup::BridgeSetup;
use super::controller_host::{self, Controller};
use super::expected::{Divergence, cluster_objects, divergence, expected_plan, shared_divergence};
use super::invariants;
use super::mirror_check;
use super::node_host::{self, NodeConfig, agent_state};
use super::ovs_host::{self, SimOvs};
use super::packet_check;
use super::shared_invariants;

/// What the world does to messages whatever the scenario, for the
/// `SEED=` line a run starts with.
pub const FAULT_SETTINGS: &str = "latency=0..100ms host-order=random";

/// The API server's host name.
pub const API_HOST: &str = "apiserver";
/// The bridge on every node.
pub const BRIDGE: &str = "br-int";

/// One node: its switch and its agent's state.
pub struct SimNode {
    /// `node-N`.
    pub name: String,
    /// `ovs-N`.
    pub ovs_host: String,
    /// Its Open vSwitch.
    pub ovs: SimOvs,
    /// How its bridge is run.
    pub bridge: BridgeSetup,
    /// The state of its agent's current boot (a bounce starts afresh).
    agent: Arc<Mutex<Arc<AgentState>>>,
}

impl SimNode {
    /// What the agent's current boot shows (`/status`, `/metrics`).
    pub fn agent(&self) -> Arc<AgentState> {
        self.agent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Why the world could not do what a step asked.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The API server refused.
    #[error("the API server refused")]
    Api(#[from] ApiError),
    /// The simulated OVS refused.
    #[error("the simulated OVS refused")]
    Ovs(#[from] crate::ovs::ovsdb_server::HookError),
    /// turmoil stopped with an error (a host failed, or time ran out).
    #[error("simulation: {0}")]
    Simulation(String),
    /// The switches did not converge in time.
    #[error("liveness: not converged after {after:?}, pending because:\n{report}")]
    NotConverged {
        /// How long it waited.
        after: Duration,
        /// Each node's difference.
        report: String,
    },
    /// A safety rule was broken.
    #[error("safety: a rule was broken:\n{0}")]
    Violated(String),
    /// A manifest that does not parse.
    #[error("manifest: {0}")]
    Manifest(String),
}

/// Each node's name and how its switch differs from the plan.
pub type NodeDivergences = Vec<(String, Divergence)>;

/// The simulation and its parts.
pub struct World {
    /// turmoil's simulation.
    pub sim: turmoil::Sim<'static>,
    /// The API server's state (shared with its host).
    pub api: ApiServer,
    /// The nodes.
    pub nodes: Vec<SimNode>,
}

impl World {
    /// A world of `nodes` nodes, seeded with `seed`.
    ///
    /// # Errors
    /// [`WorldError::Ovs`] when a switch cannot be set up.
    pub fn new(seed: u64, nodes: usize) -> Result<World, WorldError> {
        World::with_tuning(seed, nodes, Tuning::default())
    }

    /// [`World::new`] with agents tuned by `tuning`.
    ///
    /// # Errors
    /// [`WorldError::Ovs`] when a switch cannot be set up.
    pub fn with_tuning(seed: u64, nodes: usize, tuning: Tuning) -> Result<World, WorldError> {
        World::build(seed, nodes, tuning, &BridgeSetup::Owned)
    }

    /// A world whose bridges are shared with `controller`.
    ///
    /// # Errors
    /// [`WorldError::Ovs`] when a switch cannot be set up.
    pub fn shared(seed: u64, nodes: usize, controller: Controller) -> Result<World, WorldError> {
        World::build(seed, nodes, Tuning::default(), &BridgeSetup::Shared(controller))
    }

    /// A world of `nodes` nodes whose bridges are run as `bridge` says,
    /// with agents tuned by `tuning`, seeded with `seed`.
    ///
    /// # Errors
    /// [`WorldError::Ovs`] when a switch cannot be set up.
    pub fn build(seed: u64, nodes: usize, tuning: Tuning, bridge: &BridgeSetup) -> Result<World, WorldError> {
        // Delays and reordering come from the seed (FAULT_SETTINGS): every
        // message takes 0 to 100 ms (turmoil's exponential spread), and
        // hosts run in a seeded random order each step. The epoch is fixed:
        // turmoil's default would read the wall clock.
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .epoch(std::time::UNIX_EPOCH + Duration::from_secs(apiserver_host::EPOCH.unsigned_abs()))
            .min_message_latency(Duration::ZERO)
            .max_message_latency(Duration::from_millis(100))
            .enable_random_order()
            .simulation_duration(Duration::from_secs(3600))
            .tick_duration(Duration::from_millis(1))
            .build();
        let api = ApiServer::new(sim_clock());
        seed_deploy_rbac(&api)?;
        let served = api.clone();
        sim.host(API_HOST, move || apiserver_host::serve(served.clone()));
        let mut sim_nodes = Vec::new();
        for index in 1..=nodes {
            let name = format!("node-{index}");
            let ovs_host = format!("ovs-{index}");
            let ovs = SimOvs::new(BRIDGE, u64::try_from(index).unwrap_or(u64::MAX))?;
            let served = ovs.clone();
            sim.host(ovs_host.as_str(), move || ovs_host::run(served.clone()));
            if let BridgeSetup::Shared(controller) = bridge {
                controller.install(&ovs)?;
                shared_invariants::watch(&ovs, &name, controller);
                let (switch_host, flows) = (ovs_host.clone(), controller.flows());
                sim.host(format!("cni-{index}"), move || {
                    controller_host::run(switch_host.clone(), flows.clone())
                });
            }
            let mode = bridge.mode();
            let agent = Arc::new(Mutex::new(agent_state(&name, mode)));
            let config = NodeConfig {
                node: name.clone(),
                api_host: API_HOST.to_owned(),
                ovs_host: ovs_host.clone(),
                bridge: BRIDGE.to_owned(),
                tuning: tuning.clone(),
            };
            let slot = agent.clone();
            sim.host(name.as_str(), move || {
                // Each boot is a new process: a new state, not ready.
                let state = agent_state(&config.node, mode);
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = state.clone();
                node_host::run_agent(config.clone(), state)
            });
            sim_nodes.push(SimNode { name, ovs_host, ovs, bridge: bridge.clone(), agent });
        }
        Ok(World { sim, api, nodes: sim_nodes })
    }

    /// Creates every object of a YAML manifest, or replaces its spec and
    /// labels when it exists (what `kubectl apply` amounts to here). Pods
    /// on a node of this world get their port on that node's switch, as
    /// the CNI would attach them.
    ///
    /// # Errors
    /// [`WorldError`] when the manifest does not parse or a write is refused.
    pub fn apply(&self, yaml: &str) -> Result<(), WorldError> {
        let documents =
            datapath::manifest::parse_documents(yaml).map_err(|e| WorldError::Manifest(e.to_string()))?;
        for document in documents {
            self.apply_object(document)?;
        }
        Ok(())
    }

    fn apply_object(&self, object: Value) -> Result<(), WorldError> {
        let resource = match object.get("kind").and_then(Value::as_str) {
            Some("Namespace") => &NAMESPACES,
            Some("Pod") => &PODS,
            Some("TrafficControl") => &TRAFFIC_CONTROLS,
            other => return Err(WorldError::Manifest(format!("kind {other:?} is not simulated"))),
        };
        let name = text(&object, "/metadata/name");
        let namespace = resource.namespaced.then(|| {
            object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_owned()
        });
        let target = Target { resource, namespace: namespace.as_deref(), name: &name, status: false };
        if let Ok(current) = self.api.get(target) {
            let mut patch = serde_json::json!({"metadata": {"labels": replacing(
                current.pointer("/metadata/labels"),
                object.pointer("/metadata/labels"),
            )}});
            if let Some(spec) = object.get("spec") {
                patch["spec"] = replacing(current.get("spec"), Some(spec));
            }
            self.api.merge_patch(target, &patch)?;
            return Ok(());
        }
        self.api.create(resource, namespace.as_deref(), object.clone())?;
        if *resource == PODS && object.pointer("/spec/hostNetwork") != Some(&Value::Bool(true)) {
            let node = text(&object, "/spec/nodeName");
            if let Some(sim_node) = self.nodes.iter().find(|n| n.name == node) {
                let pod = PodRef::new(namespace.unwrap_or_default(), name.clone());
                sim_node.ovs.attach_pod(&pod, &pod_port(&pod))?;
            }
        }
        Ok(())
    }

    /// Deletes an object (a Pod's port goes with it).
    ///
    /// # Errors
    /// [`WorldError::Api`] when there is no such object.
    pub fn delete(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), WorldError> {
        let target = Target { resource, namespace, name, status: false };
        let object = self.api.delete(target)?;
        if *resource == PODS {
            let node = text(&object, "/spec/nodeName");
            if let Some(sim_node) = self.nodes.iter().find(|n| n.name == node) {
                let pod = PodRef::new(namespace.unwrap_or_default(), name);
                sim_node.ovs.detach_pod(&pod_port(&pod))?;
            }
        }
        Ok(())
    }

    /// The names of the TrafficControls the API server holds, sorted.
    pub fn traffic_control_names(&self) -> Vec<String> {
        let (items, _) = self.api.with_state(|state, _| {
            let everything = devcluster::apiserver::selectors::FieldSelector::default();
            state.cluster.list(&TRAFFIC_CONTROLS, None, &datapath::selector::Selector::default(), &everything)
        });
        let mut names: Vec<String> = items.iter().map(|tc| text(tc, "/metadata/name")).collect();
        names.sort();
        names
    }

    /// Runs the simulation for `duration` of virtual time.
    ///
    /// # Errors
    /// [`WorldError::Simulation`] when a host fails.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), WorldError> {
        let until = self.sim.elapsed() + duration;
        while self.sim.elapsed() < until {
            self.sim.step().map_err(|e| WorldError::Simulation(e.to_string()))?;
        }
        Ok(())
    }

    /// How each node's switch differs from the plan of the cluster now.
    pub fn divergences(&self) -> NodeDivergences {
        let objects = cluster_objects(&self.api);
        self.nodes
            .iter()
            .map(|node| {
                let (ports, mirrors) = (node.ovs.switch_ports(), node.ovs.switch_mirrors());
                let plan = expected_plan(&node.name, &objects, node.bridge.mode(), &ports, &mirrors);
                let flows = node.ovs.switch.read(|s| s.flows());
                let found = match &node.bridge {
                    BridgeSetup::Owned => {
                        divergence(&plan, &flows, &ports, &node.ovs.switch.read(no_flood_ofports))
                    }
                    BridgeSetup::Shared(controller) => {
                        shared_divergence(&plan, controller, &flows, &ports, &mirrors)
                    }
                };
                (node.name.clone(), found)
            })
            .collect()
    }

    /// Changes whenever anything [`World::divergences`] reads may have.
    fn change_key(&self) -> Vec<u64> {
        let mut key = vec![self.api.revision()];
        for node in &self.nodes {
            key.push(node.ovs.switch.read(|s| s.flow_mods_applied()));
            key.push(node.ovs.generation());
            // Port config (no-flood) moves neither counter.
            key.extend(node.ovs.switch.read(no_flood_ofports).into_iter().map(u64::from));
            key.push(u64::MAX);
        }
        key
    }

    /// Every safety rule seen broken so far, by node (see
    /// [`super::invariants`]).
    pub fn violations(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|node| node.ovs.violations().into_iter().map(move |v| format!("{}: {v}", node.name)))
            .collect()
    }

    /// Steps until every node's switch holds its plan; returns how long
    /// that took in virtual time.
    ///
    /// # Errors
    /// [`WorldError::NotConverged`] with each node's difference after
    /// `timeout`.
    pub fn converge(&mut self, timeout: Duration) -> Result<Duration, WorldError> {
        let started = self.sim.elapsed();
        // Planning the whole cluster every 10 ms dominated a run's cost;
        // the difference can only change when the API server, a switch's
        // flows or a database does.
        let mut last: Option<(Vec<u64>, NodeDivergences)> = None;
        loop {
            self.run_for(Duration::from_millis(10))?;
            let key = self.change_key();
            let divergences = match last.take() {
                Some((seen, divergences)) if seen == key => divergences,
                _ => self.divergences(),
            };
            last = Some((key, divergences.clone()));
            if divergences.iter().all(|(_, d)| d.is_empty()) {
                // Converged: no flow may name a port the bridge lacks.
                for node in &self.nodes {
                    let ofports = node.ovs.switch_ports().iter().filter_map(|p| p.usable_ofport()).collect();
                    let flows = node.ovs.switch.read(|s| s.flows());
                    if let Some(problem) = invariants::dangling(&flows, &ofports).into_iter().next() {
                        return Err(WorldError::Violated(format!("{}: {problem}", node.name)));
                    }
                }
                let mut violations = self.violations();
                violations.extend(self.packet_problems());
                if !violations.is_empty() {
                    return Err(WorldError::Violated(violations.join("\n")));
                }
                return Ok(self.sim.elapsed() - started);
            }
            let after = self.sim.elapsed() - started;
            if after >= timeout {
                let report = divergences
                    .iter()
                    .zip(&self.nodes)
                    .map(|((node, d), sim_node)| {
                        let ports: Vec<String> = sim_node
                            .ovs
                            .switch_ports()
                            .iter()
                            .map(|p| format!("{}={}", p.name, p.ofport.map_or(-1, i64::from)))
                            .collect();
                        format!("{node}:\n{d}ports: {}\n", ports.join(" "))
                    })
                    .collect();
                return Err(WorldError::NotConverged { after, report });
            }
        }
    }
}

impl World {
    /// The packet invariants on every node (see [`super::packet_check`]).
    pub fn packet_problems(&self) -> Vec<String> {
        let objects = cluster_objects(&self.api);
        let traffic_controls = objects.valid_traffic_controls();
        self.nodes
            .iter()
            .flat_map(|node| {
                let (ports, mirrors) = (node.ovs.switch_ports(), node.ovs.switch_mirrors());
                let plan = expected_plan(&node.name, &objects, node.bridge.mode(), &ports, &mirrors);
                let problems = match &node.bridge {
                    BridgeSetup::Owned => packet_check::check(&node.ovs, &plan, &traffic_controls),
                    BridgeSetup::Shared(controller) => {
                        mirror_check::check(&node.ovs, &plan, &traffic_controls, controller)
                    }
                };
                problems.into_iter().map(move |problem| format!("{}: {problem}", node.name))
            })
            .collect()
    }

    /// Everything an observer can see of the run so far, in order: the
    /// API requests the agents made (verb, resource, name, answer), each
    /// switch's flows and flow_mod count, and the virtual time. Two runs
    /// of the same seed and steps must give the same text.
    pub fn trace(&self) -> String {
        let mut trace = format!("elapsed {:?}\n", self.sim.elapsed());
        for record in self.api.audit() {
            trace.push_str(&format!(
                "{} {}/{}/{} {}/{} {}\n",
                record.verb,
                record.group,
                record.resource,
                record.subresource,
                record.namespace,
                record.name,
                record.code
            ));
        }
        for node in &self.nodes {
            let (flow_mods, flows) = node.ovs.switch.read(|s| (s.flow_mods_applied(), s.dump_flows_text()));
            trace.push_str(&format!("{} flow_mods {flow_mods}\n{flows}", node.name));
        }
        trace
    }

    /// [`World::trace`] as a short hash (FNV-1a), for logs.
    pub fn trace_hash(&self) -> u64 {
        self.trace()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
    }
}

/// The ofports a switch keeps out of floods.
fn no_flood_ofports(switch: &crate::ovs::openflow_switch::OpenFlowSwitch) -> std::collections::BTreeSet<u32> {
    switch
        .ports()
        .iter()
        .filter(|p| switch.port_config(p.port_no).is_some_and(|c| c.no_flood))
        .map(|p| p.port_no)
        .collect()
}

/// A Pod's port name, as the CNI names it (short and unique per node).
pub fn pod_port(pod: &PodRef) -> String {
    let name: String = format!("{}-{}", pod.namespace, pod.name).chars().take(15).collect();
    name
}

/// The JSON merge patch that turns `current` into `wanted`: what `kubectl
/// apply` sends when it owns every field. Keys that `wanted` drops are
/// nulled (a plain merge would keep a TrafficControl's old `vxlan` next
/// to its new `geneve`).
fn replacing(current: Option<&Value>, wanted: Option<&Value>) -> Value {
    match (current, wanted) {
        (Some(Value::Object(current)), Some(Value::Object(wanted))) => {
            let mut patch: serde_json::Map<String, Value> = current
                .keys()
                .filter(|k| !wanted.contains_key(*k))
                .map(|k| (k.clone(), Value::Null))
                .collect();
            for (key, value) in wanted {
                patch.insert(key.clone(), replacing(current.get(key), Some(value)));
            }
            Value::Object(patch)
        }
        (_, wanted) => wanted.cloned().unwrap_or(Value::Null),
    }
}

fn text(object: &Value, pointer: &str) -> String {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// `deploy/`'s Namespace, ServiceAccount and RBAC, as `kubectl apply -k
/// deploy/` creates them: the agents act as that ServiceAccount, so the
/// API server's RBAC decides each of their requests.
fn seed_deploy_rbac(api: &ApiServer) -> Result<(), WorldError> {
    const DEPLOY: [&str; 2] =
        [include_str!("../../../deploy/namespace.yaml"), include_str!("../../../deploy/rbac.yaml")];
    for manifest in DEPLOY {
        api.with_state(|state, now| state.cluster.create_manifest(manifest, now))?;
    }
    Ok(())
}
