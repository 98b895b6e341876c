//! One OVSDB connection's protocol state, sans-IO: JSON-RPC requests out,
//! responses matched by id, the server's echo requests answered, and
//! `update2` notifications applied to the [`Replica`].
//!
//! It keeps no clock and opens no socket; a reconnect is a new session
//! (with a new monitor, whose initial rows replace the replica).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::framing::{Framer, FramingError};
use super::replica::{Replica, UpdateError};

/// The database the agent uses.
pub const DATABASE: &str = "Open_vSwitch";
const MONITOR_ID: &str = "tc-agent";

/// Names one request, in the events that answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A committed transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    /// One result per operation.
    pub results: Vec<Value>,
    /// The uuid of each row inserted with a `uuid-name`, by that name.
    pub uuids: BTreeMap<String, String>,
}

/// A transaction the server refused; nothing of it was committed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{error}{}", op.map(|i| format!("operation {i}: ")).unwrap_or_default(), if details.is_empty() { String::new() } else { format!(" ({details})") })]
pub struct TransactionError {
    /// The failing operation's index, when the server names one.
    pub op: Option<usize>,
    /// The error.
    pub error: String,
    /// The server's details.
    pub details: String,
}

/// What happened on the connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A transaction finished.
    Transacted {
        /// The request.
        request: RequestId,
        /// Committed, or refused.
        outcome: Result<Transaction, TransactionError>,
    },
    /// The monitor's initial rows are in the replica.
    Monitoring {
        /// The request.
        request: RequestId,
    },
    /// A notification changed the replica.
    Updated,
    /// The server answered our echo.
    Echoed {
        /// The request.
        request: RequestId,
    },
}

/// The connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The stream is not JSON-RPC.
    #[error(transparent)]
    Framing(#[from] FramingError),
    /// A message is not valid JSON.
    #[error("the server sent invalid JSON")]
    Json(#[from] serde_json::Error),
    /// A notification or reply does not have the documented shape.
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// The server refused the monitor.
    #[error("the server refused the monitor: {0}")]
    Monitor(String),
}

#[derive(Debug)]
enum Pending {
    Transact { request: RequestId, names: Vec<Option<String>> },
    Monitor { request: RequestId },
    Echo { request: RequestId },
}

/// The protocol state of one OVSDB connection.
#[derive(Debug, Default)]
pub struct Session {
    framer: Framer,
    outbox: Vec<u8>,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    replica: Replica,
}

impl Session {
    /// A new session.
    pub fn new() -> Self {
        Session { next_id: 1, ..Session::default() }
    }

    /// The monitored rows.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The bytes to write (empties the queue).
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbox)
    }

    fn send(&mut self, method: &str, params: Value, pending: Pending) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.outbox.extend(json!({"method": method, "params": params, "id": id}).to_string().into_bytes());
        self.pending.insert(id, pending);
        id
    }

    /// Commits `operations` (RFC 7047 §5.2) atomically.
    pub fn transact(&mut self, operations: Vec<Value>) -> RequestId {
        let request = RequestId(self.next_id);
        let names = operations
            .iter()
            .map(|op| op.get("uuid-name").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let mut params = vec![json!(DATABASE)];
        params.extend(operations);
        self.send("transact", Value::Array(params), Pending::Transact { request, names });
        request
    }

    /// Starts monitoring `tables` (a `monitor_cond` request object: table
    /// name to `[{"columns": [...]}]`).
    pub fn monitor(&mut self, tables: Value) -> RequestId {
        let request = RequestId(self.next_id);
        self.send("monitor_cond", json!([DATABASE, MONITOR_ID, tables]), Pending::Monitor { request });
        request
    }

    /// Sends a keep-alive (the caller decides when, and when it is late).
    pub fn echo(&mut self) -> RequestId {
        let request = RequestId(self.next_id);
        self.send("echo", json!([]), Pending::Echo { request });
        request
    }

    /// Consumes bytes from the connection.
    ///
    /// # Errors
    /// [`SessionError`] when the connection cannot go on.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<Event>, SessionError> {
        self.framer.push(bytes);
        let mut events = Vec::new();
        while let Some(message) = self.framer.next_message()? {
            let message: Value = serde_json::from_slice(&message)?;
            if let Some(event) = self.handle(&message)? {
                events.push(event);
            }
        }
        Ok(events)
    }

    fn handle(&mut self, message: &Value) -> Result<Option<Event>, SessionError> {
        if let Some(method) = message.get("method").and_then(Value::as_str) {
            let params = message.get("params").cloned().unwrap_or(Value::Null);
            return match method {
                "echo" => {
                    let id = message.get("id").cloned().unwrap_or(Value::Null);
                    self.outbox
                        .extend(json!({"result": params, "error": null, "id": id}).to_string().into_bytes());
                    Ok(None)
                }
                "update2" => {
                    if let Some(updates) = params.get(1) {
                        self.replica.apply(updates)?;
                    }
                    Ok(Some(Event::Updated))
                }
                _ => Ok(None),
            };
        }
        let Some(pending) = message.get("id").and_then(Value::as_u64).and_then(|id| self.pending.remove(&id))
        else {
            return Ok(None);
        };
        let error = message.get("error").filter(|e| !e.is_null());
        let result = message.get("result").cloned().unwrap_or(Value::Null);
        Ok(match pending {
            Pending::Echo { request } => Some(Event::Echoed { request }),
            Pending::Monitor { request } => {
                if let Some(error) = error {
                    return Err(SessionError::Monitor(error.to_string()));
                }
                self.replica.clear();
                self.replica.apply(&result)?;
                Some(Event::Monitoring { request })
            }
            Pending::Transact { request, names } => {
                let outcome = match error {
                    Some(error) => {
                        Err(TransactionError { op: None, error: error.to_string(), details: String::new() })
                    }
                    None => transaction_outcome(&result, &names),
                };
                Some(Event::Transacted { request, outcome })
            }
        })
    }
}

