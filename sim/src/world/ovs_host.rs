//! An `ovs-N` host: the simulated OVSDB server and OpenFlow switch on
//! turmoil's network, and the part of ovs-vswitchd between them: it opens
//! each interface the database lists (an ofport: the requested one when it
//! is free, or an error when a host device does not exist), tells the
//! switch about its ports, and after a restart brings them back with the
//! ofports the database remembers; and it configures the bridge's port
//! mirrors from the `Mirror` table.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use datapath::cluster::PodRef;
use datapath::cni::keys::antrea;
use datapath::flows::MacAddr;
use datapath::plan::MAX_MIRRORS;
use datapath::ports::{SwitchMirror, SwitchPort};

use crate::ovs::openflow_switch::{OpenFlowSwitch, SharedSwitch};
use crate::ovs::ovsdb_server::{self, HookError, InterfaceView, OvsdbServer};
use crate::ovs::packet_engine::EngineMirror;

use super::invariants;
use super::node_host::{OPENFLOW_PORT, OVSDB_PORT};
use super::wire::{self, Delivery, WireError};

/// Interface types ovs-vswitchd opens without a host device.
const VIRTUAL_TYPES: [&str; 7] = ["internal", "vxlan", "geneve", "gre", "erspan", "ip6erspan", "ip6gre"];

/// One node's simulated Open vSwitch; clones share it.
#[derive(Clone, Debug)]
pub struct SimOvs {
    /// The bridge the agent manages.
    pub bridge: String,
    /// The database.
    pub ovsdb: Arc<Mutex<OvsdbServer>>,
    /// The OpenFlow side of the bridge.
    pub switch: SharedSwitch,
    /// Host network devices that exist (Pods' veths, NICs).
    devices: Arc<Mutex<BTreeSet<String>>>,
    /// Ports the CNI attached and has not removed: only it may delete them.
    cni_ports: Arc<Mutex<BTreeSet<String>>>,
    /// Ports the CNI removed, until the switch has let them go: their flows
    /// may outlive them (the agent learns of the Pod's end afterwards).
    detached: Arc<Mutex<BTreeSet<String>>>,
    /// Safety rules seen broken (see [`super::invariants`]), in order.
    violations: Arc<Mutex<Vec<String>>>,
    /// Each tunnel port's next GRE sequence number (ERSPAN counts).
    sequences: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl SimOvs {
    /// A switch with `bridge` and nothing on it.
    ///
    /// # Errors
    /// [`HookError`] when the database refuses the bridge.
    pub fn new(bridge: &str, datapath_id: u64) -> Result<SimOvs, HookError> {
        let mut ovsdb = OvsdbServer::new();
        ovsdb.add_bridge(bridge)?;
        let ovs = SimOvs {
            bridge: bridge.to_owned(),
            ovsdb: Arc::new(Mutex::new(ovsdb)),
            switch: SharedSwitch::new(OpenFlowSwitch::new(datapath_id)),
            devices: Arc::default(),
            cni_ports: Arc::default(),
            detached: Arc::default(),
            violations: Arc::default(),
            sequences: Arc::default(),
        };
        ovs.check_flooding_at_every_change();
        Ok(ovs)
    }

    /// No TrafficControl port may flood while a flow sends to it, at any
    /// moment: checked after every message the switch handles (a restarted
    /// switch that gets flows before the port settings it forgot, or a new
    /// port that gets flows before its no-flood, breaks it).
    fn check_flooding_at_every_change(&self) {
        let violations = self.violations.clone();
        let mut checked = None;
        let mut flooding: BTreeSet<u32> = BTreeSet::new();
        self.switch.on_change(move |switch| {
            if checked.replace(switch.generation()) == Some(switch.generation()) {
                return;
            }
            let now = invariants::flooding_targets(switch);
            for (ofport, (name, flow)) in now.iter().filter(|(ofport, _)| !flooding.contains(ofport)) {
                let what = format!(
                    "TrafficControl port {name} (ofport {ofport}) floods while a flow uses it: {flow}"
                );
                tracing::error!(%what, "safety rule broken");
                lock(&violations).push(what);
            }
            flooding = now.into_keys().collect();
        });
    }

    fn database(&self) -> std::sync::MutexGuard<'_, OvsdbServer> {
        self.ovsdb.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A host device now exists (a NIC a `device` target port may name).
    pub fn add_device(&self, name: &str) {
        self.devices.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned());
    }

    /// What the CNI does for a new Pod: its veth on the bridge, with the
    /// Pod's identity in `external_ids`.
    ///
    /// # Errors
    /// [`HookError`] when the database refuses (e.g. the name is taken).
    pub fn attach_pod(&self, pod: &PodRef, port: &str) -> Result<(), HookError> {
        self.add_device(port);
        let external_ids = BTreeMap::from([
            (antrea::POD_NAME.to_owned(), pod.name.clone()),
            (antrea::POD_NAMESPACE.to_owned(), pod.namespace.clone()),
            (antrea::MAC.to_owned(), MacAddr(mac_of(port)).to_string()),
        ]);
        self.database().add_port(&self.bridge, port, "", &external_ids)?;
        lock(&self.cni_ports).insert(port.to_owned());
        self.realize();
        Ok(())
    }

