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
