//! One reconcile pass, run: observe the switch, let [`datapath::pass`]
//! decide, then hand each run of operations to whoever carries it out
//! (OVSDB, then OpenFlow, then OVSDB again), and plan again when OVS did
//! not do what the plan assumed. The agent's reconciler runs it through
//! its actors; the real-switch tests run it over plain connections
//! ([`Connections`]). Both are a [`SwitchAccess`].
//!
//! Switch restarts: each OpenFlow connection belongs to an [`Epoch`]. A
//! run of OpenFlow operations planned in one epoch is never sent on a
//! connection of another (the executor answers [`Applied::NewEpoch`]
//! instead), so the port settings a restarted ovs-vswitchd forgot are
//! always part of the plan that reaches it, before any of its flows.

use std::sync::Arc;
use std::time::Duration;

use datapath::flow_diff::FlowChanges;
use datapath::openflow::flow_mod::FlowDesc;
use datapath::ovsdb::bridge::BridgeView;
use datapath::pass::{Executor, HeldFlows, Operation, Pass, SwitchState, pass};
use datapath::plan::{BridgeMode, Cluster, Plan};
use datapath::ports::SwitchPort;
use tokio::io::{AsyncRead, AsyncWrite};
// tokio's clock: the simulation runs passes on virtual time.
use tokio::time::Instant;

use crate::openflow_connection::OpenFlowConnection;
use crate::operations::{FlowError, PortError, execute_openflow, execute_ovsdb, read_bridge};
use crate::ovsdb_connection::OvsdbConnection;

/// The generation of the agent's OpenFlow connections to a switch: it
/// changes whenever they had to be opened again, which is what a
/// restarted ovs-vswitchd looks like (all its connections drop).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

/// What an executor did with a run of OpenFlow operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Carried out.
    Done,
    /// Not sent: the connections are of this newer epoch (the switch may
    /// have restarted and forgotten what the plan assumed it holds).
    NewEpoch(Epoch),
}

/// The switch as one pass reaches it.
// The shell runs on current-thread runtimes (actix, turmoil hosts), so no
// caller ever needs these futures to be `Send`.
#[allow(async_fn_in_trait)]
pub trait SwitchAccess {
    /// Why an operation failed.
    type Error;

    /// The bridge's ports and mirrors now, with every OVSDB update sent so
    /// far applied.
    async fn read_bridge(&mut self) -> Result<BridgeView, Self::Error>;

    /// The agent's flows on the switch, and the epoch of the connection
    /// that read them.
    async fn dump_flows(&mut self) -> Result<(Epoch, Vec<FlowDesc>), Self::Error>;

    /// Carries out a run of OVSDB operations; the bridge's ports and
    /// mirrors after.
    async fn ovsdb(&mut self, operations: Vec<Operation>) -> Result<BridgeView, Self::Error>;

    /// Carries out a run of OpenFlow operations planned in `epoch`.
    async fn openflow(&mut self, epoch: Epoch, operations: Vec<Operation>) -> Result<Applied, Self::Error>;
}

/// What the agent knows of its switch between passes.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Ports, flows and port settings, as last seen or left.
    pub switch: SwitchState,
    /// The epoch `switch.flows` and `switch.port_settings` belong to; none
    /// when they are not known (read the flows back first).
    pub epoch: Option<Epoch>,
    /// `switch.ports` and `switch.mirrors` are what a watch of the bridge
    /// last reported: the pass need not read them again (a change the
    /// watch has not reported yet will start a pass of its own once it
    /// does).
    pub ports_current: bool,
}

impl Observed {
    /// What the agent knows of `mode`'s bridge before it looked.
    pub fn new(mode: BridgeMode) -> Self {
        Observed { switch: SwitchState { mode, ..SwitchState::default() }, epoch: None, ports_current: false }
    }

    /// Takes the ports and mirrors of `view` as the bridge's.
    pub fn saw(&mut self, view: BridgeView) {
        self.switch.ports = view.ports;
        self.switch.mirrors = view.mirrors;
        self.switch.host.other_bridge_ports = view.other_bridge_ports;
    }

    /// The ports and mirrors as last seen.
    pub fn bridge(&self) -> BridgeView {
        BridgeView {
            ports: self.switch.ports.clone(),
            mirrors: self.switch.mirrors.clone(),
            other_bridge_ports: self.switch.host.other_bridge_ports.clone(),
        }
    }
}

impl Observed {
    /// Forgets the flows and port settings: the switch may have restarted.
    pub fn forget_switch(&mut self) {
        self.epoch = None;
    }
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

/// What a pass did.
#[derive(Clone, Debug)]
pub struct PassReport {
    /// The plan the switch now holds.
    pub plan: Arc<Plan>,
    /// The flow changes it sent (none when the switch held the plan).
    pub flows: FlowCounts,
    /// Ports it created.
    pub created: Vec<String>,
    /// Ports it deleted (after their flows).
    pub deleted: Vec<String>,
    /// The bridge's ports afterwards.
    pub ports: Vec<SwitchPort>,
    /// How many times it planned (more than once when OVS numbered a new
    /// port otherwise, or the switch restarted during the pass).
    pub plans: u32,
    /// How long planning took, all plans together.
    pub plan_time: Duration,
}

/// How many flows a pass changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounts {
    /// Planned flows the switch lacked.
    pub added: usize,
    /// Flows whose actions or cookie differed.
    pub modified: usize,
    /// Agent flows no longer planned.
    pub deleted: usize,
}

