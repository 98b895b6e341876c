//! One reconcile pass, decided in one place: the cluster and the switch as
//! last observed → the plan and every operation that realizes it, in
//! DESIGN §2's order. The agent, the real-switch tests, `tcctl plan` and
//! the simulation all go through [`pass`]; the shell only executes the
//! operations and reports what it observed.
//!
//! The operations, in order:
//! 1. create the ports the switch lacks and reconfigure the agent's ports
//!    whose options changed. A new port asks OVS for an ofport the pass
//!    chose (`ofport_request`: the lowest number no port holds and no held
//!    flow names), so the flows below can already name it;
//! 2. wait until OVS has answered for every planned port (an ofport, or an
//!    error). If the bridge is not what the plan assumed ([`Pass::holds`]
//!    is false: another number, an error, a port someone else added or
//!    removed meanwhile), the rest is void: plan again;
//! 3. no-flood on every TrafficControl port the switch has not been told
//!    yet (ovs-vswitchd forgets it when it restarts), before any flow of
//!    the pass reaches the switch; the agent's ports that a Redirect uses
//!    are brought up with it, so they carry traffic the moment their flows
//!    are in;
//! 4. the flow changes, in one bundle;
//! 5. the agent's ports that only Mirrors use are brought up, now: a
//!    device that comes up makes ovs-vswitchd reconfigure, which would
//!    hold back the bundle, and no copy is sent to the port before it;
//! 6. flooding back on adopted devices no TrafficControl uses any more,
//!    only now that no flow sends to them;
//! 7. deleting the agent's ports the plan dropped, only now that no flow
//!    names them (OVS may give their ofports to the next port).
//!
//! What it does not do: talk to anything, or remember anything. What the
//! switch holds (flows, port settings) is the caller's observation, and
//! the caller records what the executed operations changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::flow_diff::{self, FlowChanges};
use crate::flows::{Cookie, Flow};
use crate::guard_rails::HostNetwork;
use crate::openflow::flow_mod::FlowDesc;
use crate::plan::{Bridge, BridgeMode, Cluster, Plan, PlannedMirror, planned_ports};
use crate::port_diff;
use crate::ports::{OFPORT_MAX, PortConfig, SwitchMirror, SwitchPort};

/// The switch as the agent last observed it.
#[derive(Clone, Debug, Default)]
pub struct SwitchState {
    /// How the agent realizes TrafficControls on this bridge (the
    /// configuration's, not observed).
    pub mode: BridgeMode,
    /// The bridge's ports (OVSDB).
    pub ports: Vec<SwitchPort>,
    /// The bridge's `Mirror` rows (OVSDB), the agent's and others'.
    pub mirrors: Vec<SwitchMirror>,
    /// The agent's flows on the switch.
    pub flows: HeldFlows,
    /// The port settings the switch was given since ovs-vswitchd started.
    pub port_settings: PortSettings,
    /// The node's networking around the switch (its devices' addresses
    /// and default routes, the other bridges' ports), which no
    /// TrafficControl port may take.
    pub host: HostNetwork,
}

/// The agent's flows a switch holds: as a dump showed them, or as the
/// agent's last bundle left them (when nothing else changed them since).
#[derive(Clone, Debug)]
pub enum HeldFlows {
    /// Read back from the switch.
    Dumped(Vec<FlowDesc>),
    /// What the last bundle installed.
    Installed(Arc<[Flow]>),
}

impl Default for HeldFlows {
    /// None at all: a switch the agent never wrote to.
    fn default() -> Self {
        HeldFlows::Installed(Arc::from([]))
    }
}

impl HeldFlows {
    /// The ofports the held flows name (a dumped flow this agent cannot
    /// read names none it knows of).
    fn ofports(&self) -> BTreeSet<u32> {
        match self {
            HeldFlows::Installed(flows) => flows.iter().flat_map(Flow::ofports).collect(),
            HeldFlows::Dumped(descs) => descs
                .iter()
                .filter(|d| Cookie(d.cookie).is_agents())
                .filter_map(FlowDesc::to_flow)
                .flat_map(|flow| flow.ofports())
                .collect(),
        }
    }

