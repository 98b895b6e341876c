//! The flow manager's I/O step: dump the agent's flows, let
//! [`datapath::flow_diff`] decide, send the difference in one bundle.
//! The actor that calls it on every plan comes with the agent issue.

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
    let started = std::time::Instant::now();
    let observed = connection.dump_flows(Cookie::AGENT, Cookie::AGENT_MASK).await?;
    let dumped = started.elapsed();
    let FlowChanges { flow_mods, added, modified, deleted } = flow_diff::diff(desired, &observed);
    let diffed = started.elapsed();
    connection.apply(&flow_mods).await?;
    tracing::debug!(dump = ?dumped, diff = ?(diffed - dumped), apply = ?(started.elapsed() - diffed), flow_mods = flow_mods.len(), "flow sync");
    Ok(FlowSyncReport { added, modified, deleted })
}
