//! The dev API server: a Kubernetes API server subset with Kubernetes'
//! wire behaviour, for kubectl, kube-rs and the agent. `tc-devcluster`
//! serves it on a real socket (no kube-apiserver can be installed on the
//! development machines); the simulation (`sim`) serves the same
//! [`ApiServer`] on turmoil's network. A test double, not a cluster:
//! nothing schedules or runs Pods, and nothing checks who is calling.
//!
//! - [`apiserver`]: the API server's logic without I/O: objects, selectors,
//!   watches, one request in and one answer out.
//! - [`server`]: [`ApiServer`], the state every connection shares, and
//!   HTTP/1.1 on any byte stream.
//! - [`socket`]: what `tc-devcluster` adds on this machine: a TCP
//!   listener, the state saved to a data directory, the kubeconfig.
//! - [`rbac`]: the deploy ClusterRole against the requests the agents made.

pub mod apiserver;
pub mod rbac;
pub mod server;
pub mod socket;

pub use server::ApiServer;
