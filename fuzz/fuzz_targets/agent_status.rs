//! The agent's `/status` document as `tcctl status` reads it from the
//! agent's endpoint: JSON into `AgentStatus`, then rendered and judged.
//!
//! Checks: no panic; a document that decodes encodes and decodes back to
//! the same value.
#![no_main]

use datapath::status::AgentStatus;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(status) = serde_json::from_slice::<AgentStatus>(data) else { return };
    let _ = (status.render(), status.in_sync(), status.is_healthy(), status.pods_of("web"));
    let text = serde_json::to_string(&status).expect("a status serializes");
    let back: AgentStatus = serde_json::from_str(&text).expect("and reads back");
    assert_eq!(back, status, "decode(encode(x)) == x");
});
