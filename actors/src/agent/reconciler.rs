//! `Reconciler`: holds the latest facts (TrafficControls, Namespaces, this
//! node's Pods, the bridge's ports), and whenever they change runs one
//! pass in DESIGN §2's order: plan, ports, plan again with the ofports,
//! flows in one bundle, then deletions. Every decision is `datapath`'s
//! planner; this actor only sequences the managers.
//!
//! Coalescing: facts only mark the state dirty. A pass starts once the
//! actor has taken the messages already queued (plus `Tuning::debounce`,
//! zero by default: waiting for more events costs every change its
//! latency), and changes during a pass give exactly one more pass after
//! it. No
//! pass runs before every watch has listed once: planning with a partial
//! view would remove flows of Pods not yet seen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

// tokio's clock, not the OS's: the simulation runs the reconciler on
// virtual time and its traces must not depend on the machine.
use tokio::time::Instant;

use actix::prelude::*;
use datapath::cluster::{NamespaceInfo, PodInfo};
use datapath::plan::{Plan, PlanInput, plan};
use datapath::ports::SwitchPort;
use datapath::status::Standing;

use super::backoff::Backoff;
use super::messages::{
    DeletePorts, InstallFlows, ManagerError, NamespacesObserved, PodsObserved, PublishStatus,
    ReadSwitchPorts, RealizePorts, SwitchConnected, SwitchPortsObserved, TrafficControlsObserved,
};
use super::metrics::gauge;
use super::state::{AgentState, Realized};
use crate::flow_sync::FlowSyncReport;
use crate::port_sync::PortReport;

/// Where the reconciler sends its commands.
#[derive(Clone)]
pub struct Managers {
    /// The port manager: current ports.
    pub read_ports: Recipient<ReadSwitchPorts>,
    /// The port manager: realize.
    pub realize_ports: Recipient<RealizePorts>,
    /// The port manager: delete after flows.
    pub delete_ports: Recipient<DeletePorts>,
    /// The port manager: the switch came back and forgot its port config.
    pub port_manager_switch: Recipient<SwitchConnected>,
    /// The flow manager.
    pub install_flows: Recipient<InstallFlows>,
    /// The status writer, when there is an API server to write to.
    pub publish_status: Option<Recipient<PublishStatus>>,
}

/// How the reconciler paces and orders its passes.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Extra wait from the first change to the pass that takes it.
    pub debounce: Duration,
    /// First retry after a failed pass (doubles up to `retry_max`).
    pub retry_first: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
    /// When a pass deletes the ports it no longer needs.
    pub port_deletion: PortDeletion,
}

/// When a pass deletes ports, relative to installing the flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortDeletion {
    /// Once the bundle without their flows is installed (DESIGN §2): no
    /// flow ever outputs to a port that is gone, or to whatever port
    /// takes its ofport next.
    #[default]
    AfterFlows,
    /// Before installing the flows: breaks DESIGN §2 on purpose, so the
    /// simulation can show that its invariants catch an ordering bug.
    /// `tc-agent` has no way to select it.
    BeforeFlowsDeliberateBug,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            debounce: Duration::ZERO,
            retry_first: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            port_deletion: PortDeletion::AfterFlows,
        }
    }
}

/// Which watches have listed once.
#[derive(Clone, Copy, Debug, Default)]
struct Synced {
    pods: bool,
    namespaces: bool,
    traffic_controls: bool,
}

/// The facts a pass plans with.
#[derive(Clone)]
struct Facts {
    node: String,
    traffic_controls: TrafficControlsObserved,
    namespaces: Arc<[NamespaceInfo]>,
    pods: Arc<[PodInfo]>,
}

impl Facts {
    fn plan(&self, switch_ports: &[SwitchPort]) -> Plan {
        plan(&PlanInput {
            node: &self.node,
            traffic_controls: &self.traffic_controls.valid,
            namespaces: &self.namespaces,
            pods: &self.pods,
            switch_ports,
        })
    }
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error(transparent)]
    Manager(#[from] ManagerError),
    #[error("a manager stopped: {0}")]
    Mailbox(#[from] MailboxError),
}

impl PassError {
    fn kind(&self) -> &'static str {
        match self {
            PassError::Manager(error) => error.kind(),
            PassError::Mailbox(_) => "mailbox",
        }
    }
}

/// What a pass did.
struct PassOutcome {
    plan: Arc<Plan>,
    ports: PortReport,
    flows: FlowSyncReport,
    /// The bridge's ports once the deletions are done.
    ports_after: Vec<SwitchPort>,
    steps: StepTimes,
}

