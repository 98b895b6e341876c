//! A simulated ovsdb-server: the Open_vSwitch subset the agent, the CNI
//! and ovs-vswitchd use (RFC 7047 plus OVS's `monitor_cond`/`update2`),
//! sans-IO. Connections hand it bytes and take bytes back; [`serve`] does
//! that over any stream. Everything is ordered and counted (uuids come
//! from a counter), so a run replays byte for byte.
//!
//! Deliberately not here: locks, conditional monitoring (conditions are
//! accepted, every row is sent), `monitor_cond_since`, arithmetic
//! mutators, waiting `wait`s (they check once), the columns of the real
//! schema nobody here uses, and the server sending echoes (no clock).
//!
//! - `schema`: tables, columns, roots and indexes.
//! - `datum`: column values read from and written to JSON, and their
//!   `update2` diffs.
//! - `database`: the rows, referential integrity and garbage collection.
//! - `condition` and `mutation`: `where` clauses and `mutate`'s
//!   mutations.
//! - `transaction`: `transact`, atomic.
//! - `monitor`: initial rows and change notifications.
//! - `hooks`: what ovs-vsctl, the CNI and ovs-vswitchd do, as calls.
//! - `client_commits`: what a client's transaction changed, for checks.
//! - `serve`: the loop that serves one stream.

mod client_commits;
mod condition;
mod database;
mod datum;
mod hooks;
mod monitor;
mod mutation;
mod schema;
mod serve;
mod transaction;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use datapath::ovsdb::framing::{Framer, FramingError};
use serde_json::{Value, json};
use tokio::sync::watch;

use self::client_commits::CommitChecks;
use self::database::Database;
use self::monitor::{Flavor, Monitor};
use self::transaction::UuidSource;

pub use self::client_commits::{ClientCommit, CommitCheck, RowsJson};
pub use self::hooks::{HookError, InterfaceView};
pub use self::schema::DATABASE;
pub use self::serve::{ServeError, serve};

/// Names one client connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(u64);

/// Input the server cannot take; the connection must be closed.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbServerError {
    /// The connection was never opened, or was closed.
    #[error("no open OVSDB connection {0:?}")]
    UnknownConnection(ConnectionId),
    /// The connection sent bad input before and is closed to more.
    #[error("OVSDB connection {0:?} already failed")]
    Broken(ConnectionId),
    /// The bytes are not JSON objects back to back.
    #[error("OVSDB connection {connection:?} is not JSON-RPC")]
    Framing {
        /// The connection.
        connection: ConnectionId,
        /// What is wrong with the bytes.
        #[source]
        source: FramingError,
    },
    /// A message is not valid JSON.
    #[error("OVSDB connection {connection:?} sent invalid JSON")]
    Json {
        /// The connection.
        connection: ConnectionId,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A JSON object that is neither a request, a notification nor a
    /// reply.
    #[error("OVSDB connection {connection:?} sent a message that is not JSON-RPC: {message}")]
    NotJsonRpc {
        /// The connection.
        connection: ConnectionId,
        /// The message.
        message: String,
    },
}

#[derive(Debug, Default)]
struct Connection {
    framer: Framer,
    outbox: Vec<u8>,
    monitors: Vec<Monitor>,
    broken: bool,
}

impl Connection {
    fn send(&mut self, message: &Value) {
        self.outbox.extend(message.to_string().into_bytes());
    }
}

/// The simulated server: the database and its connections.
#[derive(Debug)]
pub struct OvsdbServer {
    db: Database,
    uuids: UuidSource,
    generation: u64,
    next_connection: u64,
    connections: BTreeMap<ConnectionId, Connection>,
    /// Carries [`OvsdbServer::generation`] to whoever waits for changes.
    changes: watch::Sender<u64>,
    /// Run after each committed client transaction.
    client_checks: CommitChecks,
}

impl Default for OvsdbServer {
    fn default() -> Self {
        OvsdbServer::new()
    }
}

