//! Which Pod a port on the bridge belongs to, read from the keys each CNI
//! writes in OVSDB (`external_ids` of the Port and Interface rows). Facts
//! from each project's source (`docs/deploy.md` cites them):
//!
//! | CNI | row | keys |
//! | --- | --- | --- |
//! | Antrea | Port | `pod-name`, `pod-namespace`, `attached-mac`, `if-dev` (not for `eth0`) |
//! | OVN-Kubernetes | Interface | `iface-id=<namespace>_<pod>` (a secondary network: `<nad>_<namespace>_<pod>` and `k8s.ovn.org/nad`), `iface-id-ver=<Pod UID>`, `attached_mac` |
//! | Kube-OVN | Interface | `pod_name`, `pod_namespace`, `iface-id=<pod>.<namespace>[.<provider>]`, `vendor=kube-ovn`; no MAC |
//! | ovs-cni | Port | `contPodUid`, `contIface`, `owner=ovs-cni.network.kubevirt.io`; no name, no MAC |
//!
//! A port may carry several CNIs' keys (ovs-cni with an OVN port, or a
//! harness that writes Antrea's keys on the Interface row): they are merged
//! when they agree, and the port is [`PortIdentity::Conflicting`] when they
//! name different Pods: reported, never guessed. Matching a claim to a Pod
//! (by name, by UID, or both) is the planner's job: it knows the Pods.

use std::collections::BTreeMap;
use std::fmt;

use crate::cluster::PodRef;
use crate::flows::MacAddr;
use crate::ports::SwitchPort;

/// The CNI whose keys a port carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cni {
    /// Antrea.
    Antrea,
    /// OVN-Kubernetes.
    OvnKubernetes,
    /// Kube-OVN.
    KubeOvn,
    /// ovs-cni (Multus secondary networks).
    OvsCni,
}

impl fmt::Display for Cni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cni::Antrea => "Antrea",
            Cni::OvnKubernetes => "OVN-Kubernetes",
            Cni::KubeOvn => "Kube-OVN",
            Cni::OvsCni => "ovs-cni",
        })
    }
}

/// The keys, by CNI.
pub mod keys {
    /// Antrea (Port row; the Interface row is read too).
    pub mod antrea {
        /// The Pod's name.
        pub const POD_NAME: &str = "pod-name";
        /// The Pod's Namespace.
        pub const POD_NAMESPACE: &str = "pod-namespace";
        /// The Pod interface's MAC address.
        pub const MAC: &str = "attached-mac";
        /// The Pod's interface, when it is not `eth0`.
        pub const INTERFACE: &str = "if-dev";
        /// What a port is for (`container` for a Pod; the agent's own
        /// ports are `traffic-control`, as Antrea's are).
        pub const TYPE: &str = "antrea-type";
    }
    /// OVN-Kubernetes (Interface row).
    pub mod ovn_kubernetes {
        /// `<namespace>_<pod>`, or `<network>_<namespace>_<pod>`.
        pub const IFACE_ID: &str = "iface-id";
        /// The Pod's UID.
        pub const IFACE_ID_VER: &str = "iface-id-ver";
        /// The Pod interface's MAC address.
        pub const MAC: &str = "attached_mac";
        /// A secondary network's attachment definition (`<namespace>/<name>`).
        pub const NAD: &str = "k8s.ovn.org/nad";
    }
    /// Kube-OVN (Interface row).
    pub mod kube_ovn {
        /// The Pod's name.
        pub const POD_NAME: &str = "pod_name";
        /// The Pod's Namespace.
        pub const POD_NAMESPACE: &str = "pod_namespace";
        /// `<pod>.<namespace>[.<provider>]`.
        pub const IFACE_ID: &str = "iface-id";
    }
    /// ovs-cni (Port row).
    pub mod ovs_cni {
        /// The Pod's UID (empty when the runtime did not pass it).
        pub const POD_UID: &str = "contPodUid";
        /// The Pod's interface (`net1`, ...).
        pub const INTERFACE: &str = "contIface";
    }
}

/// A port's claim to belong to a Pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodClaim {
    /// The CNI whose keys make the claim (the first, when several agree).
    pub cni: Cni,
    /// The Pod by Namespace and name, when the keys say (ovs-cni's do not).
    pub pod: Option<PodRef>,
    /// The Pod's UID, when the keys say (Antrea's and Kube-OVN's do not).
    pub uid: Option<String>,
    /// Which of the Pod's interfaces the port is: `eth0` for the primary
    /// network, the interface or network name for the others.
    pub interface: String,
    /// The Pod interface's MAC address, when the keys say.
    pub mac: Option<MacAddr>,
}

/// Who a port belongs to, as the keys on it say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortIdentity {
    /// A Pod's port.
    Pod(PodClaim),
    /// Keys that name different Pods: the port is used for none.
    Conflicting(String),
    /// No CNI's Pod keys.
    None,
}

