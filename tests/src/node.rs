//! A node for end-to-end tests: a private switch, its bridge, and the
//! agent's three connections to it, reconciled in one call.

use actors::openflow_connection::{connect_unix, connect_unix_v10};
use actors::ovsdb_connection;
use actors::reconcile::{ClusterView, ReconcileReport, Switch, reconcile};
use datapath::api::TrafficControl;
use datapath::cluster::PodInfo;
use datapath::ovsdb::bridge;
use tokio::net::UnixStream;

use crate::ovs::{Bridge, Ovs};

/// A switch with the agent connected.
pub struct TestNode {
    /// The switch (dropped last: it owns the namespace).
    pub switch: Switch<UnixStream, UnixStream, UnixStream>,
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

async fn connect(ovs: &Ovs, bridge: &Bridge) -> Switch<UnixStream, UnixStream, UnixStream> {
    let mut ovsdb = ovsdb_connection::connect_unix(&ovs.db_socket()).await.expect("OVSDB");
    ovsdb.monitor(bridge::monitor_request()).await.expect("monitor");
    let of15 = connect_unix(&bridge.mgmt).await.expect("OpenFlow 1.5");
    let of10 = connect_unix_v10(&bridge.mgmt).await.expect("OpenFlow 1.0");
    Switch { bridge: bridge.name.clone(), ovsdb, of15, of10 }
}
