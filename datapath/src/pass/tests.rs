use std::collections::BTreeMap;

use super::*;
use crate::api::{
    Action as TcAction, AppliedTo, Direction, LabelSelector, NamedPort, Port, ReturnPort, TrafficControl,
    TrafficControlSpec,
};
use crate::cluster::{PodInfo, PodRef};
use crate::flows::Action;
use crate::offline::pod_ports;
use crate::plan::BridgeMode;
use crate::ports::SwitchMirror;

const NODE: &str = "node-1";

fn pod(namespace: &str, name: &str, app: &str) -> PodInfo {
    PodInfo {
        pod: PodRef::new(namespace, name),
        uid: None,
        labels: BTreeMap::from([("app".to_owned(), app.to_owned())]),
        node_name: Some(NODE.to_owned()),
        host_network: false,
        interface_macs: Default::default(),
    }
}

fn mirror(name: &str, app: &str, target: Port) -> TrafficControl {
    let mut tc = TrafficControl::new(
        name,
        TrafficControlSpec {
            applied_to: AppliedTo {
                pod_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([("app".to_owned(), app.to_owned())])),
                    match_expressions: None,
                }),
                namespace_selector: None,
            },
            direction: Direction::Both,
            action: TcAction::Mirror,
            target_port: target,
            return_port: None,
        },
    );
    tc.metadata.creation_timestamp = None;
    tc
}

fn internal(name: &str) -> Port {
    Port::OvsInternal(NamedPort { name: name.into() })
}

fn device(name: &str) -> Port {
    Port::Device(NamedPort { name: name.into() })
}

fn cluster(tcs: Vec<TrafficControl>) -> Cluster {
    let pods = vec![pod("default", "web", "web"), pod("default", "client", "client")];
    Cluster::new(NODE, tcs, Vec::new(), pods)
}

/// A switch with the Pods' ports (ofports 1 and 2) and nothing of ours.
fn fresh_switch(cluster: &Cluster) -> SwitchState {
    SwitchState { mode: BridgeMode::Owned, ports: pod_ports(NODE, &cluster.pods), ..SwitchState::default() }
}

/// What OVS does with a pass's port operations: each new port gets the
/// ofport it asked for (or `grant` says otherwise), agent ports that go
/// are gone.
fn ovs_answers(switch: &SwitchState, pass: &Pass, grant: impl Fn(&NewPort) -> SwitchPort) -> Vec<SwitchPort> {
    let mut ports = switch.ports.clone();
    ports.extend(pass.created().map(grant));
    let deleted: Vec<&String> = pass.deleted().collect();
    ports.retain(|p| !deleted.contains(&&p.name));
    ports
}

/// What OVS makes of a port the pass creates, read back as the agent's
/// OVSDB reader reads it: from the rows `bridge::add_port` writes.
fn granted(port: &NewPort) -> SwitchPort {
    let mut replica = crate::ovsdb::replica::Replica::default();
    let ops = crate::ovsdb::bridge::add_port("br-int", &port.config, &port.external_ids, port.ofport);
    let row = |op: &serde_json::Value| op["row"].clone();
    let mut interface = row(&ops[0]);
    if let Some(ofport) = port.ofport {
        interface["ofport"] = serde_json::json!(ofport);
    }
    interface["error"] = serde_json::json!(["set", []]);
    let mut port_row = row(&ops[1]);
    port_row["interfaces"] = serde_json::json!(["uuid", "i1"]);
    replica
        .apply(&serde_json::json!({
            "Bridge": {"b1": {"initial": {"name": "br-int", "ports": ["uuid", "p1"]}}},
            "Port": {"p1": {"initial": port_row}},
            "Interface": {"i1": {"initial": interface}},
        }))
        .expect("the rows add_port writes");
    let mut ports = crate::ovsdb::bridge::switch_ports(&replica, "br-int");
    assert_eq!(ports.len(), 1);
    let seen = ports.remove(0);
    assert_eq!(seen, port.as_created(), "the pass assumes what OVSDB will show");
    seen
}

/// The switch after every operation of `pass` was carried out as planned.
fn after(switch: &SwitchState, pass: &Pass) -> SwitchState {
    SwitchState {
        mode: switch.mode,
        ports: ovs_answers(switch, pass, granted),
        mirrors: mirrors_after(switch, pass),
        flows: HeldFlows::Installed(Arc::from(pass.plan.flows.as_slice())),
        port_settings: pass.port_settings.clone(),
        host: switch.host.clone(),
    }
}

