use std::collections::BTreeMap;

use super::*;
use crate::api::{
    Action as TcAction, AppliedTo, Direction, LabelSelector, NamedPort, Port, ReturnPort, TrafficControlSpec,
    UdpTunnel,
};
use crate::cni::keys::antrea;
use crate::flows::{Cookie, Match, OUTPUT_PORT, Table};
use crate::offline::pod_ports;
use crate::ports::PortConfig;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

const NODE: &str = "node-1";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn pod(ns: &str, name: &str, pairs: &[(&str, &str)]) -> PodInfo {
    PodInfo {
        pod: PodRef::new(ns, name),
        uid: None,
        labels: labels(pairs),
        node_name: Some(NODE.into()),
        host_network: false,
        interface_macs: Default::default(),
    }
}

fn selector(pairs: &[(&str, &str)]) -> Option<LabelSelector> {
    Some(LabelSelector { match_labels: Some(labels(pairs)), match_expressions: None })
}

fn internal(name: &str) -> Port {
    Port::OvsInternal(NamedPort { name: name.into() })
}

fn tc(
    name: &str,
    pods: Option<LabelSelector>,
    namespaces: Option<LabelSelector>,
    target: Port,
) -> TrafficControl {
    let mut tc = TrafficControl::new(
        name,
        TrafficControlSpec {
            applied_to: AppliedTo { pod_selector: pods, namespace_selector: namespaces },
            direction: Direction::Both,
            action: TcAction::Mirror,
            target_port: target,
            return_port: None,
        },
    );
    tc.metadata.creation_timestamp = None;
    tc
}

fn created(mut tc: TrafficControl, seconds: i64) -> TrafficControl {
    let at = k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + seconds).unwrap();
    tc.metadata.creation_timestamp = Some(Time(at));
    tc
}

fn redirect(mut tc: TrafficControl, ret: Port) -> TrafficControl {
    tc.spec.action = TcAction::Redirect;
    tc.spec.return_port = Some(ReturnPort::try_from(ret).unwrap());
    tc
}

struct World {
    tcs: Vec<TrafficControl>,
    namespaces: Vec<NamespaceInfo>,
    pods: Vec<PodInfo>,
    switch: Vec<SwitchPort>,
}

impl World {
    fn new(tcs: Vec<TrafficControl>, pods: Vec<PodInfo>) -> Self {
        let switch = pod_ports(NODE, &pods);
        World { tcs, namespaces: vec![], pods, switch }
    }

    /// Gives every planned TrafficControl port an ofport (100, 101, ...).
    fn with_tc_ports(mut self) -> Self {
        let names: Vec<String> = self.plan().ports.keys().cloned().collect();
        for (name, ofport) in names.into_iter().zip(100..) {
            self.switch.push(SwitchPort {
                name,
                ofport: Some(ofport),
                external_ids: PortConfig::external_ids(),
                ..Default::default()
            });
        }
        self
    }

    fn plan(&self) -> Plan {
        let cluster = Cluster::new(NODE, self.tcs.clone(), self.namespaces.clone(), self.pods.clone());
        plan(&cluster, &self.switch, &Bridge::OWNED)
    }
}

fn effective(plan: &Plan) -> Vec<String> {
    plan.effective.iter().map(|(pod, tc)| format!("{pod}={tc}")).collect()
}

fn sample_pods() -> Vec<PodInfo> {
    vec![
        pod("default", "web", &[("app", "web")]),
        pod("default", "client", &[("app", "client")]),
        pod("prod", "web", &[("app", "web")]),
        pod("prod", "db", &[("app", "db")]),
    ]
}

#[test]
fn absent_selectors_select_nothing() {
    let world = World::new(vec![tc("t", None, None, internal("tap0"))], sample_pods());
    assert!(world.plan().effective.is_empty());
}

#[test]
fn an_empty_pod_selector_selects_every_pod() {
    let world = World::new(vec![tc("t", selector(&[]), None, internal("tap0"))], sample_pods());
    assert_eq!(effective(&world.plan()).len(), 4);
}

