//! The shell around the functional core: everything that does I/O.
//!
//! - [`openflow_connection`]: the OpenFlow session over any async stream.
//! - [`ovsdb_connection`]: the OVSDB session over any async stream.
//! - [`port_sync`]: the port manager's I/O steps (realize, delete after flows).
//! - [`flow_sync`]: dump, diff, one bundle: the flow manager's I/O step.
//! - [`reconcile`]: one pass in DESIGN §2's order: ports, flows, deletions.
//! - [`config`]: the agent's settings, in antrea-agent.conf's shape.
//! - binaries: `tcctl` (`src/bin/tcctl.rs`): `crd`, `validate` and `plan`.
//!
//! The actors (`PodWatcher`, `CrdWatcher`, `PortManager`, `FlowManager`),
//! the kube-rs watchers and the `tc-agent` binary come with the agent
//! issue; every decision they make is a call into `datapath`.

pub mod agent;
pub mod config;
pub mod flow_sync;
pub mod openflow_connection;
pub mod ovsdb_connection;
pub mod port_sync;
pub mod reconcile;