/// The bridge's mirrors after `pass`'s mirror operations.
fn mirrors_after(switch: &SwitchState, pass: &Pass) -> Vec<SwitchMirror> {
    let mut mirrors = switch.mirrors.clone();
    for op in &pass.operations {
        match op {
            Operation::SetMirror(planned) => {
                mirrors.retain(|m| m.name != planned.name);
                mirrors.push(SwitchMirror {
                    name: planned.name.clone(),
                    external_ids: PortConfig::external_ids(),
                    select_src_port: planned.select_src_port.clone(),
                    select_dst_port: planned.select_dst_port.clone(),
                    output_port: Some(planned.output_port.clone()),
                });
            }
            Operation::DeleteMirror(name) => mirrors.retain(|m| &m.name != name),
            _ => {}
        }
    }
    mirrors
}

fn kinds(pass: &Pass) -> Vec<String> {
    pass.operations
        .iter()
        .map(|op| match op {
            Operation::CreatePort(port) => format!("create {} ofport={:?}", port.config.name, port.ofport),
            Operation::ReconfigurePort(config) => format!("reconfigure {}", config.name),
            Operation::AwaitPorts(names) => format!("await {}", names.join(",")),
            Operation::SetPort(s) => format!("{:?} {}={}", s.setting, s.port, s.ofport),
            Operation::ApplyFlows(changes) => {
                format!("flows +{} ~{} -{}", changes.added, changes.modified, changes.deleted)
            }
            Operation::DeletePorts(names) => format!("delete {}", names.join(",")),
            Operation::SetMirror(m) => format!(
                "mirror {} src={} dst={} out={}",
                m.name,
                m.select_src_port.iter().cloned().collect::<Vec<_>>().join(","),
                m.select_dst_port.iter().cloned().collect::<Vec<_>>().join(","),
                m.output_port
            ),
            Operation::DeleteMirror(name) => format!("delete mirror {name}"),
        })
        .collect()
}

#[test]
fn a_new_mirror_creates_its_port_with_a_chosen_ofport_then_no_flood_then_flows_then_brings_it_up() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let switch = fresh_switch(&cluster);
    let pass = pass(&cluster, &switch);
    assert_eq!(
        kinds(&pass),
        ["create tap0 ofport=Some(3)", "await tap0", "NoFlood tap0=3", "flows +16 ~0 -0", "Up tap0=3"]
    );
    // The flows already name the port by the ofport it asked for.
    assert!(
        pass.plan.flows.iter().any(|f| f.actions.contains(&Action::SetField(crate::flows::TC_TARGET, 3)))
    );
    assert_eq!(pass.plan.traffic_controls["m"].progress, crate::plan::Progress::Realized);
    assert!(pass.holds(&ovs_answers(&switch, &pass, granted)));
}

#[test]
fn a_switch_that_holds_the_plan_gets_no_operation() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let first = pass(&cluster, &fresh_switch(&cluster));
    let settled = after(&fresh_switch(&cluster), &first);
    let again = pass(&cluster, &settled);
    assert!(again.operations.is_empty(), "{:?}", kinds(&again));
    assert_eq!(again.plan, first.plan);
    // The same from a dump of those flows (an agent that just started).
    let dumped = SwitchState { flows: HeldFlows::Dumped(dump(&first.plan.flows)), ..settled };
    assert!(pass(&cluster, &dumped).operations.is_empty());
}

fn dump(flows: &[Flow]) -> Vec<FlowDesc> {
    flows.iter().map(FlowDesc::of).collect()
}

#[test]
fn after_a_switch_restart_no_flood_comes_before_any_flow() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let first = pass(&cluster, &fresh_switch(&cluster));
    let settled = after(&fresh_switch(&cluster), &first);
    // ovs-vswitchd restarted: OVSDB kept the ports, the flows and the
    // port settings are gone.
    let restarted = SwitchState {
        flows: HeldFlows::Dumped(Vec::new()),
        port_settings: PortSettings::default(),
        ..settled
    };
    let pass = pass(&cluster, &restarted);
    assert_eq!(kinds(&pass), ["NoFlood tap0=3", "flows +16 ~0 -0", "Up tap0=3"]);
}