impl FlowCounts {
    /// flow_mods sent (0 when the switch already held the plan).
    pub fn flow_mods(&self) -> usize {
        self.added + self.modified + self.deleted
    }
}

impl From<&FlowChanges> for FlowCounts {
    fn from(changes: &FlowChanges) -> Self {
        FlowCounts { added: changes.added, modified: changes.modified, deleted: changes.deleted }
    }
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError<E> {
    /// An operation (or an observation) failed.
    #[error(transparent)]
    Switch(E),
    /// OVS kept answering otherwise than planned, pass after pass.
    #[error("the switch did not settle after {plans} plans (ports kept changing under the pass)")]
    Unsettled {
        /// How many times the pass planned.
        plans: u32,
    },
}

/// A pass plans at most this often before it gives up (to be retried).
/// Twice is the norm when OVS numbers a new port otherwise.
const MAX_PLANS: u32 = 4;

/// Runs one pass for `cluster` on `switch`, starting from (and updating)
/// what `observed` knows; see the module documentation.
///
/// # Errors
/// [`ReconcileError`]; `observed` then holds what is known to be on the
/// switch (what may have changed is forgotten).
pub async fn reconcile<S: SwitchAccess>(
    switch: &mut S,
    cluster: &Cluster,
    observed: &mut Observed,
    deletion: PortDeletion,
) -> Result<PassReport, ReconcileError<S::Error>> {
    if !std::mem::take(&mut observed.ports_current) {
        observed.saw(switch.read_bridge().await.map_err(ReconcileError::Switch)?);
    }
    let mut done = Done::default();
    for plans in 1..=MAX_PLANS {
        let epoch = flows_known(switch, observed).await.map_err(ReconcileError::Switch)?;
        let planning = Instant::now();
        let pass = pass(cluster, &observed.switch);
        done.plan_time += planning.elapsed();
        if carry_out(switch, &pass, epoch, observed, deletion, &mut done).await? {
            // A pass that needed no OpenFlow run found the switch holding
            // the plan's flows and settings already.
            observed.switch.flows = HeldFlows::Installed(Arc::from(pass.plan.flows.as_slice()));
            observed.switch.port_settings = pass.port_settings;
            let Done { created, deleted, flows, plan_time } = done;
            let ports = observed.switch.ports.clone();
            return Ok(PassReport {
                plan: Arc::new(pass.plan),
                flows,
                created,
                deleted,
                ports,
                plans,
                plan_time,
            });
        }
    }
    Err(ReconcileError::Unsettled { plans: MAX_PLANS })
}

/// What the runs carried out so far did.
#[derive(Default)]
struct Done {
    created: Vec<String>,
    deleted: Vec<String>,
    flows: FlowCounts,
    plan_time: Duration,
}

/// The epoch the switch's flows and port settings are known for, reading
/// the flows back (and forgetting the settings) when they are not known.
async fn flows_known<S: SwitchAccess>(switch: &mut S, observed: &mut Observed) -> Result<Epoch, S::Error> {
    if let Some(epoch) = observed.epoch {
        return Ok(epoch);
    }
    let (epoch, dumped) = switch.dump_flows().await?;
    observed.switch.flows = HeldFlows::Dumped(dumped);
    observed.switch.port_settings = Default::default();
    observed.epoch = Some(epoch);
    Ok(epoch)
}

/// Hands each run of `pass`'s operations to its executor, keeping
/// `observed` up to date; `false` when the rest of the pass is void (OVS
/// answered otherwise than planned, or the switch is of a newer epoch)
/// and it must be planned again.
async fn carry_out<S: SwitchAccess>(
    switch: &mut S,
    pass: &Pass,
    epoch: Epoch,
    observed: &mut Observed,
    deletion: PortDeletion,
    done: &mut Done,
) -> Result<bool, ReconcileError<S::Error>> {
    for (executor, run) in runs(ordered(pass.operations.clone(), deletion)) {
        for operation in &run {
            match operation {
                Operation::CreatePort(port) => done.created.push(port.config.name.clone()),
                Operation::DeletePorts(names) => done.deleted.extend(names.iter().cloned()),
                _ => {}
            }
        }
        match executor {
            Executor::Ovsdb => {
                observed.saw(switch.ovsdb(run).await.map_err(ReconcileError::Switch)?);
                if !pass.holds(&observed.switch.ports) {
                    return Ok(false);
                }
            }
            Executor::OpenFlow => {
                let sent = pass.flow_changes().map(FlowCounts::from);
                let applied = switch.openflow(epoch, run).await;
                // Until the switch says otherwise, what it holds is unknown
                // (a bundle may or may not have committed).
                observed.forget_switch();
                match applied.map_err(ReconcileError::Switch)? {
                    Applied::Done => {
                        done.flows = sent.unwrap_or(done.flows);
                        observed.switch.flows = HeldFlows::Installed(Arc::from(pass.plan.flows.as_slice()));
                        observed.switch.port_settings = pass.port_settings.clone();
                        observed.epoch = Some(epoch);
                    }
                    Applied::NewEpoch(_) => return Ok(false),
                }
            }
        }
    }
    Ok(true)
}

/// The operations in the order they are carried out: the pass's, unless
/// the simulation asked for the deliberate bug.
fn ordered(mut operations: Vec<Operation>, deletion: PortDeletion) -> Vec<Operation> {
    if deletion == PortDeletion::BeforeFlowsDeliberateBug {
        let (deletes, rest): (Vec<_>, Vec<_>) =
            operations.drain(..).partition(|op| matches!(op, Operation::DeletePorts(_)));
        let first_openflow =
            rest.iter().position(|op| op.executor() == Executor::OpenFlow).unwrap_or(rest.len());
        operations = rest;
        operations.splice(first_openflow..first_openflow, deletes);
    }
    operations
}

/// Consecutive operations of one executor, in order.
fn runs(operations: Vec<Operation>) -> Vec<(Executor, Vec<Operation>)> {
    let mut runs: Vec<(Executor, Vec<Operation>)> = Vec::new();
    for operation in operations {
        match runs.last_mut() {
            Some((executor, run)) if *executor == operation.executor() => run.push(operation),
            _ => runs.push((operation.executor(), vec![operation])),
        }
    }
    runs
}

/// The agent's three connections to a bridge, used directly: how the
/// real-switch tests run passes without the actors.
pub struct Connections<D, A, B> {
    /// The bridge's name.
    pub bridge: String,
    /// OVSDB, monitoring the bridge's ports.
    pub ovsdb: OvsdbConnection<D>,
    /// OpenFlow 1.5, the pipeline's.
    pub of15: OpenFlowConnection<A>,
    /// OpenFlow 1.0, for port settings.
    pub of10: OpenFlowConnection<B>,
    /// Their epoch: a caller that reconnects makes a new value.
    pub epoch: Epoch,
}

/// Why an operation over [`Connections`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionsError {
    /// An OVSDB operation.
    #[error(transparent)]
    Ports(#[from] PortError),
    /// An OpenFlow operation.
    #[error(transparent)]
    Flows(#[from] FlowError),
}

impl<D, A, B> SwitchAccess for Connections<D, A, B>
where
    D: AsyncRead + AsyncWrite + Unpin,
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    type Error = ConnectionsError;

    async fn read_bridge(&mut self) -> Result<BridgeView, Self::Error> {
        Ok(read_bridge(&mut self.ovsdb, &self.bridge).await?)
    }

    async fn dump_flows(&mut self) -> Result<(Epoch, Vec<FlowDesc>), Self::Error> {
        let flows = crate::operations::dump_agent_flows(&mut self.of15).await?;
        Ok((self.epoch, flows))
    }

    async fn ovsdb(&mut self, operations: Vec<Operation>) -> Result<BridgeView, Self::Error> {
        Ok(execute_ovsdb(&mut self.ovsdb, &self.bridge, &operations).await?)
    }

    async fn openflow(&mut self, epoch: Epoch, operations: Vec<Operation>) -> Result<Applied, Self::Error> {
        if epoch != self.epoch {
            return Ok(Applied::NewEpoch(self.epoch));
        }
        execute_openflow(&mut self.of15, &mut self.of10, &operations).await?;
        Ok(Applied::Done)
    }
}

#[cfg(test)]
mod tests {
    use datapath::pass::{PortSetting, SetPort};

