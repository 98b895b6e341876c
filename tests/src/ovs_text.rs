//! Our flow text and OpenFlow messages as OVS's offline tools read them,
//! for comparing our text with theirs: `ovs-ofctl parse-flows` (flow text
//! in, the flow_mods it means out) and `ovs-ofctl ofp-parse` (messages in,
//! their decoding out). Neither needs a running switch.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;

use crate::ovs_tool;

/// A flow in our (dump-flows) text, as `ovs-ofctl ofp-parse` and
/// `parse-flows` print its flow_mod: `ADD [table:N ]priority=P,MATCHES
/// cookie:C actions=A` (table 0 left out, as dump-flows leaves it out).
pub fn as_flow_mod_add(flow_text: &str) -> String {
    let (head, actions) = flow_text.split_once(" actions=").expect("actions");
    let (cookie, rest) = head.split_once(", ").expect("cookie");
    let cookie = cookie.trim_start_matches("cookie=");
    let (table, rest) = match rest.strip_prefix("table=") {
        Some(tail) => tail.split_once(", ").map(|(t, r)| (format!("table:{t} "), r)).expect("table"),
        None => (String::new(), rest),
    };
    format!("ADD {table}{rest} cookie:{cookie} actions={actions}")
}

/// A flow `ovs-ofctl parse-flows` refused, with what it said (it stops at
/// the first).
#[derive(Debug)]
pub struct Refused {
    /// The flow, in our text.
    pub flow: String,
    /// OVS's message.
    pub message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ovs-ofctl parse-flows refuses {:?}: {}", self.flow, self.message)
    }
}

/// What `ovs-ofctl -O OpenFlow15 parse-flows` prints for `flows` (one
/// flow per entry, in our text), one flow_mod per flow, in order and
/// without its `OFPT_FLOW_MOD (OF1.5) (xid=..): ` prefix. All flows go
/// through one run: it is a process per call.
///
/// # Errors
/// The first flow OVS refuses.
///
/// # Panics
/// When ovs-ofctl cannot run, or prints another number of flow_mods than
/// it was given.
pub fn parse_flows(flows: &[String]) -> Result<Vec<String>, Refused> {
    let file = scratch_file("flows.txt");
    std::fs::write(&file, flows.join("\n") + "\n").expect("flow file");
    let output = Command::new(ovs_tool("ovs-ofctl"))
        .args(["-O", "OpenFlow15", "parse-flows"])
        .arg(&file)
        .output()
        .expect("ovs-ofctl runs");
    let _ = std::fs::remove_file(&file);
    if !output.status.success() {
        // `ovs-ofctl: FILE:LINE: message`
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        let file_prefix = format!("{}:", file.display());
        let at_line = stderr.split_once(&file_prefix).and_then(|(_, rest)| rest.split_once(": "));
        let line: Option<usize> = at_line.and_then(|(line, _)| line.parse().ok());
        return Err(Refused {
            flow: line.and_then(|l| flows.get(l.wrapping_sub(1))).cloned().unwrap_or_default(),
            message: at_line.map_or(stderr.clone(), |(_, message)| message.to_owned()),
        });
    }
    let printed: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once("): ").map(|(_, flow_mod)| flow_mod.to_owned()))
        .collect();
    assert_eq!(printed.len(), flows.len(), "parse-flows printed one flow_mod per flow");
    Ok(printed)
}

/// Our flows (in our text) that OVS reads as something else than the
/// flow_mod [`as_flow_mod_add`] says, each with what `parse-flows`
/// printed; empty when OVS reads every flow as we meant it.
///
/// # Errors
/// The first flow OVS refuses.
pub fn misread_flows(flows: &[String]) -> Result<Vec<(String, String)>, Refused> {
    Ok(flows
        .iter()
        .zip(parse_flows(flows)?)
        .filter(|(ours, theirs)| as_flow_mod_add(ours) != *theirs)
        .map(|(ours, theirs)| (ours.clone(), theirs))
        .collect())
}

/// `ovs-ofctl ofp-parse` of a stream of OpenFlow messages, one printed
/// message per entry (continuation lines joined with `\n`).
///
/// # Panics
/// When ofp-parse fails.
pub fn ofp_parse(messages: &[Vec<u8>]) -> Vec<String> {
    let file = scratch_file("messages.bin");
    std::fs::write(&file, messages.concat()).expect("message file");
    let output =
        Command::new(ovs_tool("ovs-ofctl")).arg("ofp-parse").arg(&file).output().expect("ovs-ofctl runs");
    let _ = std::fs::remove_file(&file);
    assert!(output.status.success(), "ofp-parse failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut printed: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        match printed.last_mut() {
            Some(last) if !line.starts_with("OFP") => {
                last.push('\n');
                last.push_str(line);
            }
            _ => printed.push(line.to_owned()),
        }
    }
    printed
}

/// A file name in the temporary directory no other test (thread or
/// process) uses at the same time.
fn scratch_file(suffix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tc-{}-{:?}-{suffix}", std::process::id(), std::thread::current().id()))
}
