//! `FlowManager`: owns the OpenFlow side of the bridge. It carries out
//! the OpenFlow operations of a pass (port settings over OpenFlow 1.0,
//! where the no-flood bit lives; flow bundles over OpenFlow 1.5) and
//! dumps the agent's flows.
//!
//! Its command connections belong to an [`Epoch`]: they are opened
//! together, dropped together on any failure, and each opening starts a
//! new epoch. A run planned in an older epoch is not sent
//! ([`Applied::NewEpoch`]): the switch behind a new connection may have
//! restarted and forgotten the port settings the plan assumed, so the
//! reconciler reads the flows back and plans again. A second connection
//! only watches the switch's liveness: when ovs-vswitchd restarts it
//! closes, the command connections are dropped, and the reconciler is
//! told.

use std::time::Duration;

use actix::prelude::*;
use datapath::openflow::message::{VERSION_1_0, VERSION_1_5};
use futures::Stream;
use tracing::Instrument;

use super::backoff::Backoff;
use super::connector::{Connector, connect_openflow};
use super::messages::{AgentFlows, ApplyOpenFlowOperations, DumpAgentFlows, ManagerError, SwitchConnected};
use crate::errors::Chain;
use crate::openflow_connection::OpenFlowConnection;
use crate::operations::{dump_agent_flows, execute_openflow};
use crate::reconcile::{Applied, Epoch};

/// The flow manager.
pub struct FlowManager<C: Connector> {
    connector: C,
    connections: Option<FlowConnections<C::Stream>>,
    /// The epoch of the last connections opened.
    epoch: Epoch,
    /// Connections of this epoch or older led to a switch that went away:
    /// a command that held them while the watch saw it does not keep them.
    retired: Epoch,
    observer: Recipient<SwitchConnected>,
}

/// The command connections of one epoch.
struct FlowConnections<S> {
    of15: OpenFlowConnection<S>,
    of10: OpenFlowConnection<S>,
    epoch: Epoch,
}

impl<C: Connector> FlowManager<C> {
    /// A manager that tells `observer` when the switch (re)appears.
    pub fn new(connector: C, observer: Recipient<SwitchConnected>) -> Self {
        FlowManager { connector, connections: None, epoch: Epoch(0), retired: Epoch(0), observer }
    }

    /// Runs `step` on the command connections (opening them, in a new
    /// epoch, when needed); connections that failed are dropped, and the
    /// next command opens new ones.
    fn with_connections<T: 'static>(
        &mut self,
        step: impl AsyncFnOnce(&mut FlowConnections<C::Stream>) -> Result<T, ManagerError> + 'static,
    ) -> AtomicResponse<Self, Result<T, ManagerError>> {
        let connections = self.connections.take();
        let connector = self.connector.clone();
        let next = Epoch(self.epoch.0 + 1);
        let work = async move {
            let mut connections = match connections {
                Some(connections) => connections,
                None => FlowConnections {
                    of15: connect_openflow(&connector, VERSION_1_5).await?,
                    of10: connect_openflow(&connector, VERSION_1_0).await?,
                    epoch: next,
                },
            };
            let value = step(&mut connections).await?;
            Ok((connections, value))
        }
        // The handler's span (its #[instrument]) covers the work it starts.
        .instrument(tracing::Span::current());
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |outcome: Result<_, ManagerError>, actor, _| {
                outcome.map(|(connections, value)| {
                    actor.epoch = actor.epoch.max(connections.epoch);
                    if connections.epoch > actor.retired {
                        actor.connections = Some(connections);
                    }
                    value
                })
            },
        )))
    }
}

impl<C: Connector> Actor for FlowManager<C> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(watch_switch(self.connector.clone()));
    }
}

impl<C: Connector> StreamHandler<SwitchConnected> for FlowManager<C> {
    #[tracing::instrument(level = "debug", name = "switch_connected", skip(self, _ctx))]
    fn handle(&mut self, connected: SwitchConnected, _ctx: &mut Self::Context) {
        if connected.reconnected {
            // The command connections went with the old switch.
            self.connections = None;
            self.retired = self.epoch;
        }
        self.observer.do_send(connected);
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl<C: Connector> Handler<ApplyOpenFlowOperations> for FlowManager<C> {
    type Result = AtomicResponse<Self, Result<Applied, ManagerError>>;

    #[tracing::instrument(
        name = "openflow_operations",
        skip_all,
        fields(epoch = command.epoch.0, operations = command.operations.len())
    )]
    fn handle(&mut self, command: ApplyOpenFlowOperations, _: &mut Self::Context) -> Self::Result {
        let ApplyOpenFlowOperations { epoch, operations } = command;
        self.with_connections(async move |c| {
            if c.epoch != epoch {
                return Ok(Applied::NewEpoch(c.epoch));
            }
            execute_openflow(&mut c.of15, &mut c.of10, &operations).await?;
            Ok(Applied::Done)
        })
    }
}

impl<C: Connector> Handler<DumpAgentFlows> for FlowManager<C> {
    type Result = AtomicResponse<Self, Result<AgentFlows, ManagerError>>;

    #[tracing::instrument(level = "debug", name = "dump_agent_flows", skip_all)]
    fn handle(&mut self, _: DumpAgentFlows, _: &mut Self::Context) -> Self::Result {
        self.with_connections(async |c| {
            Ok(AgentFlows { epoch: c.epoch, flows: dump_agent_flows(&mut c.of15).await? })
        })
    }
}

/// Yields each time a connection to the switch is made: the first, and
/// every one after the switch went away (reconnecting with backoff).
fn watch_switch<C: Connector>(connector: C) -> impl Stream<Item = SwitchConnected> {
    let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    futures::stream::unfold(
        (connector, None::<OpenFlowConnection<C::Stream>>, backoff, 0_u64),
        |(connector, mut watching, mut backoff, mut connections)| async move {
            loop {
                if let Some(connection) = watching.as_mut() {
                    // Port status is not used here (OVSDB says more); the
                    // wait ends when the switch closes the connection.
                    if let Err(error) = connection.next_port_status().await {
                        tracing::warn!(error = %Chain(&error), "the OpenFlow switch went away; reconnecting");
                        watching = None;
                    }
                    continue;
                }
                match connect_openflow(&connector, VERSION_1_5).await {
                    Ok(connection) => {
                        backoff.reset();
                        connections += 1;
                        let event = SwitchConnected { reconnected: connections > 1 };
                        return Some((event, (connector, Some(connection), backoff, connections)));
                    }
                    Err(error) => {
                        if connections > 0 {
                            tracing::debug!(error = %Chain(&error), "the OpenFlow switch is not back yet");
                        } else {
                            tracing::warn!(error = %Chain(&error), "the OpenFlow switch is unavailable; retrying");
                        }
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
            }
        },
    )
}
