//! Wires the actors together for one node: what `tc-agent` runs, and what
//! tests run in-process (with or without an API server).

use std::sync::Arc;

use actix::prelude::*;
use kube::Client;

use super::connector::Connector;
use super::crd_watcher::CrdWatcher;
use super::flow_manager::FlowManager;
use super::messages::{DumpAgentFlows, ReadBridge};
use super::pod_watcher::PodWatcher;
use super::port_manager::PortManager;
use super::reconciler::{Managers, Reconciler, Tuning};
use super::state::AgentState;
use super::status_writer::StatusWriter;

/// The running actors of one agent.
pub struct Agent {
    /// Where facts go (tests without an API server send them here).
    pub reconciler: Addr<Reconciler>,
    /// For `/status`: what the switch holds.
    pub readers: SwitchReaders,
    /// What the endpoints show.
    pub state: Arc<AgentState>,
}

/// Where `/status` reads what the switch holds.
#[derive(Clone)]
pub struct SwitchReaders {
    /// The agent's flows (the flow manager).
    pub flows: Recipient<DumpAgentFlows>,
    /// The bridge's ports and mirrors (the port manager).
    pub bridge: Recipient<ReadBridge>,
}

/// Starts the managers and the reconciler for `bridge`, plus the watchers
/// and the status writer when `client` is given. Call inside an actix
/// system (or arbiter).
pub fn start<C: Connector>(
    connector: C,
    bridge: String,
    state: Arc<AgentState>,
    client: Option<Client>,
    tuning: Tuning,
) -> Agent {
    let status_writer = client.clone().map(|client| StatusWriter::new(client, state.clone()).start());
    let mut readers = None;
    let reconciler = Reconciler::create(|ctx| {
        let me = ctx.address();
        let ports = PortManager::new(connector.clone(), bridge, me.clone().recipient()).start();
        let flows = FlowManager::new(connector, me.recipient()).start();
        readers = Some(SwitchReaders { flows: flows.clone().recipient(), bridge: ports.clone().recipient() });
        let managers = Managers {
            read_bridge: ports.clone().recipient(),
            port_operations: ports.recipient(),
            dump_flows: flows.clone().recipient(),
            openflow_operations: flows.recipient(),
            publish_status: status_writer.map(Addr::recipient),
        };
        Reconciler::new(managers, state.clone(), tuning)
    });
    if let Some(client) = client {
        PodWatcher::new(
            client.clone(),
            state.node.clone(),
            reconciler.clone().recipient(),
            reconciler.clone().recipient(),
        )
        .start();
        CrdWatcher::new(client, &state.node, reconciler.clone().recipient()).start();
    }
    let readers = match readers {
        Some(readers) => readers,
        None => unreachable!("Actor::create runs its closure before returning"),
    };
    Agent { reconciler, readers, state }
}