    /// What the CNI does when a Pod goes.
    ///
    /// # Errors
    /// [`HookError`] when there is no such port.
    pub fn detach_pod(&self, port: &str) -> Result<(), HookError> {
        lock(&self.cni_ports).remove(port);
        lock(&self.detached).insert(port.to_owned());
        self.database().delete_port(&self.bridge, port)?;
        self.devices.lock().unwrap_or_else(PoisonError::into_inner).remove(port);
        self.realize();
        Ok(())
    }

    /// A frame arrives on port `from` (a Pod sends it, or an IDS sends it
    /// back on a return port): every copy that leaves the switch, in the
    /// order the flows sent them.
    ///
    /// # Errors
    /// [`SendError`] when `from` has no ofport or a tunnel port's options
    /// are unusable.
    pub fn send(&self, from: &str, frame: &[u8]) -> Result<Vec<Delivery>, SendError> {
        let interfaces = self.database().interfaces(&self.bridge);
        let ofport_of = |i: &InterfaceView| i.ofport.and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0);
        let in_port = interfaces
            .iter()
            .find(|i| i.name == from)
            .and_then(ofport_of)
            .ok_or_else(|| SendError::NoSuchPort(from.to_owned()))?;
        let verdict = self.switch.with(|switch| switch.inject(in_port, frame));
        let mut deliveries = Vec::new();
        for ofport in verdict.outputs {
            let Some(interface) = interfaces.iter().find(|i| ofport_of(i) == Some(ofport)) else { continue };
            let sequence = {
                let mut sequences = lock(&self.sequences);
                let next = sequences.entry(interface.name.clone()).or_default();
                let sequence = *next;
                *next = next.wrapping_add(1);
                sequence
            };
            deliveries.push(wire::leave(interface, frame, sequence)?);
        }
        Ok(deliveries)
    }

    /// The database's commit count: it moves whenever a port, an ofport
    /// or an option does.
    pub fn generation(&self) -> u64 {
        self.database().generation()
    }

    /// The safety rules seen broken so far.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }

    /// Where checks registered elsewhere write the rules they see broken
    /// (they must not hold the switch itself: it holds them).
    pub fn violation_log(&self) -> Arc<Mutex<Vec<String>>> {
        self.violations.clone()
    }

    /// The bridge's `Mirror` rows, by name, as the agent reads them.
    pub fn switch_mirrors(&self) -> Vec<SwitchMirror> {
        self.database().mirrors(&self.bridge)
    }

    /// The bridge's ports as the agent's planner sees them.
    pub fn switch_ports(&self) -> Vec<SwitchPort> {
        self.database().interfaces(&self.bridge).iter().map(InterfaceView::switch_port).collect()
    }

    /// ovs-vswitchd restarts: flows and port config are gone and every
    /// OpenFlow connection drops; OVSDB (and the ofports it stores) stays,
    /// and the ports come back with them.
    pub fn restart_vswitchd(&self) {
        self.switch.with(OpenFlowSwitch::restart);
        self.realize();
    }

    /// An ovs-vswitchd restart after which every port has another ofport
    /// (what a database restored without the `ofport` column, or another
    /// switch taking over, looks like): every flow that names one is wrong
    /// until the agent replans.
    pub fn restart_vswitchd_renumbered(&self) {
        self.switch.with(OpenFlowSwitch::restart);
        {
            let mut database = self.database();
            for interface in database.interfaces(&self.bridge) {
                if let Some(ofport) = interface.ofport.filter(|p| *p > 0) {
                    // Hooks refuse only unknown interfaces, and this one
                    // was just listed under the same lock.
                    let _ =
                        database.set_interface_state(&interface.uuid, Some(ofport + 100), interface.error);
                }
            }
        }
        self.realize();
    }

    /// One round of ovs-vswitchd's work: every interface on the bridge
    /// gets an ofport (or -1 and an error), the switch gets the ports the
    /// database has and loses the ones it no longer has.
    pub fn realize(&self) {
        let devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut database = self.database();
        let interfaces = database.interfaces(&self.bridge);
        let mut taken: BTreeSet<i64> =
            interfaces.iter().filter_map(|i| i.ofport).filter(|p| *p > 0).collect();
        let mut wanted: BTreeMap<u32, String> = BTreeMap::new();
        for interface in &interfaces {
            let opens = VIRTUAL_TYPES.contains(&interface.interface_type.as_str())
                || (interface.interface_type.is_empty() && devices.contains(&interface.name));
            let (ofport, error) = match (opens, interface.ofport) {
                (true, Some(ofport)) if ofport > 0 => (ofport, None),
                (true, _) => {
                    // OVS grants a requested number that no port holds,
                    // and hands out the lowest free one otherwise.
                    let requested = interface.ofport_request.filter(|p| *p > 0 && !taken.contains(p));
                    let ofport = requested.or_else(|| (1..).find(|p| !taken.contains(p))).unwrap_or(i64::MAX);
                    taken.insert(ofport);
                    (ofport, None)
                }
                (false, _) => {
                    (-1, Some(format!("could not open network device {} (No such device)", interface.name)))
                }
            };
            if interface.ofport != Some(ofport) || interface.error != error {
                // The interface exists: we just listed it.
                let _ = database.set_interface_state(&interface.uuid, Some(ofport), error);
            }
            if let Ok(ofport) = u32::try_from(ofport)
                && ofport > 0
            {
                wanted.insert(ofport, interface.name.clone());
            }
        }
        let mirrors = engine_mirrors(&database.mirrors(&self.bridge), &wanted);
        drop(database);
        let names: BTreeSet<&String> = interfaces.iter().map(|i| &i.name).collect();
        let gone: Vec<String> =
            lock(&self.cni_ports).iter().filter(|p| !names.contains(p)).cloned().collect();
        for port in gone {
            lock(&self.cni_ports).remove(&port);
            self.violate(format!("Pod port {port} was deleted by someone other than the CNI"));
        }
        self.switch.with(|switch| {
            let present: BTreeMap<u32, String> =
                switch.ports().into_iter().map(|p| (p.port_no, p.name.clone())).collect();
            let flows = switch.flows();
            for (ofport, name) in &present {
                if wanted.get(ofport) != Some(name) {
                    if !lock(&self.detached).remove(name) {
                        for flow in invariants::flows_using(&flows, *ofport) {
                            self.violate(format!(
                                "port {name} (ofport {ofport}) deleted while a flow uses it: {flow}"
                            ));
                        }
                    }
                    switch.remove_port(*ofport);
                }
            }
            for (ofport, name) in &wanted {
                if present.get(ofport) != Some(name) {
                    switch.add_port(*ofport, name, mac_of(name));
                }
            }
            switch.set_mirrors(mirrors);
        });
    }
}

