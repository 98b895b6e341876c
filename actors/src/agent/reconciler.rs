//! `Reconciler`: holds the latest facts (TrafficControls, Namespaces, this
//! node's Pods, what it knows of the switch), and whenever they change
//! runs one pass ([`crate::reconcile`]): the core decides every operation
//! ([`datapath::pass`]), the managers carry them out, run by run. This
//! actor only keeps the facts and sequences the runs.
//!
//! Coalescing: facts only mark the state dirty. A pass starts once the
//! actor has taken the messages already queued (plus `Tuning::debounce`,
//! zero by default: waiting for more events costs every change its
//! latency), and changes during a pass give exactly one more pass after
//! it. No pass runs before every watch has listed once: planning with a
//! partial view would remove flows of Pods not yet seen.
//!
//! Pacing: after a pass whose planning took long (a large cluster: tens of
//! milliseconds with 10,000 TrafficControls), no pass starts before as
//! long again has passed, up to [`MAX_PACING`], so the watchers read the
//! events that arrived meanwhile (they read nothing while it planned) and
//! one pass takes them all. Without it, a burst of 10,000 new
//! TrafficControls made hundreds of passes of a dozen each. A pass that
//! plans in under [`PACING_ABOVE`] (every cluster we test) waits nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

// tokio's clock, not the OS's: the simulation runs the reconciler on
// virtual time and its traces must not depend on the machine.
use tokio::time::Instant;

use actix::prelude::*;
use datapath::openflow::flow_mod::FlowDesc;
use datapath::ovsdb::bridge::BridgeView;
use datapath::pass::Operation;
use datapath::plan::{Cluster, Plan, Progress};

use super::backoff::Backoff;
use super::messages::{
    ApplyOpenFlowOperations, ApplyPortOperations, BridgeObserved, DumpAgentFlows, ManagerError,
    NamespacesObserved, PodsObserved, PublishStatus, ReadBridge, SwitchConnected, TrafficControlsObserved,
};
use super::metrics::gauge;
use super::state::{AgentState, Realized};
use crate::errors::Chain;
use crate::host_network::{HostNetworkSource, HostNetworkWatch};
pub use crate::reconcile::PortDeletion;
use crate::reconcile::{Applied, Epoch, Observed, PassReport, ReconcileError, SwitchAccess, reconcile};

/// Where the reconciler sends its commands.
#[derive(Clone)]
pub struct Managers {
    /// The port manager: current ports and mirrors.
    pub read_bridge: Recipient<ReadBridge>,
    /// The port manager: OVSDB operations.
    pub port_operations: Recipient<ApplyPortOperations>,
    /// The flow manager: the agent's flows on the switch.
    pub dump_flows: Recipient<DumpAgentFlows>,
    /// The flow manager: OpenFlow operations.
    pub openflow_operations: Recipient<ApplyOpenFlowOperations>,
    /// The status writer, when there is an API server to write to.
    pub publish_status: Option<Recipient<PublishStatus>>,
}

/// How the reconciler paces and orders its passes.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Extra wait from the first change to the pass that takes it.
    pub debounce: Duration,
    /// First retry after a failed pass (doubles up to `retry_max`).
    pub retry_first: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
    /// When a pass deletes the ports it no longer needs.
    pub port_deletion: PortDeletion,
    /// Where each pass reads the node's addresses and default routes
    /// from (the guard rails refuse devices that carry them).
    pub host_network: HostNetworkSource,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            debounce: Duration::ZERO,
            retry_first: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            port_deletion: PortDeletion::AfterFlows,
            host_network: HostNetworkSource::Off,
        }
    }
}

/// Planning faster than this gets no pacing.
const PACING_ABOVE: Duration = Duration::from_millis(10);
/// The longest pacing wait.
const MAX_PACING: Duration = Duration::from_millis(250);

/// The wait before the next pass, after one that planned in `planning`.
fn pacing(planning: Duration) -> Duration {
    if planning < PACING_ABOVE { Duration::ZERO } else { planning.min(MAX_PACING) }
}

