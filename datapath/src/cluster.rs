//! The planner's view of Kubernetes: the few facts about Pods and
//! Namespaces that selection needs, taken from the API objects.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Namespace, Pod};

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
    /// The Pod's labels.
    pub labels: BTreeMap<String, String>,
    /// The node it is scheduled on, if any.
    pub node_name: Option<String>,
    /// Host-network Pods share the node's stack and are never selected.
    pub host_network: bool,
}

impl From<&Pod> for PodInfo {
    fn from(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        PodInfo {
            pod: PodRef::new(
                pod.metadata.namespace.clone().unwrap_or_else(|| "default".to_owned()),
                pod.metadata.name.clone().unwrap_or_default(),
            ),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            node_name: spec.and_then(|s| s.node_name.clone()),
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
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
