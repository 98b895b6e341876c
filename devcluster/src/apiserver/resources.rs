//! The resources the dev API server serves: their group, version, kind,
//! names, scope and subresources. Discovery, routing, tables and the store
//! all read this one catalogue.
//!
//! It is fixed at build time: a CustomResourceDefinition created through
//! the API is stored, but only TrafficControl (built in) is served.

/// One served resource.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// The API group, `""` for the core group.
    pub group: &'static str,
    /// The version.
    pub version: &'static str,
    /// The kind of one object.
    pub kind: &'static str,
    /// The plural, as in the URL.
    pub plural: &'static str,
    /// The singular, as kubectl accepts it.
    pub singular: &'static str,
    /// kubectl's short names.
    pub short_names: &'static [&'static str],
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether `status` is a subresource (writes to the object ignore it).
    pub status_subresource: bool,
}

/// Namespaces (core, cluster-scoped).
pub const NAMESPACES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    short_names: &["ns"],
    namespaced: false,
    status_subresource: true,
};

/// Pods (core).
pub const PODS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    short_names: &["po"],
    namespaced: true,
    status_subresource: true,
};

/// ConfigMaps (core): stored as they are, so manifests that carry one
/// apply whole.
pub const CONFIG_MAPS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    short_names: &["cm"],
    namespaced: true,
    status_subresource: false,
};

/// Events in the core group, as client-go's recorder and kubectl write them.
pub const CORE_EVENTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    short_names: &["ev"],
    namespaced: true,
    status_subresource: false,
};

/// Events in `events.k8s.io/v1`, as kube-rs's recorder writes them. Kept
/// apart from the core ones (no conversion between the two shapes).
pub const EVENTS: ResourceType = ResourceType {
    group: "events.k8s.io",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    short_names: &["ev"],
    namespaced: true,
    status_subresource: false,
};

/// TrafficControls: cluster-scoped, with a status subresource.
pub const TRAFFIC_CONTROLS: ResourceType = ResourceType {
    group: "crd.antrea.io",
    version: "v1alpha2",
    kind: "TrafficControl",
    plural: "trafficcontrols",
    singular: "trafficcontrol",
    short_names: &["tc"],
    namespaced: false,
    status_subresource: true,
};

/// CustomResourceDefinitions: accepted and stored, never served as new
/// resources.
pub const CUSTOM_RESOURCE_DEFINITIONS: ResourceType = ResourceType {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    singular: "customresourcedefinition",
    short_names: &["crd", "crds"],
    namespaced: false,
    status_subresource: true,
};

/// ServiceAccounts (core, namespaced): `deploy/` holds the agent's.
pub const SERVICE_ACCOUNTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    short_names: &["sa"],
    namespaced: true,
    status_subresource: false,
};

/// ClusterRoles: what [`crate::apiserver::authz`] allows.
pub const CLUSTER_ROLES: ResourceType = ResourceType {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    singular: "clusterrole",
    short_names: &[],
    namespaced: false,
    status_subresource: false,
};

/// ClusterRoleBindings: who has which ClusterRole, everywhere.
pub const CLUSTER_ROLE_BINDINGS: ResourceType = ResourceType {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
    singular: "clusterrolebinding",
    short_names: &[],
    namespaced: false,
    status_subresource: false,
};

/// Roles: rules that apply in their namespace.
pub const ROLES: ResourceType = ResourceType {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "Role",
    plural: "roles",
    singular: "role",
    short_names: &[],
    namespaced: true,
    status_subresource: false,
};

/// RoleBindings: who has which Role or ClusterRole, in one namespace.
pub const ROLE_BINDINGS: ResourceType = ResourceType {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    singular: "rolebinding",
    short_names: &[],
    namespaced: true,
    status_subresource: false,
};

/// DaemonSets (stored; nothing runs them).
pub const DAEMON_SETS: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    singular: "daemonset",
    short_names: &["ds"],
    namespaced: true,
    status_subresource: true,
};

/// Nodes (core, cluster-scoped): the agent counts them to size its
/// status reports. Lists ignore `limit` (every Node in one page, no
/// `continue`), which a client counting items plus `remainingItemCount`
/// reads the same way.
pub const NODES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    singular: "node",
    short_names: &["no"],
    namespaced: false,
    status_subresource: true,
};

/// Every served resource, in discovery order.
pub const ALL: [&ResourceType; 14] = [
    &NAMESPACES,
    &NODES,
    &PODS,
    &CONFIG_MAPS,
    &SERVICE_ACCOUNTS,
    &CORE_EVENTS,
    &EVENTS,
    &TRAFFIC_CONTROLS,
    &CUSTOM_RESOURCE_DEFINITIONS,
    &CLUSTER_ROLES,
    &CLUSTER_ROLE_BINDINGS,
    &ROLES,
    &ROLE_BINDINGS,
    &DAEMON_SETS,
];

/// The API groups besides the core one, in discovery order.
pub const GROUPS: [(&str, &str); 6] = [
    ("apiextensions.k8s.io", "v1"),
    ("apps", "v1"),
    ("authorization.k8s.io", "v1"),
    ("crd.antrea.io", "v1alpha2"),
    ("events.k8s.io", "v1"),
    ("rbac.authorization.k8s.io", "v1"),
];

impl ResourceType {
    /// `v1` or `group/version`, as objects spell `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kind of a list (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The name the API server uses in messages and as the store's key:
    /// `pods`, `trafficcontrols.crd.antrea.io`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() { self.plural.to_owned() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// The resource served at `group`/`version`/`plural`.
    pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
        ALL.into_iter().find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The resource whose objects have this `apiVersion` and `kind`.
    pub fn of_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
        ALL.into_iter().find(|r| r.kind == kind && r.api_version() == api_version)
    }

    /// The resources of one group version.
    pub fn in_group(group: &str, version: &str) -> impl Iterator<Item = &'static ResourceType> {
        ALL.into_iter().filter(move |r| r.group == group && r.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_controls_match_the_crd() {
        let crd = serde_json::to_value(datapath::api::crd()).unwrap();
        let tc = &TRAFFIC_CONTROLS;
        assert_eq!(crd["spec"]["group"], tc.group);
        assert_eq!(crd["spec"]["versions"][0]["name"], tc.version);
        assert_eq!(crd["spec"]["names"]["plural"], tc.plural);
        assert_eq!(crd["spec"]["names"]["kind"], tc.kind);
        assert_eq!(crd["spec"]["names"]["shortNames"], serde_json::json!(tc.short_names));
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(tc.qualified(), "trafficcontrols.crd.antrea.io");
        assert_eq!(tc.api_version(), datapath::api::API_VERSION);
    }
}
