//! The churn: one step at a time, chosen from the seed and the world as
//! it is (so a seed replays the same sequence of steps), then done through
//! the API server (kubectl) and the switch (the harness playing kubelet
//! and the CNI). It decides and acts; whether the agent followed is
//! `checks`'.

use std::fmt;

pub use fixtures::rng::SeededRng as Rng;

use tests::devcluster::DevCluster;
use tests::ovs::{Bridge, Ovs};
use tests::pod::Pod;

use crate::world::{Direction, Selector, SoakPod, SoakTc, Target, TcSpec, World, namespace_manifest};

/// The node's API server and switch, as the churn drives them.
pub struct Cluster<'a> {
    /// The private switch.
    pub ovs: &'a Ovs,
    /// The agent's bridge.
    pub bridge: &'a Bridge,
    /// The dev API server.
    pub api: &'a DevCluster,
    /// The node the Pods run on.
    pub node: &'a str,
}

/// At most this many of each at once: enough for conflicts and shared
/// target ports, few enough that every step's check stays quick.
const MAX_NAMESPACES: usize = 4;
const MAX_PODS: usize = 12;
const MAX_TCS: usize = 5;

const NAMESPACES: [&str; 5] = ["soak-a", "soak-b", "soak-c", "soak-d", "soak-e"];
const POD_NAMES: [&str; 6] = ["p0", "p1", "p2", "p3", "p4", "p5"];
const TC_NAMES: [&str; 7] = ["tc-0", "tc-1", "tc-2", "tc-3", "tc-4", "tc-5", "tc-6"];
const APPS: [&str; 3] = ["web", "db", "cache"];
const TEAMS: [Option<&str>; 3] = [Some("red"), Some("blue"), None];
const TARGETS: [Target; 6] = [
    Target::Internal("tap0"),
    Target::Internal("tap1"),
    Target::Internal("tap2"),
    Target::Vxlan(None),
    Target::Vxlan(Some(100)),
    Target::Geneve,
];
const DIRECTIONS: [Direction; 3] = [Direction::Ingress, Direction::Egress, Direction::Both];

