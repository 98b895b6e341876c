//! What several fuzz targets share: everything the agent reads from its
//! OVSDB replica, run over whatever replica a target built.

use std::collections::BTreeSet;

use datapath::ovsdb::bridge;
use datapath::ovsdb::replica::Replica;
use datapath::plan::PlannedMirror;
use serde_json::Value;

/// Reads the replica the way the agent does (the planner's view of each
/// bridge, its mirrors) and builds the transactions it would send from it,
/// which must be JSON that reads back as itself.
pub fn read_replica(replica: &Replica) {
    let mut bridges: BTreeSet<String> =
        replica.rows("Bridge").filter_map(|(_, row)| row.get("name")?.as_str().map(str::to_owned)).collect();
    bridges.insert("br-int".to_owned());
    for name in &bridges {
        let view = bridge::view(replica, name);
        let names: Vec<String> = view.ports.iter().map(|p| p.name.clone()).collect();
        let _ = bridge::switch_mirrors(replica, name);
        round_trips(&bridge::delete_ports(replica, name, &names));
        let mirror = PlannedMirror {
            name: "tc-fuzz".to_owned(),
            output_port: names.first().cloned().unwrap_or_default(),
            select_src_port: names.iter().skip(1).cloned().collect(),
            select_dst_port: names.iter().rev().take(2).cloned().collect(),
            users: BTreeSet::from(["fuzz".to_owned()]),
        };
        round_trips(&bridge::set_mirror(replica, name, &mirror));
        for existing in &view.mirrors {
            round_trips(&bridge::delete_mirror(replica, name, &existing.name));
        }
    }
}

/// Asserts that operations survive the wire: text and back.
pub fn round_trips(operations: &[Value]) {
    for op in operations {
        let text = op.to_string();
        let back: Value = serde_json::from_str(&text).expect("an operation we build is JSON");
        assert_eq!(&back, op, "an operation reads back as itself");
    }
}
