//! The agent's real OVSDB client (`actors::ovsdb_connection`) against
//! the simulated server over in-memory streams: the agent's own
//! transactions, and its replica kept equal to the server's rows.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::agent::connector::{Connector, connect_ovsdb};
use actors::ovsdb_connection::{OvsdbConnection, OvsdbError};
use datapath::ovsdb::bridge::{self, missing_bridge, switch_ports};
use datapath::ports::{InterfaceType, PortConfig, SwitchPort};
use futures::future::LocalBoxFuture;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;

use super::serve::ServeError;
use super::{OvsdbServer, serve};

type Shared = Arc<Mutex<OvsdbServer>>;
/// A task running [`serve`].
type Serving = JoinHandle<Result<(), ServeError>>;

/// How long `echo_is_answered_and_a_closed_client_is_forgotten` waits for
/// the serving task: only reached when something hangs.
const DEADLINE: Duration = Duration::from_secs(10);

fn shared() -> Shared {
    let mut server = OvsdbServer::new();
    server.add_bridge("br-int").expect("bridge");
    Arc::new(Mutex::new(server))
}

fn with<T>(server: &Shared, f: impl FnOnce(&mut OvsdbServer) -> T) -> T {
    f(&mut server.lock().expect("no test panicked holding the lock"))
}

/// Streams to the shared server, each served on its own task: what the
/// agent's `SocketConnector` is to a real ovsdb-server.
#[derive(Clone)]
struct Duplexes {
    server: Shared,
    /// The serving tasks, newest last.
    serving: Rc<RefCell<Vec<Serving>>>,
}

impl Connector for Duplexes {
    type Stream = DuplexStream;

    fn ovsdb(&self) -> LocalBoxFuture<'static, io::Result<DuplexStream>> {
        let (near, far) = tokio::io::duplex(64 * 1024);
        self.serving.borrow_mut().push(tokio::spawn(serve(self.server.clone(), far)));
        Box::pin(async move { Ok(near) })
    }

    fn openflow(&self) -> LocalBoxFuture<'static, io::Result<DuplexStream>> {
        Box::pin(async { Err(io::Error::other("these tests speak OVSDB only")) })
    }

    fn describe_ovsdb(&self) -> String {
        "the simulated ovsdb-server".to_owned()
    }

    fn describe_openflow(&self) -> String {
        "nothing".to_owned()
    }
}

/// A client connected and monitoring, made by the agent's own
/// `connect_ovsdb`; and the task serving it.
async fn connect(server: &Shared) -> (OvsdbConnection<DuplexStream>, Serving) {
    let connector = Duplexes { server: server.clone(), serving: Rc::default() };
    let connection = connect_ovsdb(&connector).await.expect("connected and monitoring");
    let serving = connector.serving.borrow_mut().pop().expect("one stream opened");
    (connection, serving)
}

fn tunnel(name: &str, remote: &str) -> PortConfig {
    let options =
        BTreeMap::from([("remote_ip".to_owned(), remote.to_owned()), ("key".to_owned(), "0".to_owned())]);
    PortConfig { name: name.to_owned(), interface_type: InterfaceType::Vxlan, options }
}

fn server_ports(server: &Shared) -> Vec<SwitchPort> {
    let views = with(server, |s| s.interfaces("br-int"));
    let mut ports: Vec<SwitchPort> = views.into_iter().map(|v| v.switch_port()).collect();
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    ports
}

fn assert_in_sync(connection: &OvsdbConnection<DuplexStream>, server: &Shared, when: &str) {
    assert_eq!(switch_ports(connection.replica(), "br-int"), server_ports(server), "{when}");
}

fn port(connection: &OvsdbConnection<DuplexStream>, name: &str) -> Option<SwitchPort> {
    switch_ports(connection.replica(), "br-int").into_iter().find(|p| p.name == name)
}

fn interface_uuid(server: &Shared, name: &str) -> String {
    let views = with(server, |s| s.interfaces("br-int"));
    views.into_iter().find(|v| v.name == name).map(|v| v.uuid).expect("interface")
}

