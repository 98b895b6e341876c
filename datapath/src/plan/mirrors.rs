//! A shared bridge's `Mirror` rows: one per target port, selecting the
//! ports of the Pods its TrafficControls control (Egress: the packets the
//! Pod sends, `select_src_port`; Ingress: those it receives,
//! `select_dst_port`), as ovn-controller realizes OVN port mirroring. OVS
//! sends one copy per mirror of a packet it selects, and never forwards to
//! a mirror's output port otherwise, so no flow and no no-flood are
//! needed. A mirror that selects nothing is not planned, and neither is
//! its port: a port that is no mirror's output is an ordinary port of the
//! CNI's bridge, which `NORMAL` floods into.
//!
//! OVS allows [`MAX_MIRRORS`] per bridge, theirs and ours together: the
//! TrafficControls whose mirrors do not fit fail, saying so, the oldest
//! keeping theirs.

use std::collections::BTreeMap;

use super::pipeline::Outcome;
use super::pod_ports::PodPort;
use super::port_plan::PortPlan;
use super::selection::Selection;
use super::{MAX_MIRRORS, PlannedMirror, PlannedPort, Progress};
use crate::api::TrafficControl;
use crate::cluster::PodSet;
use crate::selector::Bitset;

/// The mirrors, and how far each TrafficControl got.
pub(super) struct Mirrors {
    pub mirrors: BTreeMap<String, PlannedMirror>,
    pub outcomes: BTreeMap<String, Outcome>,
}

/// Keeps the ports that no flood reaches: the planned mirrors' output
/// ports (OVS reserves them for mirrored frames), ports OVS could not open
/// (no ofport; their error is what their TrafficControl reports) and
/// devices someone else attached. Any other would be the agent's own
/// ordinary port on the CNI's bridge: `NORMAL` would send it the
/// broadcasts and unknown unicast of Pods nobody selected (a target whose
/// TrafficControl wins no Pod here, or finds no room for its mirror).
pub(super) fn keep_reserved_ports(
    ports: &mut BTreeMap<String, PlannedPort>,
    mirrors: &BTreeMap<String, PlannedMirror>,
) {
    ports.retain(|name, port| {
        port.adopted || port.error.is_some() || mirrors.values().any(|m| &m.output_port == name)
    });
}

/// The name of the mirror of target port `port`.
pub fn mirror_name(port: &str) -> String {
    format!("tc-{port}")
}

pub(super) fn mirrors(
    ordered: &[&TrafficControl],
    ports: &PortPlan,
    selection: &Selection,
    pod_ports: &[&[PodPort]],
    foreign_mirrors: usize,
) -> Mirrors {
    let nobody = || PodSet::empty(selection.universe.clone());
    let room = MAX_MIRRORS.saturating_sub(foreign_mirrors);
    let mut mirrors: BTreeMap<String, PlannedMirror> = BTreeMap::new();
    let mut outcomes = BTreeMap::new();
    for tc in ordered {
        let name = tc.metadata.name.clone().unwrap_or_default();
        if let Some(reason) = ports.failed.get(&name) {
            outcomes.insert(name, Outcome::failed(reason, nobody()));
            continue;
        }
        let target = &ports.names[&name].target;
        let port = &ports.ports[target];
        if let Some(error) = &port.error {
            let progress = Progress::PortFailed(format!("port {target}: {error}"));
            outcomes.insert(name, Outcome { flows: Vec::new(), pods_without_port: nobody(), progress });
            continue;
        }
        let pods = selection.won.get(&name).cloned().unwrap_or_else(nobody);
        let mirror_name = mirror_name(target);
        if !mirrors.contains_key(&mirror_name) && mirrors.len() >= room && !pods.is_empty() {
            let reason = format!(
                "the bridge has {} mirrors, the most OVS allows ({foreign_mirrors} of them not the agent's): no room for {mirror_name}",
                MAX_MIRRORS
            );
            outcomes.insert(name, Outcome::failed(&reason, nobody()));
            continue;
        }
        let mut without_port = Bitset::empty(pod_ports.len());
        let mut selected =
            PlannedMirror { name: mirror_name.clone(), output_port: target.clone(), ..Default::default() };
        for (index, _) in pods.indexed() {
            let these = pod_ports.get(index).copied().unwrap_or_default();
            if these.is_empty() {
                without_port.insert(index);
            }
            for pod_port in these {
                if tc.spec.direction.covers_egress() {
                    selected.select_src_port.insert(pod_port.name.clone());
                }
                if tc.spec.direction.covers_ingress() {
                    selected.select_dst_port.insert(pod_port.name.clone());
                }
            }
        }
        if !selected.select_src_port.is_empty() || !selected.select_dst_port.is_empty() {
            let mirror = mirrors.entry(mirror_name).or_insert_with(|| PlannedMirror {
                name: selected.name.clone(),
                output_port: target.clone(),
                ..Default::default()
            });
            mirror.select_src_port.append(&mut selected.select_src_port);
            mirror.select_dst_port.append(&mut selected.select_dst_port);
            mirror.users.insert(name.clone());
        }
        let outcome = Outcome {
            flows: Vec::new(),
            pods_without_port: pods.with_members(without_port),
            progress: Progress::Realized,
        };
        outcomes.insert(name, outcome);
    }
    Mirrors { mirrors, outcomes }
}