/// Which watches have listed once.
#[derive(Clone, Copy, Debug, Default)]
struct Synced {
    pods: bool,
    namespaces: bool,
    traffic_controls: bool,
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error(transparent)]
    Manager(#[from] ManagerError),
    #[error("a manager stopped")]
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

/// The switch as the managers reach it, each call timed.
struct Managed {
    managers: Managers,
    steps: StepTimes,
}

impl SwitchAccess for Managed {
    type Error = PassError;

    async fn read_bridge(&mut self) -> Result<BridgeView, PassError> {
        let read = self.managers.read_bridge.send(ReadBridge);
        Ok(self.steps.time("read_ports", read).await??)
    }

    async fn dump_flows(&mut self) -> Result<(Epoch, Vec<FlowDesc>), PassError> {
        let dumped = self.steps.time("dump_flows", self.managers.dump_flows.send(DumpAgentFlows)).await??;
        Ok((dumped.epoch, dumped.flows))
    }

    async fn ovsdb(&mut self, operations: Vec<Operation>) -> Result<BridgeView, PassError> {
        let applied = self.managers.port_operations.send(ApplyPortOperations(operations));
        Ok(self.steps.time("port_operations", applied).await??)
    }

    async fn openflow(&mut self, epoch: Epoch, operations: Vec<Operation>) -> Result<Applied, PassError> {
        let applied = self.managers.openflow_operations.send(ApplyOpenFlowOperations { epoch, operations });
        Ok(self.steps.time("openflow_operations", applied).await??)
    }
}

/// What a pass gives back to the actor.
struct PassOutcome {
    observed: Observed,
    result: Result<PassReport, ReconcileError<PassError>>,
    steps: StepTimes,
}

/// The reconciler.
pub struct Reconciler {
    cluster: Cluster,
    traffic_controls: TrafficControlsObserved,
    synced: Synced,
    managers: Managers,
    state: Arc<AgentState>,
    tuning: Tuning,
    retry: Backoff,
    /// What the agent knows of its switch; taken by a running pass.
    observed: Option<Observed>,
    /// The switch came back while a pass ran: forget it after the pass.
    switch_returned: bool,
    /// The node's network, for the guard rails.
    host_network: HostNetworkWatch,
    /// The last read of the node's network failed (and was logged).
    host_network_failed: bool,
    /// The plan of the last completed pass.
    last_plan: Option<Arc<Plan>>,
    /// The bridge as the port manager's watch last reported it.
    reported: Option<Arc<BridgeView>>,
    dirty: bool,
    running: bool,
    scheduled: Option<SpawnHandle>,
    /// Pacing: no pass starts before this.
    not_before: Option<Instant>,
}

impl Reconciler {
    /// A reconciler for `state.node`'s bridge, realizing TrafficControls
    /// as `state.mode` says.
    pub fn new(managers: Managers, state: Arc<AgentState>, tuning: Tuning) -> Self {
        let mode = state.mode;
        Reconciler {
            cluster: Cluster { node: state.node.clone(), ..Cluster::default() },
            traffic_controls: TrafficControlsObserved {
                valid: Arc::from([]),
                invalid: Arc::default(),
                uids: Arc::default(),
                this_node: Arc::default(),
            },
            synced: Synced::default(),
            managers,
            state,
            retry: Backoff::new(tuning.retry_first, tuning.retry_max),
            host_network: HostNetworkWatch::new(tuning.host_network.clone()),
            tuning,
            observed: Some(Observed::new(mode)),
            switch_returned: false,
            host_network_failed: false,
            last_plan: None,
            reported: None,
            dirty: false,
            running: false,
            scheduled: None,
            not_before: None,
        }
    }

    /// Something changed: a pass will take it, no sooner than pacing
    /// allows.
    fn request_pass(&mut self, ctx: &mut Context<Self>) {
        self.dirty = true;
        let paced = self.not_before.map_or(Duration::ZERO, |at| at.saturating_duration_since(Instant::now()));
        self.schedule(ctx, self.tuning.debounce.max(paced));
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

    /// The node's addresses and default routes as the kernel has them
    /// now; on failure the last ones read are kept, and said once.
    fn read_host_network(&mut self, observed: &mut Observed) {
        match self.host_network.read() {
            None => {}
            Some(Ok(read)) => {
                observed.switch.host.addresses = read.addresses;
                observed.switch.host.default_route_devices = read.default_route_devices;
                self.host_network_failed = false;
            }
            Some(Err(error)) => {
                if !self.host_network_failed {
                    tracing::warn!(error = %Chain(&error), "cannot read the node's addresses; the guard rails keep the last ones read");
                }
                self.host_network_failed = true;
            }
        }
    }

    fn start_pass(&mut self, ctx: &mut Context<Self>) {
        let synced = self.synced.pods && self.synced.namespaces && self.synced.traffic_controls;
        if self.running || !self.dirty || !synced {
            return;
        }
        let Some(mut observed) = self.observed.take() else { return };
        let reading = Instant::now();
        self.read_host_network(&mut observed);
        self.state.metrics.pass_step("host_network", reading.elapsed());
        // Ports the watch reported since the last pass must be read anew
        // (through an OVSDB round trip); otherwise the last pass's are
        // still the bridge's, and the pass skips that round trip.
        observed.ports_current = self.reported.as_deref() == Some(&observed.bridge());
        self.dirty = false;
        self.running = true;
        let cluster = self.cluster.clone();
        let traffic_controls = self.traffic_controls.clone();
        let managed = Managed { managers: self.managers.clone(), steps: StepTimes::default() };
        let deletion = self.tuning.port_deletion;
        let started = Instant::now();
        ctx.spawn(run_pass(managed, cluster, observed, deletion).into_actor(self).map(
            move |outcome, actor, ctx| {
                actor.running = false;
                let PassOutcome { mut observed, result, steps } = outcome;
                if std::mem::take(&mut actor.switch_returned) {
                    observed.forget_switch();
                }
                if actor.reported.as_deref().is_some_and(|view| *view != observed.bridge()) {
                    actor.dirty = true; // someone else changed the bridge during the pass
                }
                actor.observed = Some(observed);
                match result {
                    Ok(report) => actor.finish_pass(report, steps, traffic_controls, started.elapsed(), ctx),
                    Err(error) => {
                        let kind = match &error {
                            ReconcileError::Switch(error) => error.kind(),
                            ReconcileError::Unsettled { .. } => "unsettled",
                        };
                        actor.state.metrics.error(kind);
                        let delay = actor.retry.next_delay();
                        tracing::warn!(error = %Chain(&error), retry_in = ?delay, "reconcile pass failed");
                        actor.dirty = true;
                        actor.schedule(ctx, delay);
                    }
                }
            },
        ));
    }

    fn finish_pass(
        &mut self,
        report: PassReport,
        steps: StepTimes,
        traffic_controls: TrafficControlsObserved,
        took: Duration,
        ctx: &mut Context<Self>,
    ) {
        self.retry.reset();
        let metrics = &self.state.metrics;
        metrics.reconcile_duration.observe(took.as_secs_f64());
        for (step, step_took) in &steps.0 {
            metrics.pass_step(step, *step_took);
        }
        metrics.pass_step("plan", report.plan_time);
        metrics.flow_mods.inc_by(u64::try_from(report.flows.flow_mods()).unwrap_or(u64::MAX));
        metrics.flows.set(gauge(report.plan.flows.len()));
        metrics.ports.set(gauge(report.plan.ports.len()));
        metrics.selected_pods.set(gauge(report.plan.effective.len()));
        metrics.port_problems.set(gauge(report.plan.port_problems.len()));
        let mut by_state: BTreeMap<&str, usize> =
            [("Realized", 0), ("Failed", 0), ("Pending", 0)].into_iter().collect();
        for tc in report.plan.traffic_controls.values() {
            *by_state.entry(tc.progress.state()).or_default() += 1;
        }
        for (state, count) in by_state {
            metrics.set_traffic_controls(&state.to_lowercase(), count);
        }
        metrics.set_traffic_controls("invalid", traffic_controls.invalid.len());
        log_changes(self.last_plan.as_deref(), &report.plan);
        tracing::info!(
            took_ms = took.as_secs_f64() * 1e3,
            plan_ms = report.plan_time.as_secs_f64() * 1e3,
            ports_ms = steps.millis("port_operations"),
            openflow_ms = steps.millis("openflow_operations"),
            plans = report.plans,
            flows = report.plan.flows.len(),
            added = report.flows.added,
            modified = report.flows.modified,
            deleted = report.flows.deleted,
            ports_created = report.created.len(),
            ports_deleted = report.deleted.len(),
            "reconciled"
        );
        self.last_plan = Some(report.plan.clone());
        let realized = Realized { plan: report.plan, traffic_controls };
        self.state.set_realized(realized.clone());
        if let Some(status) = &self.managers.publish_status {
            status.do_send(PublishStatus(realized));
        }
        // A change that arrives after this pass (the watchers read nothing
        // while it planned) waits as well.
        let paced = pacing(report.plan_time);
        self.not_before = Some(Instant::now() + paced);
        if self.dirty {
            self.schedule(ctx, self.tuning.debounce.max(paced));
        }
    }

    /// Whether `view` is what the last pass left on the bridge (a running
    /// pass expects nothing: its end compares).
    fn expects(&self, view: &BridgeView) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|o| o.switch.ports == view.ports && o.switch.mirrors == view.mirrors)
    }
}

