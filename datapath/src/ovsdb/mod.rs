//! OVSDB (RFC 7047), the subset the agent uses, sans-IO: bytes in, events
//! and a replica of the monitored rows out, bytes to send. The connection
//! that carries it lives in `actors`.
//!
//! - [`framing`]: where each JSON text ends in the byte stream.
//! - [`datum`]: OVSDB values (sets, maps, uuids) and conversions.
//! - [`ops`]: transaction operations (insert, select, update, mutate,
//!   delete, wait).
//! - [`replica`]: the monitored rows, kept current by `update2`.
//! - [`session`]: requests, responses, echo, transactions' results.
//! - [`bridge`]: the Open_vSwitch subset: monitor, port transactions, and
//!   the planner's port view.

pub mod bridge;
pub mod datum;
pub mod framing;
pub mod ops;
pub mod replica;
pub mod session;