    fn changes_to(&self, desired: &[Flow]) -> FlowChanges {
        match self {
            HeldFlows::Dumped(descs) => flow_diff::diff(desired, descs),
            HeldFlows::Installed(flows) => flow_diff::diff_installed(desired, flows),
        }
    }
}

/// What the agent set on a port of the running ovs-vswitchd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Configured {
    /// The agent's own TrafficControl port: out of floods, and up.
    OwnPort,
    /// A device someone else attached, used by a TrafficControl: out of
    /// floods; otherwise as its owner left it.
    Adopted,
    /// The agent's own port on a shared bridge: up, and out of floods.
    /// OVS never floods into a mirror's output port; the no-flood is for
    /// the port_mod's side effect: a change of a port's no-flood bit makes
    /// ovs-vswitchd translate its cached datapath flows again, and OVS 3.1
    /// can cache a flow translated before a new tunnel mirror could send,
    /// without the copy, for as long as its traffic never pauses (seen in
    /// the OVN test under load: no copy at all until a revalidation).
    /// Being up alone does not make it translate again. The setting is
    /// sent once the port has an ofport, which ovs-vswitchd writes after
    /// it has configured the port and the mirror.
    MirrorOutput,
}

/// The port settings a switch holds, by port name, with the ofport they
/// were given for. OpenFlow 1.5 cannot read the no-flood bit back, so
/// this is what the agent sent since the switch started: empty after
/// ovs-vswitchd restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSettings(BTreeMap<String, (u32, Configured)>);

impl PortSettings {
    /// What `port` holds, if the agent set it.
    pub fn get(&self, port: &str) -> Option<(u32, Configured)> {
        self.0.get(port).copied()
    }

    /// How many ports hold a setting.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no port does.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one port_mod sets (OpenFlow 1.0's no-flood bit: NORMAL never
/// floods into a no-flood port; and the port-down bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortSetting {
    /// Out of floods.
    NoFlood,
    /// Out of floods and up, at once.
    NoFloodAndUp,
    /// Up (OVS brings an internal port's device up with it).
    Up,
    /// In floods again: an adopted device given back, as before the agent
    /// adopted it.
    Flood,
}

/// One port setting to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetPort {
    /// The port.
    pub port: String,
    /// Its ofport.
    pub ofport: u32,
    /// What it gets.
    pub setting: PortSetting,
}

/// A port to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPort {
    /// Name, type and options.
    pub config: PortConfig,
    /// The `external_ids` that mark it as the agent's.
    pub external_ids: BTreeMap<String, String>,
    /// The ofport the pass planned its flows with (`ofport_request`);
    /// none when every number is taken (OVS then chooses, and the flows
    /// wait for the next pass).
    pub ofport: Option<u32>,
}

impl NewPort {
    /// The port as the bridge shows it once OVS created it with the
    /// ofport it asked for.
    pub fn as_created(&self) -> SwitchPort {
        created(&self.config, self.ofport)
    }
}

/// Who carries an operation out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// The OVSDB connection (the port manager).
    Ovsdb,
    /// The OpenFlow connections (the flow manager).
    OpenFlow,
}

/// One thing to do to the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Add a port to the bridge.
    CreatePort(NewPort),
    /// Set one of the agent's ports' type and options.
    ReconfigurePort(PortConfig),
    /// Wait until OVS answered for each of these ports (an ofport or an
    /// error); then [`Pass::holds`] says whether the rest still stands.
    AwaitPorts(Vec<String>),
    /// Create or update the agent's `Mirror` row of this name.
    SetMirror(PlannedMirror),
    /// Remove the agent's `Mirror` row of this name.
    DeleteMirror(String),
    /// Give a port a setting.
    SetPort(SetPort),
    /// Send these flow changes in one bundle.
    ApplyFlows(FlowChanges),
    /// Remove these agent ports from the bridge.
    DeletePorts(Vec<String>),
}