/// One change to the cluster.
#[derive(Clone, Debug)]
pub enum Step {
    /// A new Namespace.
    CreateNamespace { name: String, team: Option<&'static str> },
    /// A Namespace's `team` label set, changed or removed.
    RelabelNamespace { name: String, team: Option<&'static str> },
    /// A Namespace deleted, with its Pods (the API server cascades; the
    /// CNI's DEL follows for each).
    DeleteNamespace { name: String },
    /// A Pod created and attached; `port_first`: the port appears before
    /// the Pod object (watch order the agent must not depend on).
    CreatePod { namespace: String, name: String, app: &'static str, port_first: bool },
    /// A Pod's `app` label changed.
    RelabelPod { key: String, app: &'static str },
    /// A Pod deleted and detached, in either order.
    DeletePod { key: String, port_first: bool },
    /// A new TrafficControl.
    CreateTc { name: String, spec: TcSpec },
    /// A TrafficControl's spec changed (one field).
    EditTc { name: String, spec: TcSpec, field: &'static str },
    /// A TrafficControl deleted.
    DeleteTc { name: String },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = |port_first: &bool| if *port_first { "port first" } else { "API first" };
        match self {
            Step::CreateNamespace { name, team } => write!(f, "create namespace {name} team={team:?}"),
            Step::RelabelNamespace { name, team } => write!(f, "relabel namespace {name} team={team:?}"),
            Step::DeleteNamespace { name } => write!(f, "delete namespace {name} (and its Pods)"),
            Step::CreatePod { namespace, name, app, port_first } => {
                write!(f, "create pod {namespace}/{name} app={app} ({})", order(port_first))
            }
            Step::RelabelPod { key, app } => write!(f, "relabel pod {key} app={app}"),
            Step::DeletePod { key, port_first } => write!(f, "delete pod {key} ({})", order(port_first)),
            Step::CreateTc { name, spec } => write!(f, "create tc {name} {}", describe(spec)),
            Step::EditTc { name, spec, field } => write!(f, "edit tc {name} {field}: {}", describe(spec)),
            Step::DeleteTc { name } => write!(f, "delete tc {name}"),
        }
    }
}

fn describe(spec: &TcSpec) -> String {
    format!("{:?} {} -> {:?}", spec.selector, spec.direction.name(), spec.target)
}

/// The kinds of step.
#[derive(Clone, Copy)]
enum Kind {
    CreateNamespace,
    RelabelNamespace,
    DeleteNamespace,
    CreatePod,
    RelabelPod,
    DeletePod,
    CreateTc,
    EditTc,
    DeleteTc,
}

/// The next step for `world`, from `rng`.
pub fn choose(world: &World, rng: &mut Rng) -> Step {
    let kind = pick_kind(world, rng);
    let namespace_names: Vec<&String> = world.namespaces.keys().collect();
    let pod_keys: Vec<&String> = world.pods.keys().collect();
    let tc_names: Vec<&String> = world.tcs.keys().collect();
    match kind {
        Kind::CreateNamespace => {
            let free: Vec<&str> =
                NAMESPACES.iter().copied().filter(|n| !world.namespaces.contains_key(*n)).collect();
            Step::CreateNamespace { name: rng.pick_copy(&free).to_owned(), team: rng.pick_copy(&TEAMS) }
        }
        Kind::RelabelNamespace => Step::RelabelNamespace {
            name: rng.pick_copy(&namespace_names).clone(),
            team: rng.pick_copy(&TEAMS),
        },
        Kind::DeleteNamespace => Step::DeleteNamespace { name: rng.pick_copy(&namespace_names).clone() },
        Kind::CreatePod => {
            let namespace: &String = rng.pick_copy(&namespace_names);
            create_pod(world, namespace, rng)
        }
        Kind::RelabelPod => {
            Step::RelabelPod { key: rng.pick_copy(&pod_keys).clone(), app: rng.pick_copy(&APPS) }
        }
        Kind::DeletePod => Step::DeletePod { key: rng.pick_copy(&pod_keys).clone(), port_first: rng.coin() },
        Kind::CreateTc => {
            let free: Vec<&str> = TC_NAMES.iter().copied().filter(|n| !world.tcs.contains_key(*n)).collect();
            Step::CreateTc { name: rng.pick_copy(&free).to_owned(), spec: random_spec(rng) }
        }
        Kind::EditTc => {
            let name: &String = rng.pick_copy(&tc_names);
            edit_tc(world, name, rng)
        }
        Kind::DeleteTc => Step::DeleteTc { name: rng.pick_copy(&tc_names).clone() },
    }
}

/// Which kind of step, by weight among those possible now: edits and Pod
/// changes most often, as in a cluster; deletions less often than
/// creations, so the world stays populated.
fn pick_kind(world: &World, rng: &mut Rng) -> Kind {
    let (namespaces, pods, tcs) = (world.namespaces.len(), world.pods.len(), world.tcs.len());
    let kinds = [
        (Kind::CreateNamespace, 5, namespaces < MAX_NAMESPACES),
        (Kind::RelabelNamespace, 8, namespaces > 0),
        (Kind::DeleteNamespace, 3, namespaces > 1),
        (Kind::CreatePod, 16, namespaces > 0 && pods < MAX_PODS),
        (Kind::RelabelPod, 14, pods > 0),
        (Kind::DeletePod, 9, pods > 0),
        (Kind::CreateTc, 10, tcs < MAX_TCS),
        (Kind::EditTc, 22, tcs > 0),
        (Kind::DeleteTc, 6, tcs > 0),
    ];
    let possible: Vec<(Kind, usize)> =
        kinds.into_iter().filter(|(_, _, possible)| *possible).map(|(k, w, _)| (k, w)).collect();
    let mut draw = rng.index(possible.iter().map(|(_, w)| w).sum());
    possible
        .iter()
        .find(|(_, weight)| {
            let hit = draw < *weight;
            draw = draw.saturating_sub(*weight);
            hit
        })
        .map_or(Kind::CreateTc, |(kind, _)| *kind)
}

/// A new Pod in `namespace`, or, in a full one, a relabel of one of its
/// Pods.
fn create_pod(world: &World, namespace: &str, rng: &mut Rng) -> Step {
    let taken = world.pods_in(namespace);
    let free: Vec<&str> =
        POD_NAMES.iter().copied().filter(|n| !taken.contains(&format!("{namespace}/{n}"))).collect();
    if free.is_empty() {
        return Step::RelabelPod { key: taken[0].clone(), app: rng.pick_copy(&APPS) };
    }
    Step::CreatePod {
        name: rng.pick_copy(&free).to_owned(),
        namespace: namespace.to_owned(),
        app: rng.pick_copy(&APPS),
        port_first: rng.coin(),
    }
}

/// One field of TrafficControl `name` changed (possibly to what it was).
fn edit_tc(world: &World, name: &str, rng: &mut Rng) -> Step {
    let mut spec = world.tcs[name].spec;
    let field = match rng.index(3) {
        0 => {
            spec.selector = random_selector(rng);
            "selector"
        }
        1 => {
            spec.direction = rng.pick_copy(&DIRECTIONS);
            "direction"
        }
        _ => {
            spec.target = rng.pick_copy(&TARGETS);
            "target"
        }
    };
    Step::EditTc { name: name.to_owned(), spec, field }
}

/// How many steps to do before the next check: mostly one, so a failure
/// points at its step; sometimes a burst of up to six, which the agent
/// sees as events arriving during a pass and must coalesce.
pub fn batch(rng: &mut Rng) -> usize {
    if rng.index(10) < 7 { 1 } else { 2 + rng.index(5) }
}

fn random_selector(rng: &mut Rng) -> Selector {
    let team = || ["red", "blue"];
    match rng.index(7) {
        0 => Selector::All,
        1 | 2 => Selector::Team(rng.pick_copy(&team())),
        3 | 4 => Selector::AppInTeam(rng.pick_copy(&APPS), rng.pick_copy(&team())),
        _ => Selector::App(rng.pick_copy(&APPS)),
    }
}

fn random_spec(rng: &mut Rng) -> TcSpec {
    TcSpec {
        selector: random_selector(rng),
        direction: rng.pick_copy(&DIRECTIONS),
        target: rng.pick_copy(&TARGETS),
    }
}

impl Cluster<'_> {
    /// Does `step` and records it in `world`.
    ///
    /// # Panics
    /// When kubectl or a switch tool fails (the harness's messages).
    pub fn apply(&self, step: &Step, world: &mut World) {
        match step {
            Step::CreateNamespace { name, team } => {
                self.api.apply(&namespace_manifest(name, *team));
                world.namespaces.insert(name.clone(), *team);
            }
            Step::RelabelNamespace { name, team } => {
                let label = team.map_or("team-".to_owned(), |t| format!("team={t}"));
                self.api.kubectl(&["label", "namespace", name, &label, "--overwrite"]);
                world.namespaces.insert(name.clone(), *team);
            }
            Step::DeleteNamespace { name } => {
                self.api.kubectl(&["delete", "namespace", name]);
                world.namespaces.remove(name);
                for key in world.pods_in(name) {
                    if let Some(gone) = world.pods.remove(&key) {
                        gone.pod.detach(self.ovs);
                    }
                }
            }
            Step::CreatePod { namespace, name, app, port_first } => {
                self.create_pod(world, namespace, name, app, *port_first);
            }
            Step::RelabelPod { key, app } => {
                let (namespace, name) = key.split_once('/').unwrap_or_default();
                self.api.kubectl(&[
                    "label",
                    "pod",
                    "-n",
                    namespace,
                    name,
                    &format!("app={app}"),
                    "--overwrite",
                ]);
                if let Some(pod) = world.pods.get_mut(key) {
                    pod.app = app;
                }
            }
            Step::DeletePod { key, port_first } => {
                if let Some(gone) = world.pods.remove(key) {
                    self.delete_pod(key, gone, *port_first);
                }
            }
            Step::CreateTc { name, spec } => {
                self.api.apply(&spec.manifest(name));
                let created = self
                    .api
                    .kubectl(&["get", "tc", name, "-o", "jsonpath={.metadata.creationTimestamp}"])
                    .trim()
                    .to_owned();
                world.tcs.insert(name.clone(), SoakTc { spec: *spec, created });
            }
            Step::EditTc { name, spec, .. } => {
                self.api.apply(&spec.manifest(name));
                if let Some(tc) = world.tcs.get_mut(name) {
                    tc.spec = *spec;
                }
            }
            Step::DeleteTc { name } => {
                self.api.kubectl(&["delete", "tc", name]);
                world.tcs.remove(name);
            }
        }
    }

    /// Creates a Pod: its object (as kubelet) and its port (as the CNI),
    /// in either order.
    fn create_pod(
        &self,
        world: &mut World,
        namespace: &str,
        name: &str,
        app: &'static str,
        port_first: bool,
    ) {
        let index = world.free_index();
        let labels = [("app", app)];
        let attach = || Pod::attach(self.ovs, self.bridge, namespace, name, index);
        let pod = if port_first {
            let pod = attach();
            self.api.create_pod(&pod, self.node, &labels);
            pod
        } else {
            self.api.create_pod_named(namespace, name, self.node, &labels);
            attach()
        };
        world.pods.insert(format!("{namespace}/{name}"), SoakPod { app, pod, index });
    }

    /// Deletes Pod `key`'s object and its port, in either order.
    fn delete_pod(&self, key: &str, gone: SoakPod, port_first: bool) {
        let (namespace, name) = key.split_once('/').unwrap_or_default();
        let delete = || self.api.kubectl(&["delete", "pod", "-n", namespace, name]);
        if port_first {
            gone.pod.detach(self.ovs);
            delete();
        } else {
            delete();
            gone.pod.detach(self.ovs);
        }
    }

    /// Deletes everything the soak created: TrafficControls, then
    /// Namespaces (the API server deletes their Pods), then the Pods'
    /// ports, as the CNI's DEL would.
    pub fn delete_everything(&self, world: &mut World) {
        for name in world.tcs.keys().cloned().collect::<Vec<_>>() {
            self.apply(&Step::DeleteTc { name }, world);
        }
        for name in world.namespaces.keys().cloned().collect::<Vec<_>>() {
            self.apply(&Step::DeleteNamespace { name }, world);
        }
    }
}
