//! The typed messages the agent's actors exchange: one type per fact
//! (something was observed) or command (something must be done).
//!
//! Facts flow into the [`Reconciler`](super::reconciler::Reconciler);
//! commands (runs of a pass's operations) flow out of it to the managers,
//! in the order the pass gives.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::Message;
use datapath::api::{NodeStatus, TrafficControl};
use datapath::cluster::{NamespaceInfo, PodInfo};
use datapath::openflow::flow_mod::FlowDesc;
use datapath::ovsdb::bridge::BridgeView;
use datapath::pass::Operation;

use super::state::Realized;
use crate::openflow_connection::ConnectionError;
use crate::operations::{FlowError, PortError};
use crate::ovsdb_connection::OvsdbError;
use crate::reconcile::{Applied, Epoch};

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
    /// This node's `status.nodes` entry of each TrafficControl, as the
    /// API server held it when the watch listed: a restarted agent that
    /// finds its entries as they were writes nothing and records no Event.
    pub this_node: Arc<BTreeMap<String, NodeStatus>>,
}

/// Fact: the bridge's ports or mirrors changed (a Pod's port came or
/// went, an ofport changed after ovs-vswitchd restarted, a CNI cleared the
/// bridge's mirrors).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct BridgeObserved(pub Arc<BridgeView>);

/// Fact: the OpenFlow switch (re)appeared; after a restart it holds no
/// flows and forgot its port settings, so the reconciler forgets what it
/// knew of them.
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
    #[error("cannot connect to {target}")]
    Connect {
        /// The socket.
        target: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The OVSDB monitor of a new connection could not start.
    #[error("cannot monitor the bridges at {target}")]
    Monitor {
        /// The socket.
        target: String,
        /// The cause.
        #[source]
        source: OvsdbError,
    },
    /// The OpenFlow handshake of a new connection failed.
    #[error("OpenFlow handshake with {target} failed")]
    Handshake {
        /// The socket.
        target: String,
        /// The cause.
        #[source]
        source: ConnectionError,
    },
    /// An OVSDB operation failed.
    #[error(transparent)]
    Ports(#[from] PortError),
    /// An OpenFlow operation failed.
    #[error(transparent)]
    Flows(#[from] FlowError),
}

impl ManagerError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ManagerError::Connect { .. } | ManagerError::Monitor { .. } | ManagerError::Handshake { .. } => {
                "connect"
            }
            ManagerError::Ports(PortError::NoBridge { .. }) => "no_bridge",
            ManagerError::Ports(error) => match error.ovsdb() {
                Some(OvsdbError::Refused(_)) => "ovsdb_refused",
                _ => "ovsdb",
            },
            ManagerError::Flows(error) => match error.connection() {
                Some(ConnectionError::Refused { .. }) => "switch_refused",
                _ => "openflow",
            },
        }
    }
}

/// Command to the port manager: the bridge's ports and mirrors as OVSDB
/// has them now.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<BridgeView, ManagerError>")]
pub struct ReadBridge;

/// Command to the port manager: carry out these OVSDB operations, in
/// order; answers with the bridge's ports and mirrors afterwards.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<BridgeView, ManagerError>")]
pub struct ApplyPortOperations(pub Vec<Operation>);

/// Command to the flow manager: carry out these OpenFlow operations, in
/// order, if its connections are still of `epoch`.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<Applied, ManagerError>")]
pub struct ApplyOpenFlowOperations {
    /// The epoch the pass planned in.
    pub epoch: Epoch,
    /// The operations.
    pub operations: Vec<Operation>,
}

/// The agent's flows on the switch.
#[derive(Clone, Debug)]
pub struct AgentFlows {
    /// The epoch of the connection that read them.
    pub epoch: Epoch,
    /// The flows.
    pub flows: Vec<FlowDesc>,
}

/// Command to the flow manager: the agent's flows as the switch has them.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<AgentFlows, ManagerError>")]
pub struct DumpAgentFlows;

/// Command to the status writer: what this node realized.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct PublishStatus(pub Realized);