/// A transaction's results: the first operation with an error fails it
/// (the server appends a commit error past the last operation).
fn transaction_outcome(result: &Value, names: &[Option<String>]) -> Result<Transaction, TransactionError> {
    let results = result.as_array().cloned().unwrap_or_default();
    if let Some((op, failure)) =
        results.iter().enumerate().find(|(_, r)| r.get("error").is_some_and(|e| !e.is_null()))
    {
        let text = |key: &str| failure.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        return Err(TransactionError {
            op: (op < names.len()).then_some(op),
            error: text("error"),
            details: text("details"),
        });
    }
    let uuids = names
        .iter()
        .zip(&results)
        .filter_map(|(name, result)| {
            let uuid = super::datum::uuid_of(result.get("uuid")?)?;
            Some((name.clone()?, uuid.to_owned()))
        })
        .collect();
    Ok(Transaction { results, uuids })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(session: &mut Session) -> Vec<Value> {
        let bytes = session.take_outgoing();
        let mut framer = Framer::new();
        framer.push(&bytes);
        let mut out = Vec::new();
        while let Some(m) = framer.next_message().unwrap() {
            out.push(serde_json::from_slice(&m).unwrap());
        }
        out
    }

    #[test]
    fn a_transaction_maps_named_uuids_by_name_not_position() {
        let mut session = Session::new();
        let request = session.transact(vec![
            json!({"op": "mutate", "table": "Bridge", "where": [], "mutations": []}),
            json!({"op": "insert", "table": "Interface", "row": {}, "uuid-name": "iface"}),
            json!({"op": "insert", "table": "Port", "row": {}, "uuid-name": "port"}),
        ]);
        let request_json = &sent(&mut session)[0];
        assert_eq!(request_json["method"], "transact");
        assert_eq!(request_json["params"][0], DATABASE);
        let id = request_json["id"].as_u64().unwrap();
        let reply = json!({"id": id, "error": null, "result": [{"count": 1}, {"uuid": ["uuid", "u-iface"]}, {"uuid": ["uuid", "u-port"]}]});
        let events = session.receive(reply.to_string().as_bytes()).unwrap();
        let [Event::Transacted { request: got, outcome: Ok(transaction) }] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(*got, request);
        assert_eq!(transaction.uuids["iface"], "u-iface");
        assert_eq!(transaction.uuids["port"], "u-port");
    }

    #[test]
    fn a_refused_transaction_names_the_failing_operation() {
        let mut session = Session::new();
        session.transact(vec![json!({"op": "insert"}), json!({"op": "insert"})]);
        let id = sent(&mut session)[0]["id"].as_u64().unwrap();
        let reply = json!({"id": id, "error": null, "result": [{}, {"error": "constraint violation", "details": "no such bridge"}]});
        let events = session.receive(reply.to_string().as_bytes()).unwrap();
        let [Event::Transacted { outcome: Err(error), .. }] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(error.to_string(), "operation 1: constraint violation (no such bridge)");
    }

    #[test]
    fn the_servers_echo_is_answered_with_its_id_and_params() {
        let mut session = Session::new();
        session.receive(br#"{"method":"echo","params":["x"],"id":"echo"}"#).unwrap();
        assert_eq!(sent(&mut session), [json!({"result": ["x"], "error": null, "id": "echo"})]);
    }

    #[test]
    fn the_monitor_fills_the_replica_and_updates_keep_it_current() {
        let mut session = Session::new();
        let request = session.monitor(json!({"Interface": [{"columns": ["name"]}]}));
        let id = sent(&mut session)[0]["id"].as_u64().unwrap();
        let reply =
            json!({"id": id, "error": null, "result": {"Interface": {"u1": {"initial": {"name": "a"}}}}});
        let mut bytes = reply.to_string().into_bytes();
        bytes.extend(json!({"method": "update2", "params": ["tc-agent", {"Interface": {"u2": {"insert": {"name": "b"}}}}], "id": null}).to_string().into_bytes());
        let events = session.receive(&bytes).unwrap();
        assert_eq!(events, [Event::Monitoring { request }, Event::Updated]);
        assert_eq!(session.replica().rows("Interface").count(), 2);
    }

    #[test]
    fn garbage_ends_the_session_instead_of_panicking() {
        let mut session = Session::new();
        assert!(session.receive(b"{not json}").is_err());
        let mut other = Session::new();
        assert!(other.receive(b"]").is_err());
    }

    #[test]
    fn every_operation_the_agent_builds_reaches_the_server_as_built() {
        use crate::ovsdb::{bridge, ops};
        use crate::ports::{InterfaceType, PortConfig};
        use std::collections::BTreeMap;
        let kinds = [
            InterfaceType::Internal,
            InterfaceType::System,
            InterfaceType::Geneve,
            InterfaceType::Vxlan,
            InterfaceType::Gre,
            InterfaceType::Erspan,
        ];
        // Names and values with what JSON must escape, and what it need not.
        let texts = ["tc0", "tun-\"q\"", "a\\b", "\u{7f}\u{0}\n", "é€𝄞", "", "}]{["];
        for (i, kind) in kinds.into_iter().enumerate() {
            for (j, text) in texts.iter().enumerate() {
                let options = BTreeMap::from([(text.to_string(), texts[(i + j) % texts.len()].to_owned())]);
                let config = PortConfig { name: (*text).to_owned(), interface_type: kind, options };
                let external_ids = BTreeMap::from([("k".to_owned(), (*text).to_owned())]);
                let mut operations =
                    bridge::add_port(text, &config, &external_ids, Some(u32::MAX - j as u32));
                operations.extend(bridge::reconfigure(&config));
                operations.push(ops::delete("Port", vec![ops::condition("name", "==", json!(text))]));
                operations.push(ops::wait("Bridge", vec![], &["name"], "!=", vec![json!({"name": text})], 0));
                let mut session = Session::new();
                session.transact(operations.clone());
                let [request] = sent(&mut session).try_into().expect("one request");
                let params = request["params"].as_array().expect("params");
                assert_eq!(params[0], json!(DATABASE));
                assert_eq!(params[1..], operations[..], "{kind:?} {text:?}");
            }
        }
    }
}
