//! Flow installation speed against a real ovs-vswitchd, our client vs
//! `ovs-ofctl`, in the same run on the same switch:
//!
//! 1. 100,000 flows: one bundle through our client (dump, diff, apply)
//!    vs `ovs-ofctl -O OpenFlow15 --bundle add-flows` of the same text on
//!    a second bridge;
//! 2. a 10,000-flow plan with 1% of its flows changed: flow_mods sent and
//!    time for the resync.
//!
//! Run: `cargo run --release -p tests --bin flow-bench [-- FLOWS]`.

use std::time::Instant;

use actors::openflow_connection::connect_unix;
use actors::operations::sync_flows;
use datapath::flows::{Action, Cookie, Flow, Match, OUTPUT_PORT, TC_ACTION, TC_TARGET, Table};
use tests::ovs::Ovs;

/// Ingress mirror flows (the planner's most numerous shape) for `n` ports.
fn flows(n: u32, target: impl Fn(u32) -> u32) -> Vec<Flow> {
    (1..=n)
        .map(|port| {
            Flow::new(
                Cookie::traffic_control("bench"),
                Table::TrafficControl,
                100,
                vec![Match::Reg(OUTPUT_PORT, port)],
                vec![
                    Action::SetField(TC_TARGET, target(port)),
                    Action::SetField(TC_ACTION, 1),
                    Action::GotoTable(Table::Output),
                ],
            )
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tests::require_tools("flow-bench", &tests::SWITCH_TOOLS);
    let count: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let ovs = Ovs::start();
    let ours = ovs.add_bridge("bro");
    let theirs = ovs.add_bridge("brt");

    let bulk = flows(count, |_| 7);
    let mut connection = connect_unix(&ours.mgmt).await.expect("OpenFlow connection");
    let started = Instant::now();
    let report = sync_flows(&mut connection, &bulk).await.expect("sync");
    let ours_time = started.elapsed();
    assert_eq!(report.added, bulk.len());

    let file = std::env::temp_dir().join(format!("tc-bench-{}.txt", std::process::id()));
    std::fs::write(&file, bulk.iter().map(|f| format!("{f}\n")).collect::<String>()).expect("flow file");
    let started = Instant::now();
    ovs.ofctl(&theirs, "add-flows", &["--bundle", &file.to_string_lossy()]);
    let theirs_time = started.elapsed();
    let _ = std::fs::remove_file(&file);
    assert_eq!(ovs.dump_flows(&ours).len(), ovs.dump_flows(&theirs).len());

    println!("bulk install of {count} flows (one bundle each, same switch, same run)");
    println!("  our client (dump + diff + bundle): {:>8.1} ms", ours_time.as_secs_f64() * 1e3);
    println!("  ovs-ofctl --bundle add-flows:      {:>8.1} ms", theirs_time.as_secs_f64() * 1e3);
    println!(
        "  ratio ours / ovs-ofctl:            {:>8.2}",
        ours_time.as_secs_f64() / theirs_time.as_secs_f64()
    );

    let started = Instant::now();
    let again = sync_flows(&mut connection, &bulk).await.expect("resync");
    println!(
        "  unchanged resync: {} flow_mods in {:.1} ms",
        again.flow_mods(),
        started.elapsed().as_secs_f64() * 1e3
    );

    let small = ovs.add_bridge("brd");
    let mut connection = connect_unix(&small.mgmt).await.expect("OpenFlow connection");
    let base = flows(10_000, |_| 7);
    sync_flows(&mut connection, &base).await.expect("base");
    let changed = flows(10_000, |port| if port % 100 == 0 { 8 } else { 7 });
    let started = Instant::now();
    let diff = sync_flows(&mut connection, &changed).await.expect("diff");
    println!("10000-flow plan with 1% changed");
    println!(
        "  flow_mods sent: {} (added {}, modified {}, deleted {}) in {:.1} ms",
        diff.flow_mods(),
        diff.added,
        diff.modified,
        diff.deleted,
        started.elapsed().as_secs_f64() * 1e3
    );
}
