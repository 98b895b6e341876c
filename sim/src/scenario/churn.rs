//! Random churn from the seed: Pods come, go and change labels,
//! Namespaces change labels, TrafficControls are created, replaced and
//! deleted (sharing ports, conflicting over Pods, some naming a device
//! that does not exist), while agents, switches and the API server fail.
//! Bursts (no wait between steps) and intermediate convergence checks are
//! drawn too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::Script;
use super::manifests::{self, ACTIONS, COLLECTOR, DIRECTIONS, TrafficControlSpec};
use super::rng::{self, Rng};
use super::step::{Fault, Step};
use crate::world::cluster::BridgeSetup;

/// Steps after the initial cluster.
const STEPS: usize = 24;
const NAMESPACES: [&str; 3] = ["default", "prod", "dev"];
const ENVS: [&str; 3] = ["production", "staging", "dev"];
const APPS: [&str; 3] = ["web", "db", "cache"];
const POD_NAMES: [&str; 8] = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
const TRAFFIC_CONTROLS: [&str; 5] = ["tc-0", "tc-1", "tc-2", "tc-3", "tc-4"];
const INTERNAL_PORTS: [&str; 3] = ["tap0", "tap1", "tap2"];
/// The NIC every node has; `eth9` exists nowhere.
pub const DEVICE: &str = "eth1";