#[test]
fn new_ports_skip_ofports_that_held_flows_still_name() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let first = pass(&cluster, &fresh_switch(&cluster));
    let mut settled = after(&fresh_switch(&cluster), &first);
    // The CNI removed the client's port (ofport 1): until this pass's
    // bundle, flows still send to 1; and tap0 holds 3.
    settled.ports.retain(|p| p.pod_claim().and_then(|c| c.pod).is_none_or(|pod| pod.name != "client"));
    let more = cluster_with(&cluster, mirror("n", "web", internal("tap1")));
    let pass = pass(&more, &settled);
    assert_eq!(pass.created().map(|p| p.ofport).collect::<Vec<_>>(), [Some(4)]);
    // With the stale flows gone, 1 is free again.
    let clean = after(&settled, &pass);
    let third = pass_with(&more, mirror("o", "web", internal("tap2")), &clean);
    assert_eq!(third.created().map(|p| p.ofport).collect::<Vec<_>>(), [Some(1)]);
}

fn cluster_with(cluster: &Cluster, tc: TrafficControl) -> Cluster {
    let mut tcs = cluster.traffic_controls.to_vec();
    tcs.push(tc);
    Cluster { traffic_controls: tcs.into(), ..cluster.clone() }
}

fn pass_with(cluster: &Cluster, tc: TrafficControl, switch: &SwitchState) -> Pass {
    pass(&cluster_with(cluster, tc), switch)
}

#[test]
fn a_port_ovs_numbers_otherwise_or_cannot_open_voids_the_rest_of_the_pass() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0")), mirror("d", "client", device("eno9"))]);
    let switch = fresh_switch(&cluster);
    let first = pass(&cluster, &switch);
    assert!(first.holds(&ovs_answers(&switch, &first, granted)));
    let renumbered = ovs_answers(&switch, &first, |p| SwitchPort { ofport: Some(40), ..granted(p) });
    assert!(!first.holds(&renumbered));
    let missing_device = ovs_answers(&switch, &first, |p| {
        if p.config.name == "eno9" {
            SwitchPort {
                ofport: None,
                error: Some("could not open network device eno9".into()),
                ..granted(p)
            }
        } else {
            granted(p)
        }
    });
    assert!(!first.holds(&missing_device));
    // Planned again with what OVS said: no flow for eno9, and d failed.
    let replanned = pass(&cluster, &SwitchState { ports: missing_device, ..SwitchState::default() });
    assert_eq!(
        replanned.plan.traffic_controls["d"].progress,
        crate::plan::Progress::PortFailed("port eno9: could not open network device eno9".into())
    );
    assert!(replanned.plan.flows.iter().all(|f| f.cookie != Cookie::traffic_control("d")));
    assert!(!kinds(&replanned).iter().any(|k| k.contains("eno9=")), "{:?}", kinds(&replanned));
}

/// The CNI removes a Pod's port (or adds one) while the pass creates a
/// port: the bridge after the wait is not the one the plan was made for,
/// so the rest of the pass is void, and the next plan drops (or adds) the
/// Pod's flows. Only the ports the pass itself deletes are left out of the
/// comparison.
#[test]
fn a_pod_port_that_comes_or_goes_during_the_pass_voids_it() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let switch = fresh_switch(&cluster);
    let first = pass(&cluster, &switch);
    let mut gone = ovs_answers(&switch, &first, granted);
    gone.retain(|p| p.pod_claim().and_then(|c| c.pod).is_none_or(|pod| pod.name != "client"));
    assert!(!first.holds(&gone));
    let mut added = ovs_answers(&switch, &first, granted);
    added.push(SwitchPort { name: "late".into(), ofport: Some(9), ..SwitchPort::default() });
    assert!(!first.holds(&added));
    // The ports the pass deletes may be gone or not.
    let settled = after(&switch, &first);
    let empty = Cluster { traffic_controls: Arc::from([]), ..cluster.clone() };
    let removal = pass(&empty, &settled);
    assert!(removal.holds(&settled.ports));
    let without_tap0: Vec<SwitchPort> = settled.ports.iter().filter(|p| p.name != "tap0").cloned().collect();
    assert!(removal.holds(&without_tap0));
}

