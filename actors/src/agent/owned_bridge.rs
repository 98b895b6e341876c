//! Start-up on an owned bridge: before it writes a flow, the agent makes
//! sure the pipeline's tables hold nobody else's (see
//! [`datapath::owned_tables`]), and refuses to start if they do, as it
//! refuses a bad configuration: a CNI's pipeline overwritten by mistake is
//! worse than an agent that does not start.

use std::time::Duration;

use datapath::openflow::message::VERSION_1_5;
use datapath::owned_tables::{ForeignFlows, foreign_flows};

use super::connector::{Connector, connect_openflow};

/// How often to try again while the switch cannot be reached.
const RETRY: Duration = Duration::from_secs(1);

/// The bridge is not the agent's to own.
#[derive(Debug, thiserror::Error)]
#[error(
    "bridge {bridge} is not the agent's to own: {found}. With trafficControl.bridgeMode: owned the agent programs tables 0-3 itself and would overwrite them; beside a CNI that programs this bridge set trafficControl.bridgeMode: shared, or give the agent a bridge of its own"
)]
pub struct NotOwnable {
    /// The bridge.
    pub bridge: String,
    /// What is in its tables.
    pub found: ForeignFlows,
}

/// Waits until the bridge's flows can be read (the switch may start after
/// the agent), then checks its tables.
///
/// # Errors
/// [`NotOwnable`] when someone else's flows are in the pipeline's tables.
pub async fn check<C: Connector>(connector: &C, bridge: &str) -> Result<(), NotOwnable> {
    let mut told = false;
    loop {
        let dump = match connect_openflow(connector, VERSION_1_5).await {
            Ok(mut of15) => of15.dump_flows(0, 0).await.map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match dump {
            Ok(flows) => {
                return match foreign_flows(&flows) {
                    Some(found) => Err(NotOwnable { bridge: bridge.to_owned(), found }),
                    None => Ok(()),
                };
            }
            Err(error) if !told => {
                tracing::warn!(%bridge, %error, "cannot read the bridge's flows yet; retrying until it can");
                told = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(RETRY).await;
    }
}