impl OvsdbServer {
    /// An empty database: the Open_vSwitch root row and no bridge.
    pub fn new() -> Self {
        let mut uuids = UuidSource::default();
        let root = [json!({"op": "insert", "table": "Open_vSwitch", "row": {}})];
        let db = transaction::execute(&Database::empty(), &mut uuids, &root)
            .committed
            .unwrap_or_else(Database::empty);
        OvsdbServer {
            db,
            uuids,
            generation: 0,
            next_connection: 0,
            connections: BTreeMap::new(),
            changes: watch::channel(0).0,
            client_checks: CommitChecks::default(),
        }
    }

    /// Counts committed changes (a transaction that changes nothing does
    /// not count): whoever mirrors the database looks again when it moves.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Wakes on every committed change, with the new
    /// [`generation`](Self::generation). [`serve`] uses it to send a
    /// connection the updates another connection's transaction (or a
    /// hook) queued for it; a simulated ovs-vswitchd can use it to notice
    /// new interfaces.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Opens a connection.
    pub fn connect(&mut self) -> ConnectionId {
        self.next_connection += 1;
        let id = ConnectionId(self.next_connection);
        self.connections.insert(id, Connection::default());
        id
    }

    /// Closes a connection; its monitors go with it.
    pub fn disconnect(&mut self, id: ConnectionId) {
        self.connections.remove(&id);
    }

    /// The bytes to send on `id` (empties its queue).
    pub fn take_outgoing(&mut self, id: ConnectionId) -> Vec<u8> {
        self.connections.get_mut(&id).map(|c| std::mem::take(&mut c.outbox)).unwrap_or_default()
    }

    /// Consumes bytes from `id`: every complete request is answered (and
    /// its changes sent to every monitor) before this returns.
    ///
    /// # Errors
    /// [`OvsdbServerError`] when the bytes are not JSON-RPC; the
    /// connection is then refused further input and should be closed.
    pub fn receive(&mut self, id: ConnectionId, bytes: &[u8]) -> Result<(), OvsdbServerError> {
        let connection = self.connections.get_mut(&id).ok_or(OvsdbServerError::UnknownConnection(id))?;
        if connection.broken {
            return Err(OvsdbServerError::Broken(id));
        }
        connection.framer.push(bytes);
        while let Some(message) = self.next_message(id)? {
            self.handle(id, &message)?;
        }
        Ok(())
    }

