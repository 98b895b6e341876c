//! The deterministic world: turmoil hosts for the API server, the nodes'
//! agents, the simulated Open vSwitch and the collector, on turmoil's
//! network and clock.

pub mod apiserver_host;
pub mod expected;
pub mod kube_client;
pub mod node_host;
