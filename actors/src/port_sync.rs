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
/// (`of10` is an OpenFlow 1.0 connection, `of15` the pipeline's).
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
) -> Result<PortReport, PortSyncError>
where
    D: AsyncRead + AsyncWrite + Unpin,
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let started = std::time::Instant::now();
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
    // error saying why not.
    let names: Vec<&String> = planned.keys().collect();
    ovsdb
        .wait_for(|replica| {
            let ports = bridge::switch_ports(replica, bridge_name);
            names.iter().all(|name| {
                ports.iter().any(|p| &&p.name == name && (p.usable_ofport().is_some() || p.error.is_some()))
            })
        })
        .await?;
    let waited = started.elapsed();
    configure_flooding(of15, of10, planned).await?;
    tracing::debug!(transact_and_wait = ?waited, flooding = ?(started.elapsed() - waited), "port sync");
    let ports = bridge::switch_ports(ovsdb.replica(), bridge_name);
    let changes = PortChanges { failures: port_diff::diff(planned, &ports).failures, ..changes };
    let failures_by_traffic_control = port_diff::failures_by_traffic_control(planned, &changes.failures);
    Ok(PortReport { changes, ports, failures_by_traffic_control })
}

/// No-flood on every TrafficControl port that has an ofport, so NORMAL
/// never floods into it; the agent's own ports are also brought up.
/// Sent on every sync: OVS forgets port config when ovs-vswitchd restarts.
async fn configure_flooding<A, B>(
    of15: &mut OpenFlowConnection<A>,
    of10: &mut OpenFlowConnection<B>,
    planned: &BTreeMap<String, PlannedPort>,
) -> Result<(), ConnectionError>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let ports = of15.dump_ports().await?;
    for port in ports.iter().filter(|p| planned.contains_key(&p.name)) {
        // OpenFlow 1.0 port numbers are 16 bits; OVS's ofports fit.
        let Ok(port_no) = u16::try_from(port.port_no) else { continue };
        let adopted = planned.get(&port.name).is_some_and(|p| p.adopted);
        let port_mod = if adopted {
            PortMod10::no_flood(port_no, port.hw_addr, true)
        } else {
            PortMod10::traffic_control_port(port_no, port.hw_addr)
        };
        of10.port_mod(port_mod).await?;
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
