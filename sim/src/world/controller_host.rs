//! A `cni-N` host: the controller of a CNI that owns the bridge's OpenFlow
//! tables on a shared bridge, as ovn-controller owns `br-int`. It is what
//! the agent must leave alone: its flows (forwarding by `NORMAL` and an
//! ACL that drops what is sent to a quarantined MAC, under its own
//! cookie), its two ports (an uplink and a span port) and its `Mirror`
//! rows (the uplink's traffic to the span port). Its ports and mirrors are
//! made once, through the database's hooks (ovs-vsctl); its flows over
//! OpenFlow, again after every reconnection (an ovs-vswitchd restart loses
//! them), the way a controller reinstalls its tables.
//!
//! Deliberately not: reading the switch's answers (a refused flow shows
//! as a missing flow when the world converges), or changing anything
//! after start-up.

use std::collections::BTreeMap;
use std::time::Duration;

use datapath::flows::{Action, Cookie, Flow, MacAddr, Match, Table};
use datapath::openflow::flow_mod::FlowMod;
use datapath::openflow::message::{self, Message, VERSION_1_5};
use datapath::ports::SwitchMirror;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::node_host::OPENFLOW_PORT;
use super::ovs_host::SimOvs;
use crate::ovs::ovsdb_server::HookError;

/// The cookie of the controller's flows (not the agent's `0x7463…`).
pub const COOKIE: Cookie = Cookie(0xc0ffee);
/// The controller's uplink port (what a tunnel or NIC port is to OVN).
pub const UPLINK: &str = "cni-uplink";
/// The output port of the controller's own mirrors.
pub const SPAN: &str = "cni-span";
/// A destination the controller's ACL drops.
pub const QUARANTINED: [u8; 6] = [0x02, 0xde, 0xad, 0x00, 0x00, 0x01];
/// How its ports and mirrors are marked.
const OWNER: (&str, &str) = ("cni-owner", "controller");
/// How long it waits before reconnecting.
const RECONNECT: Duration = Duration::from_millis(200);

/// What one node's controller owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    /// How many `Mirror` rows it keeps on the bridge (OVS allows 32 in
    /// all, so many of them leave the agent little room).
    pub mirrors: usize,
}

impl Controller {
    /// Its flows, in the order it installs them.
    pub fn flows(&self) -> Vec<Flow> {
        vec![
            Flow::new(COOKIE, Table::Classifier, 0, vec![], vec![Action::Normal]),
            Flow::new(
                COOKIE,
                Table::Classifier,
                100,
                vec![Match::DlDst(MacAddr(QUARANTINED))],
                vec![Action::Drop],
            ),
        ]
    }

    /// Its ports' names.
    pub fn ports(&self) -> [&'static str; 2] {
        [UPLINK, SPAN]
    }

    /// Its `Mirror` rows, by name.
    pub fn mirror_rows(&self) -> Vec<SwitchMirror> {
        (0..self.mirrors)
            .map(|index| SwitchMirror {
                name: format!("cni-mirror-{index:02}"),
                external_ids: owner(),
                select_src_port: [UPLINK.to_owned()].into(),
                select_dst_port: [UPLINK.to_owned()].into(),
                output_port: Some(SPAN.to_owned()),
            })
            .collect()
    }

    /// Makes its ports and mirrors on `ovs`'s bridge, as ovs-vsctl would.
    ///
    /// # Errors
    /// [`HookError`] when the database refuses.
    pub fn install(&self, ovs: &SimOvs) -> Result<(), HookError> {
        let mut database = ovs.ovsdb.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for port in self.ports() {
            database.add_port(&ovs.bridge, port, "internal", &owner())?;
        }
        for mirror in self.mirror_rows() {
            database.add_mirror(&ovs.bridge, &mirror)?;
        }
        drop(database);
        ovs.realize();
        Ok(())
    }
}

fn owner() -> BTreeMap<String, String> {
    BTreeMap::from([(OWNER.0.to_owned(), OWNER.1.to_owned())])
}

/// The host's software: connects to `ovs_host`'s OpenFlow port, installs
/// `flows`, and reads until the switch closes the connection; then again.
///
/// # Errors
/// Never, in practice: it runs until the host stops.
pub async fn run(ovs_host: String, flows: Vec<Flow>) -> turmoil::Result {
    let mut program = message::encode(VERSION_1_5, 1, &Message::Hello { versions: Some(1 << VERSION_1_5) });
    for (xid, flow) in (2..).zip(&flows) {
        program.extend(message::encode(VERSION_1_5, xid, &Message::FlowMod(FlowMod::add(flow))));
    }
    program.extend(message::encode(VERSION_1_5, 0xffff, &Message::BarrierRequest));
    loop {
        if let Ok(mut stream) = turmoil::net::TcpStream::connect((ovs_host.as_str(), OPENFLOW_PORT)).await
            && stream.write_all(&program).await.is_ok()
        {
            let mut buf = vec![0u8; 4096];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            tracing::debug!("the controller's OpenFlow connection ended");
        }
        tokio::time::sleep(RECONNECT).await;
    }
}
