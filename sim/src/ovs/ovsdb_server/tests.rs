//! The server as a client sees it through bytes: JSON-RPC, monitors and
//! their updates (checked against the agent's own replica), hooks, and
//! bad input. The real client over a stream is in `client_tests`.

use std::collections::BTreeMap;

use datapath::ovsdb::bridge::{self, switch_ports};
use datapath::ovsdb::framing::Framer;
use datapath::ovsdb::replica::Replica;
use datapath::ports::{InterfaceType, PortConfig, SwitchPort};
use serde_json::{Value, json};

use super::*;

/// Everything queued for `id`, as JSON messages.
fn outgoing(server: &mut OvsdbServer, id: ConnectionId) -> Vec<Value> {
    let mut framer = Framer::new();
    framer.push(&server.take_outgoing(id));
    let mut messages = Vec::new();
    while let Ok(Some(message)) = framer.next_message() {
        messages.push(serde_json::from_slice(&message).expect("the server writes JSON"));
    }
    messages
}

/// Sends one request and returns everything the server queued for `id`.
fn call(server: &mut OvsdbServer, id: ConnectionId, method: &str, params: Value) -> Vec<Value> {
    let request = json!({"method": method, "params": params, "id": method});
    server.receive(id, request.to_string().as_bytes()).expect("valid JSON-RPC");
    outgoing(server, id)
}

fn transact(server: &mut OvsdbServer, id: ConnectionId, ops: Vec<Value>) -> Vec<Value> {
    let mut params = vec![json!(DATABASE)];
    params.extend(ops);
    call(server, id, "transact", Value::Array(params))
}

/// A server with `br-int`, and a connection monitoring what the agent
/// monitors; returns the monitor's initial rows too.
fn monitored() -> (OvsdbServer, ConnectionId, Value) {
    let mut server = OvsdbServer::new();
    server.add_bridge("br-int").expect("bridge");
    let id = server.connect();
    let reply = call(&mut server, id, "monitor_cond", json!([DATABASE, "m", bridge::monitor_request()]));
    let initial = reply[0]["result"].clone();
    (server, id, initial)
}

fn vxlan(name: &str, remote: &str) -> PortConfig {
    let options =
        BTreeMap::from([("remote_ip".to_owned(), remote.to_owned()), ("key".to_owned(), "0".to_owned())]);
    PortConfig { name: name.to_owned(), interface_type: InterfaceType::Vxlan, options }
}

/// The server's interfaces as the agent's port view reads them.
fn server_view(server: &OvsdbServer, bridge: &str) -> Vec<SwitchPort> {
    let mut ports: Vec<SwitchPort> = server.interfaces(bridge).into_iter().map(|v| v.switch_port()).collect();
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    ports
}

fn interface_uuid(server: &OvsdbServer, name: &str) -> String {
    let interfaces = server.interfaces("br-int");
    interfaces.into_iter().find(|v| v.name == name).map(|v| v.uuid).expect("interface on br-int")
}

#[test]
fn a_new_server_answers_echo_list_dbs_and_get_schema() {
    let mut server = OvsdbServer::new();
    assert_eq!(server.db.table("Open_vSwitch").len(), 1);
    let id = server.connect();
    assert_eq!(
        call(&mut server, id, "echo", json!(["x"])),
        [json!({"id": "echo", "result": ["x"], "error": null})]
    );
    assert_eq!(call(&mut server, id, "list_dbs", json!([]))[0]["result"], json!(["Open_vSwitch"]));
    assert_eq!(call(&mut server, id, "get_schema", json!([DATABASE]))[0]["result"]["name"], DATABASE);
    assert_eq!(call(&mut server, id, "get_schema", json!(["Nope"]))[0]["error"]["error"], "unknown database");
    assert_eq!(call(&mut server, id, "frobnicate", json!([]))[0]["error"], "unknown method");
    assert_eq!(server.generation(), 0);
}