/// The reconciler.
pub struct Reconciler {
    facts: Facts,
    synced: Synced,
    managers: Managers,
    state: Arc<AgentState>,
    tuning: Tuning,
    retry: Backoff,
    /// The bridge's ports as the last pass left them.
    expected_ports: Option<Vec<SwitchPort>>,
    dirty: bool,
    running: bool,
    scheduled: Option<SpawnHandle>,
}

impl Reconciler {
    /// A reconciler for `state.node`.
    pub fn new(managers: Managers, state: Arc<AgentState>, tuning: Tuning) -> Self {
        Reconciler {
            facts: Facts {
                node: state.node.clone(),
                traffic_controls: TrafficControlsObserved {
                    valid: Arc::from([]),
                    invalid: Arc::default(),
                    uids: Arc::default(),
                },
                namespaces: Arc::from([]),
                pods: Arc::from([]),
            },
            synced: Synced::default(),
            managers,
            state,
            retry: Backoff::new(tuning.retry_first, tuning.retry_max),
            tuning,
            expected_ports: None,
            dirty: false,
            running: false,
            scheduled: None,
        }
    }

    /// Something changed: a pass will take it.
    fn request_pass(&mut self, ctx: &mut Context<Self>) {
        self.dirty = true;
        self.schedule(ctx, self.tuning.debounce);
    }

    fn schedule(&mut self, ctx: &mut Context<Self>, after: Duration) {
        if self.running || self.scheduled.is_some() {
            return; // the running pass, or the scheduled one, picks it up
        }
        self.scheduled = Some(ctx.run_later(after, |actor, ctx| {
            actor.scheduled = None;
            actor.start_pass(ctx);
        }));
    }

    fn start_pass(&mut self, ctx: &mut Context<Self>) {
        let synced = self.synced.pods && self.synced.namespaces && self.synced.traffic_controls;
        if self.running || !self.dirty || !synced {
            return;
        }
        self.dirty = false;
        self.running = true;
        let facts = self.facts.clone();
        let managers = self.managers.clone();
        let started = Instant::now();
        let order = self.tuning.port_deletion;
        ctx.spawn(run_pass(managers, facts.clone(), order).into_actor(self).map(
            move |outcome, actor, ctx| {
                actor.running = false;
                match outcome {
                    Ok(outcome) => actor.finish_pass(outcome, &facts, started.elapsed(), ctx),
                    Err(error) => {
                        actor.state.metrics.error(error.kind());
                        let delay = actor.retry.next_delay();
                        tracing::warn!(%error, retry_in = ?delay, "reconcile pass failed");
                        actor.dirty = true;
                        actor.schedule(ctx, delay);
                    }
                }
            },
        ));
    }

    fn finish_pass(&mut self, outcome: PassOutcome, facts: &Facts, took: Duration, ctx: &mut Context<Self>) {
        self.retry.reset();
        let metrics = &self.state.metrics;
        metrics.reconcile_duration.observe(took.as_secs_f64());
        for (step, step_took) in &outcome.steps.0 {
            metrics.pass_step(step, *step_took);
        }
        metrics.flow_mods.inc_by(u64::try_from(outcome.flows.flow_mods()).unwrap_or(u64::MAX));
        metrics.flows.set(gauge(outcome.plan.flows.len()));
        metrics.ports.set(gauge(outcome.plan.ports.len()));
        metrics.selected_pods.set(gauge(outcome.plan.effective.len()));
        let mut by_state: BTreeMap<&str, usize> =
            [("Realized", 0), ("Failed", 0), ("Pending", 0)].into_iter().collect();
        for (name, tc) in &outcome.plan.traffic_controls {
            let failure = outcome.ports.failures_by_traffic_control.get(name);
            *by_state.entry(Standing::of(tc, failure).state()).or_default() += 1;
        }
        for (state, count) in by_state {
            metrics.set_traffic_controls(&state.to_lowercase(), count);
        }
        metrics.set_traffic_controls("invalid", facts.traffic_controls.invalid.len());
        tracing::info!(
            took_ms = took.as_secs_f64() * 1e3,
            plan_ms = outcome.steps.millis("plan"),
            ports_ms = outcome.steps.millis("realize_ports"),
            flows_ms = outcome.steps.millis("install_flows"),
            delete_ms = outcome.steps.millis("delete_ports"),
            flows = outcome.plan.flows.len(),
            added = outcome.flows.added,
            modified = outcome.flows.modified,
            deleted = outcome.flows.deleted,
            ports_created = outcome.ports.changes.create.len(),
            ports_deleted = outcome.ports.changes.delete_after_flows.len(),
            "reconciled"
        );
        self.expected_ports = Some(outcome.ports_after);
        let realized = Realized {
            plan: outcome.plan,
            port_failures: Arc::new(outcome.ports.failures_by_traffic_control),
            traffic_controls: facts.traffic_controls.clone(),
        };
        self.state.set_realized(realized.clone());
        if let Some(status) = &self.managers.publish_status {
            status.do_send(PublishStatus(realized));
        }
        if self.dirty {
            self.schedule(ctx, self.tuning.debounce);
        }
    }
}