impl Operation {
    /// Who carries it out.
    pub fn executor(&self) -> Executor {
        match self {
            Operation::CreatePort(_)
            | Operation::ReconfigurePort(_)
            | Operation::AwaitPorts(_)
            | Operation::SetMirror(_)
            | Operation::DeleteMirror(_)
            | Operation::DeletePorts(_) => Executor::Ovsdb,
            Operation::SetPort(_) | Operation::ApplyFlows(_) => Executor::OpenFlow,
        }
    }
}

/// One pass: the plan, and the operations that make the switch hold it.
#[derive(Clone, Debug)]
pub struct Pass {
    /// What should be, as the switch will hold it once the operations are
    /// done (new ports with the ofports the pass asks for).
    pub plan: Plan,
    /// What to do, in order.
    pub operations: Vec<Operation>,
    /// The port settings the switch holds once the operations are done.
    pub port_settings: PortSettings,
    /// The bridge's ports the plan was made for, by name: the observed
    /// ones and the new ones with the ofports they ask for.
    assumed: BTreeMap<String, SwitchPort>,
}

impl Pass {
    /// Whether the bridge's ports, as they are after a run of OVSDB
    /// operations, are the ones the plan was made for: OVS gave every new
    /// port the ofport it asked for and opened it, and nobody else added,
    /// removed or changed a port meanwhile (a Pod's port the CNI removed
    /// must not keep its flows). The ports the pass deletes do not count.
    /// When they are not, the operations after the run are void: plan
    /// again with these ports.
    pub fn holds(&self, ports: &[SwitchPort]) -> bool {
        let deleted: BTreeSet<&String> = self.deleted().collect();
        let mut now: Vec<&SwitchPort> = ports.iter().filter(|p| !deleted.contains(&p.name)).collect();
        now.sort_by(|a, b| a.name.cmp(&b.name));
        now.into_iter().eq(self.assumed.values().filter(|p| !deleted.contains(&p.name)))
    }

    /// The flow changes the pass sends (none when the switch holds the plan).
    pub fn flow_changes(&self) -> Option<&FlowChanges> {
        self.operations.iter().find_map(|op| match op {
            Operation::ApplyFlows(changes) => Some(changes),
            _ => None,
        })
    }

    /// The ports it creates.
    pub fn created(&self) -> impl Iterator<Item = &NewPort> {
        self.operations.iter().filter_map(|op| match op {
            Operation::CreatePort(port) => Some(port),
            _ => None,
        })
    }

    /// The ports it deletes.
    pub fn deleted(&self) -> impl Iterator<Item = &String> {
        self.operations.iter().flat_map(|op| match op {
            Operation::DeletePorts(names) => names.as_slice(),
            _ => &[],
        })
    }
}