#[test]
fn a_port_that_exists_without_an_answer_is_awaited_before_flows_name_it() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let mut switch = fresh_switch(&cluster);
    // A previous pass created tap0 and failed before OVS answered.
    switch.ports.push(SwitchPort {
        name: "tap0".into(),
        external_ids: PortConfig::external_ids(),
        interface_type: "internal".into(),
        ..SwitchPort::default()
    });
    let pass = pass(&cluster, &switch);
    assert_eq!(kinds(&pass), ["await tap0", "flows +13 ~0 -0"]);
    assert!(pass.plan.flows.iter().all(|f| f.cookie != Cookie::traffic_control("m")));
    assert!(!pass.holds(&[SwitchPort { ofport: Some(9), ..switch.ports[2].clone() }]));
}

#[test]
fn a_removed_traffic_control_loses_its_flows_before_its_port() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let settled = after(&fresh_switch(&cluster), &pass(&cluster, &fresh_switch(&cluster)));
    let empty = Cluster { traffic_controls: Arc::from([]), ..cluster };
    let pass = pass(&empty, &settled);
    assert_eq!(kinds(&pass), ["flows +0 ~0 -3", "delete tap0"]);
    assert!(pass.port_settings.is_empty());
}

#[test]
fn an_adopted_device_is_kept_out_of_floods_and_given_back_after_its_flows() {
    let cluster = cluster(vec![mirror("m", "web", device("eno2"))]);
    let mut switch = fresh_switch(&cluster);
    // Someone attached eno2: the agent uses it, never creates or deletes it.
    switch.ports.push(SwitchPort { name: "eno2".into(), ofport: Some(7), ..SwitchPort::default() });
    let first = pass(&cluster, &switch);
    assert_eq!(kinds(&first), ["NoFlood eno2=7", "flows +16 ~0 -0"]);
    let settled = after(&switch, &first);
    let empty = Cluster { traffic_controls: Arc::from([]), ..cluster };
    let released = pass(&empty, &settled);
    assert_eq!(kinds(&released), ["flows +0 ~0 -3", "Flood eno2=7"]);
}

#[test]
fn a_redirect_creates_both_ports_in_name_order_and_brings_them_up_before_its_flows() {
    let mut tc = mirror("r", "web", internal("tap1"));
    tc.spec.action = TcAction::Redirect;
    tc.spec.return_port = Some(ReturnPort::try_from(internal("tap0")).unwrap());
    let cluster = cluster(vec![tc]);
    let pass = pass(&cluster, &fresh_switch(&cluster));
    assert_eq!(
        kinds(&pass),
        [
            "create tap0 ofport=Some(3)",
            "create tap1 ofport=Some(4)",
            "await tap0,tap1",
            "NoFloodAndUp tap0=3",
            "NoFloodAndUp tap1=4",
            "flows +17 ~0 -0",
        ],
        "a Redirect's ports carry traffic the moment its flows are in"
    );
}

#[test]
fn a_changed_tunnel_is_reconfigured_in_place() {
    let vxlan = |vni| {
        Port::Vxlan(crate::api::UdpTunnel {
            remote_ip: "10.0.10.2".parse().unwrap(),
            destination_port: None,
            vni: Some(vni),
        })
    };
    let cluster = cluster(vec![mirror("m", "web", vxlan(1))]);
    let mut settled = after(&fresh_switch(&cluster), &pass(&cluster, &fresh_switch(&cluster)));
    // Someone changed the port's options behind the agent's back.
    let port = settled.ports.iter_mut().find(|p| p.interface_type == "vxlan").unwrap();
    port.options.insert("key".into(), "99".into());
    let name = port.name.clone();
    let pass = pass(&cluster, &settled);
    assert_eq!(kinds(&pass), [format!("reconfigure {name}"), format!("await {name}")]);
    // Reconfigured as planned, the bridge is what the plan expects.
    let mut reconfigured = settled.ports.clone();
    let port = reconfigured.iter_mut().find(|p| p.name == name).unwrap();
    port.options.insert("key".into(), "1".into());
    assert!(pass.holds(&reconfigured));
}

