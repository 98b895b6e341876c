//! The Pods' ports: every bridge port some CNI marks as a Pod's (see
//! [`crate::cni`]), matched to this node's Pods.
//!
//! A port names its Pod by Namespace and name, by UID, or both. Where
//! both are known the UID must be the Pod's: a port left over from a
//! deleted Pod is never taken for a new Pod of the same name. A Pod may
//! have several ports (one per network attachment), told apart by their
//! interface; two ports that claim the same interface of the same Pod, or
//! keys that name different Pods, are reported and used for no Pod.

use std::collections::BTreeMap;

use super::Cluster;
use super::vlans::PortVlan;
use crate::cluster::PodRef;
use crate::cni::{PodClaim, PortIdentity, identify};
use crate::flows::MacAddr;
use crate::ports::SwitchPort;

/// A Pod's port on the switch.
#[derive(Clone, Debug)]
pub(super) struct PodPort {
    pub name: String,
    pub ofport: u32,
    pub mac: Option<MacAddr>,
    pub vlan: PortVlan,
}

/// What the bridge's ports say about the Pods.
pub(super) struct PodPorts {
    /// Every port with a Pod's keys and an ofport, in a stable order: the
    /// pipeline forwards to and from all of them.
    pub forwarding: Vec<PodPort>,
    /// The ports of this node's Pods, matched.
    pub by_pod: BTreeMap<PodRef, Vec<PodPort>>,
    /// Ports the agent cannot match to a Pod, and why.
    pub problems: Vec<String>,
}

pub(super) fn pod_ports(cluster: &Cluster, switch_ports: &[SwitchPort]) -> PodPorts {
    let pods: BTreeMap<&PodRef, &crate::cluster::PodInfo> = cluster
        .pods
        .iter()
        .filter(|p| !p.host_network && p.node_name.as_deref() == Some(cluster.node.as_str()))
        .map(|p| (&p.pod, p))
        .collect();
    let local: BTreeMap<&PodRef, Option<&str>> =
        pods.iter().map(|(pod, info)| (*pod, info.uid.as_deref())).collect();
    let by_uid: BTreeMap<&str, &PodRef> =
        local.iter().filter_map(|(pod, uid)| Some(((*uid)?, *pod))).collect();
    let mut problems = Vec::new();
    let mut claimed: Vec<(String, PodClaim, PodPort)> = Vec::new();
    for port in switch_ports {
        let Some(ofport) = port.usable_ofport() else { continue };
        match identify(port) {
            PortIdentity::None => {}
            PortIdentity::Conflicting(why) => problems.push(why),
            PortIdentity::Pod(claim) => {
                let order =
                    claim.pod.as_ref().map(ToString::to_string).or(claim.uid.clone()).unwrap_or_default();
                let pod_port =
                    PodPort { name: port.name.clone(), ofport, mac: claim.mac, vlan: PortVlan::of(port) };
                claimed.push((order, claim, pod_port));
            }
        }
    }
    claimed.sort_by(|a, b| (&a.0, &a.1.interface, &a.2.name).cmp(&(&b.0, &b.1.interface, &b.2.name)));

    let mut by_interface: BTreeMap<(PodRef, String), Vec<PodPort>> = BTreeMap::new();
    for (_, claim, port) in &mut claimed {
        match matched(claim, &port.name, &local, &by_uid) {
            Ok(Some(pod)) => {
                // A CNI that writes no MAC (ovs-cni): Multus' annotation says.
                if port.mac.is_none() {
                    port.mac =
                        pods.get(&pod).and_then(|info| info.interface_macs.get(&claim.interface)).copied();
                }
                by_interface.entry((pod, claim.interface.clone())).or_default().push(port.clone())
            }
            Ok(None) => {}
            Err(why) => problems.push(why),
        }
    }
    let mut by_pod: BTreeMap<PodRef, Vec<PodPort>> = BTreeMap::new();
    for ((pod, interface), ports) in by_interface {
        if let [port] = ports.as_slice() {
            by_pod.entry(pod).or_default().push(port.clone());
        } else {
            let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
            problems.push(format!(
                "ports {} all claim interface {interface} of Pod {pod}: none is used for it",
                names.join(", ")
            ));
        }
    }
    problems.sort();
    PodPorts { forwarding: claimed.into_iter().map(|(_, _, port)| port).collect(), by_pod, problems }
}

/// This node's Pod that `claim` names: none when it names no Pod of this
/// node (yet), an error when it names one it cannot be.
fn matched(
    claim: &PodClaim,
    port: &str,
    local: &BTreeMap<&PodRef, Option<&str>>,
    by_uid: &BTreeMap<&str, &PodRef>,
) -> Result<Option<PodRef>, String> {
    match (&claim.pod, &claim.uid) {
        (Some(pod), uid) => match (local.get(pod), uid) {
            (Some(Some(known)), Some(uid)) if known != uid => Err(format!(
                "port {port} ({}) belongs to an earlier Pod {pod} (UID {uid}, the Pod's is {known}): not used",
                claim.cni
            )),
            (Some(_), _) => Ok(Some(pod.clone())),
            (None, _) => Ok(None),
        },
        (None, Some(uid)) => Ok(by_uid.get(uid.as_str()).map(|pod| (*pod).clone())),
        (None, None) => Err(format!(
            "port {port} ({}, {}) names no Pod: its Pod UID is empty (the container runtime did not pass K8S_POD_UID)",
            claim.cni, claim.interface
        )),
    }
}