#[test]
fn monitor_cond_sends_the_requested_columns_of_every_row_without_defaults() {
    let (mut server, _, _) = monitored();
    let uuid =
        server.add_port("br-int", "pod-a", "", &BTreeMap::from([("k".into(), "v".into())])).expect("port");
    let id = server.connect();
    let request = json!({"Interface": [{"columns": ["name", "type", "external_ids", "ofport"]}]});
    let reply = call(&mut server, id, "monitor_cond", json!([DATABASE, 7, request]));
    // `type` "" and `ofport` empty are defaults: ovsdb-server leaves them out.
    let expected =
        json!({"Interface": {uuid: {"initial": {"name": "pod-a", "external_ids": ["map", [["k", "v"]]]}}}});
    assert_eq!(reply, [json!({"id": "monitor_cond", "result": expected, "error": null})]);
}

#[test]
fn a_transaction_sends_its_update2_before_its_reply() {
    let (mut server, id, initial) = monitored();
    let bridge_uuid =
        initial["Bridge"].as_object().and_then(|rows| rows.keys().next().cloned()).expect("bridge");
    let messages = transact(
        &mut server,
        id,
        bridge::add_port("br-int", &vxlan("tun0", "10.0.0.2"), &PortConfig::external_ids(), None),
    );
    let [update, reply] = messages.as_slice() else { panic!("{messages:?}") };
    assert_eq!(reply["id"], "transact");
    let (iface, port) = (&reply["result"][0]["uuid"][1], &reply["result"][1]["uuid"][1]);
    assert_eq!(update["method"], "update2");
    assert_eq!(update["params"][0], "m");
    let updates = &update["params"][1];
    let iface = iface.as_str().expect("uuid");
    assert_eq!(
        updates["Interface"][iface]["insert"],
        json!({"name": "tun0", "type": "vxlan", "options": ["map", [["key", "0"], ["remote_ip", "10.0.0.2"]]],
               "external_ids": ["map", [["antrea-type", "traffic-control"]]]})
    );
    // One port toggled into the set: the element, as a bare atom.
    assert_eq!(updates["Bridge"][&bridge_uuid], json!({"modify": {"ports": ["uuid", port]}}));
}

/// Applies the update2 notifications among `messages` to `replica`.
fn apply(replica: &mut Replica, messages: &[Value]) {
    for message in messages.iter().filter(|m| m["method"] == "update2") {
        replica.apply(&message["params"][1]).expect("update2 the replica reads");
    }
}

/// Applies the update2 notifications queued for `id` to `replica` and
/// checks it reads like the server.
fn sync(server: &mut OvsdbServer, id: ConnectionId, replica: &mut Replica, what: &str) {
    let messages = outgoing(server, id);
    apply(replica, &messages);
    assert_eq!(switch_ports(replica, "br-int"), server_view(server, "br-int"), "after {what}");
}

#[test]
fn updates_keep_the_agents_replica_equal_to_the_server() {
    let (mut server, id, initial) = monitored();
    let mut replica = Replica::default();
    replica.apply(&initial).expect("initial rows");
    let pod_ids =
        BTreeMap::from([("pod-name".into(), "a".into()), ("pod-namespace".into(), "default".into())]);
    let pod = server.add_port("br-int", "pod-a", "", &pod_ids).expect("pod port");
    sync(&mut server, id, &mut replica, "a pod port");
    server.set_interface_state(&pod, Some(1), None).expect("ofport");
    sync(&mut server, id, &mut replica, "an ofport");
    let tunnel = bridge::add_port("br-int", &vxlan("tun0", "10.0.0.2"), &PortConfig::external_ids(), None);
    apply(&mut replica, &transact(&mut server, id, tunnel));
    sync(&mut server, id, &mut replica, "a second port: the ports set grows past one");
    let mut reconfigured = vxlan("tun0", "10.0.0.3");
    reconfigured.options.remove("key");
    reconfigured.options.insert("dst_port".into(), "4790".into());
    reconfigured.interface_type = InterfaceType::Geneve;
    apply(&mut replica, &transact(&mut server, id, bridge::reconfigure(&reconfigured)));
    sync(&mut server, id, &mut replica, "options changed, removed and added");
    let tun = interface_uuid(&server, "tun0");
    server.set_interface_state(&tun, Some(-1), Some("could not add tun0".into())).expect("failed");
    sync(&mut server, id, &mut replica, "a failed interface");
    server.set_interface_state(&tun, Some(2), None).expect("recovered");
    sync(&mut server, id, &mut replica, "the error cleared");
    let delete = bridge::delete_ports(&replica, "br-int", &["pod-a".to_owned()]);
    apply(&mut replica, &transact(&mut server, id, delete));
    sync(&mut server, id, &mut replica, "a port deleted");
    assert_eq!(replica.rows("Interface").count(), 1, "the collected interface is gone from the replica");
    server.delete_port("br-int", "tun0").expect("delete");
    sync(&mut server, id, &mut replica, "the last port deleted");
    assert_eq!((replica.rows("Port").count(), replica.rows("Interface").count()), (0, 0));
}

