//! The world the agent is tested in: the dev API server (also served on a
//! real socket as `tc-devcluster`) and, with the simulation issue, the
//! turmoil network, the simulated Open vSwitch and the collector.
//!
//! - [`apiserver`]: the API server's objects, selectors and watches, no I/O.
//! - [`ovs`]: the simulated Open vSwitch (OVSDB server, OpenFlow switch,
//!   packet engine).
//! - [`scenario`]: seeded scripts of cluster changes and faults.
//! - [`rbac`]: the deploy ClusterRole against the requests the agent made.
//! - [`world`]: the turmoil world the agent's real actors run in.

pub mod apiserver;
pub mod devcluster;
pub mod ovs;
pub mod rbac;
pub mod scenario;
pub mod world;