#[test]
fn a_pod_selector_alone_selects_in_every_namespace() {
    let world = World::new(vec![tc("t", selector(&[("app", "web")]), None, internal("tap0"))], sample_pods());
    assert_eq!(effective(&world.plan()), ["default/web=t", "prod/web=t"]);
}

#[test]
fn a_namespace_selector_alone_selects_every_pod_of_its_namespaces() {
    let world = World::new(
        vec![tc("t", None, selector(&[("kubernetes.io/metadata.name", "prod")]), internal("tap0"))],
        sample_pods(),
    );
    assert_eq!(effective(&world.plan()), ["prod/db=t", "prod/web=t"]);
}

#[test]
fn both_selectors_select_matching_pods_in_matching_namespaces() {
    let mut world = World::new(
        vec![tc("t", selector(&[("app", "web")]), selector(&[("env", "production")]), internal("tap0"))],
        sample_pods(),
    );
    world.namespaces = vec![NamespaceInfo {
        name: "prod".into(),
        labels: labels(&[("env", "production"), ("kubernetes.io/metadata.name", "prod")]),
    }];
    assert_eq!(effective(&world.plan()), ["prod/web=t"]);
}

#[test]
fn other_nodes_and_host_network_pods_are_never_selected() {
    let mut pods = sample_pods();
    pods.push(PodInfo { node_name: Some("node-2".into()), ..pod("default", "elsewhere", &[("app", "web")]) });
    pods.push(PodInfo { host_network: true, ..pod("default", "hostnet", &[("app", "web")]) });
    pods.push(PodInfo { node_name: None, ..pod("default", "unscheduled", &[("app", "web")]) });
    let world = World::new(vec![tc("t", selector(&[]), None, internal("tap0"))], pods);
    let selected = effective(&world.plan());
    assert_eq!(selected.len(), 4, "{selected:?}");
    assert!(
        selected
            .iter()
            .all(|s| !s.contains("elsewhere") && !s.contains("hostnet") && !s.contains("unscheduled"))
    );
}

#[test]
fn the_oldest_traffic_control_wins_and_the_others_are_conflicts() {
    let world = World::new(
        vec![
            created(tc("b-newer", selector(&[("app", "web")]), None, internal("tap1")), 10),
            created(tc("z-oldest", selector(&[]), None, internal("tap0")), 0),
            created(tc("a-newest", selector(&[("app", "web")]), None, internal("tap2")), 20),
        ],
        sample_pods(),
    );
    let plan = world.plan();
    assert!(plan.effective.values().all(|tc| tc == "z-oldest"));
    let web = plan.conflicts().into_iter().find(|c| c.pod == PodRef::new("prod", "web")).unwrap();
    assert_eq!(
        (web.winner.as_str(), web.losers.clone()),
        ("z-oldest", vec!["b-newer".to_owned(), "a-newest".to_owned()])
    );
    assert_eq!(plan.traffic_controls["b-newer"].lost_pods.len(), 2);
}

#[test]
fn equal_timestamps_fall_back_to_the_name_and_missing_ones_come_last() {
    let world = World::new(
        vec![
            tc("a-no-timestamp", selector(&[]), None, internal("tap0")),
            created(tc("c-same", selector(&[]), None, internal("tap1")), 5),
            created(tc("b-same", selector(&[]), None, internal("tap2")), 5),
        ],
        sample_pods(),
    );
    assert!(world.plan().effective.values().all(|tc| tc == "b-same"));
}

