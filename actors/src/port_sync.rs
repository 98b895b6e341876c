//! The port manager's I/O steps, around [`datapath::port_diff`]:
//!
//! 1. [`realize_ports`]: create and reconfigure the planned ports, wait
//!    until OVS has given each an ofport or an error, and make every
//!    TrafficControl port no-flood (and the agent's own ones up);
//! 2. the flow manager installs the flows (they use the new ofports);
//! 3. [`delete_ports`]: remove the ports the plan dropped, only now that
//!    no flow refers to them.
//!
//! The actor that runs these steps in this order comes with the agent
//! issue; every decision here is `datapath`'s.

use std::collections::BTreeMap;

use datapath::openflow::port::PortMod10;
use datapath::ovsdb::bridge;
use datapath::plan::PlannedPort;
use datapath::port_diff::{self, PortChanges};
use datapath::ports::{PortConfig, SwitchPort};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::openflow_connection::{ConnectionError, OpenFlowConnection};
use crate::ovsdb_connection::{OvsdbConnection, OvsdbError};

/// Why a port step failed.
#[derive(Debug, thiserror::Error)]
pub enum PortSyncError {
    /// OVSDB failed or refused.
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    /// OpenFlow failed or refused.
    #[error(transparent)]
    OpenFlow(#[from] ConnectionError),
    /// The bridge the agent manages does not exist.
    #[error("bridge {0} does not exist")]
    NoBridge(String),
}

/// What [`realize_ports`] did and saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortReport {
    /// The decision it carried out (deletions are left for later).
    pub changes: PortChanges,
    /// The bridge's ports afterwards: the planner's next port view.
    pub ports: Vec<SwitchPort>,
    /// Port failures said per TrafficControl.
    pub failures_by_traffic_control: BTreeMap<String, String>,
}

/// Step 1: creates and reconfigures the planned ports, waits for OVS to
/// answer for each, and configures every TrafficControl port for flooding
/// (`of10` is an OpenFlow 1.0 connection, `of15` the pipeline's) unless
/// `flooding` says it already is.
///
/// # Errors
/// [`PortSyncError`] when a connection fails or the bridge is missing. A
/// port OVS cannot open is not an error: it is in the report's failures.
pub async fn realize_ports<D, A, B>(
    ovsdb: &mut OvsdbConnection<D>,
    of15: &mut OpenFlowConnection<A>,
    of10: &mut OpenFlowConnection<B>,
    bridge_name: &str,
    planned: &BTreeMap<String, PlannedPort>,
    flooding: &mut FloodingConfigured,
) -> Result<PortReport, PortSyncError>
where
    D: AsyncRead + AsyncWrite + Unpin,
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let before = bridge::switch_ports(ovsdb.replica(), bridge_name);
    let changes = port_diff::diff(planned, &before);
    // One transaction per port: its named uuids are its own, and a port
    // OVSDB refuses does not hold back the others.
    for config in &changes.create {
        let transaction =
            ovsdb.transact(bridge::add_port(bridge_name, config, &PortConfig::external_ids())).await?;
        if bridge::missing_bridge(&transaction.results) {
            return Err(PortSyncError::NoBridge(bridge_name.to_owned()));
        }
    }
    for config in &changes.reconfigure {
        ovsdb.transact(bridge::reconfigure(config)).await?;
    }
    // Wait until OVS has answered for every planned port: an ofport, or an
    // error saying why not. Reading the port view costs ~2 µs a port, so
    // an unchanged bridge that already answered is not read again.
    let names: Vec<&String> = planned.keys().collect();
    let answered = |ports: &[SwitchPort]| {
        names.iter().all(|name| {
            ports.iter().any(|p| &&p.name == name && (p.usable_ofport().is_some() || p.error.is_some()))
        })
    };
    let ports = if changes.create.is_empty() && changes.reconfigure.is_empty() && answered(&before) {
        before
    } else {
        ovsdb.wait_for(|replica| answered(&bridge::switch_ports(replica, bridge_name))).await?;
        bridge::switch_ports(ovsdb.replica(), bridge_name)
    };
    configure_flooding(of15, of10, planned, &ports, flooding).await?;
    let changes = PortChanges { failures: port_diff::diff(planned, &ports).failures, ..changes };
    let failures_by_traffic_control = port_diff::failures_by_traffic_control(planned, &changes.failures);
    Ok(PortReport { changes, ports, failures_by_traffic_control })
}

