//! The safety rules of a shared bridge (DESIGN §3: the agent must never
//! change, delete or shadow what it did not create), checked at every
//! change, not only when the world converges:
//!
//! - the agent adds, changes and deletes no OpenFlow flow: the switch
//!   counts the flows each peer's flow_mods touched, and the agent's host
//!   stays at zero; and every flow on the switch is the controller's, as
//!   it wrote it (checked after every message the switch handles);
//! - the agent's transactions change and delete no `Mirror`, `Port` or
//!   `Interface` row it did not create (each row before the transaction
//!   must be there after it, the same, unless an earlier transaction of
//!   the agent inserted it);
//! - no transaction of the agent leaves more than OVS's 32 mirrors on the
//!   bridge.
//!
//! What converged means on a shared bridge (the agent's mirror rows as
//! planned, exactly the foreign rows) is in [`super::expected`]; the
//! packets, in [`super::mirror_check`].

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use datapath::plan::MAX_MIRRORS;

use crate::ovs::ovsdb_server::ClientCommit;

use super::controller_host::Controller;
use super::ovs_host::SimOvs;

/// Tables whose rows the agent may only touch when it made them.
const GUARDED: [&str; 3] = ["Mirror", "Port", "Interface"];

/// Where broken rules are written (the switch's violations).
type Log = Arc<Mutex<Vec<String>>>;

/// Checks the rules on `ovs` from now on; `agent_host` is the agent's
/// turmoil host (the peer name of its OpenFlow connections).
pub fn watch(ovs: &SimOvs, agent_host: &str, controller: &Controller) {
    watch_flows(ovs, agent_host, controller);
    let log = ovs.violation_log();
    let mut created: BTreeSet<String> = BTreeSet::new();
    ovs.ovsdb.lock().unwrap_or_else(PoisonError::into_inner).on_client_commit(move |commit| {
        for what in trespasses(commit, &mut created) {
            report(&log, what);
        }
    });
}

fn watch_flows(ovs: &SimOvs, agent_host: &str, controller: &Controller) {
    let log = ovs.violation_log();
    let agent = agent_host.to_owned();
    let allowed: BTreeSet<String> = controller.flows().iter().map(ToString::to_string).collect();
    let mut reported_changes = 0;
    let mut reported_flows: BTreeSet<String> = BTreeSet::new();
    ovs.switch.on_change(move |switch| {
        let changed = switch.flows_changed_by(&agent);
        if changed > reported_changes {
            reported_changes = changed;
            report(&log, format!("the agent touched {changed} flows on a shared bridge"));
        }
        for flow in switch.flows().iter().map(ToString::to_string) {
            if !allowed.contains(&flow) && reported_flows.insert(flow.clone()) {
                report(&log, format!("a flow that is not the controller's: {flow}"));
            }
        }
    });
}

/// What one of the agent's transactions did to rows it did not create;
/// notes the rows it created.
fn trespasses(commit: ClientCommit<'_>, created: &mut BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    for table in GUARDED {
        let (before, after) = (commit.before(table), commit.after(table));
        for (uuid, row) in before.iter().filter(|(uuid, _)| !created.contains(*uuid)) {
            match after.get(uuid) {
                None => found.push(format!("the agent deleted {table} {}, not its own", name(row))),
                Some(now) if now != row => {
                    found.push(format!(
                        "the agent changed {table} {}, not its own: {row} -> {now}",
                        name(row)
                    ));
                }
                Some(_) => {}
            }
        }
        created.extend(after.keys().filter(|uuid| !before.contains_key(*uuid)).cloned());
    }
    let mirrors = commit.after("Mirror").len();
    if mirrors > MAX_MIRRORS {
        found.push(format!("the agent left {mirrors} mirrors on the bridge, more than OVS's {MAX_MIRRORS}"));
    }
    found
}

fn name(row: &serde_json::Value) -> String {
    row.get("name").and_then(serde_json::Value::as_str).unwrap_or("(unnamed)").to_owned()
}

