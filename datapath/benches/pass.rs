//! The cost of deciding one pass (`datapath::pass`), the agent's own share
//! of `realize-bench`'s latency: 250 Pods with ports, one Mirror of all of
//! them to an internal port (500 flows of its own, 510 in all). Three
//! switches: one that holds the plan (nothing to do), one without the
//! Mirror's flows (a selector change: 500 adds), and one without its port
//! (a new TrafficControl: the port, its no-flood and the flows).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datapath::api::{
    Action, AppliedTo, Direction, LabelSelector, NamedPort, Port, TrafficControl, TrafficControlSpec,
};
use datapath::cluster::{PodInfo, PodRef};
use datapath::flows::Cookie;
use datapath::pass::{HeldFlows, SwitchState, pass};
use datapath::plan::{BridgeMode, Cluster};

const NODE: &str = "node-1";
const PODS: usize = 250;

fn cluster() -> Cluster {
    let pods: Vec<PodInfo> = (0..PODS)
        .map(|i| PodInfo {
            pod: PodRef::new("default", format!("p{i}")),
            uid: None,
            labels: BTreeMap::from([("app".to_owned(), "bench".to_owned())]),
            node_name: Some(NODE.to_owned()),
            host_network: false,
            interface_macs: Default::default(),
        })
        .collect();
    let mirror = TrafficControl::new(
        "bench",
        TrafficControlSpec {
            applied_to: AppliedTo {
                pod_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([("app".to_owned(), "bench".to_owned())])),
                    match_expressions: None,
                }),
                namespace_selector: None,
            },
            direction: Direction::Both,
            action: Action::Mirror,
            target_port: Port::OvsInternal(NamedPort { name: "tap0".into() }),
            return_port: None,
        },
    );
    Cluster::new(NODE, vec![mirror], Vec::new(), pods)
}

fn bench_pass(c: &mut Criterion) {
    let cluster = cluster();
    let fresh = SwitchState {
        mode: BridgeMode::Owned,
        ports: datapath::offline::pod_ports(NODE, &cluster.pods),
        ..SwitchState::default()
    };
    let first = pass(&cluster, &fresh);
    let mut ports = fresh.ports.clone();
    ports.extend(first.created().map(|p| datapath::ports::SwitchPort {
        name: p.config.name.clone(),
        ofport: p.ofport,
        external_ids: p.external_ids.clone(),
        interface_type: p.config.interface_type.ovsdb_type().to_owned(),
        options: p.config.options.clone(),
        ..Default::default()
    }));
    let holding = SwitchState {
        mode: BridgeMode::Owned,
        ports,
        mirrors: Vec::new(),
        flows: HeldFlows::Installed(Arc::from(first.plan.flows.as_slice())),
        port_settings: first.port_settings.clone(),
        host: Default::default(),
    };
    let mirror = Cookie::traffic_control("bench");
    let without_mirror: Vec<_> = first.plan.flows.iter().filter(|f| f.cookie != mirror).cloned().collect();
    let reselecting =
        SwitchState { flows: HeldFlows::Installed(Arc::from(without_mirror)), ..holding.clone() };
    let new_port = SwitchState {
        ports: fresh.ports.clone(),
        flows: HeldFlows::Installed(Arc::from(
            first.plan.flows.iter().filter(|f| f.cookie == Cookie::pipeline()).cloned().collect::<Vec<_>>(),
        )),
        ..SwitchState::default()
    };
    for (name, switch) in
        [("unchanged", &holding), ("selector change", &reselecting), ("new port", &new_port)]
    {
        let decided = pass(&cluster, switch);
        eprintln!(
            "{name}: {} operations, {} flows planned",
            decided.operations.len(),
            decided.plan.flows.len()
        );
    }
    let mut group = c.benchmark_group("pass/250 pods");
    group.bench_function("unchanged", |b| {
        b.iter(|| black_box(pass(black_box(&cluster), black_box(&holding))))
    });
    group.bench_function("selector change", |b| {
        b.iter(|| black_box(pass(black_box(&cluster), black_box(&reselecting))))
    });
    group.bench_function("new port", |b| {
        b.iter(|| black_box(pass(black_box(&cluster), black_box(&new_port))))
    });
    group.bench_function("plan alone", |b| {
        b.iter(|| {
            black_box(datapath::plan::plan(
                black_box(&cluster),
                black_box(&holding.ports),
                &datapath::plan::Bridge::OWNED,
            ))
        })
    });
    let desired = first.plan.flows.clone();
    let HeldFlows::Installed(installed) = &holding.flows else { unreachable!() };
    group.bench_function("flow diff alone", |b| {
        b.iter(|| black_box(datapath::flow_diff::diff_installed(black_box(&desired), black_box(installed))))
    });
    group.finish();
}

criterion_group!(benches, bench_pass);
criterion_main!(benches);