#[test]
fn traffic_controls_with_equal_port_parameters_share_one_port() {
    let vxlan = |port| {
        Port::Vxlan(UdpTunnel { remote_ip: "10.0.10.2".parse().unwrap(), destination_port: port, vni: None })
    };
    let world = World::new(
        vec![
            tc("a", selector(&[("app", "web")]), None, vxlan(None)),
            tc("b", selector(&[("app", "db")]), None, vxlan(Some(4789))),
        ],
        sample_pods(),
    );
    let plan = world.plan();
    assert_eq!(plan.ports.len(), 1);
    assert_eq!(plan.ports["vxlan-a84093"].users.iter().collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn a_port_name_taken_with_other_settings_fails_the_younger_traffic_control_which_claims_nothing() {
    let world = World::new(
        vec![
            created(tc("older", selector(&[("app", "web")]), None, internal("tap0")), 0),
            created(tc("younger", selector(&[]), None, Port::Device(NamedPort { name: "tap0".into() })), 1),
            created(tc("youngest", selector(&[]), None, internal("tap9")), 2),
        ],
        sample_pods(),
    )
    .with_tc_ports();
    let plan = world.plan();
    assert_eq!(
        plan.traffic_controls["younger"].progress,
        Progress::Failed(
            "port tap0 is already used with different settings (internal port) by tc/older".into()
        )
    );
    assert_eq!(plan.ports["tap0"].users.iter().collect::<Vec<_>>(), ["older"]);
    // The failed one's Pods go to the next TrafficControl instead.
    assert_eq!(plan.effective[&PodRef::new("prod", "db")], "youngest");
    assert!(plan.conflicts().iter().all(|c| !c.losers.contains(&"younger".to_owned())));
}

#[test]
fn a_port_name_that_is_a_pods_port_is_refused() {
    let mut world = World::new(vec![], sample_pods());
    let pod_port = world.switch[0].name.clone();
    world.tcs = vec![tc("t", selector(&[]), None, Port::Device(NamedPort { name: pod_port.clone() }))];
    let plan = world.plan();
    assert!(plan.ports.is_empty());
    let Progress::Failed(reason) = &plan.traffic_controls["t"].progress else { panic!("not failed") };
    assert!(reason.contains("is the port of Pod"), "{reason}");
}

#[test]
fn no_flow_uses_a_target_port_before_it_has_an_ofport() {
    let world = World::new(vec![tc("t", selector(&[]), None, internal("tap0"))], sample_pods());
    let plan = world.plan();
    assert_eq!(
        plan.traffic_controls["t"].progress,
        Progress::Pending("waiting for port tap0 to get an ofport".into())
    );
    assert!(
        plan.flows.iter().all(|f| f.table != Table::TrafficControl || f.priority == 300 || f.priority == 0)
    );
    let ready = world.with_tc_ports().plan();
    assert_eq!(ready.traffic_controls["t"].progress, Progress::Realized);
    assert_eq!(
        ready.flows.iter().filter(|f| f.cookie == crate::flows::Cookie::traffic_control("t")).count(),
        8
    );
}

#[test]
fn a_redirect_waits_for_its_return_port_too() {
    let mut world = World::new(
        vec![redirect(tc("t", selector(&[]), None, internal("tap0")), internal("tap1"))],
        sample_pods(),
    );
    world.switch.push(SwitchPort {
        name: "tap0".into(),
        ofport: Some(100),
        external_ids: PortConfig::external_ids(),
        ..Default::default()
    });
    assert_eq!(
        world.plan().traffic_controls["t"].progress,
        Progress::Pending("waiting for return port tap1 to get an ofport".into())
    );
}

#[test]
fn a_failed_ofport_is_no_ofport() {
    let mut world = World::new(vec![tc("t", selector(&[]), None, internal("tap0"))], sample_pods());
    world.switch.push(SwitchPort {
        name: "tap0".into(),
        ofport: Some(u32::MAX),
        external_ids: PortConfig::external_ids(),
        ..Default::default()
    });
    assert!(matches!(world.plan().traffic_controls["t"].progress, Progress::Pending(_)));
}

#[test]
fn a_port_ovs_cannot_open_fails_only_the_traffic_controls_that_use_it() {
    let tcs = vec![
        tc("uses-eno9", selector(&[("app", "web")]), None, Port::Device(NamedPort { name: "eno9".into() })),
        created(
            tc(
                "also-eno9",
                selector(&[("app", "db")]),
                None,
                Port::Device(NamedPort { name: "eno9".into() }),
            ),
            1,
        ),
        created(tc("fine", selector(&[("app", "client")]), None, internal("tap0")), 2),
    ];
    let mut world = World::new(tcs, sample_pods()).with_tc_ports();
    let eno9 = world.switch.iter_mut().find(|p| p.name == "eno9").unwrap();
    eno9.ofport = None;
    eno9.error = Some("could not open network device eno9 (No such device)".into());
    let plan = world.plan();
    let failure =
        Progress::PortFailed("port eno9: could not open network device eno9 (No such device)".into());
    assert_eq!(plan.traffic_controls["uses-eno9"].progress, failure);
    assert_eq!(plan.traffic_controls["also-eno9"].progress, failure);
    assert_eq!(plan.traffic_controls["fine"].progress, Progress::Realized);
    assert_eq!(
        plan.ports["eno9"].error.as_deref(),
        Some("could not open network device eno9 (No such device)")
    );
    assert!(plan.flows.iter().all(|f| f.cookie != Cookie::traffic_control("uses-eno9")));
}

#[test]
fn pods_without_a_port_are_listed_and_get_no_flows() {
    let mut world =
        World::new(vec![tc("t", selector(&[]), None, internal("tap0"))], sample_pods()).with_tc_ports();
    world.switch.retain(|p| p.external_ids.get(antrea::POD_NAME).is_none_or(|n| n != "db"));
    let plan = world.plan();
    assert_eq!(
        plan.traffic_controls["t"].pods_without_port.iter().collect::<Vec<_>>(),
        [&PodRef::new("prod", "db")]
    );
    assert_eq!(plan.traffic_controls["t"].pods.len(), 4);
}

#[test]
fn every_flow_refers_only_to_ports_the_switch_has() {
    let world = World::new(
        vec![
            redirect(tc("r", selector(&[("app", "web")]), None, internal("tap0")), internal("tap1")),
            tc("m", selector(&[]), None, internal("tap2")),
        ],
        sample_pods(),
    )
    .with_tc_ports();
    let plan = world.plan();
    let ofports: Vec<u32> = world.switch.iter().filter_map(|p| p.usable_ofport()).collect();
    for flow in &plan.flows {
        for ofport in flow.ofports() {
            assert!(ofports.contains(&ofport), "{flow} refers to {ofport}");
        }
    }
}

#[test]
fn no_two_flows_share_table_priority_and_match() {
    let world = World::new(
        vec![
            redirect(tc("r", selector(&[("app", "web")]), None, internal("tap0")), internal("tap1")),
            tc("m", selector(&[]), None, internal("tap1")),
        ],
        sample_pods(),
    )
    .with_tc_ports();
    let plan = world.plan();
    let mut keys: Vec<_> = plan.flows.iter().map(Flow::key).collect();
    let total = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), total);
}

