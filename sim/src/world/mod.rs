//! The deterministic world: turmoil hosts for the API server, the nodes'
//! agents and the simulated Open vSwitch, on turmoil's network and clock.
//!
//! - [`cluster`]: [`cluster::World`], what a test drives (objects, Pods,
//!   faults, time) and the convergence invariant;
//! - [`bridge_setup`]: owned, or shared with a CNI's controller;
//! - [`apiserver_host`], [`node_host`], [`ovs_host`], [`controller_host`]:
//!   each host's software (the last: a CNI's controller on a shared
//!   bridge);
//! - [`kube_client`]: kube-rs over turmoil's TCP;
//! - [`expected`]: the plan the switches must converge to;
//! - [`invariants`]: the safety rules checked while the world runs;
//! - [`shared_invariants`]: those of a shared bridge (the agent touches no
//!   flow and no row it did not make);
//! - [`packet_check`]: the packet invariants on a converged node;
//! - [`mirror_check`]: the same on a shared bridge, where `Mirror` rows
//!   copy;
//! - [`wire`]: what leaves a switch's ports (tunnels encapsulate).

pub mod apiserver_host;
pub mod bridge_setup;
pub mod cluster;
pub mod controller_host;
pub mod expected;
pub mod invariants;
pub mod kube_client;
pub mod mirror_check;
pub mod node_host;
pub mod ovs_host;
pub mod packet_check;
pub mod shared_invariants;
pub mod wire;