/// Every pass, whatever the switch holds, keeps DESIGN §2's order.
#[test]
fn operations_always_come_in_design_order() {
    fn rank(op: &Operation) -> u8 {
        match op {
            Operation::CreatePort(_) | Operation::ReconfigurePort(_) => 0,
            Operation::AwaitPorts(_) | Operation::SetMirror(_) | Operation::DeleteMirror(_) => 1,
            Operation::SetPort(s)
                if matches!(s.setting, PortSetting::NoFlood | PortSetting::NoFloodAndUp) =>
            {
                2
            }
            Operation::ApplyFlows(_) => 3,
            Operation::SetPort(_) => 4,
            Operation::DeletePorts(_) => 5,
        }
    }
    let tcs = [
        mirror("a", "web", internal("tap0")),
        mirror("b", "client", device("eno2")),
        mirror("c", "web", internal("tap1")),
    ];
    let base = cluster(Vec::new());
    let mut switch = fresh_switch(&base);
    switch.ports.push(SwitchPort { name: "eno2".into(), ofport: Some(9), ..SwitchPort::default() });
    // Walk every sequence of subsets of the TrafficControls (2^3 states,
    // each reached from each): every step's operations stay in order.
    let subsets: Vec<Vec<TrafficControl>> = (0..8_u8)
        .map(|bits| {
            tcs.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, t)| t.clone()).collect()
        })
        .collect();
    for from in &subsets {
        for to in &subsets {
            let start = Cluster { traffic_controls: from.clone().into(), ..base.clone() };
            let there = after(&switch, &pass(&start, &switch));
            let target = Cluster { traffic_controls: to.clone().into(), ..base.clone() };
            let step = pass(&target, &there);
            let ranks: Vec<u8> = step.operations.iter().map(rank).collect();
            assert!(ranks.is_sorted(), "{:?} → {:?}: {:?}", from.len(), to.len(), kinds(&step));
            // And the step lands where a fresh plan of `to` would.
            let landed = after(&there, &step);
            assert!(pass(&target, &landed).operations.is_empty(), "{:?}", kinds(&pass(&target, &landed)));
        }
    }
}

#[test]
fn a_flow_that_outputs_to_a_port_names_only_ports_the_switch_will_have() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let switch = fresh_switch(&cluster);
    let pass = pass(&cluster, &switch);
    let ports = ovs_answers(&switch, &pass, granted);
    let ofports: BTreeSet<u32> = ports.iter().filter_map(SwitchPort::usable_ofport).collect();
    for flow in &pass.plan.flows {
        for ofport in flow.ofports() {
            assert!(ofports.contains(&ofport), "{flow}");
        }
    }
}

/// A switch as a CNI leaves it: the Pods' ports, the agent's nothing.
fn shared_switch(cluster: &Cluster) -> SwitchState {
    SwitchState { mode: BridgeMode::Shared, ..fresh_switch(cluster) }
}

fn port_of(switch: &SwitchState, pod: &str) -> String {
    let port = switch.ports.iter().find(|p| p.pod_claim().and_then(|c| c.pod).is_some_and(|p| p.name == pod));
    port.map(|p| p.name.clone()).unwrap_or_default()
}

#[test]
fn on_a_shared_bridge_a_mirror_is_a_mirror_row_and_no_flow() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let switch = shared_switch(&cluster);
    let web = port_of(&switch, "web");
    let pass = pass(&cluster, &switch);
    assert_eq!(
        kinds(&pass),
        ["create tap0 ofport=None".to_owned(), format!("mirror tc-tap0 src={web} dst={web} out=tap0")],
        "no ofport asked for, no wait, no flow"
    );
    assert!(pass.plan.flows.is_empty());
    assert_eq!(pass.plan.traffic_controls["m"].progress, crate::plan::Progress::Realized);
    assert!(pass.holds(&ovs_answers(&switch, &pass, granted)));
    // OVS gives tap0 an ofport: the next pass brings it up (an IDS reads
    // it) and out of floods (a port_mod that makes OVS translate its cached
    // flows again, with the mirror), and then nothing is left to do.
    let mut settled = after(&switch, &pass);
    settled.ports.iter_mut().filter(|p| p.name == "tap0").for_each(|p| p.ofport = Some(8));
    let up = pass_with_nothing_new(&cluster, &settled);
    assert_eq!(kinds(&up), ["NoFloodAndUp tap0=8"]);
    let settled = after(&settled, &up);
    let again = pass_with_nothing_new(&cluster, &settled);
    assert!(again.operations.is_empty(), "{:?}", kinds(&again));
}