#[test]
fn directions_choose_egress_and_ingress_flows() {
    for (direction, egress, ingress) in
        [(Direction::Egress, 1, 0), (Direction::Ingress, 0, 1), (Direction::Both, 1, 1)]
    {
        let mut t = tc("t", selector(&[("app", "db")]), None, internal("tap0"));
        t.spec.direction = direction;
        let plan = World::new(vec![t], sample_pods()).with_tc_ports().plan();
        let mine: Vec<&Flow> =
            plan.flows.iter().filter(|f| f.cookie == crate::flows::Cookie::traffic_control("t")).collect();
        let by_in_port = mine.iter().filter(|f| matches!(f.matches[..], [Match::InPort(_)])).count();
        let by_output = mine.iter().filter(|f| matches!(f.matches[..], [Match::Reg(OUTPUT_PORT, _)])).count();
        assert_eq!((by_in_port, by_output), (egress, ingress), "{direction:?}");
    }
}

#[test]
fn redirect_flows_outrank_mirror_flows() {
    let world = World::new(
        vec![
            created(
                redirect(tc("r", selector(&[("app", "web")]), None, internal("tap0")), internal("tap1")),
                0,
            ),
            created(tc("m", selector(&[("app", "db")]), None, internal("tap2")), 1),
        ],
        sample_pods(),
    )
    .with_tc_ports();
    let plan = world.plan();
    let lowest_redirect = plan
        .flows
        .iter()
        .filter(|f| f.cookie == crate::flows::Cookie::traffic_control("r"))
        .map(|f| f.priority)
        .min();
    let highest_mirror = plan
        .flows
        .iter()
        .filter(|f| f.cookie == crate::flows::Cookie::traffic_control("m"))
        .map(|f| f.priority)
        .max();
    assert!(lowest_redirect > highest_mirror);
}