fn report(log: &Log, what: String) {
    tracing::error!(%what, "safety rule broken");
    log.lock().unwrap_or_else(PoisonError::into_inner).push(what);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datapath::openflow::flow_mod::FlowMod;
    use datapath::openflow::message::{self, Message, VERSION_1_5};
    use datapath::ovsdb::ops::{self, condition};
    use datapath::ports::{InterfaceType, OWNER_KEY, OWNER_VALUE, PortConfig};
    use serde_json::{Value, json};

    use datapath::flows::{Action, Flow, Table};

    use super::*;
    use crate::world::controller_host::{COOKIE, UPLINK};

    fn shared_ovs() -> (SimOvs, Controller) {
        let ovs = SimOvs::new("br-int", 1).expect("a switch");
        let controller = Controller { mirrors: 1 };
        controller.install(&ovs).expect("the controller's rows");
        watch(&ovs, "node-1", &controller);
        (ovs, controller)
    }

    /// Host `peer` says hello and sends `flow_mod`.
    fn flow_mod_from(ovs: &SimOvs, peer: &str, flow_mod: FlowMod) {
        ovs.switch.with(|switch| {
            let id = switch.connect_from(peer);
            let mut bytes =
                message::encode(VERSION_1_5, 1, &Message::Hello { versions: Some(1 << VERSION_1_5) });
            bytes.extend(message::encode(VERSION_1_5, 2, &Message::FlowMod(flow_mod)));
            switch.receive(id, &bytes).expect("the switch takes it");
        });
    }

    /// A transaction from the database's one client, the agent.
    fn agent_transacts(ovs: &SimOvs, ops: Vec<Value>) {
        let mut database = ovs.ovsdb.lock().expect("database");
        let id = database.connect();
        let mut params = vec![json!("Open_vSwitch")];
        params.extend(ops);
        let request = json!({"method": "transact", "params": params, "id": 1});
        database.receive(id, request.to_string().as_bytes()).expect("JSON-RPC");
        let reply = String::from_utf8_lossy(&database.take_outgoing(id)).into_owned();
        assert!(!reply.contains("\"error\":{"), "the transaction failed: {reply}");
    }

    fn by_name(name: &str) -> Vec<Value> {
        vec![condition("name", "==", json!(name))]
    }

    #[test]
    fn the_controllers_flows_are_allowed_and_any_flow_change_by_the_agent_is_caught() {
        let (ovs, controller) = shared_ovs();
        for flow in controller.flows() {
            flow_mod_from(&ovs, "cni-1", FlowMod::add(&flow));
        }
        assert!(ovs.violations().is_empty(), "{:?}", ovs.violations());
        flow_mod_from(&ovs, "node-1", FlowMod::delete_by_cookie(COOKIE.0, u64::MAX));
        assert_eq!(ovs.violations(), ["the agent touched 2 flows on a shared bridge"]);
        let stranger = Flow::new(COOKIE, Table::Classifier, 7, vec![], vec![Action::Drop]);
        flow_mod_from(&ovs, "cni-1", FlowMod::add(&stranger));
        assert!(
            ovs.violations()[1].starts_with("a flow that is not the controller's"),
            "{:?}",
            ovs.violations()
        );
    }

    #[test]
    fn the_agent_may_change_its_own_rows_but_not_the_controllers() {
        let (ovs, _) = shared_ovs();
        let ours = BTreeMap::from([(OWNER_KEY.to_owned(), OWNER_VALUE.to_owned())]);
        let tap0 = PortConfig {
            name: "tap0".into(),
            interface_type: InterfaceType::Internal,
            options: BTreeMap::new(),
        };
        agent_transacts(&ovs, datapath::ovsdb::bridge::add_port("br-int", &tap0, &ours, None));
        agent_transacts(
            &ovs,
            vec![ops::update("Interface", by_name("tap0"), json!({"options": ["map", [["mtu", "1400"]]]}))],
        );
        assert!(ovs.violations().is_empty(), "its own: {:?}", ovs.violations());
        agent_transacts(&ovs, vec![ops::update("Port", by_name(UPLINK), json!({"tag": 7}))]);
        agent_transacts(
            &ovs,
            vec![ops::update("Bridge", by_name("br-int"), json!({"mirrors": ["set", []]}))],
        );
        let violations = ovs.violations();
        assert!(
            violations[0].starts_with("the agent changed Port cni-uplink, not its own"),
            "{violations:?}"
        );
        assert_eq!(violations[1], "the agent deleted Mirror cni-mirror-00, not its own");
    }

    #[test]
    fn a_transaction_of_the_agent_that_leaves_more_than_32_mirrors_is_caught() {
        let (ovs, _) = shared_ovs();
        let mut ops: Vec<Value> = (0..32)
            .map(|i| ops::insert("Mirror", json!({"name": format!("tc-{i}")}), Some(&format!("m{i}"))))
            .collect();
        let named: Vec<Value> = (0..32).map(|i| json!(["named-uuid", format!("m{i}")])).collect();
        ops.push(ops::mutate(
            "Bridge",
            by_name("br-int"),
            vec![json!(["mirrors", "insert", ["set", named]])],
        ));
        agent_transacts(&ovs, ops);
        assert_eq!(ovs.violations(), ["the agent left 33 mirrors on the bridge, more than OVS's 32"]);
    }
}
