//! What the agent shows the outside world (`/readyz`, `/metrics`,
//! `/status`): written by the reconciler after each pass, read by the
//! HTTP endpoints.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datapath::plan::{BridgeMode, Plan};
use k8s_openapi::jiff::Timestamp;

use super::messages::TrafficControlsObserved;
use super::metrics::Metrics;

/// The last pass that completed.
#[derive(Clone, Debug)]
pub struct Realized {
    /// The plan the switch holds.
    pub plan: Arc<Plan>,
    /// The TrafficControls it was planned from: the valid ones, the
    /// refused ones with why, and their uids.
    pub traffic_controls: TrafficControlsObserved,
}

/// Where the agent's timestamps (status conditions, Events) come from:
/// the system clock, or the simulation's virtual one.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Shared between the reconciler and the HTTP endpoints.
pub struct AgentState {
    /// This node.
    pub node: String,
    /// How TrafficControls are realized on this node's bridge.
    pub mode: BridgeMode,
    /// The clock.
    pub clock: Clock,
    ready: AtomicBool,
    /// The feature gate is off: ready, and realizing nothing on purpose.
    idle: AtomicBool,
    realized: Mutex<Option<Realized>>,
    /// The metrics.
    pub metrics: Metrics,
}

impl AgentState {
    /// The state of a node's agent before its first pass.
    pub fn new(node: impl Into<String>, mode: BridgeMode) -> Arc<Self> {
        Self::with_clock(node, mode, Arc::new(Timestamp::now))
    }

    /// The same, with timestamps from `clock`.
    pub fn with_clock(node: impl Into<String>, mode: BridgeMode, clock: Clock) -> Arc<Self> {
        Arc::new(AgentState {
            node: node.into(),
            mode,
            clock,
            ready: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            realized: Mutex::new(None),
            metrics: {
                let metrics = Metrics::default();
                metrics.bridge_mode.get_or_create(&vec![("mode", mode.name().to_owned())]).set(1);
                metrics
            },
        })
    }

    /// Ready: the first full sync (watches listed, switch reconciled) is done.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Records a completed pass; the agent is ready from now on.
    pub fn set_realized(&self, realized: Realized) {
        if let Ok(mut slot) = self.realized.lock() {
            *slot = Some(realized);
        }
        self.ready.store(true, Ordering::Release);
    }

    /// Ready without ever realizing anything (the feature gate is off).
    pub fn set_idle(&self) {
        self.idle.store(true, Ordering::Release);
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the agent was told to realize nothing (the feature gate).
    pub fn is_idle(&self) -> bool {
        self.idle.load(Ordering::Acquire)
    }

    /// The last completed pass.
    pub fn realized(&self) -> Option<Realized> {
        self.realized.lock().ok().and_then(|slot| slot.clone())
    }
}