#[test]
fn return_ports_are_classified_and_target_only_ports_drop_what_enters() {
    let world = World::new(
        vec![redirect(tc("r", selector(&[]), None, internal("tap0")), internal("tap1"))],
        sample_pods(),
    )
    .with_tc_ports();
    let plan = world.plan();
    let classifier: Vec<String> = plan
        .flows
        .iter()
        .filter(|f| f.cookie == crate::flows::Cookie::port())
        .map(|f| f.to_string())
        .collect();
    assert_eq!(
        classifier,
        [
            "cookie=0x7463020000000000, priority=200,in_port=100 actions=drop",
            "cookie=0x7463020000000000, priority=200,in_port=101 actions=set_field:0x6/0xf->reg0,goto_table:1",
        ]
    );
}

#[test]
fn pods_of_a_namespace_without_an_object_match_its_name_label() {
    let world = World::new(
        vec![tc("t", None, selector(&[("kubernetes.io/metadata.name", "default")]), internal("tap0"))],
        sample_pods(),
    );
    assert_eq!(effective(&world.plan()), ["default/client=t", "default/web=t"]);
}

#[test]
fn the_same_input_in_any_order_gives_the_same_plan() {
    let world = World::new(
        vec![
            created(tc("a", selector(&[("app", "web")]), None, internal("tap0")), 3),
            redirect(tc("b", selector(&[]), None, internal("tap1")), internal("tap2")),
            created(tc("c", None, selector(&[("kubernetes.io/metadata.name", "prod")]), internal("tap0")), 1),
        ],
        sample_pods(),
    )
    .with_tc_ports();
    let expected = world.plan();
    let mut shuffled = World {
        tcs: world.tcs.clone(),
        namespaces: vec![],
        pods: world.pods.clone(),
        switch: world.switch.clone(),
    };
    shuffled.tcs.reverse();
    shuffled.pods.reverse();
    shuffled.switch.rotate_left(3);
    assert_eq!(shuffled.plan(), expected);
    assert_eq!(shuffled.plan().render(), expected.render());
}

#[test]
fn two_pods_claiming_one_mac_forward_it_to_the_first() {
    let mut world = World::new(vec![], sample_pods());
    let mac = world.switch[0].external_ids[antrea::MAC].clone();
    world.switch[1].external_ids.insert(antrea::MAC.into(), mac);
    let l2 =
        world.plan().flows.iter().filter(|f| f.table == Table::L2ForwardingCalc && f.priority == 200).count();
    assert_eq!(l2, 3);
}

/// A Pod port as each CNI marks it, at `ofport`.
fn cni_port(name: &str, ofport: u32, interface: &[(&str, &str)], port_row: &[(&str, &str)]) -> SwitchPort {
    let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    SwitchPort {
        name: name.into(),
        ofport: Some(ofport),
        external_ids: map(interface),
        port_external_ids: map(port_row),
        ..Default::default()
    }
}

fn with_uid(mut pod: PodInfo, uid: &str) -> PodInfo {
    pod.uid = Some(uid.into());
    pod
}

