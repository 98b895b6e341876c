//! The shell around the functional core: everything that does I/O.
//!
//! Today it holds the binaries only:
//! - `tcctl` (`src/bin/tcctl.rs`): `crd`, `validate` and `plan`, offline.
//!
//! The OVSDB and OpenFlow connections, the actors (`PodWatcher`,
//! `CrdWatcher`, `PortManager`, `FlowManager`) and the `tc-agent` binary
//! come with the OVS and agent issues; every decision they make is a call
//! into `datapath`.
