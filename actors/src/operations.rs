//! The pass's operations carried out over the switch's connections: the
//! OVSDB ones (create, reconfigure, await and delete ports) and the
//! OpenFlow ones (port settings, flow bundles). Every decision is
//! [`datapath::pass`]'s; this module only sends and waits, and logs the
//! ports it creates, reconfigures and deletes (adoption is a plan change:
//! the reconciler logs it).

use datapath::flows::Cookie;
use datapath::openflow::flow_mod::FlowDesc;
use datapath::openflow::port::PortMod10;
use datapath::ovsdb::bridge::{self, BridgeView};
use datapath::pass::{Operation, PortSetting, SetPort};
use datapath::ports::SwitchPort;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::openflow_connection::{ConnectionError, OpenFlowConnection};
use crate::ovsdb_connection::{OvsdbConnection, OvsdbError};
use crate::reconcile::FlowCounts;

/// Why an OVSDB operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Reading the bridge's ports (the round trip before a pass) failed.
    #[error("cannot read the bridge's ports")]
    Read(#[source] OvsdbError),
    /// Creating a port failed.
    #[error("cannot create port {port}")]
    Create {
        /// The port.
        port: String,
        /// OVSDB's answer.
        #[source]
        source: OvsdbError,
    },
    /// The bridge the agent manages does not exist.
    #[error("bridge {bridge} does not exist")]
    NoBridge {
        /// The bridge.
        bridge: String,
    },
    /// Reconfiguring a port failed.
    #[error("cannot reconfigure port {port}")]
    Reconfigure {
        /// The port.
        port: String,
        /// OVSDB's answer.
        #[source]
        source: OvsdbError,
    },
    /// OVS did not answer for the ports in time.
    #[error("OVS did not answer for ports {ports}")]
    Await {
        /// The ports, comma-separated.
        ports: String,
        /// Why the wait ended.
        #[source]
        source: OvsdbError,
    },
    /// Setting or deleting one of the agent's mirrors failed.
    #[error("cannot set mirror {mirror}")]
    Mirror {
        /// The mirror.
        mirror: String,
        /// OVSDB's answer.
        #[source]
        source: OvsdbError,
    },
    /// Deleting ports failed.
    #[error("cannot delete ports {ports}")]
    Delete {
        /// The ports, comma-separated.
        ports: String,
        /// OVSDB's answer.
        #[source]
        source: OvsdbError,
    },
}

impl PortError {
    /// The OVSDB failure under it, if any.
    pub fn ovsdb(&self) -> Option<&OvsdbError> {
        match self {
            PortError::Read(source)
            | PortError::Create { source, .. }
            | PortError::Reconfigure { source, .. }
            | PortError::Await { source, .. }
            | PortError::Mirror { source, .. }
            | PortError::Delete { source, .. } => Some(source),
            PortError::NoBridge { .. } => None,
        }
    }
}