/// The ofports `tc`'s egress flows match.
fn egress_ports(plan: &Plan, tc: &str) -> Vec<u32> {
    let cookie = Cookie::traffic_control(tc);
    let mut ports: Vec<u32> = plan
        .flows
        .iter()
        .filter(|f| f.cookie == cookie)
        .flat_map(|f| f.matches.iter())
        .filter_map(|m| if let Match::InPort(p) = m { Some(*p) } else { None })
        .collect();
    ports.sort_unstable();
    ports
}

#[test]
fn pods_are_found_by_every_cnis_keys_and_a_uid_must_be_the_pods() {
    let pods = vec![
        with_uid(pod("default", "web", &[("app", "web")]), "uid-web"),
        with_uid(pod("default", "api", &[("app", "web")]), "uid-api"),
        with_uid(pod("prod", "vm", &[("app", "web")]), "uid-vm"),
        pod("prod", "cache", &[("app", "web")]),
    ];
    let mut world = World::new(vec![tc("t", selector(&[("app", "web")]), None, internal("tap0"))], pods);
    world.switch = vec![
        // OVN-Kubernetes, UID right.
        cni_port("ovnk-web", 1, &[("iface-id", "default_web"), ("iface-id-ver", "uid-web")], &[]),
        // OVN-Kubernetes, a port left from an earlier Pod "api".
        cni_port("ovnk-api-old", 2, &[("iface-id", "default_api"), ("iface-id-ver", "uid-gone")], &[]),
        // ovs-cni: only the UID.
        cni_port("veth1a2b3c4d", 3, &[], &[("contPodUid", "uid-vm"), ("contIface", "net1")]),
        // Kube-OVN: name only.
        cni_port("0123456789ab_h", 4, &[("pod_name", "cache"), ("pod_namespace", "prod")], &[]),
    ];
    let world = world.with_tc_ports();
    let plan = world.plan();
    assert_eq!(egress_ports(&plan, "t"), [1, 3, 4]);
    assert_eq!(
        plan.port_problems,
        [
            "port ovnk-api-old (OVN-Kubernetes) belongs to an earlier Pod default/api (UID uid-gone, the Pod's is uid-api): not used"
        ]
    );
    let api = PodRef::new("default", "api");
    assert!(plan.traffic_controls["t"].pods_without_port.iter().any(|p| *p == api));
}

#[test]
fn a_pod_with_two_attachments_is_controlled_on_both_and_a_doubled_interface_on_neither() {
    let pods = vec![with_uid(pod("default", "vm", &[("app", "web")]), "uid-vm")];
    let mut world = World::new(vec![tc("t", selector(&[("app", "web")]), None, internal("tap0"))], pods);
    world.switch = vec![
        cni_port("veth1", 1, &[], &[("contPodUid", "uid-vm"), ("contIface", "net1")]),
        cni_port("veth2", 2, &[], &[("contPodUid", "uid-vm"), ("contIface", "net2")]),
    ];
    assert_eq!(egress_ports(&world.with_tc_ports().plan(), "t"), [1, 2]);

    let pods = vec![with_uid(pod("default", "vm", &[("app", "web")]), "uid-vm")];
    let mut world = World::new(vec![tc("t", selector(&[("app", "web")]), None, internal("tap0"))], pods);
    world.switch = vec![
        cni_port("veth1", 1, &[], &[("contPodUid", "uid-vm"), ("contIface", "net1")]),
        cni_port("veth9", 9, &[], &[("contPodUid", "uid-vm"), ("contIface", "net1")]),
        cni_port(
            "vethx",
            7,
            &[("iface-id", "default_vm"), ("iface-id-ver", "uid-vm")],
            &[("pod-name", "other"), ("pod-namespace", "default")],
        ),
        cni_port("vethy", 8, &[], &[("contPodUid", ""), ("contIface", "net3")]),
    ];
    let plan = world.with_tc_ports().plan();
    assert!(egress_ports(&plan, "t").is_empty(), "never guessed");
    assert_eq!(
        plan.port_problems,
        [
            "port vethx: Antrea keys say Pod default/other, OVN-Kubernetes keys say Pod default/vm (UID uid-vm)",
            "port vethy (ovs-cni, net3) names no Pod: its Pod UID is empty (the container runtime did not pass K8S_POD_UID)",
            "ports veth1, veth9 all claim interface net1 of Pod default/vm: none is used for it",
        ]
    );
}

