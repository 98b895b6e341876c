//! `FlowManager`: owns the OpenFlow 1.5 connection of the pipeline and
//! makes the switch's agent flows equal to the plan, one bundle per plan.
//! A new connection's first sync dumps the switch's flows (zero flow_mods
//! after an agent restart when nothing changed); later syncs diff against
//! what the last bundle installed, which saves a dump of every agent flow
//! per pass. Any failure drops the connection and with it that memory.
//! A second connection only watches the switch's liveness: when
//! ovs-vswitchd restarts it closes, and its return is reported so the
//! flows are reinstalled.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use datapath::flows::{Cookie, Flow};
use datapath::openflow::flow_mod::FlowDesc;
use datapath::openflow::message::VERSION_1_5;
use futures::Stream;

use super::backoff::Backoff;
use super::connector::{Connector, connect_openflow};
use super::messages::{DumpAgentFlows, InstallFlows, ManagerError, SwitchConnected};
use crate::flow_sync::{FlowSyncReport, sync_flows, sync_flows_since};
use crate::openflow_connection::OpenFlowConnection;

/// The flow manager.
pub struct FlowManager<C: Connector> {
    connector: C,
    connection: Option<FlowConnection<C::Stream>>,
    observer: Recipient<SwitchConnected>,
}

/// The pipeline's connection, and the flows its last bundle left on the
/// switch (none before the first sync).
struct FlowConnection<S> {
    openflow: OpenFlowConnection<S>,
    installed: Option<Arc<[Flow]>>,
}

impl<C: Connector> FlowManager<C> {
    /// A manager that tells `observer` when the switch (re)appears.
    pub fn new(connector: C, observer: Recipient<SwitchConnected>) -> Self {
        FlowManager { connector, connection: None, observer }
    }

    /// Runs `step` on the connection (connecting first when needed); a
    /// connection that failed is dropped, the next command reconnects.
    fn with_connection<T: 'static>(
        &mut self,
        step: impl AsyncFnOnce(&mut FlowConnection<C::Stream>) -> Result<T, ManagerError> + 'static,
    ) -> AtomicResponse<Self, Result<T, ManagerError>> {
        let connection = self.connection.take();
        let connector = self.connector.clone();
        let work = async move {
            let mut connection = match connection {
                Some(connection) => connection,
                None => FlowConnection {
                    openflow: connect_openflow(&connector, VERSION_1_5).await?,
                    installed: None,
                },
            };
            let value = step(&mut connection).await?;
            Ok((connection, value))
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |outcome: Result<_, ManagerError>, actor, _| {
                outcome.map(|(connection, value)| {
                    actor.connection = Some(connection);
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
    fn handle(&mut self, connected: SwitchConnected, _: &mut Self::Context) {
        if connected.reconnected {
            // The command connection went with the old switch.
            self.connection = None;
        }
        self.observer.do_send(connected);
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl<C: Connector> Handler<InstallFlows> for FlowManager<C> {
    type Result = AtomicResponse<Self, Result<FlowSyncReport, ManagerError>>;

    fn handle(&mut self, InstallFlows(flows): InstallFlows, _: &mut Self::Context) -> Self::Result {
        self.with_connection(async move |c| {
            let report = match &c.installed {
                Some(installed) => sync_flows_since(&mut c.openflow, &flows, installed).await?,
                None => sync_flows(&mut c.openflow, &flows).await?,
            };
            c.installed = Some(flows);
            Ok(report)
        })
    }
}

impl<C: Connector> Handler<DumpAgentFlows> for FlowManager<C> {
    type Result = AtomicResponse<Self, Result<Vec<FlowDesc>, ManagerError>>;

    fn handle(&mut self, _: DumpAgentFlows, _: &mut Self::Context) -> Self::Result {
        self.with_connection(async |c| Ok(c.openflow.dump_flows(Cookie::AGENT, Cookie::AGENT_MASK).await?))
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
                        tracing::warn!(%error, "the OpenFlow switch went away; reconnecting");
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
                            tracing::debug!(%error, "the OpenFlow switch is not back yet");
                        } else {
                            tracing::warn!(%error, "the OpenFlow switch is unavailable; retrying");
                        }
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
            }
        },
    )
}