/// How long each step of a pass took, in the pass's order.
#[derive(Debug, Default)]
struct StepTimes(Vec<(&'static str, Duration)>);

impl StepTimes {
    /// Runs `step`, remembering how long it took under `name`.
    async fn time<T>(&mut self, name: &'static str, step: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let value = step.await;
        self.0.push((name, started.elapsed()));
        value
    }

    fn millis(&self, name: &str) -> f64 {
        self.0.iter().filter(|(n, _)| *n == name).map(|(_, d)| d.as_secs_f64() * 1e3).sum()
    }
}

/// One pass, in order; see the module documentation.
async fn run_pass(managers: Managers, facts: Facts, order: PortDeletion) -> Result<PassOutcome, PassError> {
    let mut steps = StepTimes::default();
    let current = steps.time("read_ports", managers.read_ports.send(ReadSwitchPorts)).await??;
    let first = steps.time("plan", async { facts.plan(&current) }).await;
    let realize = RealizePorts(first.ports.clone());
    let ports = steps.time("realize_ports", managers.realize_ports.send(realize)).await??;
    // Again with the ofports the new ports got: a flow names a port only
    // once it has one. The same ports give the same plan.
    let plan = if ports.ports == current {
        Arc::new(first)
    } else {
        Arc::new(steps.time("plan", async { facts.plan(&ports.ports) }).await)
    };
    let dropped = ports.changes.delete_after_flows.clone();
    let delete_ports = async {
        if !dropped.is_empty() {
            managers.delete_ports.send(DeletePorts(dropped.clone())).await??;
        }
        Ok::<_, PassError>(())
    };
    let install = InstallFlows(Arc::from(plan.flows.as_slice()));
    let flows = if order == PortDeletion::BeforeFlowsDeliberateBug {
        steps.time("delete_ports", delete_ports).await?;
        steps.time("install_flows", managers.install_flows.send(install)).await??
    } else {
        let flows = steps.time("install_flows", managers.install_flows.send(install)).await??;
        steps.time("delete_ports", delete_ports).await?;
        flows
    };
    let ports_after = ports.ports.iter().filter(|p| !dropped.contains(&p.name)).cloned().collect();
    Ok(PassOutcome { plan, ports, flows, ports_after, steps })
}

impl Actor for Reconciler {
    type Context = Context<Self>;
}

impl Handler<PodsObserved> for Reconciler {
    type Result = ();

    fn handle(&mut self, PodsObserved(pods): PodsObserved, ctx: &mut Self::Context) {
        self.facts.pods = pods;
        self.synced.pods = true;
        self.request_pass(ctx);
    }
}

impl Handler<NamespacesObserved> for Reconciler {
    type Result = ();

    fn handle(&mut self, NamespacesObserved(namespaces): NamespacesObserved, ctx: &mut Self::Context) {
        self.facts.namespaces = namespaces;
        self.synced.namespaces = true;
        self.request_pass(ctx);
    }
}

impl Handler<TrafficControlsObserved> for Reconciler {
    type Result = ();

    fn handle(&mut self, observed: TrafficControlsObserved, ctx: &mut Self::Context) {
        self.facts.traffic_controls = observed;
        self.synced.traffic_controls = true;
        self.request_pass(ctx);
    }
}

impl Handler<SwitchPortsObserved> for Reconciler {
    type Result = ();

    fn handle(&mut self, SwitchPortsObserved(ports): SwitchPortsObserved, ctx: &mut Self::Context) {
        // The agent's own changes come back here too; only a difference
        // from what the last pass left (a Pod port, an ofport after a
        // restart, a port someone removed) needs a pass.
        if self.expected_ports.as_deref() != Some(&ports[..]) {
            tracing::debug!(ports = ports.len(), "bridge ports changed");
            self.request_pass(ctx);
        }
    }
}

impl Handler<SwitchConnected> for Reconciler {
    type Result = ();

    fn handle(&mut self, connected: SwitchConnected, ctx: &mut Self::Context) {
        if connected.reconnected {
            tracing::info!("the switch is back: reinstalling flows and port config");
            // Before the pass below: its port commands must not trust
            // connections or config memory of the old switch.
            self.managers.port_manager_switch.do_send(connected);
        }
        self.request_pass(ctx);
    }
}