#[test]
fn a_map_diff_carries_added_changed_and_removed_pairs() {
    let (mut server, id, _) = monitored();
    transact(&mut server, id, bridge::add_port("br-int", &vxlan("tun0", "10.0.0.2"), &BTreeMap::new(), None));
    let uuid = interface_uuid(&server, "tun0");
    let mut config = vxlan("tun0", "10.0.0.3");
    config.options.remove("key");
    config.options.insert("csum".into(), "true".into());
    let messages = transact(&mut server, id, bridge::reconfigure(&config));
    let diff = &messages[0]["params"][1]["Interface"][&uuid]["modify"];
    assert_eq!(
        *diff,
        json!({"options": ["map", [["csum", "true"], ["key", "0"], ["remote_ip", "10.0.0.3"]]]})
    );
}

#[test]
fn a_change_to_unmonitored_columns_sends_nothing() {
    let mut server = OvsdbServer::new();
    server.add_bridge("br-int").expect("bridge");
    let uuid = server.add_port("br-int", "pod-a", "", &BTreeMap::new()).expect("port");
    let id = server.connect();
    call(
        &mut server,
        id,
        "monitor_cond",
        json!([DATABASE, "m", {"Interface": [{"columns": ["name"]}], "Bridge": {}}]),
    );
    let generation = server.generation();
    server.set_interface_state(&uuid, Some(4), None).expect("ofport");
    assert_eq!(server.generation(), generation + 1, "committed");
    assert!(server.take_outgoing(id).is_empty());
    let update = json!({"op": "update", "table": "Bridge", "where": [], "row": {"datapath_type": "system"}});
    let messages = transact(&mut server, id, vec![update]);
    assert_eq!(messages.len(), 2, "a monitor of all Bridge columns sees datapath_type: {messages:?}");
}

#[test]
fn another_connection_gets_the_update_and_a_closed_one_nothing() {
    let (mut server, first, _) = monitored();
    let second = server.connect();
    call(&mut server, second, "monitor_cond", json!([DATABASE, ["id", 2], bridge::monitor_request()]));
    transact(
        &mut server,
        first,
        bridge::add_port("br-int", &vxlan("tun0", "10.0.0.2"), &BTreeMap::new(), None),
    );
    let seen = outgoing(&mut server, second);
    assert_eq!((seen.len(), &seen[0]["params"][0]), (1, &json!(["id", 2])));
    server.disconnect(second);
    server.delete_port("br-int", "tun0").expect("delete");
    assert!(server.take_outgoing(second).is_empty());
    assert!(server.receive(second, b"{}").is_err());
}

#[test]
fn a_failed_transaction_commits_nothing_and_notifies_nobody() {
    let (mut server, id, _) = monitored();
    let generation = server.generation();
    let mut ops = bridge::add_port("br-int", &vxlan("tun0", "10.0.0.2"), &BTreeMap::new(), None);
    ops.push(json!({"op": "wait", "table": "Bridge", "where": [], "columns": ["name"], "until": "==", "rows": [], "timeout": 0}));
    let messages = transact(&mut server, id, ops);
    assert_eq!(messages.len(), 1, "the reply only: {messages:?}");
    assert_eq!(messages[0]["result"][3]["error"], "timed out");
    assert!(server.interfaces("br-int").is_empty());
    assert_eq!(server.generation(), generation);
}