/// One info line per device the agent newly adopts or gives back, and
/// per TrafficControl this node newly refuses (the status writer reports
/// refusals too; this is the node's own log of them), and a warning per
/// new port problem. Created and deleted ports are logged where they are
/// created and deleted.
fn log_changes(before: Option<&Plan>, after: &Plan) {
    for problem in after.port_problems.iter().filter(|p| before.is_none_or(|b| !b.port_problems.contains(p)))
    {
        tracing::warn!(%problem, "a port with a Pod's keys matches no Pod");
    }
    let adopted = |plan: Option<&Plan>, name: &str| {
        plan.and_then(|p| p.ports.get(name)).is_some_and(|port| port.adopted)
    };
    for (name, port) in after.ports.iter().filter(|(name, port)| port.adopted && !adopted(before, name)) {
        let users: Vec<&str> = port.users.iter().map(String::as_str).collect();
        tracing::info!(port = %name, users = ?users, "adopted port: used as a TrafficControl port, never modified or deleted");
    }
    for name in before
        .into_iter()
        .flat_map(|p| p.ports.keys())
        .filter(|name| adopted(before, name) && !after.ports.contains_key(*name))
    {
        tracing::info!(port = %name, "adopted port given back: no TrafficControl uses it");
    }
    for (name, tc) in &after.traffic_controls {
        let was = before.and_then(|p| p.traffic_controls.get(name)).map(|t| &t.progress);
        if let Progress::Failed(why) | Progress::PortFailed(why) = &tc.progress
            && was != Some(&tc.progress)
        {
            tracing::info!(traffic_control = %name, reason = %why, "TrafficControl refused on this node");
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

/// One pass through the managers.
#[tracing::instrument(name = "pass", skip_all)]
async fn run_pass(
    mut managed: Managed,
    cluster: Cluster,
    mut observed: Observed,
    deletion: PortDeletion,
) -> PassOutcome {
    let result = reconcile(&mut managed, &cluster, &mut observed, deletion).await;
    PassOutcome { observed, result, steps: managed.steps }
}

impl Actor for Reconciler {
    type Context = Context<Self>;
}

impl Handler<PodsObserved> for Reconciler {
    type Result = ();

    #[tracing::instrument(level = "debug", name = "pods_observed", skip_all, fields(pods = observed.0.len()))]
    fn handle(&mut self, observed: PodsObserved, ctx: &mut Self::Context) {
        self.cluster.pods = observed.0;
        self.synced.pods = true;
        self.request_pass(ctx);
    }
}

impl Handler<NamespacesObserved> for Reconciler {
    type Result = ();

    #[tracing::instrument(level = "debug", name = "namespaces_observed", skip_all, fields(namespaces = observed.0.len()))]
    fn handle(&mut self, observed: NamespacesObserved, ctx: &mut Self::Context) {
        self.cluster.namespaces = observed.0;
        self.synced.namespaces = true;
        self.request_pass(ctx);
    }
}

impl Handler<TrafficControlsObserved> for Reconciler {
    type Result = ();

    #[tracing::instrument(
        level = "debug",
        name = "traffic_controls_observed",
        skip_all,
        fields(valid = observed.valid.len(), invalid = observed.invalid.len())
    )]
    fn handle(&mut self, observed: TrafficControlsObserved, ctx: &mut Self::Context) {
        self.cluster.traffic_controls = observed.valid.clone();
        self.traffic_controls = observed;
        self.synced.traffic_controls = true;
        self.request_pass(ctx);
    }
}

impl Handler<BridgeObserved> for Reconciler {
    type Result = ();

    #[tracing::instrument(level = "debug", name = "bridge_observed", skip_all, fields(ports = observed.0.ports.len()))]
    fn handle(&mut self, observed: BridgeObserved, ctx: &mut Self::Context) {
        let BridgeObserved(view) = observed;
        // The agent's own changes come back here too; only a difference
        // from what the last pass left (a Pod port, an ofport after a
        // restart, a port or mirror someone removed) needs a pass. During
        // a pass, the pass's end compares with the latest report.
        let changed = !self.expects(&view);
        self.reported = Some(view);
        if !self.running && changed {
            tracing::debug!("the bridge changed");
            self.request_pass(ctx);
        }
    }
}

impl Handler<SwitchConnected> for Reconciler {
    type Result = ();

    #[tracing::instrument(level = "debug", name = "switch_connected", skip(self, ctx))]
    fn handle(&mut self, connected: SwitchConnected, ctx: &mut Self::Context) {
        if connected.reconnected {
            tracing::info!("the switch is back: reading its flows and port settings again");
            match self.observed.as_mut() {
                Some(observed) => observed.forget_switch(),
                None => self.switch_returned = true,
            }
        }
        self.request_pass(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slow_planning_paces_the_next_pass_and_never_for_long() {
        assert_eq!(pacing(Duration::from_millis(3)), Duration::ZERO, "a small cluster keeps its latency");
        assert_eq!(pacing(Duration::from_millis(45)), Duration::from_millis(45));
        assert_eq!(pacing(Duration::from_secs(2)), MAX_PACING);
    }
}
