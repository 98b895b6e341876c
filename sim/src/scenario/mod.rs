//! Scenarios: seeded lists of steps (cluster changes, faults, waits,
//! convergence checks) that a [`World`] plays. A scenario is generated
//! entirely from its seed before it runs, so a failure can print every
//! step, and the one command that replays it.
//!
//! - [`examples`]: the seed's three examples, then faults;
//! - [`matrix`]: every port kind × action × direction on one
//!   TrafficControl, replaced in place;
//! - [`churn`]: random Pods, labels, Namespaces, TrafficControls and faults;
//! - [`shared`]: the examples and churn on bridges a CNI's controller
//!   shares with the agent.

pub mod churn;
pub mod examples;
pub mod manifests;
pub mod matrix;
pub mod rng;
pub mod shared;
pub mod step;

use std::fmt;
use std::time::Duration;

use actors::agent::reconciler::Tuning;
use devcluster::apiserver::audit::AuditRecord;

use crate::world::cluster::{BridgeSetup, World, WorldError};
pub use step::{Fault, Step};

/// How long the world may take to converge after the last step.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A scenario, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// [`examples`].
    Examples,
    /// [`matrix`].
    Matrix,
    /// [`churn`].
    Churn,
    /// [`shared::examples`].
    SharedExamples,
    /// [`shared::churn`].
    SharedChurn,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 5] = [
        Scenario::Examples,
        Scenario::Matrix,
        Scenario::Churn,
        Scenario::SharedExamples,
        Scenario::SharedChurn,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Examples => "examples",
            Scenario::Matrix => "matrix",
            Scenario::Churn => "churn",
            Scenario::SharedExamples => "shared-examples",
            Scenario::SharedChurn => "shared-churn",
        }
    }

    /// The scenario called `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The steps seed `seed` plays.
    pub fn generate(self, seed: u64) -> Script {
        match self {
            Scenario::Examples => examples::generate(seed),
            Scenario::Matrix => matrix::generate(seed),
            Scenario::Churn => churn::generate(seed),
            Scenario::SharedExamples => shared::examples(seed),
            Scenario::SharedChurn => shared::churn(seed),
        }
    }
}

/// What a seed plays: how many nodes, and the steps in order.
#[derive(Clone, Debug)]
pub struct Script {
    /// Nodes in the world.
    pub nodes: usize,
    /// Host devices (NICs) every node has.
    pub devices: Vec<&'static str>,
    /// The steps.
    pub steps: Vec<Step>,
    /// How every node's bridge is run.
    pub bridge: BridgeSetup,
}

/// A run that held every invariant.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Steps played.
    pub steps: usize,
    /// Virtual time the run took.
    pub virtual_time: Duration,
    /// The run's trace hash ([`World::trace_hash`]).
    pub trace_hash: u64,
    /// Every request the agents made.
    pub requests: Vec<AuditRecord>,
}

/// A run that broke an invariant or could not play a step.
#[derive(Debug)]
pub struct Failure {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// The script it played.
    pub script: Script,
    /// The step that failed (`None`: the final convergence).
    pub at: Option<usize>,
    /// What went wrong.
    pub error: WorldError,
}

impl Failure {
    /// The command that replays this run.
    pub fn replay(&self) -> String {
        format!("cargo run -p sim --release -- --scenario {} --seed {}", self.scenario.name(), self.seed)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.map_or_else(|| "the final convergence".to_owned(), |i| format!("step {}", i + 1));
        writeln!(f, "{}", seed_line(self.scenario, self.seed, &self.script))?;
        let error = actors::errors::Chain(&self.error);
        writeln!(f, "scenario {} seed {} failed at {at}: {error}", self.scenario.name(), self.seed)?;
        writeln!(f, "steps ({} nodes):", self.script.nodes)?;
        for (index, step) in self.script.steps.iter().enumerate() {
            let marker = if Some(index) == self.at { " <- failed here" } else { "" };
            writeln!(f, "  {:3}. {step}{marker}", index + 1)?;
        }
        write!(f, "replay: {}", self.replay())
    }
}

/// The line a run starts with: the seed and every setting it implies.
pub fn seed_line(scenario: Scenario, seed: u64, script: &Script) -> String {
    let faults = script.steps.iter().filter(|s| matches!(s, Step::Fault(_))).count();
    let bridge = match &script.bridge {
        BridgeSetup::Owned => "owned".to_owned(),
        BridgeSetup::Shared(controller) => format!("shared controller-mirrors={}", controller.mirrors),
    };
    format!(
        "SEED={seed} scenario={} nodes={} steps={} faults={faults} bridge={bridge} {}",
        scenario.name(),
        script.nodes,
        script.steps.len(),
        crate::world::cluster::FAULT_SETTINGS
    )
}

/// Plays `scenario` with `seed`, then heals every fault and checks that
/// the world converges with no safety rule broken.
///
/// # Errors
/// [`Failure`] with the step, the script and the replay command.
pub fn run(scenario: Scenario, seed: u64, tuning: Tuning) -> Result<Outcome, Box<Failure>> {
    let script = scenario.generate(seed);
    let fail =
        |script: &Script, at, error| Box::new(Failure { scenario, seed, script: script.clone(), at, error });
    let mut world =
        World::build(seed, script.nodes, tuning, &script.bridge).map_err(|e| fail(&script, Some(0), e))?;
    for node in &world.nodes {
        for device in &script.devices {
            node.ovs.add_device(device);
        }
    }
    for (index, step) in script.steps.iter().enumerate() {
        step.play(&mut world).map_err(|e| fail(&script, Some(index), e))?;
    }
    for node in 0..script.nodes {
        Step::Fault(Fault::Heal(node)).play(&mut world).map_err(|e| fail(&script, None, e))?;
    }
    world.converge(CONVERGE_TIMEOUT).map_err(|e| fail(&script, None, e))?;
    Ok(Outcome {
        steps: script.steps.len(),
        virtual_time: world.sim.elapsed(),
        trace_hash: world.trace_hash(),
        requests: world.api.audit(),
    })
}
