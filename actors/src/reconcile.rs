//! One reconcile pass over the switch, in the order DESIGN §2 requires:
//!
//! 1. plan with the switch's current ports and realize the planned ports;
//! 2. plan again with the ports' ofports (a flow names a port only once it
//!    has one) and sync the flows in one bundle;
//! 3. only then delete the ports the plan dropped (no flow refers to them
//!    any more, so OVS may hand their ofports to the next port safely).
//!
//! The actors that call it on every change come with the agent issue;
//! here it is one async function so the order is visible in one place and
//! testable against a real switch.

use datapath::api::TrafficControl;
use datapath::cluster::{NamespaceInfo, PodInfo};
use datapath::ovsdb::bridge;
use datapath::plan::{Plan, PlanInput, plan};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::flow_sync::{FlowSyncReport, sync_flows};
use crate::openflow_connection::OpenFlowConnection;
use crate::ovsdb_connection::OvsdbConnection;
use crate::port_sync::{FloodingConfigured, PortReport, PortSyncError, delete_ports, realize_ports};

/// The cluster as the agent sees it.
#[derive(Clone, Copy, Debug)]
pub struct ClusterView<'a> {
    /// This node.
    pub node: &'a str,
    /// Valid TrafficControls.
    pub traffic_controls: &'a [TrafficControl],
    /// Namespaces.
    pub namespaces: &'a [NamespaceInfo],
    /// Pods.
    pub pods: &'a [PodInfo],
}

/// The switch connections of one bridge.
pub struct Switch<D, A, B> {
    /// The bridge's name.
    pub bridge: String,
    /// OVSDB, monitoring the bridge's ports.
    pub ovsdb: OvsdbConnection<D>,
    /// OpenFlow 1.5, the pipeline's.
    pub of15: OpenFlowConnection<A>,
    /// OpenFlow 1.0, for no-flood.
    pub of10: OpenFlowConnection<B>,
    /// The no-flood config this switch already has.
    pub flooding: FloodingConfigured,
}

/// What one pass did.
#[derive(Clone, Debug)]
pub struct ReconcileReport {
    /// The plan the switch now holds.
    pub plan: Plan,
    /// The port step.
    pub ports: PortReport,
    /// The flow step.
    pub flows: FlowSyncReport,
    /// Ports deleted after the flows.
    pub deleted_ports: Vec<String>,
}

/// Runs one pass; see the module documentation for the order.
///
/// # Errors
/// [`PortSyncError`] when a connection fails or OVS refuses; a failed flow
/// step leaves the dropped ports in place (their flows may still be there).
pub async fn reconcile<D, A, B>(
    switch: &mut Switch<D, A, B>,
    cluster: ClusterView<'_>,
) -> Result<ReconcileReport, PortSyncError>
where
    D: AsyncRead + AsyncWrite + Unpin,
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let planned = |switch_ports: &[datapath::ports::SwitchPort]| {
        plan(&PlanInput {
            node: cluster.node,
            traffic_controls: cluster.traffic_controls,
            namespaces: cluster.namespaces,
            pods: cluster.pods,
            switch_ports,
        })
    };
    let before = planned(&bridge::switch_ports(switch.ovsdb.replica(), &switch.bridge));
    let ports = realize_ports(
        &mut switch.ovsdb,
        &mut switch.of15,
        &mut switch.of10,
        &switch.bridge,
        &before.ports,
        &mut switch.flooding,
    )
    .await?;
    let plan = planned(&ports.ports);
    let flows = sync_flows(&mut switch.of15, &plan.flows).await?;
    let deleted_ports = ports.changes.delete_after_flows.clone();
    delete_ports(&mut switch.ovsdb, &switch.bridge, &deleted_ports).await?;
    Ok(ReconcileReport { plan, ports, flows, deleted_ports })
}
