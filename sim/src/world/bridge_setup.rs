//! How a node's bridge is run in the world: owned by the agent, or
//! shared with a CNI's controller (which the world then starts, and whose
//! rows and flows the shared-bridge invariants guard).

use datapath::plan::BridgeMode;

use super::controller_host::Controller;

/// How every node's bridge is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BridgeSetup {
    /// The agent's own pipeline; nobody else programs the bridge.
    Owned,
    /// A CNI's controller owns the tables (and some ports and mirrors);
    /// the agent realizes Mirror with `Mirror` rows.
    Shared(Controller),
}

impl BridgeSetup {
    /// The agent's `bridgeMode`.
    pub fn mode(&self) -> BridgeMode {
        match self {
            BridgeSetup::Owned => BridgeMode::Owned,
            BridgeSetup::Shared(_) => BridgeMode::Shared,
        }
    }
}
