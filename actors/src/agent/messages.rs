//! The typed messages the agent's actors exchange: one type per fact
//! (something was observed) or command (something must be done).
//!
//! Facts flow into the [`Reconciler`](super::reconciler::Reconciler);
//! commands flow out of it to the managers, in DESIGN §2's order.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::Message;
use datapath::api::TrafficControl;
use datapath::cluster::{NamespaceInfo, PodInfo};
use datapath::flows::Flow;
use datapath::openflow::flow_mod::FlowDesc;
use datapath::plan::PlannedPort;
use datapath::ports::SwitchPort;

use super::state::Realized;
use crate::flow_sync::FlowSyncReport;
use crate::openflow_connection::ConnectionError;
use crate::ovsdb_connection::OvsdbError;
use crate::port_sync::{PortReport, PortSyncError};

/// Fact: this node's Pods, all of them, after a change that matters to
/// selection (labels, node, host network, existence).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct PodsObserved(pub Arc<[PodInfo]>);

/// Fact: every Namespace, after a change of labels or existence.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct NamespacesObserved(pub Arc<[NamespaceInfo]>);

/// Fact: every TrafficControl, after a change.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct TrafficControlsObserved {
    /// Those that passed validation.
    pub valid: Arc<[TrafficControl]>,
    /// Those that did not: name → the validator's summary.
    pub invalid: Arc<BTreeMap<String, String>>,
    /// Every TrafficControl's uid, for the Events about it.
    pub uids: Arc<BTreeMap<String, String>>,
}

/// Fact: the bridge's ports changed (a Pod's port came or went, an
/// ofport changed after ovs-vswitchd restarted).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct SwitchPortsObserved(pub Arc<[SwitchPort]>);

/// Fact: the OpenFlow switch (re)appeared; after a restart it holds no
/// flows and forgot its port config.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct SwitchConnected {
    /// Not the first connection: ovs-vswitchd restarted, or the
    /// connection was lost.
    pub reconnected: bool,
}

/// Why a manager's command failed.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// Connecting failed.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The socket.
        target: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A port step failed.
    #[error(transparent)]
    Ports(#[from] PortSyncError),
    /// OVSDB failed.
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    /// OpenFlow failed.
    #[error(transparent)]
    OpenFlow(#[from] ConnectionError),
}

impl ManagerError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ManagerError::Connect { .. } => "connect",
            ManagerError::Ports(PortSyncError::NoBridge(_)) => "no_bridge",
            ManagerError::Ports(PortSyncError::OpenFlow(ConnectionError::Refused { .. }))
            | ManagerError::OpenFlow(ConnectionError::Refused { .. }) => "switch_refused",
            ManagerError::Ports(PortSyncError::Ovsdb(OvsdbError::Refused(_)))
            | ManagerError::Ovsdb(OvsdbError::Refused(_)) => "ovsdb_refused",
            ManagerError::Ports(_) | ManagerError::Ovsdb(_) => "ovsdb",
            ManagerError::OpenFlow(_) => "openflow",
        }
    }
}

/// Command to the port manager: the bridge's ports as OVSDB has them.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<Vec<SwitchPort>, ManagerError>")]
pub struct ReadSwitchPorts;

/// Command to the port manager: create and reconfigure these ports, wait
/// for their ofports, configure flooding. Deletions wait for
/// [`DeletePorts`].
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<PortReport, ManagerError>")]
pub struct RealizePorts(pub BTreeMap<String, PlannedPort>);

/// Command to the port manager: remove these agent ports (their flows are
/// gone).
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<(), ManagerError>")]
pub struct DeletePorts(pub Vec<String>);

/// Command to the flow manager: make the switch's agent flows exactly
/// these, in one bundle.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<FlowSyncReport, ManagerError>")]
pub struct InstallFlows(pub Arc<[Flow]>);

/// Command to the flow manager: the agent's flows as the switch has them.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<Vec<FlowDesc>, ManagerError>")]
pub struct DumpAgentFlows;

/// Command to the status writer: what this node realized.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct PublishStatus(pub Realized);
