//! The planner's cost: 1,000 TrafficControls (pod, namespace and combined
//! selectors with matchExpressions) over 100 Namespaces and 1k, 10k and
//! 100k Pods on the node. Goal: under 50 ms at 10k, linear in Pods.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use datapath::api::{
    Action, AppliedTo, Direction, LabelSelector, LabelSelectorRequirement, NamedPort, Operator, Port,
    TrafficControl, TrafficControlSpec, UdpTunnel,
};
use datapath::cluster::{NamespaceInfo, PodInfo, PodRef};
use datapath::plan::{Bridge, Cluster, plan};
use datapath::ports::{PortConfig, SwitchPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

const NODE: &str = "node-1";
const NAMESPACES: usize = 100;
const TRAFFIC_CONTROLS: usize = 1_000;

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn namespaces() -> Vec<NamespaceInfo> {
    (0..NAMESPACES)
        .map(|i| {
            let name = format!("ns-{i:03}");
            let env = ["prod", "staging", "dev"][i % 3].to_owned();
            NamespaceInfo {
                labels: labels(&[
                    ("kubernetes.io/metadata.name", name.clone()),
                    ("team", format!("team-{}", i % 10)),
                    ("env", env),
                ]),
                name,
            }
        })
        .collect()
}

fn pods(count: usize) -> Vec<PodInfo> {
    (0..count)
        .map(|i| {
            let mut pairs = vec![
                ("app", format!("app-{}", i % 50)),
                ("tier", ["web", "api", "db"][i % 3].to_owned()),
                ("version", format!("v{}", i % 4)),
            ];
            if i % 10 == 0 {
                pairs.push(("canary", "true".to_owned()));
            }
            PodInfo {
                pod: PodRef::new(format!("ns-{:03}", i % NAMESPACES), format!("pod-{i}")),
                uid: None,
                labels: labels(&pairs),
                node_name: Some(NODE.to_owned()),
                host_network: false,
                interface_macs: Default::default(),
            }
        })
        .collect()
}

fn expression(key: &str, operator: Operator, values: &[String]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_owned(),
        operator,
        values: (!values.is_empty()).then(|| values.to_vec()),
    }
}

fn selector(labels: &[(&str, String)], expressions: Vec<LabelSelectorRequirement>) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: (!labels.is_empty()).then(|| self::labels(labels)),
        match_expressions: (!expressions.is_empty()).then_some(expressions),
    })
}

/// A mix: 40% by app label, 20% by app In + tier NotIn, 20% by team
/// Namespace, 10% prod Namespaces × tier Exists, 10% non-prod Namespaces ×
/// no canary. Targets spread over 50 shared ports of every kind.
fn traffic_controls() -> Vec<TrafficControl> {
    (0..TRAFFIC_CONTROLS)
        .map(|i| {
            let app = |n: usize| format!("app-{}", n % 50);
            let applied_to = match i % 10 {
                0..=3 => {
                    AppliedTo { pod_selector: selector(&[("app", app(i))], vec![]), namespace_selector: None }
                }
                4 | 5 => AppliedTo {
                    pod_selector: selector(
                        &[],
                        vec![
                            expression("app", Operator::In, &[app(i), app(i + 1)]),
                            expression("tier", Operator::NotIn, &["db".to_owned()]),
                        ],
                    ),
                    namespace_selector: None,
                },
                6 | 7 => AppliedTo {
                    pod_selector: None,
                    namespace_selector: selector(&[("team", format!("team-{}", i % 10))], vec![]),
                },
                8 => AppliedTo {
                    pod_selector: selector(&[], vec![expression("tier", Operator::Exists, &[])]),
                    namespace_selector: selector(&[("env", "prod".to_owned())], vec![]),
                },
                _ => AppliedTo {
                    pod_selector: selector(&[], vec![expression("canary", Operator::DoesNotExist, &[])]),
                    namespace_selector: selector(
                        &[],
                        vec![expression("env", Operator::In, &["staging".to_owned(), "dev".to_owned()])],
                    ),
                },
            };
            let target = match i % 50 % 3 {
                0 => Port::OvsInternal(NamedPort { name: format!("tap{}", i % 50) }),
                1 => Port::Vxlan(UdpTunnel {
                    remote_ip: format!("10.0.10.{}", i % 50).parse().unwrap(),
                    destination_port: None,
                    vni: None,
                }),
                _ => Port::Geneve(UdpTunnel {
                    remote_ip: "10.0.10.2".parse().unwrap(),
                    destination_port: None,
                    vni: Some((i % 50) as u32),
                }),
            };
            let mut tc = TrafficControl::new(
                &format!("tc-{i:04}"),
                TrafficControlSpec {
                    applied_to,
                    direction: [Direction::Ingress, Direction::Egress, Direction::Both][i % 3],
                    action: Action::Mirror,
                    target_port: target,
                    return_port: None,
                },
            );
            let at = k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + (i as i64 * 7919) % 100_000)
                .unwrap();
            tc.metadata.creation_timestamp = Some(Time(at));
            tc
        })
        .collect()
}

/// The Pods' ports and every TrafficControl port, all with ofports.
fn switch_ports(pods: &[PodInfo], tcs: &[TrafficControl]) -> Vec<SwitchPort> {
    let mut ports = datapath::offline::pod_ports(NODE, pods);
    let mut names: Vec<String> = tcs.iter().map(|tc| PortConfig::of(&tc.spec.target_port).name).collect();
    names.sort();
    names.dedup();
    let next = ports.len() as u32 + 1;
    ports.extend(names.into_iter().zip(next..).map(|(name, ofport)| SwitchPort {
        name,
        ofport: Some(ofport),
        external_ids: PortConfig::external_ids(),
        ..Default::default()
    }));
    ports
}

fn bench_plan(c: &mut Criterion) {
    let namespaces = namespaces();
    let traffic_controls = traffic_controls();
    let mut group = c.benchmark_group("plan");
    for count in [1_000, 10_000, 100_000] {
        let pods = pods(count);
        let switch = switch_ports(&pods, &traffic_controls);
        let cluster = Cluster::new(NODE, traffic_controls.clone(), namespaces.clone(), pods);
        let sample = plan(&cluster, &switch, &Bridge::OWNED);
        eprintln!(
            "pods={count}: {} effective, {} conflicts, {} ports, {} flows",
            sample.effective.len(),
            sample.conflicts().len(),
            sample.ports.len(),
            sample.flows.len()
        );
        group.sample_size(if count >= 100_000 { 10 } else { 20 });
        group.bench_with_input(BenchmarkId::new("pods", count), &cluster, |b, cluster| {
            b.iter(|| black_box(plan(black_box(cluster), black_box(&switch), &Bridge::OWNED)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