/// What the generator knows of the cluster it is building.
struct Model {
    rng: Rng,
    nodes: usize,
    /// (namespace, name) → (node, app).
    pods: BTreeMap<(String, String), (usize, &'static str)>,
    traffic_controls: BTreeSet<&'static str>,
    partitioned: BTreeSet<usize>,
    steps: Vec<Step>,
}

/// The churn seed `seed` plays.
pub fn generate(seed: u64) -> Script {
    let mut rng = rng::for_seed(seed);
    let nodes = 1 + usize::from(rng.chance(30));
    let mut model = Model {
        rng,
        nodes,
        pods: BTreeMap::new(),
        traffic_controls: BTreeSet::new(),
        partitioned: BTreeSet::new(),
        steps: Vec::new(),
    };
    for namespace in NAMESPACES {
        model.label_namespace(namespace);
    }
    for _ in 0..4 {
        model.apply_pod();
    }
    for _ in 0..2 {
        model.apply_traffic_control();
    }
    model.steps.push(Step::Converge);
    for _ in 0..STEPS {
        match model.rng.below(100) {
            0..15 => model.apply_pod(),
            15..23 => model.delete_pod(),
            23..29 => {
                let namespace = *model.rng.pick(&NAMESPACES);
                model.label_namespace(namespace);
            }
            29..49 => model.apply_traffic_control(),
            49..57 => model.delete_traffic_control(),
            57..69 => model.fault(),
            69..74 => model.converge(),
            _ => {}
        }
        let wait = match model.rng.below(3) {
            0 => Duration::ZERO,
            1 => Duration::from_millis(model.rng.below(50)),
            _ => Duration::from_millis(model.rng.below(1500)),
        };
        if !wait.is_zero() {
            model.steps.push(Step::Wait(wait));
        }
    }
    Script { nodes, devices: vec![DEVICE], steps: model.steps, bridge: BridgeSetup::Owned }
}

impl Model {
    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.rng.below(len as u64)).unwrap_or(0)
    }

    fn label_namespace(&mut self, namespace: &str) {
        let env = *self.rng.pick(&ENVS);
        self.steps.push(manifests::namespace(namespace, env));
    }

    /// Creates a Pod, or relabels it when it exists.
    fn apply_pod(&mut self) {
        let namespace = (*self.rng.pick(&NAMESPACES)).to_owned();
        let name = (*self.rng.pick(&POD_NAMES)).to_owned();
        let app = *self.rng.pick(&APPS);
        let node = match self.pods.get(&(namespace.clone(), name.clone())) {
            Some((node, _)) => *node,
            None => self.index(self.nodes),
        };
        self.steps.push(manifests::pod(&namespace, &name, node, app));
        self.pods.insert((namespace, name), (node, app));
    }

    fn delete_pod(&mut self) {
        let nth = self.index(self.pods.len().max(1));
        let Some(key) = self.pods.keys().nth(nth).cloned() else {
            return;
        };
        self.pods.remove(&key);
        let (namespace, name) = key;
        self.steps.push(Step::DeletePod { namespace, name });
    }

    fn apply_traffic_control(&mut self) {
        let name = *self.rng.pick(&TRAFFIC_CONTROLS);
        let spec = self.traffic_control_spec();
        self.steps.push(manifests::traffic_control(name, &spec));
        self.traffic_controls.insert(name);
    }

    fn delete_traffic_control(&mut self) {
        let nth = self.index(self.traffic_controls.len().max(1));
        let Some(name) = self.traffic_controls.iter().nth(nth).copied() else {
            return;
        };
        self.traffic_controls.remove(name);
        self.steps.push(Step::DeleteTrafficControl { name: name.to_owned() });
    }

    fn traffic_control_spec(&mut self) -> TrafficControlSpec {
        let app = *self.rng.pick(&APPS);
        let env = *self.rng.pick(&ENVS);
        let applied_to = match self.rng.below(5) {
            0 => json!({"podSelector": {"matchLabels": {"app": app}}}),
            1 => json!({"podSelector": {}}),
            2 => json!({"namespaceSelector": {"matchLabels": {"env": env}}}),
            3 => {
                json!({"podSelector": {"matchLabels": {"app": app}}, "namespaceSelector": {"matchLabels": {"env": env}}})
            }
            _ => json!({"podSelector": {"matchExpressions": [
                {"key": "app", "operator": "In", "values": [app, *self.rng.pick(&APPS)]}
            ]}}),
        };
        let action = if self.rng.chance(30) { ACTIONS[1] } else { ACTIONS[0] };
        let target = self.target_port();
        let return_port = (action == "Redirect").then(|| self.return_port(&target));
        let direction = DIRECTIONS[self.index(DIRECTIONS.len())];
        TrafficControlSpec { applied_to, direction, action, target, return_port }
    }

    fn target_port(&mut self) -> Value {
        match self.rng.below(9) {
            0..3 => json!({"ovsInternal": {"name": *self.rng.pick(&INTERNAL_PORTS)}}),
            3 => json!({"device": {"name": DEVICE}}),
            4 => json!({"device": {"name": "eth9"}}),
            5 => json!({"vxlan": {"remoteIP": COLLECTOR, "vni": self.rng.below(3)}}),
            6 => json!({"geneve": {"remoteIP": COLLECTOR}}),
            7 => json!({"gre": {"remoteIP": COLLECTOR, "key": self.rng.below(3)}}),
            _ if self.rng.chance(50) => {
                json!({"erspan": {"remoteIP": COLLECTOR, "sessionID": 1, "version": 1, "index": 26}})
            }
            _ => {
                json!({"erspan": {"remoteIP": COLLECTOR, "sessionID": 2, "version": 2, "dir": 1, "hardwareID": 12}})
            }
        }
    }

    /// An internal port or the device, never the target itself.
    fn return_port(&mut self, target: &Value) -> Value {
        loop {
            let candidate = if self.rng.chance(20) {
                json!({"device": {"name": DEVICE}})
            } else {
                json!({"ovsInternal": {"name": *self.rng.pick(&INTERNAL_PORTS)}})
            };
            if &candidate != target {
                return candidate;
            }
        }
    }

    fn fault(&mut self) {
        let node = self.index(self.nodes);
        let fault = match self.rng.below(7) {
            0 => Fault::BounceAgent(node),
            1 => Fault::BounceOvs(node),
            2 => Fault::RestartVswitchd(node),
            3 => Fault::RestartApiServer,
            4 => Fault::RestartVswitchdRenumbered(node),
            _ if self.partitioned.remove(&node) => Fault::Heal(node),
            _ => {
                self.partitioned.insert(node);
                Fault::Partition(node)
            }
        };
        self.steps.push(Step::Fault(fault));
    }

    /// A convergence check, when no partition hides the cluster's state.
    fn converge(&mut self) {
        if self.partitioned.is_empty() {
            self.steps.push(Step::Converge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_generates_the_same_script() {
        assert_eq!(generate(5).steps, generate(5).steps);
        assert_ne!(generate(5).steps, generate(6).steps);
    }

    #[test]
    fn a_hundred_seeds_use_every_kind_of_step_and_fault() {
        let lines: Vec<String> =
            (0..100).flat_map(|seed| generate(seed).steps).map(|step| step.to_string()).collect();
        for wanted in [
            "apply pod",
            "delete pod",
            "apply namespace",
            "apply tc/",
            "delete tc/",
            "Redirect",
            "eth9",
            "erspan",
            "bounce the agent",
            "drop every OVS connection",
            "restart ovs-vswitchd",
            "restart the API server",
            "partition",
            "heal",
            "converge",
        ] {
            assert!(lines.iter().any(|l| l.contains(wanted)), "no step with {wanted:?}");
        }
    }
}