/// A target port with no mirror row is an ordinary port of the CNI's
/// bridge, and NORMAL floods Pods' broadcasts into it (found by the
/// simulation: the seed's examples left tap0 and a VXLAN port to the
/// collector with every Pod's ARP). So a Mirror that wins no Pod here has
/// no port, and its port goes with its last Pod.
#[test]
fn on_a_shared_bridge_a_target_without_a_mirror_row_gets_no_port() {
    let idle = cluster(vec![mirror("m", "nobody", internal("tap0"))]);
    let switch = shared_switch(&idle);
    let nothing = pass(&idle, &switch);
    assert!(nothing.operations.is_empty(), "{:?}", kinds(&nothing));
    assert!(nothing.plan.ports.is_empty());
    assert_eq!(nothing.plan.traffic_controls["m"].progress, crate::plan::Progress::Realized);
    let busy = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let mirrored = after(&switch, &pass(&busy, &switch));
    let emptied = pass(&idle, &mirrored);
    assert_eq!(kinds(&emptied), ["delete mirror tc-tap0", "delete tap0"]);
}

fn pass_with_nothing_new(cluster: &Cluster, switch: &SwitchState) -> Pass {
    pass(cluster, switch)
}

#[test]
fn on_a_shared_bridge_egress_selects_sources_ingress_destinations() {
    let mut egress = mirror("e", "web", internal("tap0"));
    egress.spec.direction = Direction::Egress;
    let mut ingress = mirror("i", "client", internal("tap0"));
    ingress.spec.direction = Direction::Ingress;
    let cluster = cluster(vec![egress, ingress]);
    let switch = shared_switch(&cluster);
    let (web, client) = (port_of(&switch, "web"), port_of(&switch, "client"));
    let pass = pass(&cluster, &switch);
    let mirror = &pass.plan.mirrors["tc-tap0"];
    assert_eq!(mirror.select_src_port.iter().collect::<Vec<_>>(), [&web]);
    assert_eq!(mirror.select_dst_port.iter().collect::<Vec<_>>(), [&client]);
    assert_eq!(mirror.users.len(), 2, "two TrafficControls, one target: one mirror");
}

#[test]
fn on_a_shared_bridge_a_redirect_is_refused_and_a_mirrors_return_port_not_created() {
    let mut redirect = mirror("r", "web", internal("tap1"));
    redirect.spec.action = TcAction::Redirect;
    redirect.spec.return_port = Some(ReturnPort::try_from(internal("tap2")).unwrap());
    let mut with_return = mirror("m", "client", internal("tap0"));
    with_return.spec.return_port = Some(ReturnPort::try_from(internal("tap3")).unwrap());
    let cluster = cluster(vec![redirect, with_return]);
    let pass = pass(&cluster, &shared_switch(&cluster));
    assert_eq!(
        pass.plan.traffic_controls["r"].progress,
        crate::plan::Progress::Failed(crate::plan::REDIRECT_ON_SHARED.to_owned())
    );
    let created: Vec<&str> = pass.created().map(|p| p.config.name.as_str()).collect();
    assert_eq!(created, ["tap0"], "no port for the refused Redirect, no return port for the Mirror");
    assert!(
        pass.plan.effective.keys().all(|pod| pod.name == "client"),
        "a refused TrafficControl claims nothing"
    );
}

#[test]
fn on_a_shared_bridge_other_mirrors_are_left_alone_and_counted_against_the_limit() {
    let foreign = |i: usize| SwitchMirror { name: format!("cni-{i}"), ..SwitchMirror::default() };
    let cluster =
        cluster(vec![mirror("a", "web", internal("tap0")), mirror("b", "client", internal("tap1"))]);
    let mut switch = shared_switch(&cluster);
    switch.mirrors = (0..crate::plan::MAX_MIRRORS - 1).map(foreign).collect();
    // And a mirror of the agent's that no TrafficControl needs any more.
    switch.mirrors.push(SwitchMirror {
        name: "tc-old".into(),
        external_ids: PortConfig::external_ids(),
        ..SwitchMirror::default()
    });
    let pass = pass(&cluster, &switch);
    assert_eq!(pass.plan.traffic_controls["a"].progress, crate::plan::Progress::Realized);
    let crate::plan::Progress::Failed(why) = &pass.plan.traffic_controls["b"].progress else {
        panic!("{:?}", pass.plan.traffic_controls["b"])
    };
    assert_eq!(
        why,
        "the bridge has 32 mirrors, the most OVS allows (31 of them not the agent's): no room for tc-tap1"
    );
    let touched: Vec<String> = kinds(&pass).into_iter().filter(|k| k.contains("mirror")).collect();
    assert_eq!(touched.len(), 2, "{touched:?}");
    // The old one goes first: made first, tc-tap0 would be the 33rd, and
    // ovs-vswitchd drops one it picks by hash, maybe the CNI's (found by
    // the simulation's invariant on every transaction of the agent).
    assert_eq!(touched[0], "delete mirror tc-old", "only the agent's own");
    assert!(touched[1].starts_with("mirror tc-tap0 "), "{touched:?}");
}

