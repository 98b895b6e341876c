//! The planner's view of Kubernetes: the few facts about Pods and
//! Namespaces that selection needs, taken from the API objects.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod};

use crate::flows::MacAddr;
use crate::selector::Bitset;

/// The label Kubernetes puts on every Namespace with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A Pod, by Namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    /// The Pod's Namespace.
    pub namespace: String,
    /// The Pod's name.
    pub name: String,
}

impl PodRef {
    /// A reference from its two parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        PodRef { namespace: namespace.into(), name: name.into() }
    }
}

impl serde::Serialize for PodRef {
    /// As `namespace/name`, so it can key a JSON map.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What selection needs to know about a Pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    /// Namespace and name.
    pub pod: PodRef,
    /// `metadata.uid`: tells a Pod from an older one of the same name, and
    /// finds it from a port that names only the UID (ovs-cni).
    pub uid: Option<String>,
    /// The Pod's labels.
    pub labels: BTreeMap<String, String>,
    /// The node it is scheduled on, if any.
    pub node_name: Option<String>,
    /// Host-network Pods share the node's stack and are never selected.
    pub host_network: bool,
    /// The MAC address of each of the Pod's network attachments, by
    /// interface (`net1`, ...), from Multus' `network-status` annotation:
    /// how the agent learns the MAC of a port whose CNI (ovs-cni) writes
    /// none.
    pub interface_macs: BTreeMap<String, MacAddr>,
}

/// Multus' annotation listing a Pod's attachments.
pub const NETWORK_STATUS: &str = "k8s.v1.cni.cncf.io/network-status";

/// The interface MACs of a `network-status` annotation (entries without an
/// interface or a valid MAC are left out; text that is not the
/// annotation's JSON gives none).
pub fn interface_macs(network_status: &str) -> BTreeMap<String, MacAddr> {
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_str::<serde_json::Value>(network_status)
    else {
        return BTreeMap::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let interface = entry.get("interface")?.as_str()?;
            let mac = entry.get("mac")?.as_str()?.parse().ok()?;
            Some((interface.to_owned(), mac))
        })
        .collect()
}

impl From<&Pod> for PodInfo {
    fn from(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        PodInfo {
            pod: PodRef::new(
                pod.metadata.namespace.clone().unwrap_or_else(|| "default".to_owned()),
                pod.metadata.name.clone().unwrap_or_default(),
            ),
            uid: pod.metadata.uid.clone(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            node_name: spec.and_then(|s| s.node_name.clone()),
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
            interface_macs: pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(NETWORK_STATUS))
                .map(|status| interface_macs(status))
                .unwrap_or_default(),
        }
    }
}

/// What selection needs to know about a Namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// The Namespace's name.
    pub name: String,
    /// Its labels, `kubernetes.io/metadata.name` included.
    pub labels: BTreeMap<String, String>,
}

impl NamespaceInfo {
    /// A Namespace known only by name: the labels the API server would give
    /// it (used for Pods whose Namespace object is not in the input).
    pub fn named(name: &str) -> Self {
        NamespaceInfo {
            name: name.to_owned(),
            labels: BTreeMap::from([(NAMESPACE_NAME_LABEL.to_owned(), name.to_owned())]),
        }
    }
}

impl From<&Namespace> for NamespaceInfo {
    fn from(namespace: &Namespace) -> Self {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        let mut labels = namespace.metadata.labels.clone().unwrap_or_default();
        // The API server has set this label on every Namespace since 1.21.
        labels.insert(NAMESPACE_NAME_LABEL.to_owned(), name.clone());
        NamespaceInfo { name, labels }
    }
}

/// A set of this node's Pods: a bitset over one ordered Pod list that every
/// set of a plan shares, so a plan holds "which Pods" for a thousand
/// TrafficControls in a few kilobytes each instead of a thousand lists.
#[derive(Clone)]
pub struct PodSet {
    universe: Arc<[PodRef]>,
    members: Bitset,
}

impl PodSet {
    /// The members of `universe` that `members` holds (by index).
    pub fn new(universe: Arc<[PodRef]>, members: Bitset) -> Self {
        PodSet { universe, members }
    }

    /// No Pod.
    pub fn empty(universe: Arc<[PodRef]>) -> Self {
        let members = Bitset::empty(universe.len());
        PodSet { universe, members }
    }

    /// A set over the same Pod list with other members.
    pub fn with_members(&self, members: Bitset) -> Self {
        PodSet { universe: self.universe.clone(), members }
    }

    /// The empty set over the same Pod list.
    pub fn none(&self) -> Self {
        PodSet::empty(self.universe.clone())
    }

    /// How many Pods.
    pub fn len(&self) -> usize {
        self.members.count()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The Pods, in (Namespace, name) order.
    pub fn iter(&self) -> impl Iterator<Item = &PodRef> + '_ {
        self.members.iter().map(|i| &self.universe[i])
    }

    /// The Pods with their index in the shared list.
    pub fn indexed(&self) -> impl Iterator<Item = (usize, &PodRef)> + '_ {
        self.members.iter().map(|i| (i, &self.universe[i]))
    }
}

impl PartialEq for PodSet {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for PodSet {}

impl fmt::Debug for PodSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl serde::Serialize for PodSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}
