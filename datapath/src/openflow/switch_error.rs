//! Errors the switch reports (`OFPT_ERROR`), decoded into names a person
//! can act on.

use std::fmt;

/// An error message from the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchError {
    /// `OFPET_*`.
    pub kind: u16,
    /// The code within the type.
    pub code: u16,
    /// The start of the offending request, as the switch echoed it.
    pub data: Vec<u8>,
}

impl SwitchError {
    /// The error type's name.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            0 => "HELLO_FAILED",
            1 => "BAD_REQUEST",
            2 => "BAD_ACTION",
            3 => "BAD_INSTRUCTION",
            4 => "BAD_MATCH",
            5 => "FLOW_MOD_FAILED",
            6 => "GROUP_MOD_FAILED",
            7 => "PORT_MOD_FAILED",
            8 => "TABLE_MOD_FAILED",
            9 => "QUEUE_OP_FAILED",
            10 => "SWITCH_CONFIG_FAILED",
            11 => "ROLE_REQUEST_FAILED",
            12 => "METER_MOD_FAILED",
            13 => "TABLE_FEATURES_FAILED",
            14 => "BAD_PROPERTY",
            15 => "ASYNC_CONFIG_FAILED",
            16 => "FLOW_MONITOR_FAILED",
            17 => "BUNDLE_FAILED",
            0xffff => "EXPERIMENTER",
            _ => "UNKNOWN",
        }
    }

    /// The code's name, for the codes the agent can cause.
    pub fn code_name(&self) -> Option<&'static str> {
        let name = match (self.kind, self.code) {
            (1, 1) => "BAD_TYPE",
            (1, 2) => "BAD_MULTIPART",
            (1, 3) => "BAD_EXPERIMENTER",
            (1, 4) => "BAD_EXP_TYPE",
            (1, 6) => "BAD_LEN",
            (1, 13) => "BAD_PORT",
            (2, 0) => "BAD_TYPE",
            (2, 1) => "BAD_LEN",
            (2, 2) => "BAD_EXPERIMENTER",
            (2, 3) => "BAD_EXP_TYPE",
            (2, 4) => "BAD_OUT_PORT",
            (2, 5) => "BAD_ARGUMENT",
            (2, 13) => "BAD_SET_TYPE",
            (2, 14) => "BAD_SET_LEN",
            (2, 15) => "BAD_SET_ARGUMENT",
            (3, 1) => "UNSUP_INST",
            (3, 2) => "BAD_TABLE_ID",
            (4, 0) => "BAD_TYPE",
            (4, 1) => "BAD_LEN",
            (4, 3) => "BAD_DL_ADDR_MASK",
            (4, 5) => "BAD_WILDCARDS",
            (4, 6) => "BAD_FIELD",
            (4, 7) => "BAD_VALUE",
            (4, 8) => "BAD_MASK",
            (4, 9) => "BAD_PREREQ",
            (4, 10) => "DUP_FIELD",
            (5, 1) => "TABLE_FULL",
            (5, 2) => "BAD_TABLE_ID",
            (5, 3) => "OVERLAP",
            (5, 5) => "BAD_TIMEOUT",
            (5, 6) => "BAD_COMMAND",
            (7, 0) => "BAD_PORT",
            (7, 1) => "BAD_HW_ADDR",
            (17, 0) => "UNKNOWN",
            (17, 1) => "EPERM",
            (17, 2) => "BAD_ID",
            (17, 3) => "BUNDLE_EXIST",
            (17, 4) => "BUNDLE_CLOSED",
            (17, 5) => "OUT_OF_BUNDLES",
            (17, 6) => "BAD_TYPE",
            (17, 7) => "BAD_FLAGS",
            (17, 8) => "MSG_BAD_LEN",
            (17, 9) => "MSG_BAD_XID",
            (17, 10) => "MSG_UNSUP",
            (17, 11) => "MSG_CONFLICT",
            (17, 12) => "MSG_TOO_MANY",
            (17, 13) => "MSG_FAILED",
            (17, 14) => "TIMEOUT",
            (17, 15) => "BUNDLE_IN_PROGRESS",
            _ => return None,
        };
        Some(name)
    }

    /// The xid of the request the error is about, from the echoed header.
    pub fn request_xid(&self) -> Option<u32> {
        let xid = self.data.get(4..8)?;
        Some(u32::from_be_bytes([xid[0], xid[1], xid[2], xid[3]]))
    }
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code_name() {
            Some(code) => write!(f, "OFPET_{}/{code}", self.kind_name()),
            None => write!(f, "OFPET_{} code {}", self.kind_name(), self.code),
        }
    }
}
