//! A node for end-to-end tests: a private switch, its bridge, and the
//! agent's three connections to it, reconciled in one call.

use actors::agent::connector::{OvsStream, SocketConnector, connect_openflow, connect_ovsdb};
use actors::config::OvsSocket;
use actors::port_sync::FloodingConfigured;
use actors::reconcile::{ClusterView, ReconcileReport, Switch, reconcile};
use datapath::api::TrafficControl;
use datapath::cluster::PodInfo;
use datapath::openflow::message::{VERSION_1_0, VERSION_1_5};

use crate::ovs::{Bridge, Ovs};

/// A switch with the agent connected.
pub struct TestNode {
    /// The switch (dropped last: it owns the namespace).
    pub switch: Switch<OvsStream, OvsStream, OvsStream>,
    /// The bridge the agent manages.
    pub bridge: Bridge,
    /// The private OVS.
    pub ovs: Ovs,
}

impl TestNode {
    /// Starts a switch with a bridge and connects the agent to it.
    pub async fn start() -> Self {
        let ovs = Ovs::start();
        let bridge = ovs.add_bridge("br");
        let switch = connect(&ovs, &bridge).await;
        TestNode { switch, bridge, ovs }
    }

    /// Reconnects after the switch restarted.
    pub async fn reconnect(&mut self) {
        self.switch = connect(&self.ovs, &self.bridge).await;
    }

    /// One reconcile pass with these TrafficControls and Pods.
    pub async fn reconcile(
        &mut self,
        traffic_controls: &[TrafficControl],
        pods: &[PodInfo],
    ) -> ReconcileReport {
        let cluster = ClusterView { node: "node-1", traffic_controls, namespaces: &[], pods };
        reconcile(&mut self.switch, cluster).await.expect("reconcile")
    }
}

/// The agent's own connections, as its managers open them.
async fn connect(ovs: &Ovs, bridge: &Bridge) -> Switch<OvsStream, OvsStream, OvsStream> {
    let connector = SocketConnector {
        ovsdb: OvsSocket::Unix(ovs.db_socket()),
        openflow: OvsSocket::Unix(bridge.mgmt.clone()),
    };
    let ovsdb = connect_ovsdb(&connector).await.expect("OVSDB");
    let of15 = connect_openflow(&connector, VERSION_1_5).await.expect("OpenFlow 1.5");
    let of10 = connect_openflow(&connector, VERSION_1_0).await.expect("OpenFlow 1.0");
    Switch { bridge: bridge.name.clone(), ovsdb, of15, of10, flooding: FloodingConfigured::default() }
}
