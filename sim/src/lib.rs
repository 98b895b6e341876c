//! The world the agent is tested in: the dev API server (also served on a
//! real socket as `tc-devcluster`) and, with the simulation issue, the
//! turmoil network, the simulated Open vSwitch and the collector.
//!
//! - [`apiserver`]: the API server's objects, selectors and watches, no I/O.

pub mod apiserver;
pub mod devcluster;
