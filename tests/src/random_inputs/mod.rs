//! Random but valid planner inputs for property tests: TrafficControl
//! manifests ([`traffic_controls`]), Namespaces, Pods and an owned
//! bridge's ports ([`cluster`]), all derived from one seed ([`rng`]). The
//! manifests go through the real validator, as the agent's do; only those
//! it accepts reach the planner, and the refused ones are counted so a
//! test can show how much of what it generated was planned.
//!
//! It does not generate shared bridges (they have no flows) or malformed
//! YAML (the fuzz targets do).

pub mod cluster;
pub mod rng;
pub mod traffic_controls;

use datapath::cluster::{NamespaceInfo, PodInfo};
use datapath::pass::{SwitchState, pass};
use datapath::plan::{BridgeMode, Cluster, Plan};
use datapath::validate::Validator;
use serde_json::Value;

use traffic_controls::Manifest;

/// Everything the planner reads, made from one seed.
pub struct PlannerInput {
    /// The seed it was made from.
    pub seed: u64,
    /// The TrafficControls as written, valid or not.
    pub manifests: Vec<Manifest>,
    /// Namespaces.
    pub namespaces: Vec<NamespaceInfo>,
    /// Pods.
    pub pods: Vec<PodInfo>,
    /// The bridge as observed: owned, with the Pods' ports and others.
    pub switch: SwitchState,
}

impl PlannerInput {
    /// The input of `seed`.
    pub fn random(seed: u64) -> Self {
        let mut rng = rng::for_seed(seed);
        let manifests =
            (0..rng.between(1, 6)).map(|i| traffic_controls::traffic_control(&mut rng, i as usize)).collect();
        let namespaces = cluster::namespaces(&mut rng);
        let mut pods = cluster::pods(&mut rng);
        let ports = cluster::switch_ports(&mut rng, &mut pods);
        let switch = SwitchState { mode: BridgeMode::Owned, ports, ..SwitchState::default() };
        PlannerInput { seed, manifests, namespaces, pods, switch }
    }

    /// The plan of one pass on this input (as the agent, `tcctl plan` and
    /// the snapshots make it: new ports get the ofports the pass asks
    /// for), with the manifests the validator refused.
    ///
    /// # Panics
    /// When a manifest spoiled on purpose is accepted: the generator's
    /// idea of the rules and the validator's differ.
    pub fn plan(&self, validator: &Validator) -> ValidatedPlan {
        let mut valid = Vec::new();
        let mut refused = Vec::new();
        for manifest in &self.manifests {
            let report = validator.validate(&manifest.object);
            match report.traffic_control {
                Some(tc) => {
                    assert!(
                        !manifest.spoiled,
                        "seed {}: a spoiled manifest is accepted: {}",
                        self.seed, manifest.object
                    );
                    valid.push(tc);
                }
                None => refused.push(manifest.object.clone()),
            }
        }
        let cluster = Cluster::new(cluster::NODE, valid, self.namespaces.clone(), self.pods.clone());
        ValidatedPlan { plan: pass(&cluster, &self.switch).plan, refused }
    }
}

/// A plan and the manifests left out of it.
pub struct ValidatedPlan {
    /// The plan of the accepted TrafficControls.
    pub plan: Plan,
    /// The manifests the validator refused.
    pub refused: Vec<Value>,
}

impl ValidatedPlan {
    /// The plan's flows in the text the snapshots hold (`# flows` of
    /// [`Plan::render`]).
    pub fn flow_lines(&self) -> Vec<String> {
        self.plan.render().lines().filter(|l| l.starts_with("cookie=")).map(str::to_owned).collect()
    }
}
