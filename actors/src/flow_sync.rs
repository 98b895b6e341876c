//! The flow manager's I/O step: dump the agent's flows (or remember what
//! the last bundle installed), let [`datapath::flow_diff`] decide, send
//! the difference in one bundle.

use datapath::flow_diff::{self, FlowChanges};
use datapath::flows::{Cookie, Flow};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::openflow_connection::{ConnectionError, OpenFlowConnection};

/// What one sync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSyncReport {
    /// Planned flows the switch lacked.
    pub added: usize,
    /// Flows whose actions or cookie differed.
    pub modified: usize,
    /// Agent flows no longer planned.
    pub deleted: usize,
}

impl FlowSyncReport {
    /// flow_mods sent (0 when the switch already held the plan).
    pub fn flow_mods(&self) -> usize {
        self.added + self.modified + self.deleted
    }
}

/// Makes the switch's agent flows equal to `desired`, atomically.
///
/// # Errors
/// [`ConnectionError`] when the dump or the bundle fails; a refused bundle
/// changes nothing on the switch.
pub async fn sync_flows<S: AsyncRead + AsyncWrite + Unpin>(
    connection: &mut OpenFlowConnection<S>,
    desired: &[Flow],
) -> Result<FlowSyncReport, ConnectionError> {
    let observed = connection.dump_flows(Cookie::AGENT, Cookie::AGENT_MASK).await?;
    apply(connection, flow_diff::diff(desired, &observed)).await
}

/// Like [`sync_flows`], without the dump: `installed` is what this
/// connection's last bundle left on the switch. Only for a switch nothing
/// else has changed since (a restarted ovs-vswitchd is a new connection).
///
/// # Errors
/// [`ConnectionError`] when the bundle fails; a refused bundle changes
/// nothing on the switch.
pub async fn sync_flows_since<S: AsyncRead + AsyncWrite + Unpin>(
    connection: &mut OpenFlowConnection<S>,
    desired: &[Flow],
    installed: &[Flow],
) -> Result<FlowSyncReport, ConnectionError> {
    apply(connection, flow_diff::diff_installed(desired, installed)).await
}

async fn apply<S: AsyncRead + AsyncWrite + Unpin>(
    connection: &mut OpenFlowConnection<S>,
    changes: FlowChanges,
) -> Result<FlowSyncReport, ConnectionError> {
    let FlowChanges { flow_mods, added, modified, deleted } = changes;
    connection.apply(&flow_mods).await?;
    Ok(FlowSyncReport { added, modified, deleted })
}
