//! A node for end-to-end tests: a private switch, its bridge, and the
//! agent's three connections to it, reconciled in one call: the same pass
//! the agent runs (`actors::reconcile`), over plain connections instead
//! of the actors.

use actors::agent::connector::{OvsStream, SocketConnector, connect_openflow, connect_ovsdb};
use actors::config::OvsSocket;
use actors::errors::Chain;
use actors::reconcile::{Connections, Epoch, Observed, PassReport, PortDeletion, reconcile};
use datapath::api::TrafficControl;
use datapath::cluster::PodInfo;
use datapath::openflow::message::{VERSION_1_0, VERSION_1_5};
use datapath::plan::{BridgeMode, Cluster};

use crate::ovs::{Bridge, Ovs};

/// The node these tests plan for.
pub const NODE: &str = "node-1";

/// A switch with the agent connected.
pub struct TestNode {
    /// The agent's connections (dropped before the switch).
    pub switch: Connections<OvsStream, OvsStream, OvsStream>,
    /// What the agent knows of the switch between passes.
    pub observed: Observed,
    /// The bridge the agent manages.
    pub bridge: Bridge,
    /// The private OVS (dropped last: it owns the namespace).
    pub ovs: Ovs,
}

impl TestNode {
    /// Starts a switch with a bridge and connects the agent to it.
    pub async fn start() -> Self {
        let ovs = Ovs::start();
        let bridge = ovs.add_bridge("br");
        let switch = connect(&ovs, &bridge, Epoch(1)).await;
        TestNode { switch, observed: Observed::new(BridgeMode::Owned), bridge, ovs }
    }

    /// Reconnects after the switch restarted: new connections, a new
    /// epoch, and what the agent knew of the old switch forgotten (as the
    /// agent's flow manager reports a switch that came back).
    pub async fn reconnect(&mut self) {
        let epoch = Epoch(self.switch.epoch.0 + 1);
        self.switch = connect(&self.ovs, &self.bridge, epoch).await;
        self.observed.forget_switch();
    }

    /// One reconcile pass with these TrafficControls and Pods.
    ///
    /// # Panics
    /// When the pass fails, with the error and its causes.
    pub async fn reconcile(&mut self, traffic_controls: &[TrafficControl], pods: &[PodInfo]) -> PassReport {
        let cluster = Cluster::new(NODE, traffic_controls.to_vec(), Vec::new(), pods.to_vec());
        reconcile(&mut self.switch, &cluster, &mut self.observed, PortDeletion::AfterFlows)
            .await
            .unwrap_or_else(|error| panic!("reconcile: {}", Chain(&error)))
    }
}

/// The agent's own connections, as its managers open them.
async fn connect(ovs: &Ovs, bridge: &Bridge, epoch: Epoch) -> Connections<OvsStream, OvsStream, OvsStream> {
    let connector = SocketConnector {
        ovsdb: OvsSocket::Unix(ovs.db_socket()),
        openflow: OvsSocket::Unix(bridge.mgmt.clone()),
    };
    let ovsdb = connect_ovsdb(&connector).await.expect("OVSDB");
    let of15 = connect_openflow(&connector, VERSION_1_5).await.expect("OpenFlow 1.5");
    let of10 = connect_openflow(&connector, VERSION_1_0).await.expect("OpenFlow 1.0");
    Connections { bridge: bridge.name.clone(), ovsdb, of15, of10, epoch }
}