/// Why an OpenFlow operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Reading the switch's ports (for their addresses) failed.
    #[error("cannot read the switch's ports")]
    PortDump(#[source] ConnectionError),
    /// A port to configure is not on the switch (it went since the pass
    /// was planned).
    #[error("port {port} is not on the switch")]
    PortMissing {
        /// The port.
        port: String,
    },
    /// The switch refused or lost a port setting.
    #[error("cannot set ports {ports}")]
    PortSettings {
        /// The ports, comma-separated.
        ports: String,
        /// The switch's answer.
        #[source]
        source: ConnectionError,
    },
    /// The switch refused or lost the bundle (a refused bundle changes
    /// nothing).
    #[error("the flow bundle failed")]
    Bundle(#[source] ConnectionError),
    /// Dumping the agent's flows failed.
    #[error("cannot dump the agent's flows")]
    FlowDump(#[source] ConnectionError),
}

impl FlowError {
    /// The OpenFlow failure under it, if any.
    pub fn connection(&self) -> Option<&ConnectionError> {
        match self {
            FlowError::PortDump(source)
            | FlowError::PortSettings { source, .. }
            | FlowError::Bundle(source)
            | FlowError::FlowDump(source) => Some(source),
            FlowError::PortMissing { .. } => None,
        }
    }
}

/// The bridge's ports and mirrors as OVSDB has them now: an echo round
/// trip first, so every update the server sent before it is applied (a
/// Pod port the CNI just deleted, which a watch connection may already
/// have reported).
///
/// # Errors
/// [`PortError::Read`] when the connection fails.
pub async fn read_bridge<S: AsyncRead + AsyncWrite + Unpin>(
    ovsdb: &mut OvsdbConnection<S>,
    bridge_name: &str,
) -> Result<BridgeView, PortError> {
    ovsdb.echo().await.map_err(PortError::Read)?;
    Ok(bridge::view(ovsdb.replica(), bridge_name))
}

/// Carries out the OVSDB operations of a pass, in order; returns the
/// bridge's ports and mirrors afterwards. OpenFlow operations are not
/// this function's: they are skipped.
///
/// # Errors
/// [`PortError`] naming the step and the port. A port OVS cannot open is
/// not an error: it has an error on the bridge, which the next plan reads.
pub async fn execute_ovsdb<S: AsyncRead + AsyncWrite + Unpin>(
    ovsdb: &mut OvsdbConnection<S>,
    bridge_name: &str,
    operations: &[Operation],
) -> Result<BridgeView, PortError> {
    let mut created = Vec::new();
    for operation in operations {
        match operation {
            // One transaction per port: a port OVSDB refuses does not hold
            // back the others.
            Operation::CreatePort(port) => {
                let name = &port.config.name;
                let ops = bridge::add_port(bridge_name, &port.config, &port.external_ids, port.ofport);
                let transaction = ovsdb
                    .transact(ops)
                    .await
                    .map_err(|source| PortError::Create { port: name.clone(), source })?;
                if bridge::missing_bridge(&transaction.results) {
                    return Err(PortError::NoBridge { bridge: bridge_name.to_owned() });
                }
                created.push(name.as_str());
            }
            Operation::ReconfigurePort(config) => {
                ovsdb
                    .transact(bridge::reconfigure(config))
                    .await
                    .map_err(|source| PortError::Reconfigure { port: config.name.clone(), source })?;
                tracing::info!(port = %config.name, kind = config.interface_type.name(), options = ?config.options, "reconfigured port");
            }
            Operation::AwaitPorts(names) => {
                let answered = |ports: &[SwitchPort]| {
                    names.iter().all(|name| {
                        ports
                            .iter()
                            .any(|p| &p.name == name && (p.usable_ofport().is_some() || p.error.is_some()))
                    })
                };
                ovsdb
                    .wait_for(|replica| answered(&bridge::switch_ports(replica, bridge_name)))
                    .await
                    .map_err(|source| PortError::Await { ports: names.join(","), source })?;
                log_created(&bridge::switch_ports(ovsdb.replica(), bridge_name), &created);
                created.clear();
            }
            Operation::DeletePorts(names) => {
                let ops = bridge::delete_ports(ovsdb.replica(), bridge_name, names);
                if ops.is_empty() {
                    continue;
                }
                let failed = |source| PortError::Delete { ports: names.join(","), source };
                ovsdb.transact(ops).await.map_err(failed)?;
                ovsdb
                    .wait_for(|replica| {
                        bridge::switch_ports(replica, bridge_name).iter().all(|p| !names.contains(&p.name))
                    })
                    .await
                    .map_err(failed)?;
                for name in names {
                    tracing::info!(port = %name, "deleted port");
                }
            }
            Operation::SetMirror(mirror) => {
                let ops = bridge::set_mirror(ovsdb.replica(), bridge_name, mirror);
                if ops.is_empty() {
                    continue; // its output port is gone: the next plan says so
                }
                let failed = |source| PortError::Mirror { mirror: mirror.name.clone(), source };
                ovsdb.transact(ops).await.map_err(failed)?;
                tracing::info!(
                    mirror = %mirror.name,
                    output_port = %mirror.output_port,
                    sources = mirror.select_src_port.len(),
                    destinations = mirror.select_dst_port.len(),
                    "set mirror"
                );
            }
            Operation::DeleteMirror(name) => {
                let ops = bridge::delete_mirror(ovsdb.replica(), bridge_name, name);
                if ops.is_empty() {
                    continue;
                }
                let failed = |source| PortError::Mirror { mirror: name.clone(), source };
                ovsdb.transact(ops).await.map_err(failed)?;
                tracing::info!(mirror = %name, "deleted mirror");
            }
            Operation::SetPort(_) | Operation::ApplyFlows(_) => {}
        }
    }
    // The replica has every update the server sent before the last reply.
    Ok(bridge::view(ovsdb.replica(), bridge_name))
}

/// One line per created port, with what OVS made of it.
fn log_created(ports: &[SwitchPort], created: &[&str]) {
    for port in ports.iter().filter(|p| created.contains(&p.name.as_str())) {
        let kind = if port.interface_type.is_empty() { "system" } else { port.interface_type.as_str() };
        match (&port.error, port.usable_ofport()) {
            (Some(error), _) => tracing::warn!(port = %port.name, kind, %error, "OVS could not set up port"),
            (None, ofport) => tracing::info!(port = %port.name, kind, ofport, "created port"),
        }
    }
}

/// Carries out the OpenFlow operations of a pass, in order: port settings
/// over OpenFlow 1.0 (`of10`; the no-flood bit exists only there), flow
/// bundles over OpenFlow 1.5 (`of15`). OVSDB operations are skipped.
///
/// # Errors
/// [`FlowError`] naming the step; a refused bundle changes nothing on the
/// switch.
pub async fn execute_openflow<A, B>(
    of15: &mut OpenFlowConnection<A>,
    of10: &mut OpenFlowConnection<B>,
    operations: &[Operation],
) -> Result<(), FlowError>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let mut settings: Vec<&SetPort> = Vec::new();
    for operation in operations {
        match operation {
            Operation::SetPort(setting) => settings.push(setting),
            Operation::ApplyFlows(changes) => {
                send_settings(of15, of10, &std::mem::take(&mut settings)).await?;
                of15.apply(&changes.flow_mods).await.map_err(FlowError::Bundle)?;
                tracing::debug!(
                    added = changes.added,
                    modified = changes.modified,
                    deleted = changes.deleted,
                    "flows installed"
                );
            }
            Operation::CreatePort(_)
            | Operation::ReconfigurePort(_)
            | Operation::AwaitPorts(_)
            | Operation::SetMirror(_)
            | Operation::DeleteMirror(_)
            | Operation::DeletePorts(_) => {}
        }
    }
    send_settings(of15, of10, &settings).await
}

/// The agent's flows on the switch (by their cookie).
///
/// # Errors
/// [`FlowError::FlowDump`] when the dump fails.
pub async fn dump_agent_flows<S: AsyncRead + AsyncWrite + Unpin>(
    of15: &mut OpenFlowConnection<S>,
) -> Result<Vec<FlowDesc>, FlowError> {
    of15.dump_flows(Cookie::AGENT, Cookie::AGENT_MASK).await.map_err(FlowError::FlowDump)
}

/// Makes the switch's agent flows exactly `desired` in one bundle (dump,
/// [`datapath::flow_diff`], apply): a flow set on its own, outside a
/// pass, for the flow benchmark and the tests of the bundle step.
///
/// # Errors
/// [`FlowError`] when the dump or the bundle fails; a refused bundle
/// changes nothing.
pub async fn sync_flows<S: AsyncRead + AsyncWrite + Unpin>(
    of15: &mut OpenFlowConnection<S>,
    desired: &[datapath::flows::Flow],
) -> Result<FlowCounts, FlowError> {
    let held = dump_agent_flows(of15).await?;
    let changes = datapath::flow_diff::diff(desired, &held);
    of15.apply(&changes.flow_mods).await.map_err(FlowError::Bundle)?;
    Ok(FlowCounts::from(&changes))
}

/// Sends port settings, all at once, and waits until the switch has
/// applied them (a flow sent after must find them in place).
async fn send_settings<A, B>(
    of15: &mut OpenFlowConnection<A>,
    of10: &mut OpenFlowConnection<B>,
    settings: &[&SetPort],
) -> Result<(), FlowError>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    if settings.is_empty() {
        return Ok(());
    }
    // OpenFlow 1.0 port_mods must carry the port's current address.
    let ports = of15.dump_ports().await.map_err(FlowError::PortDump)?;
    let mut port_mods = Vec::with_capacity(settings.len());
    for setting in settings {
        let missing = || FlowError::PortMissing { port: setting.port.clone() };
        let port = ports
            .iter()
            .find(|p| p.name == setting.port && p.port_no == setting.ofport)
            .ok_or_else(missing)?;
        // OpenFlow 1.0 port numbers are 16 bits; every usable ofport fits.
        let port_no = u16::try_from(port.port_no).map_err(|_| missing())?;
        port_mods.push(match setting.setting {
            PortSetting::NoFlood => PortMod10::no_flood(port_no, port.hw_addr, true),
            PortSetting::NoFloodAndUp => PortMod10::traffic_control_port(port_no, port.hw_addr),
            PortSetting::Up => PortMod10::up(port_no, port.hw_addr),
            PortSetting::Flood => PortMod10::no_flood(port_no, port.hw_addr, false),
        });
    }
    of10.port_mods(&port_mods).await.map_err(|source| FlowError::PortSettings {
        ports: settings.iter().map(|s| s.port.as_str()).collect::<Vec<_>>().join(","),
        source,
    })?;
    for setting in settings {
        tracing::debug!(port = %setting.port, ofport = setting.ofport, setting = ?setting.setting, "port set");
    }
    Ok(())
}
