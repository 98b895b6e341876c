//! What ovsdb-server sends on the agent's connection, as bytes: replies to
//! the monitor, transactions and echo, `update2` notifications, echo
//! requests, anything else. The session is in the state the agent puts it
//! in (a monitor, a port transaction and an echo pending), so replies with
//! ids 1 to 3 reach them. After the bytes, the replica is read as the
//! agent reads it. Checks: no panic; what the session writes back is JSON
//! texts.
#![no_main]

use std::collections::BTreeMap;

use datapath::ovsdb::bridge;
use datapath::ovsdb::framing::Framer;
use datapath::ovsdb::session::{Event, Session};
use datapath::ports::{InterfaceType, PortConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut session = Session::new();
    session.monitor(bridge::monitor_request());
    let config =
        PortConfig { name: "tc0".into(), interface_type: InterfaceType::Internal, options: BTreeMap::new() };
    session.transact(bridge::add_port("br-int", &config, &PortConfig::external_ids(), Some(9)));
    session.echo();
    let _ = session.take_outgoing();
    if let Ok(events) = session.receive(data) {
        for event in events {
            if let Event::Transacted { outcome, .. } = event {
                match outcome {
                    Ok(transaction) => {
                        let _ = bridge::missing_bridge(&transaction.results);
                    }
                    Err(error) => {
                        let _ = error.to_string();
                    }
                }
            }
        }
    }
    tc_ovs_fuzz::read_replica(session.replica());
    let mut framer = Framer::new();
    framer.push(&session.take_outgoing());
    while let Some(reply) = framer.next_message().expect("the session writes JSON objects") {
        serde_json::from_slice::<serde_json::Value>(&reply).expect("the session writes JSON");
    }
});
