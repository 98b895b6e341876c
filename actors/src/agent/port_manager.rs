//! `PortManager`: owns the OVSDB connection (and the OpenFlow 1.0/1.5
//! connections the port config needs), realizes the planned ports, deletes
//! the dropped ones when told, and reports the bridge's ports whenever
//! they change.
//!
//! Two kinds of connections, so that waiting never blocks a command:
//! the command connections, used only while a command runs (an atomic
//! handler: one command at a time), and a watch connection that only
//! listens to OVSDB's monitor updates, owned by a stream.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use datapath::openflow::message::{VERSION_1_0, VERSION_1_5};
use datapath::ovsdb::bridge;
use datapath::ports::SwitchPort;
use futures::Stream;

use super::backoff::Backoff;
use super::connector::{Connector, connect_openflow, connect_ovsdb};
use super::messages::{
    DeletePorts, ManagerError, ReadSwitchPorts, RealizePorts, SwitchConnected, SwitchPortsObserved,
};
use crate::openflow_connection::OpenFlowConnection;
use crate::ovsdb_connection::OvsdbConnection;
use crate::port_sync::{FloodingConfigured, delete_ports, realize_ports};

/// The connections a port command uses.
struct PortConnections<S> {
    ovsdb: OvsdbConnection<S>,
    of15: OpenFlowConnection<S>,
    of10: OpenFlowConnection<S>,
    /// What this switch was told about flooding over these connections.
    flooding: FloodingConfigured,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> PortConnections<S> {
    async fn open<C: Connector<Stream = S>>(connector: &C) -> Result<Self, ManagerError> {
        let ovsdb = connect_ovsdb(connector).await?;
        let of15 = connect_openflow(connector, VERSION_1_5).await?;
        let of10 = connect_openflow(connector, VERSION_1_0).await?;
        Ok(PortConnections { ovsdb, of15, of10, flooding: FloodingConfigured::default() })
    }
}

/// The port manager.
pub struct PortManager<C: Connector> {
    connector: C,
    bridge: String,
    connections: Option<PortConnections<C::Stream>>,
    observer: Recipient<SwitchPortsObserved>,
}

impl<C: Connector> PortManager<C> {
    /// A manager of `bridge`'s ports that tells `observer` when they change.
    pub fn new(connector: C, bridge: String, observer: Recipient<SwitchPortsObserved>) -> Self {
        PortManager { connector, bridge, connections: None, observer }
    }

    /// Runs `step` on the command connections (opening them first when
    /// needed) and puts them back, unless the step failed: a failed
    /// connection is dropped and the next command reconnects.
    fn with_connections<T: 'static>(
        &mut self,
        step: impl AsyncFnOnce(&mut PortConnections<C::Stream>, &str) -> Result<T, ManagerError> + 'static,
    ) -> AtomicResponse<Self, Result<T, ManagerError>> {
        let connections = self.connections.take();
        let connector = self.connector.clone();
        let bridge = self.bridge.clone();
        let work = async move {
            let mut connections = match connections {
                Some(connections) => connections,
                None => PortConnections::open(&connector).await.map_err(|e| (None, e))?,
            };
            match step(&mut connections, &bridge).await {
                Ok(value) => Ok((connections, value)),
                Err(error) => Err((None, error)),
            }
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |outcome: Result<_, (Option<PortConnections<C::Stream>>, ManagerError)>, actor, _| match outcome {
                Ok((connections, value)) => {
                    actor.connections = Some(connections);
                    Ok(value)
                }
                Err((connections, error)) => {
                    actor.connections = connections;
                    Err(error)
                }
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

impl<C: Connector> StreamHandler<Arc<[SwitchPort]>> for PortManager<C> {
    fn handle(&mut self, ports: Arc<[SwitchPort]>, _: &mut Self::Context) {
        self.observer.do_send(SwitchPortsObserved(ports));
    }

    /// The watch never ends on its own; keep the manager when it does.
    fn finished(&mut self, _: &mut Self::Context) {}
}

impl<C: Connector> Handler<SwitchConnected> for PortManager<C> {
    type Result = ();

    /// After ovs-vswitchd restarted, the command connections lead nowhere
    /// and the no-flood config they remember is gone: start over.
    fn handle(&mut self, connected: SwitchConnected, _: &mut Self::Context) {
        if connected.reconnected {
            self.connections = None;
        }
    }
}

impl<C: Connector> Handler<ReadSwitchPorts> for PortManager<C> {
    type Result = AtomicResponse<Self, Result<Vec<SwitchPort>, ManagerError>>;

    fn handle(&mut self, _: ReadSwitchPorts, _: &mut Self::Context) -> Self::Result {
        self.with_connections(async |c, bridge_name| {
            // The command connection reads only while a command runs, so
            // its replica may miss updates the watch connection already
            // reported (a Pod port the CNI deleted). A round trip applies
            // every update the server sent before it: a pass never plans
            // with ports older than the change that started it.
            c.ovsdb.echo().await?;
            Ok(bridge::switch_ports(c.ovsdb.replica(), bridge_name))
        })
    }
}

impl<C: Connector> Handler<RealizePorts> for PortManager<C> {
    type Result = AtomicResponse<Self, Result<crate::port_sync::PortReport, ManagerError>>;

    fn handle(&mut self, RealizePorts(planned): RealizePorts, _: &mut Self::Context) -> Self::Result {
        self.with_connections(async move |c, bridge_name| {
            let c = &mut *c;
            Ok(realize_ports(&mut c.ovsdb, &mut c.of15, &mut c.of10, bridge_name, &planned, &mut c.flooding)
                .await?)
        })
    }
}

impl<C: Connector> Handler<DeletePorts> for PortManager<C> {
    type Result = AtomicResponse<Self, Result<(), ManagerError>>;

    fn handle(&mut self, DeletePorts(names): DeletePorts, _: &mut Self::Context) -> Self::Result {
        self.with_connections(async move |c, bridge_name| {
            Ok(delete_ports(&mut c.ovsdb, bridge_name, &names).await?)
        })
    }
}

/// The bridge's ports, each time they change, over a connection of its
/// own that reconnects with backoff. Idle while OVSDB is quiet.
fn watch_ports<C: Connector>(connector: C, bridge_name: String) -> impl Stream<Item = Arc<[SwitchPort]>> {
    struct Watch<S> {
        connection: Option<OvsdbConnection<S>>,
        last: Option<Vec<SwitchPort>>,
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
                            tracing::warn!(%error, "port watch: OVSDB unavailable; retrying");
                            tokio::time::sleep(watch.backoff.next_delay()).await;
                        }
                    }
                    continue;
                };
                if !std::mem::take(&mut watch.fresh)
                    && let Err(error) = connection.next_update().await
                {
                    tracing::warn!(%error, "port watch: OVSDB connection lost; reconnecting");
                    watch.connection = None;
                    continue;
                }
                let ports = bridge::switch_ports(connection.replica(), &bridge_name);
                if watch.last.as_ref() != Some(&ports) {
                    watch.last = Some(ports.clone());
                    return Some((Arc::from(ports), (watch, connector, bridge_name)));
                }
            }
        },
    )
}
