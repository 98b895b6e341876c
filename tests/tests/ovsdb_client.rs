//! Our OVSDB client against a real ovsdb-server: every transact operation,
//! echo, and a reconnect after the server restarts.

use actors::ovsdb_connection::{DEFAULT_DEADLINE, OvsdbConnection, OvsdbError};
use datapath::ovsdb::bridge;
use datapath::ovsdb::ops::{self, condition};
use serde_json::json;
use tests::ovs::Ovs;

/// A bare connection (no monitor yet): these tests drive the protocol.
async fn connect_unix(path: &std::path::Path) -> std::io::Result<OvsdbConnection<tokio::net::UnixStream>> {
    Ok(OvsdbConnection::new(tokio::net::UnixStream::connect(path).await?, DEFAULT_DEADLINE))
}

#[tokio::test(flavor = "current_thread")]
async fn every_transact_operation_commits_on_a_real_server() {
    let ovs = Ovs::start();
    let br = ovs.add_bridge("br");
    let mut db = connect_unix(&ovs.db_socket()).await.expect("OVSDB");
    let inserted =
        db.transact(vec![ops::insert("QoS", json!({"type": "linux-htb"}), Some("q"))]).await.expect("insert");
    let uuid = inserted.uuids["q"].clone();
    let this_row = || vec![condition("_uuid", "==", json!(["uuid", uuid]))];
    let done = db
        .transact(vec![
            ops::wait(
                "Bridge",
                vec![condition("name", "==", json!(br.name))],
                &["name"],
                "==",
                vec![json!({"name": br.name})],
                0,
            ),
            ops::update("QoS", this_row(), json!({"type": "linux-hfsc"})),
            ops::mutate(
                "QoS",
                this_row(),
                vec![json!(["other_config", "insert", ["map", [["max-rate", "1000"]]]])],
            ),
            ops::select("QoS", this_row(), &["type", "other_config"]),
        ])
        .await
        .expect("wait, update, mutate, select");
    assert_eq!(done.results[3]["rows"][0]["type"], "linux-hfsc");
    assert!(ovs.vsctl(&["list", "qos"]).contains("max-rate=\"1000\""));
    let deleted = db.transact(vec![ops::delete("QoS", this_row())]).await.expect("delete");
    assert_eq!(deleted.results[0]["count"], 1);
    assert!(ovs.vsctl(&["list", "qos"]).trim().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsatisfied_wait_aborts_the_transaction_and_names_its_operation() {
    let ovs = Ovs::start();
    let mut db = connect_unix(&ovs.db_socket()).await.expect("OVSDB");
    let error = db
        .transact(vec![
            ops::insert("QoS", json!({"type": "linux-htb"}), None),
            ops::wait(
                "Bridge",
                vec![condition("name", "==", json!("nowhere"))],
                &["name"],
                "==",
                vec![json!({"name": "nowhere"})],
                0,
            ),
        ])
        .await
        .expect_err("aborted");
    let OvsdbError::Refused(refused) = &error else { panic!("{error}") };
    assert_eq!((refused.op, refused.error.as_str()), (Some(1), "timed out"));
    assert!(ovs.vsctl(&["list", "qos"]).trim().is_empty(), "nothing of an aborted transaction is committed");
}

#[tokio::test(flavor = "current_thread")]
async fn the_server_answers_our_echo_and_a_new_connection_after_a_restart_sees_the_same_ports() {
    let mut ovs = Ovs::start();
    let br = ovs.add_bridge("br");
    ovs.vsctl(&["add-port", &br.name, "tap0", "--", "set", "interface", "tap0", "type=internal"]);
    let mut db = connect_unix(&ovs.db_socket()).await.expect("OVSDB");
    db.echo().await.expect("echo");
    db.monitor(bridge::monitor_request()).await.expect("monitor");
    let before = bridge::switch_ports(db.replica(), &br.name);
    ovs.restart_ovsdb();
    assert!(db.echo().await.is_err(), "the old connection is gone");
    let mut db = connect_unix(&ovs.db_socket()).await.expect("reconnect");
    db.monitor(bridge::monitor_request()).await.expect("monitor again");
    let after = bridge::switch_ports(db.replica(), &br.name);
    assert_eq!(after, before);
    assert!(after.iter().any(|p| p.name == "tap0"));
}

/// A replica's value in a form where equal contents compare equal: a
/// one-element set as its element (the server sends either), columns,
/// set elements and map pairs sorted.
fn canonical(replica: &datapath::ovsdb::replica::Replica) -> String {
    use datapath::ovsdb::datum::{map_pairs, set_elements};
    use serde_json::Value;
    fn value(v: &Value) -> String {
        if let Some(mut pairs) =
            map_pairs(v).map(|p| p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>())
        {
            pairs.sort();
            return format!("{{{}}}", pairs.join(","));
        }
        let mut elements: Vec<String> = set_elements(v).iter().map(Value::to_string).collect();
        elements.sort();
        format!("[{}]", elements.join(","))
    }
    let mut text = String::new();
    for table in ["Bridge", "Port", "Interface", "Mirror"] {
        let mut rows: Vec<String> = replica
            .rows(table)
            .map(|(uuid, row)| {
                // A snapshot leaves out columns at their default (empty), a diff
                // empties them.
                let mut columns: Vec<String> = row
                    .iter()
                    .map(|(c, v)| (c, value(v)))
                    .filter(|(_, v)| v != "[]" && v != "{}")
                    .map(|(c, v)| format!("{c}:{v}"))
                    .collect();
                columns.sort();
                format!("{table} {uuid} {}", columns.join(" "))
            })
            .collect();
        rows.sort();
        text.extend(rows.into_iter().map(|r| r + "\n"));
    }
    text
}

/// The replica the agent keeps from monitor diffs equals a fresh
/// snapshot after each kind of change to every monitored column: sets
/// that grow to two elements and shrink to one (a bridge's mirrors, a
/// mirror's selected ports, a trunk list), optional columns set, changed
/// and cleared (a tag, a VLAN mode, a mirror's output port), maps.
#[tokio::test(flavor = "current_thread")]
async fn the_replica_kept_by_diffs_matches_a_fresh_snapshot_after_every_kind_of_change() {
    let ovs = Ovs::start();
    let br = ovs.add_bridge("br");
    let mut db = connect_unix(&ovs.db_socket()).await.expect("OVSDB");
    db.monitor(bridge::monitor_request()).await.expect("monitor");
    // ovs-vsctl commands, split at spaces; BR is the bridge.
    let steps = [
        "add-port BR p1 -- set interface p1 type=internal",
        "add-port BR p2 -- set interface p2 type=internal",
        "set port p1 tag=10 external_ids:a=1 external_ids:b=2",
        "set port p1 tag=20 vlan_mode=native-untagged external_ids:a=3",
        "clear port p1 tag vlan_mode",
        "remove port p1 external_ids b",
        "set port p2 trunks=10,20",
        "set port p2 trunks=20",
        "-- --id=@p1 get port p1 -- --id=@m create mirror name=m1 select_src_port=@p1 -- add bridge BR mirrors @m",
        "-- --id=@p1 get port p1 -- --id=@p2 get port p2 -- --id=@m create mirror name=m2 \
         select_src_port=@p1,@p2 select_dst_port=@p2 output_port=@p1 -- add bridge BR mirrors @m",
        "-- --id=@p2 get port p2 -- set mirror m1 select_dst_port=@p2 output_port=@p2",
        "clear mirror m2 output_port select_dst_port",
        "-- --id=@p1 get port p1 -- remove mirror m2 select_src_port @p1",
        "-- --id=@m get mirror m1 -- remove bridge BR mirrors @m",
        "del-port p1",
    ];
    for step in steps.map(|step| step.replace("BR", &br.name)) {
        let step: Vec<&str> = step.split_whitespace().collect();
        ovs.vsctl(&step);
        let mut fresh = connect_unix(&ovs.db_socket()).await.expect("OVSDB");
        fresh.monitor(bridge::monitor_request()).await.expect("monitor");
        let snapshot = canonical(fresh.replica());
        let kept = db.wait_for(|replica| canonical(replica) == snapshot).await;
        assert!(
            kept.is_ok(),
            "after `ovs-vsctl {}` the replica differs from a fresh snapshot:\nkept:\n{}\nfresh:\n{snapshot}",
            step.join(" "),
            canonical(db.replica())
        );
    }
}