    use super::*;

    fn setting(port: &str) -> Operation {
        Operation::SetPort(SetPort { port: port.into(), ofport: 1, setting: PortSetting::NoFlood })
    }

    /// A pass's shape: await a, no-flood on a, flows, delete b.
    fn operations() -> Vec<Operation> {
        vec![
            Operation::AwaitPorts(vec!["a".into()]),
            setting("a"),
            Operation::ApplyFlows(FlowChanges::default()),
            Operation::DeletePorts(vec!["b".into()]),
        ]
    }

    #[test]
    fn runs_group_consecutive_operations_of_one_executor() {
        let grouped: Vec<(Executor, usize)> =
            runs(operations()).into_iter().map(|(e, run)| (e, run.len())).collect();
        assert_eq!(grouped, [(Executor::Ovsdb, 1), (Executor::OpenFlow, 2), (Executor::Ovsdb, 1)]);
    }

    #[test]
    fn the_deliberate_bug_deletes_ports_before_the_first_openflow_operation() {
        let ops = operations();
        let buggy = ordered(ops.clone(), PortDeletion::BeforeFlowsDeliberateBug);
        assert!(matches!(buggy[1], Operation::DeletePorts(_)), "{buggy:?}");
        assert_eq!(ordered(ops.clone(), PortDeletion::AfterFlows), ops);
    }
}