#[test]
fn a_plain_monitor_gets_update_with_old_and_new_rows() {
    let mut server = OvsdbServer::new();
    server.add_bridge("br-int").expect("bridge");
    let uuid = server.add_port("br-int", "pod-a", "", &BTreeMap::new()).expect("port");
    let id = server.connect();
    let reply = call(
        &mut server,
        id,
        "monitor",
        json!([DATABASE, null, {"Interface": {"columns": ["name", "ofport"]}}]),
    );
    assert_eq!(
        reply[0]["result"]["Interface"][&uuid],
        json!({"new": {"name": "pod-a", "ofport": ["set", []]}})
    );
    server.set_interface_state(&uuid, Some(3), None).expect("ofport");
    let update = outgoing(&mut server, id);
    assert_eq!(update[0]["method"], "update");
    assert_eq!(
        update[0]["params"][1]["Interface"][&uuid],
        json!({"old": {"ofport": ["set", []]}, "new": {"name": "pod-a", "ofport": 3}})
    );
}

#[test]
fn bad_monitor_requests_are_errors_and_cancel_stops_updates() {
    let (mut server, id, _) = monitored();
    let error = |reply: Vec<Value>| reply[0]["error"]["details"].as_str().unwrap_or_default().to_owned();
    let duplicate = call(&mut server, id, "monitor_cond", json!([DATABASE, "m", {"Bridge": {}}]));
    assert_eq!(error(duplicate), "duplicate monitor ID");
    let unknown = call(&mut server, id, "monitor_cond", json!([DATABASE, "n", {"QoS": {}}]));
    assert!(error(unknown).contains("QoS"));
    let column =
        call(&mut server, id, "monitor_cond", json!([DATABASE, "n", {"Bridge": {"columns": ["nope"]}}]));
    assert!(error(column).contains("nope"));
    assert_eq!(call(&mut server, id, "monitor_cancel", json!(["m"]))[0]["result"], json!({}));
    server.add_port("br-int", "pod-a", "", &BTreeMap::new()).expect("port");
    assert!(server.take_outgoing(id).is_empty());
}