/// The primary network's interface in a Pod.
pub const PRIMARY: &str = "eth0";

/// What the keys on `port` say about its Pod.
pub fn identify(port: &SwitchPort) -> PortIdentity {
    let claims: Vec<PodClaim> =
        [antrea(port), ovn_kubernetes(port), kube_ovn(port), ovs_cni(port)].into_iter().flatten().collect();
    let Some((first, rest)) = claims.split_first() else { return PortIdentity::None };
    let mut merged = first.clone();
    for claim in rest {
        let disagree =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        let pods =
            (merged.pod.as_ref().map(ToString::to_string), claim.pod.as_ref().map(ToString::to_string));
        if disagree(&pods.0, &pods.1) || disagree(&merged.uid, &claim.uid) {
            return PortIdentity::Conflicting(format!(
                "port {}: {} keys say {}, {} keys say {}",
                port.name,
                merged.cni,
                describe(&merged),
                claim.cni,
                describe(claim)
            ));
        }
        merged.pod = merged.pod.or_else(|| claim.pod.clone());
        merged.uid = merged.uid.or_else(|| claim.uid.clone());
        merged.mac = merged.mac.or(claim.mac);
        if merged.interface == PRIMARY {
            merged.interface.clone_from(&claim.interface);
        }
    }
    PortIdentity::Pod(merged)
}

fn describe(claim: &PodClaim) -> String {
    match (&claim.pod, &claim.uid) {
        (Some(pod), Some(uid)) => format!("Pod {pod} (UID {uid})"),
        (Some(pod), None) => format!("Pod {pod}"),
        (None, Some(uid)) => format!("the Pod with UID {uid}"),
        (None, None) => "a Pod".to_owned(),
    }
}

/// A key from the Interface row, else the Port row.
fn key<'a>(port: &'a SwitchPort, key: &str) -> Option<&'a str> {
    port.external_ids
        .get(key)
        .or_else(|| port.port_external_ids.get(key))
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn mac(value: Option<&str>) -> Option<MacAddr> {
    value?.parse().ok()
}

fn antrea(port: &SwitchPort) -> Option<PodClaim> {
    use keys::antrea::*;
    let pod = PodRef::new(key(port, POD_NAMESPACE)?, key(port, POD_NAME)?);
    Some(PodClaim {
        cni: Cni::Antrea,
        pod: Some(pod),
        uid: None,
        interface: key(port, INTERFACE).unwrap_or(PRIMARY).to_owned(),
        mac: mac(key(port, MAC)),
    })
}

fn ovn_kubernetes(port: &SwitchPort) -> Option<PodClaim> {
    use keys::ovn_kubernetes::*;
    let ids = &port.external_ids;
    let iface_id = ids.get(IFACE_ID)?;
    // Namespaces and Pod names cannot hold '_' (DNS labels and
    // subdomains), so the last two parts are they; what comes before names
    // a secondary network. OVN-Kubernetes writes `iface-id-ver` on every
    // Pod port, which tells it from Kube-OVN's `iface-id` and from the
    // management port's `k8s-<node>`.
    let uid = ids.get(IFACE_ID_VER).filter(|v| !v.is_empty())?;
    let mut parts = iface_id.rsplitn(3, '_');
    let (name, namespace) = (parts.next()?, parts.next()?);
    if name.is_empty() || namespace.is_empty() {
        return None;
    }
    let interface = ids.get(NAD).cloned().unwrap_or_else(|| PRIMARY.to_owned());
    Some(PodClaim {
        cni: Cni::OvnKubernetes,
        pod: Some(PodRef::new(namespace, name)),
        uid: Some(uid.clone()),
        interface,
        mac: mac(ids.get(MAC).map(String::as_str)),
    })
}

fn kube_ovn(port: &SwitchPort) -> Option<PodClaim> {
    use keys::kube_ovn::*;
    let ids = &port.external_ids;
    let pod = PodRef::new(ids.get(POD_NAMESPACE)?.clone(), ids.get(POD_NAME)?.clone());
    // `<pod>.<namespace>.<provider>`: the provider names the network.
    let prefix = format!("{}.{}.", pod.name, pod.namespace);
    let interface = ids
        .get(IFACE_ID)
        .and_then(|id| id.strip_prefix(&prefix))
        .filter(|provider| !provider.is_empty())
        .unwrap_or(PRIMARY)
        .to_owned();
    Some(PodClaim { cni: Cni::KubeOvn, pod: Some(pod), uid: None, interface, mac: None })
}

fn ovs_cni(port: &SwitchPort) -> Option<PodClaim> {
    use keys::ovs_cni::*;
    let ids: &BTreeMap<String, String> = &port.port_external_ids;
    let interface = ids.get(INTERFACE)?;
    let uid = ids.get(POD_UID).filter(|v| !v.is_empty()).cloned();
    Some(PodClaim { cni: Cni::OvsCni, pod: None, uid, interface: interface.clone(), mac: None })
}

#[cfg(test)]
mod tests;
