//! `update2` notifications applied to the replica, structure-aware: the
//! tables, columns and row uuids are the monitored ones (so references
//! between Bridge, Port, Interface and Mirror rows resolve), the values are
//! OVSDB datums (atoms, uuids, sets, maps) and some shapes that are not.
//! Raw JSON would mostly stop at "not the documented shape".
//!
//! Checks: no panic; applying a notification to a replica directly gives
//! the same replica as receiving it on the wire through the session; the
//! agent's reads of the replica (ports, mirrors, the transactions built
//! from them) do not panic and build JSON that reads back as itself.
#![no_main]

use arbitrary::Arbitrary;
use datapath::ovsdb::replica::Replica;
use datapath::ovsdb::session::Session;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const TABLES: [&str; 5] = ["Bridge", "Port", "Interface", "Mirror", "Open_vSwitch"];
const COLUMNS: [&str; 16] = [
    "name",
    "ports",
    "mirrors",
    "interfaces",
    "external_ids",
    "tag",
    "trunks",
    "vlan_mode",
    "type",
    "options",
    "ofport",
    "error",
    "select_src_port",
    "select_dst_port",
    "output_port",
    "other",
];
const STRINGS: [&str; 12] = [
    "br-int",
    "tc0",
    "tap0",
    "eth0",
    "internal",
    "vxlan",
    "tc-tc0",
    "antrea-type",
    "traffic-control",
    "iface-id",
    "pod-name",
    "",
];

#[derive(Arbitrary, Debug)]
struct Notification(Vec<(u8, Vec<(u8, Change)>)>);

#[derive(Arbitrary, Debug)]
enum Change {
    Initial(Vec<(u8, Datum)>),
    Insert(Vec<(u8, Datum)>),
    Modify(Vec<(u8, Datum)>),
    Delete,
    Other(Datum),
}

#[derive(Arbitrary, Debug)]
enum Datum {
    Str(u8),
    Int(i64),
    Bool(bool),
    Uuid(u8),
    NamedUuid(u8),
    Set(Vec<Datum>),
    Map(Vec<(Datum, Datum)>),
    Null,
    Array(Vec<Datum>),
}

fn uuid(n: u8) -> String {
    format!("u{}", n % 8)
}

/// OVSDB datums nest a few levels at most; past that, a null (the JSON
/// parser on the wire path refuses 128 levels, the direct path would not).
fn datum(d: &Datum) -> Value {
    nested(d, 0)
}

fn nested(d: &Datum, depth: u8) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    let datum = |d: &Datum| nested(d, depth + 1);
    match d {
        Datum::Str(n) => json!(STRINGS[usize::from(*n) % STRINGS.len()]),
        Datum::Int(i) => json!(i),
        Datum::Bool(b) => json!(b),
        Datum::Uuid(n) => json!(["uuid", uuid(*n)]),
        Datum::NamedUuid(n) => json!(["named-uuid", uuid(*n)]),
        Datum::Set(items) => json!(["set", items.iter().map(datum).collect::<Vec<_>>()]),
        Datum::Map(pairs) => {
            json!(["map", pairs.iter().map(|(k, v)| json!([datum(k), datum(v)])).collect::<Vec<_>>()])
        }
        Datum::Null => Value::Null,
        Datum::Array(items) => Value::Array(items.iter().map(datum).collect()),
    }
}

fn row(columns: &[(u8, Datum)]) -> Value {
    let row: Map<String, Value> = columns
        .iter()
        .map(|(c, d)| (COLUMNS[usize::from(*c) % COLUMNS.len()].to_owned(), datum(d)))
        .collect();
    Value::Object(row)
}

fn updates(notification: &Notification) -> Value {
    let mut tables = Map::new();
    for (table, rows) in &notification.0 {
        let entry = tables.entry(TABLES[usize::from(*table) % TABLES.len()]).or_insert_with(|| json!({}));
        for (id, change) in rows {
            let change = match change {
                Change::Initial(columns) => json!({"initial": row(columns)}),
                Change::Insert(columns) => json!({"insert": row(columns)}),
                Change::Modify(columns) => json!({"modify": row(columns)}),
                Change::Delete => json!({"delete": null}),
                Change::Other(d) => datum(d),
            };
            entry[uuid(*id)] = change;
        }
    }
    Value::Object(tables)
}

fuzz_target!(|notifications: Vec<Notification>| {
    let mut replica = Replica::default();
    let mut session = Session::new();
    for notification in &notifications {
        let updates = updates(notification);
        let direct = replica.apply(&updates);
        let message = json!({"method": "update2", "params": [null, updates], "id": null});
        let wire = session.receive(message.to_string().as_bytes());
        assert_eq!(direct.is_ok(), wire.is_ok(), "the same update, the same verdict");
        assert_eq!(&replica, session.replica(), "the same update, the same replica");
        if direct.is_err() {
            break;
        }
        tc_ovs_fuzz::read_replica(&replica);
    }
});
