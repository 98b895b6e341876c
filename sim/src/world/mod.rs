//! The deterministic world: turmoil hosts for the API server, the nodes'
//! agents and the simulated Open vSwitch, on turmoil's network and clock.
//!
//! - [`cluster`]: [`cluster::World`], what a test drives (objects, Pods,
//!   faults, time) and the convergence invariant;
//! - [`apiserver_host`], [`node_host`], [`ovs_host`]: each host's software;
//! - [`kube_client`]: kube-rs over turmoil's TCP;
//! - [`expected`]: the plan the switches must converge to;
//! - [`invariants`]: the safety rules checked while the world runs;
//! - [`packet_check`]: the packet invariants on a converged node;
//! - [`wire`]: what leaves a switch's ports (tunnels encapsulate).

pub mod apiserver_host;
pub mod cluster;
pub mod expected;
pub mod invariants;
pub mod kube_client;
pub mod node_host;
pub mod ovs_host;
pub mod packet_check;
pub mod wire;
