//! The planner's flow text is what real OVS reads and prints: every flow of
//! every reviewed plan snapshot parses with `ovs-ofctl -O OpenFlow15
//! parse-flows`, and OVS prints its matches and actions back unchanged.

use std::path::Path;
use std::process::Command;

use tests::ovs_text::as_flow_mod_add;
use tests::ovs_tool;

/// Every flow line of every plan snapshot.
fn snapshot_flows() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots/plan");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("snapshots/plan").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut flows: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f).expect("snapshot").lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .filter(|line| line.starts_with("cookie="))
        .collect();
    flows.sort();
    flows.dedup();
    flows
}

#[test]
fn every_planned_flow_parses_and_prints_back_unchanged() {
    let flows = snapshot_flows();
    assert!(flows.len() > 50, "the snapshots hold the plans");
    let file = std::env::temp_dir().join(format!("tc-flows-{}.txt", std::process::id()));
    std::fs::write(&file, flows.join("\n") + "\n").expect("flow file");
    let output = Command::new(ovs_tool("ovs-ofctl"))
        .args(["-O", "OpenFlow15", "parse-flows"])
        .arg(&file)
        .output()
        .expect("ovs-ofctl runs");
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ovs-ofctl refused our flows: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Vec<&str> =
        stdout.lines().filter_map(|l| l.split_once("): ").map(|(_, flow_mod)| flow_mod)).collect();
    assert_eq!(printed.len(), flows.len());
    for (ours, theirs) in flows.iter().zip(printed) {
        assert_eq!(as_flow_mod_add(ours), theirs, "OVS reads {ours:?} differently");
    }
}