/// Decides one pass; see the module documentation.
pub fn pass(cluster: &Cluster, switch: &SwitchState) -> Pass {
    let observed: BTreeMap<&str, &SwitchPort> = switch.ports.iter().map(|p| (p.name.as_str(), p)).collect();
    let foreign_mirrors = switch.mirrors.iter().filter(|m| !m.is_agents()).count();
    let bridge = Bridge { mode: switch.mode, foreign_mirrors, host: &switch.host };
    let needed = planned_ports(cluster, &switch.ports, &bridge);
    // Only flows name ofports: on a shared bridge a new port takes what
    // OVS gives (a CNI may ask for numbers of its own) and nothing waits.
    let owned = switch.mode == BridgeMode::Owned;
    let requests = if owned { ofport_requests(&needed, switch) } else { BTreeMap::new() };
    let mut assumed_ports = with_requested(&switch.ports, &needed, &requests);
    if !owned {
        let created = needed
            .iter()
            .filter(|(name, port)| !port.adopted && !observed.contains_key(name.as_str()))
            .map(|(_, port)| created(&port.config, None));
        assumed_ports.extend(created);
        assumed_ports.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let plan = crate::plan::plan(cluster, &assumed_ports, &bridge);
    let ports = port_diff::diff(&plan.ports, &switch.ports);

    let mut operations = Vec::new();
    for config in ports.create {
        let ofport = requests.get(&config.name).copied();
        operations.push(Operation::CreatePort(NewPort {
            config,
            external_ids: PortConfig::external_ids(),
            ofport,
        }));
    }
    operations.extend(ports.reconfigure.into_iter().map(Operation::ReconfigurePort));
    let answered =
        |name: &str| observed.get(name).is_some_and(|p| p.usable_ofport().is_some() || p.error.is_some());
    if owned && (!operations.is_empty() || !plan.ports.keys().all(|name| answered(name))) {
        operations.push(Operation::AwaitPorts(plan.ports.keys().cloned().collect()));
    }
    operations.extend(mirror_changes(&plan, &switch.mirrors));
    let settings = port_settings(cluster, &plan, switch);
    operations.extend(settings.before_flows.into_iter().map(Operation::SetPort));
    let changes = switch.flows.changes_to(&plan.flows);
    if !changes.is_empty() {
        operations.push(Operation::ApplyFlows(changes));
    }
    operations.extend(settings.after_flows.into_iter().map(Operation::SetPort));
    if !ports.delete_after_flows.is_empty() {
        operations.push(Operation::DeletePorts(ports.delete_after_flows));
    }
    let mut assumed: BTreeMap<String, SwitchPort> =
        assumed_ports.into_iter().map(|p| (p.name.clone(), p)).collect();
    for op in &operations {
        if let Operation::ReconfigurePort(config) = op
            && let Some(port) = assumed.get_mut(&config.name)
        {
            port.interface_type = config.interface_type.ovsdb_type().to_owned();
            port.options = config.options.clone();
        }
    }
    Pass { plan, operations, port_settings: settings.held, assumed }
}

/// The agent's `Mirror` rows to delete (its own ones the plan no longer
/// has), then those to create or update (those that differ from the
/// bridge's). Deletions first: on a bridge at OVS's 32 mirrors a new row
/// made before the old one goes would be the 33rd for a moment, and
/// ovs-vswitchd would leave out a mirror of its choosing, perhaps a CNI's.
/// Mirrors that are not the agent's are never touched.
fn mirror_changes(plan: &Plan, mirrors: &[SwitchMirror]) -> Vec<Operation> {
    let ours: BTreeMap<&str, &SwitchMirror> =
        mirrors.iter().filter(|m| m.is_agents()).map(|m| (m.name.as_str(), m)).collect();
    let mut operations: Vec<Operation> = ours
        .keys()
        .filter(|name| !plan.mirrors.contains_key(**name))
        .map(|name| Operation::DeleteMirror((*name).to_owned()))
        .collect();
    for (name, planned) in &plan.mirrors {
        let held = ours.get(name.as_str()).is_some_and(|m| {
            m.select_src_port == planned.select_src_port
                && m.select_dst_port == planned.select_dst_port
                && m.output_port.as_deref() == Some(planned.output_port.as_str())
        });
        if !held {
            operations.push(Operation::SetMirror(planned.clone()));
        }
    }
    operations
}

/// The bridge's ports as they will be once the ports to create exist with
/// the ofports they ask for.
fn with_requested(
    ports: &[SwitchPort],
    needed: &BTreeMap<String, crate::plan::PlannedPort>,
    requests: &BTreeMap<String, u32>,
) -> Vec<SwitchPort> {
    let mut assumed = ports.to_vec();
    assumed.extend(requests.iter().map(|(name, ofport)| created(&needed[name].config, Some(*ofport))));
    assumed
}

/// A port the agent creates with `config`, as the bridge shows it once OVS
/// gave it `ofport`: the agent's `external_ids` on both rows (what
/// [`crate::ovsdb::bridge::add_port`] writes).
fn created(config: &PortConfig, ofport: Option<u32>) -> SwitchPort {
    SwitchPort {
        name: config.name.clone(),
        ofport,
        external_ids: PortConfig::external_ids(),
        port_external_ids: PortConfig::external_ids(),
        interface_type: config.interface_type.ovsdb_type().to_owned(),
        options: config.options.clone(),
        ..SwitchPort::default()
    }
}

/// The ofport each port to create asks for, in name order: the lowest
/// numbers that no port on the bridge holds and no held flow names (a
/// flow of a port that just went may still name its number until the
/// bundle of this pass removes it).
fn ofport_requests(
    needed: &BTreeMap<String, crate::plan::PlannedPort>,
    switch: &SwitchState,
) -> BTreeMap<String, u32> {
    let on_switch: BTreeSet<&str> = switch.ports.iter().map(|p| p.name.as_str()).collect();
    let new: Vec<&String> = needed
        .iter()
        .filter(|(name, port)| !port.adopted && !on_switch.contains(name.as_str()))
        .map(|(n, _)| n)
        .collect();
    if new.is_empty() {
        return BTreeMap::new(); // the common pass: reading every held flow's ofports is not free
    }
    let mut taken = switch.flows.ofports();
    taken.extend(switch.ports.iter().filter_map(|p| p.ofport));
    let mut free = (1..=OFPORT_MAX).filter(move |n| !taken.contains(n));
    new.into_iter().filter_map(|name| Some((name.clone(), free.next()?))).collect()
}

/// The port settings a pass sends, around its flows.
struct Settings {
    before_flows: Vec<SetPort>,
    after_flows: Vec<SetPort>,
    /// What the switch holds once both are sent.
    held: PortSettings,
}

/// The settings every planned port lacks, and flooding back for adopted
/// devices no TrafficControl uses any more.
fn port_settings(cluster: &Cluster, plan: &Plan, switch: &SwitchState) -> Settings {
    let redirects: BTreeSet<&str> = cluster
        .traffic_controls
        .iter()
        .filter(|tc| tc.spec.action == crate::api::Action::Redirect)
        .filter_map(|tc| tc.metadata.name.as_deref())
        .collect();
    let mut settings =
        Settings { before_flows: Vec::new(), after_flows: Vec::new(), held: PortSettings::default() };
    let owned = switch.mode == BridgeMode::Owned;
    for (name, port) in &plan.ports {
        let Some(ofport) = port.ofport else { continue };
        let configured = match (owned, port.adopted) {
            (true, true) => Configured::Adopted,
            (true, false) => Configured::OwnPort,
            // A mirror's output port gets only mirrored frames: a device
            // someone attached is left as it is.
            (false, true) => continue,
            (false, false) => Configured::MirrorOutput,
        };
        settings.held.0.insert(name.clone(), (ofport, configured));
        if switch.port_settings.get(name) == Some((ofport, configured)) {
            continue;
        }
        let set = |setting| SetPort { port: name.clone(), ofport, setting };
        match configured {
            Configured::Adopted => settings.before_flows.push(set(PortSetting::NoFlood)),
            Configured::OwnPort if port.users.iter().any(|u| redirects.contains(u.as_str())) => {
                settings.before_flows.push(set(PortSetting::NoFloodAndUp));
            }
            Configured::OwnPort => {
                settings.before_flows.push(set(PortSetting::NoFlood));
                settings.after_flows.push(set(PortSetting::Up));
            }
            Configured::MirrorOutput => settings.after_flows.push(set(PortSetting::NoFloodAndUp)),
        }
    }
    let present: BTreeMap<&str, u32> =
        switch.ports.iter().filter_map(|p| Some((p.name.as_str(), p.usable_ofport()?))).collect();
    for (name, (_, configured)) in &switch.port_settings.0 {
        if *configured != Configured::Adopted || plan.ports.contains_key(name) {
            continue;
        }
        // A device given back floods again; one that left the bridge
        // took its setting with it.
        if let Some(&ofport) = present.get(name.as_str()) {
            settings.after_flows.push(SetPort { port: name.clone(), ofport, setting: PortSetting::Flood });
        }
    }
    settings
}

#[cfg(test)]
mod tests;
