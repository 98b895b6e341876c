//! The planner's flow text is what real OVS reads and prints: every flow of
//! every reviewed plan snapshot parses with `ovs-ofctl -O OpenFlow15
//! parse-flows`, and OVS prints its matches and actions back unchanged.

use std::path::Path;

use tests::ovs_text::misread_flows;

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
    let misread = misread_flows(&flows).unwrap_or_else(|refused| panic!("{refused}"));
    assert!(misread.is_empty(), "OVS reads these flows (ours, OVS's) differently: {misread:#?}");
}
