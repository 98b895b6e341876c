//! The world the agent is tested in: the turmoil network, the dev API
//! server (the `devcluster` crate) on it, the simulated Open vSwitch and the
//! collector, with seeded scenarios, faults and invariants.
//!
//! - [`ovs`]: the simulated Open vSwitch (OVSDB server, OpenFlow switch,
//!   packet engine).
//! - [`scenario`]: seeded scripts of cluster changes and faults.
//! - [`world`]: the turmoil world the agent's real actors run in.

pub mod ovs;
pub mod scenario;
pub mod world;
