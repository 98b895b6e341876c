//! The shell around the functional core: everything that does I/O.
//!
//! - [`openflow_connection`]: the OpenFlow session over any async stream.
//! - [`ovsdb_connection`]: the OVSDB session over any async stream.
//! - [`operations`]: the pass's operations carried out over those
//!   connections (ports over OVSDB; port settings and flows over OpenFlow).
//! - [`reconcile`]: one pass, run: observe, let `datapath::pass` decide,
//!   hand each run of operations to its executor, plan again when OVS did
//!   not do what the plan assumed; over the actors or plain connections.
//! - [`agent`]: the actors (`PodWatcher`, `CrdWatcher`, `PortManager`,
//!   `FlowManager`, `Reconciler`, `StatusWriter`), kube-rs watchers, the
//!   endpoints and metrics: what `tc-agent` runs.
//! - [`config`]: the agent's settings, in antrea-agent.conf's shape.
//! - [`errors`]: an error and its causes on one line, for logs.
//! - binaries: `tc-agent` (`src/bin/tc-agent.rs`) and `tcctl`
//!   (`src/bin/tcctl.rs`: `crd`, `validate`, `plan`, `status`).
//!
//! Every decision is a call into `datapath`; this crate holds state, does
//! I/O and passes messages.

pub mod agent;
pub mod config;
pub mod errors;
pub mod host_network;
pub mod openflow_connection;
pub mod operations;
pub mod ovsdb_connection;
pub mod reconcile;
