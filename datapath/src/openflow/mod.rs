//! OpenFlow 1.5, the subset OVS needs for the pipeline, sans-IO: bytes in,
//! messages out, and back. No sockets and no runtime; the connection that
//! carries it lives in `actors`.
//!
//! - [`wire`]: bounds-checked big-endian reading and writing.
//! - [`oxm`]: match fields (`in_port`, `eth_dst`, Nicira registers).
//! - [`actions`]: instructions and actions (goto_table, set_field,
//!   output:NORMAL, Nicira output:reg).
//! - [`flow_mod`]: flow_mod and the flow descriptions of a stats reply.
//! - [`port`]: port descriptions and the OpenFlow 1.0 no-flood port_mod.
//! - [`switch_error`]: the switch's error messages, named.
//! - [`message`]: the header, framing and every message the agent uses.
//! - [`session`]: one connection's protocol state: handshake, xids,
//!   echo, multipart reassembly, atomic bundles.

pub mod actions;
pub mod flow_mod;
pub mod message;
pub mod oxm;
pub mod port;
pub mod session;
pub mod switch_error;
pub mod wire;

/// Bytes that are not a valid OpenFlow message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A structure is cut short or inconsistent.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The structure being read.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl DecodeError {
    fn malformed(what: &'static str, reason: String) -> Self {
        DecodeError::Malformed { what, reason }
    }
}