/// The TrafficControl ports this switch has already been told not to
/// flood into, by name, with the ofport and kind they were told for.
///
/// OpenFlow 1.5 cannot read no-flood back (the bit exists only in 1.0), so
/// the agent remembers what it sent instead of re-sending it every pass.
/// OVS forgets port config when ovs-vswitchd restarts: start a new one
/// then, with new connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FloodingConfigured(BTreeMap<String, (u32, bool)>);

/// No-flood on every TrafficControl port that has an ofport and was not
/// configured yet, so NORMAL never floods into it; the agent's own ports
/// are also brought up. An adopted device that no TrafficControl uses any
/// more gets flooding back.
async fn configure_flooding<A, B>(
    of15: &mut OpenFlowConnection<A>,
    of10: &mut OpenFlowConnection<B>,
    planned: &BTreeMap<String, PlannedPort>,
    ports: &[SwitchPort],
    configured: &mut FloodingConfigured,
) -> Result<(), ConnectionError>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    // An adopted device no TrafficControl uses any more floods again, as
    // it did before the agent adopted it; the agent's own ports are gone.
    let released: Vec<String> = configured
        .0
        .iter()
        .filter(|(name, (_, adopted))| *adopted && !planned.contains_key(*name))
        .map(|(name, _)| name.clone())
        .collect();
    configured.0.retain(|name, _| planned.contains_key(name));
    let pending: BTreeMap<&str, bool> = ports
        .iter()
        .filter_map(|port| {
            let ofport = port.usable_ofport()?;
            let adopted = planned.get(&port.name)?.adopted;
            (configured.0.get(&port.name) != Some(&(ofport, adopted)))
                .then_some((port.name.as_str(), adopted))
        })
        .collect();
    if pending.is_empty() && released.is_empty() {
        return Ok(());
    }
    // OpenFlow 1.0 port_mods must carry the port's current address.
    for port in of15.dump_ports().await? {
        // OpenFlow 1.0 port numbers are 16 bits; OVS's ofports fit.
        let Ok(port_no) = u16::try_from(port.port_no) else { continue };
        if released.contains(&port.name) {
            of10.port_mod(PortMod10::no_flood(port_no, port.hw_addr, false)).await?;
            continue;
        }
        let Some(&adopted) = pending.get(port.name.as_str()) else { continue };
        let port_mod = if adopted {
            PortMod10::no_flood(port_no, port.hw_addr, true)
        } else {
            PortMod10::traffic_control_port(port_no, port.hw_addr)
        };
        of10.port_mod(port_mod).await?;
        configured.0.insert(port.name, (port.port_no, adopted));
    }
    Ok(())
}

/// Step 3: removes `names` from the bridge. Call it only once the flows
/// that used these ports are gone.
///
/// # Errors
/// [`PortSyncError::Ovsdb`] when the transaction fails.
pub async fn delete_ports<D: AsyncRead + AsyncWrite + Unpin>(
    ovsdb: &mut OvsdbConnection<D>,
    bridge_name: &str,
    names: &[String],
) -> Result<(), PortSyncError> {
    let operations = bridge::delete_ports(ovsdb.replica(), bridge_name, names);
    if !operations.is_empty() {
        ovsdb.transact(operations).await?;
        ovsdb
            .wait_for(|replica| {
                bridge::switch_ports(replica, bridge_name).iter().all(|p| !names.contains(&p.name))
            })
            .await?;
    }
    Ok(())
}
