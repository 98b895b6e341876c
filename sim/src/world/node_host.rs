//! A `node-N` host: the agent's real actors (the same wiring `tc-agent`
//! runs), its API client and its switch connections on turmoil's network,
//! its timestamps on virtual time.

use std::io;
use std::sync::Arc;

use actors::agent::connector::Connector;
use actors::agent::reconciler::Tuning;
use actors::agent::runner;
use actors::agent::state::AgentState;
use datapath::plan::BridgeMode;
use futures::future::LocalBoxFuture;
use k8s_openapi::jiff::Timestamp;

use super::apiserver_host::EPOCH;
use super::kube_client::agent_client;

/// Where the simulated OVS serves OVSDB.
pub const OVSDB_PORT: u16 = 6640;
/// Where the simulated OVS serves the bridge's OpenFlow.
pub const OPENFLOW_PORT: u16 = 6653;

/// The agent's streams to the simulated OVS on host `ovs_host`.
#[derive(Clone, Debug)]
pub struct TurmoilConnector {
    /// The OVS host's name.
    pub ovs_host: String,
}

impl TurmoilConnector {
    fn connect(&self, port: u16) -> LocalBoxFuture<'static, io::Result<turmoil::net::TcpStream>> {
        let host = self.ovs_host.clone();
        Box::pin(async move { turmoil::net::TcpStream::connect((host.as_str(), port)).await })
    }
}

impl Connector for TurmoilConnector {
    type Stream = turmoil::net::TcpStream;

    fn ovsdb(&self) -> LocalBoxFuture<'static, io::Result<Self::Stream>> {
        self.connect(OVSDB_PORT)
    }

    fn openflow(&self) -> LocalBoxFuture<'static, io::Result<Self::Stream>> {
        self.connect(OPENFLOW_PORT)
    }

    fn describe_ovsdb(&self) -> String {
        format!("tcp:{}:{OVSDB_PORT}", self.ovs_host)
    }

    fn describe_openflow(&self) -> String {
        format!("tcp:{}:{OPENFLOW_PORT}", self.ovs_host)
    }
}

/// The agent's state on virtual time (the API server's epoch plus the
/// simulation's elapsed time, to the nanosecond), for a bridge in `mode`.
pub fn agent_state(node: &str, mode: BridgeMode) -> Arc<AgentState> {
    AgentState::with_clock(
        node,
        mode,
        Arc::new(|| {
            let elapsed = turmoil::sim_elapsed().unwrap_or_default();
            let nanos = i128::from(EPOCH) * 1_000_000_000 + i128::try_from(elapsed.as_nanos()).unwrap_or(0);
            Timestamp::from_nanosecond(nanos).unwrap_or(Timestamp::UNIX_EPOCH)
        }),
    )
}

/// Where one node's agent connects.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's name (and the Pods' `spec.nodeName`).
    pub node: String,
    /// The API server's host.
    pub api_host: String,
    /// The simulated OVS's host.
    pub ovs_host: String,
    /// The bridge the agent manages.
    pub bridge: String,
    /// The reconciler's pacing and order (a deliberate bug, in the test
    /// that shows the invariants catch one).
    pub tuning: Tuning,
}

/// The host's software: starts the agent and keeps it running until the
/// host is crashed or bounced. `state` is shared with the simulation,
/// which reads what the agent realized.
///
/// # Errors
/// Never, in practice: the agent runs until the host stops.
pub async fn run_agent(config: NodeConfig, state: Arc<AgentState>) -> turmoil::Result {
    let client = agent_client(&config.api_host);
    let connector = TurmoilConnector { ovs_host: config.ovs_host };
    let _agent = runner::start(connector, config.bridge, state, Some(client), config.tuning);
    std::future::pending::<()>().await;
    Ok(())
}