#[tokio::test]
async fn the_agents_transactions_round_trip_through_its_client() {
    let server = shared();
    let pod = with(&server, |s| s.add_port("br-int", "pod-a", "", &BTreeMap::new())).expect("pod");
    with(&server, |s| s.set_interface_state(&pod, Some(1), None)).expect("ofport");
    let (mut connection, _serving) = connect(&server).await;
    assert_in_sync(&connection, &server, "initial rows");
    assert_eq!(port(&connection, "pod-a").and_then(|p| p.ofport), Some(1));

    let added = connection.transact(bridge::add_port(
        "br-int",
        &tunnel("tun0", "10.0.0.2"),
        &PortConfig::external_ids(),
        None,
    ));
    let added = added.await.expect("committed");
    assert!(!missing_bridge(&added.results));
    // The update comes before the reply: the replica already has the port.
    assert_in_sync(&connection, &server, "after add_port");
    assert!(port(&connection, "tun0").is_some_and(|p| p.is_agents() && p.ofport.is_none()));

    let tun = interface_uuid(&server, "tun0");
    assert_eq!(Some(&tun), added.uuids.get("iface"));
    with(&server, |s| s.set_interface_state(&tun, Some(7), None)).expect("ofport");
    connection
        .wait_for(|r| switch_ports(r, "br-int").iter().any(|p| p.ofport == Some(7)))
        .await
        .expect("ofport seen");
    assert_in_sync(&connection, &server, "after vswitchd set the ofport");

    let mut geneve = tunnel("tun0", "10.0.0.3");
    geneve.interface_type = InterfaceType::Geneve;
    geneve.options.insert("dst_port".into(), "6081".into());
    connection.transact(bridge::reconfigure(&geneve)).await.expect("reconfigured");
    assert_in_sync(&connection, &server, "after reconfigure");
    assert_eq!(
        port(&connection, "tun0").map(|p| (p.interface_type, p.options)),
        Some(("geneve".into(), geneve.options))
    );

    with(&server, |s| s.set_interface_state(&tun, Some(-1), Some("could not open tun0".into())))
        .expect("failed");
    connection.next_update().await.expect("the failure is pushed");
    assert_in_sync(&connection, &server, "after the interface failed");
    assert_eq!(
        port(&connection, "tun0").map(|p| (p.ofport, p.error)),
        Some((None, Some("could not open tun0".into())))
    );

    let delete = bridge::delete_ports(connection.replica(), "br-int", &["tun0".to_owned()]);
    connection.transact(delete).await.expect("deleted");
    assert_in_sync(&connection, &server, "after delete_ports");
    let names = |table: &str| -> Vec<String> {
        let rows = connection.replica().rows(table);
        rows.filter_map(|(_, row)| row.get("name")?.as_str().map(str::to_owned)).collect()
    };
    assert_eq!((names("Port"), names("Interface")), (vec!["pod-a".to_owned()], vec!["pod-a".to_owned()]));
    with(&server, |s| assert_eq!((s.db.table("Port").len(), s.db.table("Interface").len()), (1, 1)));
}

#[tokio::test]
async fn adding_a_port_to_a_missing_bridge_counts_zero_and_leaves_nothing() {
    let server = shared();
    let (mut connection, _serving) = connect(&server).await;
    let ops = bridge::add_port("br-missing", &tunnel("tun0", "10.0.0.2"), &PortConfig::external_ids(), None);
    let outcome = connection.transact(ops).await.expect("not an error");
    assert!(missing_bridge(&outcome.results));
    with(&server, |s| assert!(s.db.table("Port").is_empty() && s.db.table("Interface").is_empty()));
    assert_eq!(connection.replica().rows("Interface").count(), 0);
}

#[tokio::test]
async fn a_second_client_sees_the_first_ones_changes() {
    let server = shared();
    let (mut first, _a) = connect(&server).await;
    first
        .transact(bridge::add_port("br-int", &tunnel("tun0", "10.0.0.2"), &BTreeMap::new(), None))
        .await
        .expect("added");
    let (mut second, _b) = connect(&server).await;
    assert!(port(&second, "tun0").is_some(), "in the initial rows");
    first
        .transact(bridge::add_port("br-int", &tunnel("tun1", "10.0.0.3"), &BTreeMap::new(), None))
        .await
        .expect("added");
    second.wait_for(|r| switch_ports(r, "br-int").len() == 2).await.expect("pushed to the idle client");
    let delete = bridge::delete_ports(first.replica(), "br-int", &["tun0".to_owned(), "tun1".to_owned()]);
    first.transact(delete).await.expect("deleted");
    second.wait_for(|r| switch_ports(r, "br-int").is_empty()).await.expect("deletions pushed");
    assert_eq!(second.replica().rows("Interface").count(), 0);
    assert_in_sync(&second, &server, "second client");
}

#[tokio::test]
async fn a_refused_transaction_changes_nothing_and_says_why() {
    let server = shared();
    let (mut connection, _serving) = connect(&server).await;
    let ops = bridge::add_port("br-int", &tunnel("tun0", "10.0.0.2"), &BTreeMap::new(), None);
    connection.transact(ops.clone()).await.expect("first");
    let generation = with(&server, |s| s.generation());
    let Err(OvsdbError::Refused(error)) = connection.transact(ops).await else {
        panic!("a second tun0 is refused")
    };
    assert_eq!(
        (error.op, error.error.as_str()),
        (None, "constraint violation"),
        "a commit-time error: {error}"
    );
    assert_eq!(with(&server, |s| s.generation()), generation);
    assert_in_sync(&connection, &server, "after the refusal");
}

#[tokio::test]
async fn echo_is_answered_and_a_closed_client_is_forgotten() {
    let server = shared();
    let (mut connection, serving) = connect(&server).await;
    connection.echo().await.expect("echo");
    assert_eq!(with(&server, |s| s.connections.len()), 1);
    drop(connection);
    let ended = tokio::time::timeout(DEADLINE, serving).await.expect("serve returns").expect("no panic");
    assert!(ended.is_ok(), "{ended:?}");
    assert!(with(&server, |s| s.connections.is_empty()));
}

#[tokio::test]
async fn a_port_another_client_deletes_leaves_the_replica() {
    let server = shared();
    let pod = with(&server, |s| s.add_port("br-int", "pod-a", "", &BTreeMap::new())).expect("pod");
    with(&server, |s| s.set_interface_state(&pod, Some(1), None)).expect("ofport");
    let (mut connection, _serving) = connect(&server).await;
    assert!(port(&connection, "pod-a").is_some());
    with(&server, |s| s.delete_port("br-int", "pod-a")).expect("deleted");
    connection.wait_for(|r| switch_ports(r, "br-int").is_empty()).await.expect("the deletion is pushed");
    assert_in_sync(&connection, &server, "after the CNI deleted its port");
}