#[test]
fn a_bridge_that_becomes_shared_loses_the_agents_flows_and_mirrors_replace_them() {
    let cluster = cluster(vec![mirror("m", "web", internal("tap0"))]);
    let owned = after(&fresh_switch(&cluster), &pass(&cluster, &fresh_switch(&cluster)));
    let shared = SwitchState { mode: BridgeMode::Shared, ..owned };
    let pass = pass(&cluster, &shared);
    let kinds = kinds(&pass);
    assert!(kinds.iter().any(|k| k.starts_with("mirror tc-tap0")), "{kinds:?}");
    assert!(kinds.contains(&"flows +0 ~0 -16".to_owned()), "{kinds:?}");
}

/// The guard rails in a pass: a TrafficControl whose port would take a
/// piece of the node's networking fails with the rule, makes nothing, and
/// the others go on.
#[test]
fn a_port_of_the_nodes_networking_is_refused_and_the_other_traffic_controls_go_on() {
    let vxlan_to = |ip: &str| {
        Port::Vxlan(crate::api::UdpTunnel {
            remote_ip: ip.parse().unwrap(),
            destination_port: None,
            vni: None,
        })
    };
    let cluster = cluster(vec![
        mirror("uplink", "web", device("eth0")),
        mirror("default-route", "web", device("eth1")),
        mirror("other-bridge", "web", device("phy0")),
        mirror("patch", "web", device("patch-ex")),
        mirror("to-itself", "web", vxlan_to("10.0.0.5")),
        mirror("ids", "client", device("ids0")),
    ]);
    let mut switch = fresh_switch(&cluster);
    switch.host.addresses.insert("eth0".into(), ["10.0.0.5".parse().unwrap()].into());
    switch.host.default_route_devices.insert("eth1".into());
    switch.host.other_bridge_ports.insert("phy0".into(), "br-phy".into());
    switch.ports.push(SwitchPort {
        name: "patch-ex".into(),
        ofport: Some(40),
        interface_type: "patch".into(),
        ..SwitchPort::default()
    });
    switch.ports.push(SwitchPort { name: "ids0".into(), ofport: Some(41), ..SwitchPort::default() });
    let pass = pass(&cluster, &switch);
    let reason = |name: &str| match &pass.plan.traffic_controls[name].progress {
        crate::plan::Progress::Failed(reason) => reason.clone(),
        other => format!("not failed: {other:?}"),
    };
    assert_eq!(
        reason("uplink"),
        "device eth0 carries the node's address 10.0.0.5: attached to the bridge it would cut the node off"
    );
    assert_eq!(
        reason("default-route"),
        "device eth1 carries the node's default route: attached to the bridge it would cut the node off"
    );
    assert_eq!(reason("other-bridge"), "port phy0 is already attached to bridge br-phy");
    assert!(reason("patch").starts_with("port patch-ex is a patch port"), "{}", reason("patch"));
    assert_eq!(
        reason("to-itself"),
        "remoteIP 10.0.0.5 is an address of this node (device eth0): a tunnel must lead to another host"
    );
    // Nothing is created for them; the plain device someone attached for
    // an IDS is adopted as before.
    assert!(
        pass.created().all(|p| p.config.name != "eth0" && p.config.interface_type != crate::ports::InterfaceType::Vxlan)
    );
    assert_eq!(pass.plan.traffic_controls["ids"].progress, crate::plan::Progress::Realized);
    assert!(
        pass.plan.ports.contains_key("ids0") && pass.plan.ports.len() == 1,
        "{:?}",
        pass.plan.ports.keys()
    );
}