/// The `Mirror` rows as ovs-vswitchd configures them on the bridge whose
/// ports have the ofports `ofports`: a port without one is left out of a
/// selection, a mirror whose output port has none is ignored ("does not
/// specify output", "outputs to port not on bridge"), and past the 32nd
/// mirror none is configured (OVS: "maximum of 32 port mirrors reached";
/// which ones it keeps depends on its hash order, here the name order).
fn engine_mirrors(mirrors: &[SwitchMirror], ofports: &BTreeMap<u32, String>) -> Vec<EngineMirror> {
    let by_name: BTreeMap<&str, u32> =
        ofports.iter().map(|(ofport, name)| (name.as_str(), *ofport)).collect();
    let numbers = |names: &BTreeSet<String>| -> BTreeSet<u32> {
        names.iter().filter_map(|name| by_name.get(name.as_str()).copied()).collect()
    };
    mirrors
        .iter()
        .filter_map(|mirror| {
            let output = by_name.get(mirror.output_port.as_deref()?).copied()?;
            Some(EngineMirror {
                name: mirror.name.clone(),
                select_src: numbers(&mirror.select_src_port),
                select_dst: numbers(&mirror.select_dst_port),
                output,
            })
        })
        .take(MAX_MIRRORS)
        .collect()
}

impl SimOvs {
    fn violate(&self, what: String) {
        tracing::error!(%what, "safety rule broken");
        lock(&self.violations).push(what);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a frame could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No port of that name has an ofport.
    #[error("no port {0} with an ofport on the bridge")]
    NoSuchPort(String),
    /// A copy could not leave.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// A port's MAC address, made from its name (locally administered).
pub fn mac_of(name: &str) -> [u8; 6] {
    let hash =
        name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let bytes = hash.to_be_bytes();
    [0x02, bytes[0], bytes[1], bytes[2], bytes[3], bytes[4]]
}

/// The host's software: OVSDB and OpenFlow on their ports, and
/// ovs-vswitchd's loop, until the host is crashed or bounced.
///
/// # Errors
/// When binding or accepting fails.
pub async fn run(ovs: SimOvs) -> turmoil::Result {
    let ovsdb_listener = turmoil::net::TcpListener::bind(("0.0.0.0", OVSDB_PORT)).await?;
    let openflow_listener = turmoil::net::TcpListener::bind(("0.0.0.0", OPENFLOW_PORT)).await?;
    let mut changes = ovs.database().subscribe();
    let vswitchd = ovs.clone();
    tokio::task::spawn_local(async move {
        loop {
            vswitchd.realize();
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
    let database = ovs.ovsdb.clone();
    tokio::task::spawn_local(async move {
        while let Ok((stream, _)) = ovsdb_listener.accept().await {
            let database = database.clone();
            tokio::task::spawn_local(async move {
                if let Err(error) = ovsdb_server::serve(database, stream).await {
                    tracing::debug!(%error, "simulated OVSDB connection ended");
                }
            });
        }
    });
    loop {
        let (stream, from) = openflow_listener.accept().await?;
        let peer = turmoil::reverse_lookup(from.ip()).unwrap_or_default();
        let switch = ovs.switch.clone();
        tokio::task::spawn_local(async move { switch.serve_from(stream, &peer).await });
    }
}
