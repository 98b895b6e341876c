//! A simulated Open vSwitch for the deterministic world: the subset of
//! OVSDB (RFC 7047) and OpenFlow the agent uses, as sans-IO cores that a
//! turmoil host (or a test, over an in-memory pipe) serves on any byte
//! stream. Nothing here reads the wall clock or OS randomness.
//!
//! - [`ovsdb_server`]: the Open_vSwitch database subset, transactions,
//!   `monitor_cond` updates, and the hooks ovs-vswitchd uses (ofports,
//!   interface errors);
//! - [`openflow_switch`]: flow tables, atomic bundles, flow and port dumps,
//!   OpenFlow 1.0 port_mod (no-flood), port status;
//! - [`packet_engine`]: a frame through the port mirrors and the flow
//!   tables to its ports.

pub mod openflow_switch;
pub mod ovsdb_server;
pub mod packet_engine;