    fn next_message(&mut self, id: ConnectionId) -> Result<Option<Value>, OvsdbServerError> {
        let connection = self.connections.get_mut(&id).ok_or(OvsdbServerError::UnknownConnection(id))?;
        let parsed = match connection.framer.next_message() {
            Ok(None) => return Ok(None),
            Ok(Some(bytes)) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| OvsdbServerError::Json { connection: id, source }),
            Err(source) => Err(OvsdbServerError::Framing { connection: id, source }),
        };
        connection.broken = parsed.is_err();
        parsed
    }

    fn handle(&mut self, id: ConnectionId, message: &Value) -> Result<(), OvsdbServerError> {
        let not_json_rpc = || OvsdbServerError::NotJsonRpc { connection: id, message: message.to_string() };
        let Some(method) = message.get("method") else {
            // A reply: the server asks nothing, so there is nothing to match.
            let is_reply = message.get("result").is_some() || message.get("error").is_some();
            return if is_reply { Ok(()) } else { Err(not_json_rpc()) };
        };
        let method = method.as_str().ok_or_else(not_json_rpc)?;
        let request_id = message.get("id").cloned().unwrap_or(Value::Null);
        if request_id.is_null() {
            // Notifications (`cancel`) concern waits that never wait here.
            return Ok(());
        }
        let params = message.get("params").cloned().unwrap_or_else(|| json!([]));
        let reply = match self.call(id, method, &params) {
            Ok(result) => json!({"id": request_id, "result": result, "error": null}),
            Err(error) => json!({"id": request_id, "result": null, "error": error}),
        };
        if let Some(connection) = self.connections.get_mut(&id) {
            connection.send(&reply);
        }
        Ok(())
    }

    /// Runs one request; `Err` holds the JSON-RPC `error`.
    fn call(&mut self, id: ConnectionId, method: &str, params: &Value) -> Result<Value, Value> {
        let params = params
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| rpc_error("syntax error", "params must be an array"))?;
        match method {
            "echo" => Ok(Value::Array(params.to_vec())),
            "list_dbs" => Ok(json!([DATABASE])),
            "get_schema" => check_database(params.first()).map(|()| schema::schema_json()),
            "transact" => {
                check_database(params.first())?;
                Ok(Value::Array(self.client_transact(&params[1..])))
            }
            "monitor" => self.monitor(id, params, Flavor::Update),
            "monitor_cond" => self.monitor(id, params, Flavor::Update2),
            "monitor_cancel" => {
                let monitors = &mut self.connections.get_mut(&id).ok_or(Value::Null)?.monitors;
                let before = monitors.len();
                monitors.retain(|m| Some(m.id()) != params.first());
                if monitors.len() == before {
                    Err(rpc_error("unknown monitor", "no such monitor id"))
                } else {
                    Ok(json!({}))
                }
            }
            _ => Err(json!("unknown method")),
        }
    }

    fn monitor(&mut self, id: ConnectionId, params: &[Value], flavor: Flavor) -> Result<Value, Value> {
        let [database, monitor_id, requests, ..] = params else {
            return Err(rpc_error("syntax error", "expected [db, monitor-id, monitor-requests]"));
        };
        check_database(Some(database))?;
        let monitor = Monitor::parse(monitor_id.clone(), requests, flavor)
            .map_err(|error| rpc_error("syntax error", &error.to_string()))?;
        let initial = monitor.initial(&self.db);
        let connection = self.connections.get_mut(&id).ok_or(Value::Null)?;
        if connection.monitors.iter().any(|m| m.id() == monitor_id) {
            return Err(rpc_error("syntax error", "duplicate monitor ID"));
        }
        connection.monitors.push(monitor);
        Ok(initial)
    }

    /// Runs `check` after every transaction a client commits (one that
    /// changes nothing is not a commit), with the database before and
    /// after it.
    pub fn on_client_commit(&mut self, check: impl FnMut(ClientCommit<'_>) + Send + 'static) {
        self.client_checks.0.push(Box::new(check));
    }

    /// A client's transaction: [`OvsdbServer::transact`], then the checks.
    fn client_transact(&mut self, ops: &[Value]) -> Vec<Value> {
        if self.client_checks.0.is_empty() {
            return self.transact(ops);
        }
        let before = self.db.clone();
        let results = self.transact(ops);
        if before != self.db {
            let commit = ClientCommit { before: &before, after: &self.db };
            for check in &mut self.client_checks.0 {
                check(commit);
            }
        }
        results
    }

    /// Runs a transaction's operations; commits and notifies monitors if
    /// they all succeed. Returns the `result` array.
    fn transact(&mut self, ops: &[Value]) -> Vec<Value> {
        let outcome = transaction::execute(&self.db, &mut self.uuids, ops);
        if let Some(db) = outcome.committed {
            self.commit(db);
        }
        outcome.results
    }

    /// Makes `db` current and queues every monitor's notification, ahead
    /// of the transaction's reply as ovsdb-server does, so a client's
    /// replica already shows its transaction when the reply arrives.
    fn commit(&mut self, db: Database) {
        if db == self.db {
            return;
        }
        let old = std::mem::replace(&mut self.db, db);
        self.generation += 1;
        for connection in self.connections.values_mut().filter(|c| !c.broken) {
            let notifications: Vec<Value> =
                connection.monitors.iter().filter_map(|m| m.notification(&old, &self.db)).collect();
            for notification in &notifications {
                connection.send(notification);
            }
        }
        self.changes.send_replace(self.generation);
    }
}

fn rpc_error(error: &str, details: &str) -> Value {
    json!({"error": error, "details": details})
}

fn check_database(name: Option<&Value>) -> Result<(), Value> {
    match name.and_then(Value::as_str) {
        Some(DATABASE) => Ok(()),
        other => Err(rpc_error("unknown database", &format!("{other:?} is not {DATABASE}"))),
    }
}
