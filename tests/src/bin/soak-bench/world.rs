//! The cluster as the soak made it: the Namespaces, Pods and
//! TrafficControls the API server holds after each step (with the harness
//! Pods that play their network), and what follows from them for this node:
//! which TrafficControl controls which Pod, which target ports the agent
//! must have. The expectation is computed here from the rules (selectors,
//! oldest TrafficControl first, then name), not read from the agent.
//! It does not talk to the API or the switch; `churn` and `checks` do.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tests::collector::COLLECTOR_IP;
use tests::pod::Pod;

/// A Pod by `namespace/name`, as the agent's `/status` names it.
pub type PodKey = String;

/// A Pod the soak created: its `app` label and its network.
pub struct SoakPod {
    /// Its `app` label.
    pub app: &'static str,
    /// The harness Pod (namespace, veth, port on the bridge).
    pub pod: Pod,
    /// Its address index (10.88.0.<index>), free again when it goes.
    pub index: u8,
}

/// What a TrafficControl applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `podSelector: {app: X}`, in every Namespace.
    App(&'static str),
    /// `namespaceSelector: {team: X}`, every Pod in them.
    Team(&'static str),
    /// Both: Pods with `app` in Namespaces with `team`.
    AppInTeam(&'static str, &'static str),
    /// `podSelector: {}`: every Pod.
    All,
}

/// Where a TrafficControl mirrors to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An OVS internal port, by name.
    Internal(&'static str),
    /// VXLAN to the harness collector, with a VNI when some.
    Vxlan(Option<u32>),
    /// GENEVE to the harness collector.
    Geneve,
}

/// A TrafficControl's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Traffic to the Pods.
    Ingress,
    /// Traffic from the Pods.
    Egress,
    /// Both.
    Both,
}

/// A TrafficControl's spec (always `action: Mirror`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcSpec {
    /// `appliedTo`.
    pub selector: Selector,
    /// `direction`.
    pub direction: Direction,
    /// `targetPort`.
    pub target: Target,
}

/// A TrafficControl the soak created.
pub struct SoakTc {
    /// Its spec now.
    pub spec: TcSpec,
    /// Its `creationTimestamp` (RFC 3339: sorts as it orders).
    pub created: String,
}

/// Everything the soak created, as the API server should hold it.
#[derive(Default)]
pub struct World {
    /// Namespaces and their `team` label.
    pub namespaces: BTreeMap<String, Option<&'static str>>,
    /// Pods by `namespace/name`.
    pub pods: BTreeMap<PodKey, SoakPod>,
    /// TrafficControls by name.
    pub tcs: BTreeMap<String, SoakTc>,
}

impl Selector {
    fn selects(self, app: &str, team: Option<&str>) -> bool {
        match self {
            Selector::App(a) => a == app,
            Selector::Team(t) => team == Some(t),
            Selector::AppInTeam(a, t) => a == app && team == Some(t),
            Selector::All => true,
        }
    }

    fn applied_to(self) -> Value {
        let labels = |key: &str, value: &str| json!({ "matchLabels": { key: value } });
        match self {
            Selector::App(a) => json!({ "podSelector": labels("app", a) }),
            Selector::Team(t) => json!({ "namespaceSelector": labels("team", t) }),
            Selector::AppInTeam(a, t) => {
                json!({ "podSelector": labels("app", a), "namespaceSelector": labels("team", t) })
            }
            Selector::All => json!({ "podSelector": {} }),
        }
    }
}

impl Target {
    /// `targetPort` as the API has it.
    pub fn port(self) -> Value {
        match self {
            Target::Internal(name) => json!({ "ovsInternal": { "name": name } }),
            Target::Vxlan(None) => json!({ "vxlan": { "remoteIP": COLLECTOR_IP } }),
            Target::Vxlan(Some(vni)) => json!({ "vxlan": { "remoteIP": COLLECTOR_IP, "vni": vni } }),
            Target::Geneve => json!({ "geneve": { "remoteIP": COLLECTOR_IP } }),
        }
    }

    /// The name of the OVS port the agent must make for it (tunnel ports
    /// are named from their parameters, as Antrea names them).
    pub fn port_name(self) -> String {
        let port: datapath::api::Port =
            serde_json::from_value(self.port()).expect("the soak's target ports are valid");
        datapath::naming::port_name(&port)
    }
}

impl Direction {
    /// As the API spells it.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
            Direction::Both => "Both",
        }
    }

    /// Whether traffic from the Pods is mirrored.
    pub fn egress(self) -> bool {
        self != Direction::Ingress
    }

    /// Whether traffic to the Pods is mirrored.
    pub fn ingress(self) -> bool {
        self != Direction::Egress
    }
}

impl TcSpec {
    /// The TrafficControl `name` with this spec, as JSON for `kubectl apply`.
    pub fn manifest(&self, name: &str) -> String {
        json!({
            "apiVersion": "crd.antrea.io/v1alpha2",
            "kind": "TrafficControl",
            "metadata": { "name": name },
            "spec": {
                "appliedTo": self.selector.applied_to(),
                "direction": self.direction.name(),
                "action": "Mirror",
                "targetPort": self.target.port(),
            }
        })
        .to_string()
    }
}

/// Namespace `name` with `team`, as JSON for `kubectl apply`.
pub fn namespace_manifest(name: &str, team: Option<&str>) -> String {
    let mut labels = json!({ "kubernetes.io/metadata.name": name });
    if let Some(team) = team {
        labels["team"] = json!(team);
    }
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name, "labels": labels } })
        .to_string()
}

impl World {
    /// Which TrafficControl controls which Pods: each Pod goes to the
    /// oldest TrafficControl that selects it (ties by name), as the
    /// agent's precedence says. Every TrafficControl has an entry.
    pub fn controlled(&self) -> BTreeMap<String, BTreeSet<PodKey>> {
        let mut order: Vec<(&String, &SoakTc)> = self.tcs.iter().collect();
        order.sort_by(|a, b| (&a.1.created, a.0).cmp(&(&b.1.created, b.0)));
        let mut taken = BTreeSet::new();
        let mut controlled = BTreeMap::new();
        for (name, tc) in order {
            let pods: BTreeSet<PodKey> = self
                .pods
                .iter()
                .filter(|(key, pod)| tc.spec.selector.selects(pod.app, self.team_of(key)))
                .filter(|(key, _)| taken.insert((*key).clone()))
                .map(|(key, _)| key.clone())
                .collect();
            controlled.insert(name.clone(), pods);
        }
        controlled
    }

    /// The target ports of the live TrafficControls (an owned bridge keeps
    /// a target port while its TrafficControl lives, Pods or none).
    pub fn target_ports(&self) -> BTreeSet<String> {
        self.tcs.values().map(|tc| tc.spec.target.port_name()).collect()
    }

    fn team_of(&self, key: &str) -> Option<&str> {
        let namespace = key.split('/').next().unwrap_or_default();
        self.namespaces.get(namespace).copied().flatten()
    }

    /// The Pods of Namespace `namespace`.
    pub fn pods_in(&self, namespace: &str) -> Vec<PodKey> {
        self.pods.keys().filter(|k| k.split('/').next() == Some(namespace)).cloned().collect()
    }

    /// A free address index for a new Pod.
    pub fn free_index(&self) -> u8 {
        let used: BTreeSet<u8> = self.pods.values().map(|p| p.index).collect();
        (1..=250).find(|i| !used.contains(i)).expect("fewer than 250 Pods")
    }
}