#[test]
fn on_a_bridge_with_vlans_a_destination_is_found_only_in_the_senders_vlan() {
    let pods = vec![
        pod("default", "a10", &[("app", "web")]),
        pod("default", "b10", &[("app", "web")]),
        pod("default", "c20", &[("app", "web")]),
        pod("default", "t", &[("app", "web")]),
    ];
    let mut world = World::new(vec![tc("m", selector(&[("app", "web")]), None, internal("tap0"))], pods);
    let mut tag = |pod: &str, tag: Option<u16>, trunk: bool| {
        let port =
            world.switch.iter_mut().find(|p| p.external_ids.get(antrea::POD_NAME).is_some_and(|n| n == pod));
        let port = port.unwrap();
        port.tag = tag;
        if trunk {
            port.vlan_mode = Some("trunk".into());
            port.trunks = vec![10, 20];
        }
    };
    tag("a10", Some(10), false);
    tag("b10", Some(10), false);
    tag("c20", Some(20), false);
    tag("t", None, true);
    let plan = world.with_tc_ports().plan();
    let flows: Vec<String> = plan.flows.iter().map(ToString::to_string).collect();
    let l2: Vec<&String> = flows.iter().filter(|f| f.contains("table=1, priority=200")).collect();
    assert_eq!(l2.len(), 3, "access ports only, each in its VLAN: {l2:#?}");
    assert!(l2.iter().all(|f| f.contains("reg8=0xa/0xfff,") || f.contains("reg8=0x14/0xfff,")), "{l2:#?}");
    let classified: Vec<&String> = flows.iter().filter(|f| f.contains("priority=190")).collect();
    assert!(
        classified.iter().filter(|f| f.contains("set_field:0xa/0xfff->reg8")).count() == 2,
        "{classified:#?}"
    );
    assert!(
        classified.iter().any(|f| f.contains("set_field:0xfff/0xfff->reg8")),
        "a trunk's packets: {classified:#?}"
    );
    // Without VLANs on the bridge the pipeline is as it always was.
    let plain = World::new(vec![tc("m", selector(&[("app", "web")]), None, internal("tap0"))], sample_pods());
    assert!(plain.with_tc_ports().plan().flows.iter().all(|f| !f.to_string().contains("reg8")));
}

#[test]
fn an_ovs_cni_port_gets_its_mac_from_multus_network_status() {
    let status = r#"[{"name":"default/vlan10","interface":"net1","mac":"02:00:00:00:0a:01","ips":["10.10.0.1"]},
        {"name":"kindnet","interface":"eth0","mac":"not-a-mac"}, {"name":"no-interface"}]"#;
    let macs = crate::cluster::interface_macs(status);
    assert_eq!(macs.keys().collect::<Vec<_>>(), ["net1"]);
    assert!(crate::cluster::interface_macs("not json").is_empty());
    let mut vm = with_uid(pod("default", "vm", &[("app", "web")]), "uid-vm");
    vm.interface_macs = macs;
    let mut world = World::new(vec![tc("t", selector(&[("app", "web")]), None, internal("tap0"))], vec![vm]);
    world.switch = vec![cni_port("veth1", 1, &[], &[("contPodUid", "uid-vm"), ("contIface", "net1")])];
    let plan = world.with_tc_ports().plan();
    assert!(
        plan.flows.iter().any(|f| f.matches.contains(&Match::DlDst("02:00:00:00:0a:01".parse().unwrap()))),
        "the ingress of an ovs-cni Pod is seen by its MAC"
    );
}