#[test]
fn malformed_input_is_an_error_not_a_panic_and_ends_the_connection() {
    let mut server = OvsdbServer::new();
    let id = server.connect();
    assert!(matches!(server.receive(id, b"{not json}"), Err(OvsdbServerError::Json { .. })));
    assert!(matches!(server.receive(id, b"{}"), Err(OvsdbServerError::Broken(_))));
    let id = server.connect();
    assert!(matches!(server.receive(id, b"[1]"), Err(OvsdbServerError::Framing { .. })));
    let id = server.connect();
    assert!(matches!(server.receive(id, br#"{"params": []}"#), Err(OvsdbServerError::NotJsonRpc { .. })));
    assert!(matches!(server.receive(ConnectionId(99), b"{}"), Err(OvsdbServerError::UnknownConnection(_))));
}

#[test]
fn requests_with_bad_params_get_error_replies_and_the_connection_goes_on() {
    let mut server = OvsdbServer::new();
    let id = server.connect();
    for (request, error) in [
        (json!({"method": "transact", "params": "x", "id": 1}), "syntax error"),
        (json!({"method": "transact", "params": ["Other"], "id": 1}), "unknown database"),
        (json!({"method": "monitor_cond", "params": [DATABASE], "id": 1}), "syntax error"),
    ] {
        server.receive(id, request.to_string().as_bytes()).expect("answered");
        assert_eq!(outgoing(&mut server, id)[0]["error"]["error"], error, "{request}");
    }
    let ops = transact(&mut server, id, vec![json!({"op": "insert", "table": "Bridge", "row": {"name": 5}})]);
    assert_eq!(ops[0]["result"][0]["error"], "syntax error");
}

#[test]
fn no_corruption_of_a_request_panics_the_server() {
    let config = vxlan("tun0", "10.0.0.2");
    let mut params = vec![json!(DATABASE)];
    params.extend(bridge::add_port("br-int", &config, &PortConfig::external_ids(), None));
    let request = json!({"method": "transact", "params": params, "id": 1}).to_string().into_bytes();
    for at in 0..request.len() {
        for byte in [b'"', b'[', b'}', b'x', b'0'] {
            let mut corrupted = request.clone();
            corrupted[at] = byte;
            let mut server = OvsdbServer::new();
            server.add_bridge("br-int").expect("bridge");
            let (first, second) = (server.connect(), server.connect());
            // Errors are fine; panics are not.
            let _ = server.receive(first, &corrupted);
            let _ = server.receive(second, &request[..at]);
        }
    }
}

#[test]
fn generation_counts_commits_not_failures_or_changes_that_change_nothing() {
    let mut server = OvsdbServer::new();
    server.add_bridge("br-int").expect("bridge");
    let after_bridge = server.generation();
    assert_eq!(server.add_bridge("br-int").expect("kept"), server.add_bridge("br-int").expect("kept"));
    assert_eq!(server.generation(), after_bridge, "--may-exist");
    let uuid = server.add_port("br-int", "pod-a", "", &BTreeMap::new()).expect("port");
    server.set_interface_state(&uuid, Some(1), None).expect("ofport");
    let generation = server.generation();
    server.set_interface_state(&uuid, Some(1), None).expect("same again");
    assert!(server.add_port("br-int", "pod-a", "", &BTreeMap::new()).is_err());
    assert_eq!(server.generation(), generation);
    let mut changes = server.subscribe();
    server.delete_port("br-int", "pod-a").expect("delete");
    assert!(changes.has_changed().expect("open"));
    assert_eq!(*changes.borrow_and_update(), generation + 1);
}

#[test]
fn hooks_report_what_is_missing_and_delete_bridge_takes_its_ports() {
    let mut server = OvsdbServer::new();
    assert_eq!(
        server.add_port("br-int", "p", "", &BTreeMap::new()),
        Err(HookError::NoSuchBridge("br-int".into()))
    );
    server.add_bridge("br-int").expect("bridge");
    server.add_bridge("br-ex").expect("bridge");
    assert_eq!(server.bridges(), ["br-ex", "br-int"]);
    assert!(matches!(server.delete_port("br-int", "p"), Err(HookError::NoSuchPort { .. })));
    assert!(matches!(server.set_interface_state("nope", None, None), Err(HookError::NoSuchInterface(_))));
    let refused = server
        .add_port("br-int", "p", "", &BTreeMap::new())
        .and_then(|_| server.add_port("br-ex", "p", "", &BTreeMap::new()));
    assert!(matches!(refused, Err(HookError::Refused { hook: "add_port", .. })), "{refused:?}");
    server.add_port("br-int", "a", "internal", &BTreeMap::new()).expect("port");
    let names: Vec<_> = server.interfaces("br-int").into_iter().map(|v| (v.port, v.interface_type)).collect();
    assert_eq!(names, [("a".to_owned(), "internal".to_owned()), ("p".to_owned(), String::new())]);
    server.delete_bridge("br-int").expect("delete");
    assert_eq!(server.bridges(), ["br-ex"]);
    assert!(server.db.table("Port").is_empty() && server.db.table("Interface").is_empty());
}

/// A controller's own mirror, and the agent's (written as the agent
/// writes it), read back by port name the same way by the hook and by the
/// agent's replica; removing a selected port drops it from the selection
/// (a weak reference), removing the output port leaves none.
#[test]
fn mirrors_are_read_by_port_name_and_lose_the_ports_that_go() {
    let (mut server, id, initial) = monitored();
    let mut replica = Replica::default();
    replica.apply(&initial).expect("initial rows");
    for name in ["pod-a", "pod-b", "span"] {
        server.add_port("br-int", name, "", &BTreeMap::new()).expect("port");
    }
    let theirs = datapath::ports::SwitchMirror {
        name: "cni-mirror".into(),
        external_ids: BTreeMap::from([("owner".into(), "cni".into())]),
        select_src_port: ["pod-a".to_owned()].into(),
        select_dst_port: ["pod-a".to_owned(), "pod-b".to_owned()].into(),
        output_port: Some("span".into()),
    };
    server.add_mirror("br-int", &theirs).expect("mirror");
    let missing = datapath::ports::SwitchMirror { output_port: Some("nowhere".into()), ..theirs.clone() };
    assert!(matches!(server.add_mirror("br-int", &missing), Err(HookError::NoSuchPort { .. })));
    apply(&mut replica, &outgoing(&mut server, id));
    let ours = datapath::plan::PlannedMirror {
        name: "tc-span".into(),
        output_port: "span".into(),
        select_src_port: ["pod-b".to_owned()].into(),
        ..Default::default()
    };
    let set_ours = bridge::set_mirror(&replica, "br-int", &ours);
    apply(&mut replica, &transact(&mut server, id, set_ours));
    let read = server.mirrors("br-int");
    assert_eq!(read.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["cni-mirror", "tc-span"]);
    assert_eq!(read[0], theirs);
    assert!(read[1].is_agents() && !read[0].is_agents());
    assert_eq!(bridge::switch_mirrors(&replica, "br-int"), read, "the agent reads what the server holds");
    server.delete_port("br-int", "pod-a").expect("pod-a goes");
    server.delete_port("br-int", "span").expect("span goes");
    let read = server.mirrors("br-int");
    assert_eq!(read[0].select_src_port.len(), 0);
    assert_eq!(read[0].select_dst_port, ["pod-b".to_owned()].into());
    assert_eq!(read[0].output_port, None);
}

/// The agent's replica must know which monitored columns are sets (a
/// one-element diff is a bare atom) and which hold at most one value:
/// its lists must say what the schema says, column by column.
#[test]
fn the_replica_classifies_every_monitored_column_as_the_schema_types_it() {
    use datapath::ovsdb::replica::{OPTIONAL_COLUMNS, SET_COLUMNS};
    let request = bridge::monitor_request();
    let tables = request.as_object().expect("tables");
    for (table, requests) in tables {
        let schema = super::schema::table(table).expect("a simulated table");
        for column in requests[0]["columns"].as_array().expect("columns") {
            let column = column.as_str().expect("a name");
            let ty = schema.data_column(column).expect("a simulated column").ty;
            let key = (table.as_str(), column);
            let is_set = ty.is_composite() && ty.value.is_none();
            assert_eq!(SET_COLUMNS.contains(&key), is_set, "{table}.{column} is a set: {is_set}");
            let is_optional = ty.min == 0 && ty.max == 1;
            assert_eq!(
                OPTIONAL_COLUMNS.contains(&key),
                is_optional,
                "{table}.{column} optional: {is_optional}"
            );
        }
    }
}

/// The simulation's invariants on what the agent may touch watch client
/// transactions only: each committed one shows the rows before and after;
/// a hook's (the CNI's, ovs-vswitchd's) and one that changes nothing do
/// not show.
#[test]
fn a_client_commit_is_shown_with_its_rows_before_and_after_and_a_hooks_is_not() {
    let (mut server, id, _) = monitored();
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(usize, usize)>>> = std::sync::Arc::default();
    let log = seen.clone();
    server.on_client_commit(move |commit| {
        let counts = (commit.before("Port").len(), commit.after("Port").len());
        log.lock().expect("log").push(counts);
    });
    server.add_port("br-int", "pod-a", "", &BTreeMap::new()).expect("a hook's port");
    let add = bridge::add_port("br-int", &vxlan("vxlan-1", "10.0.0.1"), &BTreeMap::new(), None);
    let reply = transact(&mut server, id, add);
    assert!(reply.last().is_some_and(|r| r["error"].is_null()), "{reply:?}");
    let nothing = vec![datapath::ovsdb::ops::select("Port", vec![], &["name"])];
    transact(&mut server, id, nothing);
    // pod-a's, then the agent's too.
    assert_eq!(*seen.lock().expect("log"), [(1, 2)]);
}
