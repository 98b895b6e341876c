//! `PortManager`: owns the OVSDB side of the bridge. It carries out the
//! OVSDB operations of a pass (create, reconfigure, await and delete
//! ports, set and delete the agent's mirrors) and reports the bridge's
//! ports and mirrors whenever they change.
//!
//! Two connections, so that waiting never blocks a command: the command
//! connection, used only while a command runs (an atomic handler: one
//! command at a time), and a watch connection that only listens to
//! OVSDB's monitor updates, owned by a stream.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use datapath::ovsdb::bridge::{self, BridgeView};
use futures::Stream;
use tracing::Instrument;

use super::backoff::Backoff;
use super::connector::{Connector, connect_ovsdb};
use super::messages::{ApplyPortOperations, BridgeObserved, ManagerError, ReadBridge};
use crate::errors::Chain;
use crate::operations::{execute_ovsdb, read_bridge};
use crate::ovsdb_connection::OvsdbConnection;

/// The port manager.
pub struct PortManager<C: Connector> {
    connector: C,
    bridge: String,
    connection: Option<OvsdbConnection<C::Stream>>,
    observer: Recipient<BridgeObserved>,
}

impl<C: Connector> PortManager<C> {
    /// A manager of `bridge`'s ports that tells `observer` when they change.
    pub fn new(connector: C, bridge: String, observer: Recipient<BridgeObserved>) -> Self {
        PortManager { connector, bridge, connection: None, observer }
    }

    /// Runs `step` on the command connection (opening it first when
    /// needed) and puts it back, unless the step failed: a failed
    /// connection is dropped and the next command reconnects.
    fn with_connection<T: 'static>(
        &mut self,
        step: impl AsyncFnOnce(&mut OvsdbConnection<C::Stream>, &str) -> Result<T, ManagerError> + 'static,
    ) -> AtomicResponse<Self, Result<T, ManagerError>> {
        let connection = self.connection.take();
        let connector = self.connector.clone();
        let bridge = self.bridge.clone();
        let work = async move {
            let mut connection = match connection {
                Some(connection) => connection,
                None => connect_ovsdb(&connector).await?,
            };
            let value = step(&mut connection, &bridge).await?;
            Ok((connection, value))
        }
        // The handler's span (its #[instrument]) covers the work it starts.
        .instrument(tracing::Span::current());
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

impl<C: Connector> Actor for PortManager<C> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(watch_ports(self.connector.clone(), self.bridge.clone()));
    }
}

impl<C: Connector> StreamHandler<Arc<BridgeView>> for PortManager<C> {
    fn handle(&mut self, view: Arc<BridgeView>, _: &mut Self::Context) {
        self.observer.do_send(BridgeObserved(view));
    }

    /// The watch never ends on its own; keep the manager when it does.
    fn finished(&mut self, _: &mut Self::Context) {}
}

impl<C: Connector> Handler<ReadBridge> for PortManager<C> {
    type Result = AtomicResponse<Self, Result<BridgeView, ManagerError>>;

    /// The command connection reads only while a command runs, so its
    /// replica may miss updates the watch connection already reported:
    /// [`read_bridge`] makes a round trip first, so a pass never plans with
    /// ports older than the change that started it.
    #[tracing::instrument(level = "debug", name = "read_bridge", skip_all)]
    fn handle(&mut self, _: ReadBridge, _: &mut Self::Context) -> Self::Result {
        self.with_connection(async |c, bridge_name| Ok(read_bridge(c, bridge_name).await?))
    }
}

impl<C: Connector> Handler<ApplyPortOperations> for PortManager<C> {
    type Result = AtomicResponse<Self, Result<BridgeView, ManagerError>>;

    #[tracing::instrument(name = "port_operations", skip_all, fields(operations = command.0.len()))]
    fn handle(&mut self, command: ApplyPortOperations, _: &mut Self::Context) -> Self::Result {
        let ApplyPortOperations(operations) = command;
        self.with_connection(
            async move |c, bridge_name| Ok(execute_ovsdb(c, bridge_name, &operations).await?),
        )
    }
}

/// The bridge's ports and mirrors, each time they change, over a connection of its
/// own that reconnects with backoff. Idle while OVSDB is quiet.
fn watch_ports<C: Connector>(connector: C, bridge_name: String) -> impl Stream<Item = Arc<BridgeView>> {
    struct Watch<S> {
        connection: Option<OvsdbConnection<S>>,
        last: Option<BridgeView>,
        /// A new connection's first replica is compared at once.
        fresh: bool,
        backoff: Backoff,
    }
    let start = Watch {
        connection: None,
        last: None,
        fresh: false,
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(5)),
    };
    futures::stream::unfold(
        (start, connector, bridge_name),
        |(mut watch, connector, bridge_name)| async move {
            loop {
                let Some(connection) = watch.connection.as_mut() else {
                    match connect_ovsdb(&connector).await {
                        Ok(connection) => {
                            watch.connection = Some(connection);
                            watch.fresh = true;
                            watch.backoff.reset();
                        }
                        Err(error) => {
                            tracing::warn!(error = %Chain(&error), "port watch: OVSDB unavailable; retrying");
                            tokio::time::sleep(watch.backoff.next_delay()).await;
                        }
                    }
                    continue;
                };
                if !std::mem::take(&mut watch.fresh)
                    && let Err(error) = connection.next_update().await
                {
                    tracing::warn!(error = %Chain(&error), "port watch: OVSDB connection lost; reconnecting");
                    watch.connection = None;
                    continue;
                }
                let view = bridge::view(connection.replica(), &bridge_name);
                if watch.last.as_ref() != Some(&view) {
                    watch.last = Some(view.clone());
                    return Some((Arc::new(view), (watch, connector, bridge_name)));
                }
            }
        },
    )
}
