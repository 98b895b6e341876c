//! Least privilege, proven: the ClusterRole in `deploy/rbac.yaml` against
//! the requests the dev API server recorded while the agent ran
//! ([`crate::apiserver::audit`]). Every request must be allowed by a rule,
//! and every verb a rule grants on every resource it names must have been
//! used.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::apiserver::audit::AuditRecord;

/// Paths every authenticated client may read (Kubernetes'
/// `system:discovery` role), so no rule of ours needs to grant them.
const DISCOVERY_PREFIXES: [&str; 4] = ["/api", "/apis", "/version", "/openapi"];

/// One permission: a verb on a resource (`plural` or `plural/subresource`)
/// of an API group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// The API group (`""` for core).
    pub group: String,
    /// `pods`, `trafficcontrols/status`, ...
    pub resource: String,
    /// `list`, `watch`, `patch`, ...
    pub verb: String,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() { "core" } else { &self.group };
        write!(f, "{} {}/{}", self.verb, group, self.resource)
    }
}

/// Why the manifest's ClusterRole cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// Not YAML.
    #[error("not a manifest: {0}")]
    Manifest(String),
    /// No ClusterRole in it.
    #[error("no ClusterRole in the manifest")]
    NoClusterRole,
    /// A rule uses a wildcard or a field this check does not read: it
    /// could not be proven minimal.
    #[error("rule {index}: {what} (a least-privilege role names groups, resources and verbs one by one)")]
    Unsupported {
        /// The rule's position.
        index: usize,
        /// What it uses.
        what: String,
    },
}

/// Every permission the manifest's ClusterRole grants, expanded.
///
/// # Errors
/// [`RbacError`] when there is no ClusterRole or a rule uses wildcards,
/// `resourceNames` or `nonResourceURLs`.
pub fn granted(manifest: &str) -> Result<BTreeSet<Permission>, RbacError> {
    let documents =
        datapath::manifest::parse_documents(manifest).map_err(|e| RbacError::Manifest(e.to_string()))?;
    let role = documents
        .iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("ClusterRole"))
        .ok_or(RbacError::NoClusterRole)?;
    let rules = role.get("rules").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut permissions = BTreeSet::new();
    for (index, rule) in rules.iter().enumerate() {
        let unsupported = |what: &str| RbacError::Unsupported { index, what: what.to_owned() };
        for field in ["resourceNames", "nonResourceURLs"] {
            if rule.get(field).is_some() {
                return Err(unsupported(&format!("uses {field}")));
            }
        }
        let list = |field: &str| -> Result<Vec<String>, RbacError> {
            let items: Vec<String> = rule
                .get(field)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            if items.iter().any(|i| i == "*") {
                return Err(unsupported(&format!("grants * in {field}")));
            }
            Ok(items)
        };
        for group in list("apiGroups")? {
            for resource in list("resources")? {
                for verb in list("verbs")? {
                    permissions.insert(Permission { group: group.clone(), resource: resource.clone(), verb });
                }
            }
        }
    }
    Ok(permissions)
}

/// The permission a recorded request needed; `None` for discovery.
pub fn needed(record: &AuditRecord) -> Option<Permission> {
    if record.resource.is_empty() && DISCOVERY_PREFIXES.iter().any(|p| record.path.starts_with(p)) {
        return None;
    }
    let resource = if record.subresource.is_empty() {
        record.resource.clone()
    } else {
        format!("{}/{}", record.resource, record.subresource)
    };
    Some(Permission { group: record.group.clone(), resource, verb: record.verb.clone() })
}

/// What the recorded requests needed that `granted` lacks, and what
/// `granted` gives that no request used.
pub fn compare(granted: &BTreeSet<Permission>, records: &[AuditRecord]) -> (Vec<String>, Vec<Permission>) {
    let mut used = BTreeSet::new();
    let mut denied = BTreeSet::new();
    for record in records {
        let Some(permission) = needed(record) else { continue };
        if granted.contains(&permission) {
            used.insert(permission);
        } else {
            let object = if record.name.is_empty() { "the collection" } else { record.name.as_str() };
            denied.insert(format!("{permission} (on {object}, answered {})", record.code));
        }
    }
    (denied.into_iter().collect(), granted.difference(&used).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(verb: &str, group: &str, resource: &str, subresource: &str) -> AuditRecord {
        AuditRecord {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            ..AuditRecord::default()
        }
    }

    const ROLE: &str = "kind: ClusterRole\nrules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [list, watch]\n- apiGroups: [crd.antrea.io]\n  resources: [trafficcontrols/status]\n  verbs: [patch]\n";

    #[test]
    fn requests_outside_the_role_and_grants_never_used_are_both_reported() {
        let granted = granted(ROLE).expect("role");
        assert_eq!(granted.len(), 3);
        let records = [
            record("list", "", "pods", ""),
            record("patch", "crd.antrea.io", "trafficcontrols", "status"),
            record("delete", "", "pods", ""),
            AuditRecord { verb: "get".into(), path: "/api/v1".into(), ..AuditRecord::default() },
        ];
        let (denied, unused) = compare(&granted, &records);
        assert_eq!(denied.len(), 1, "{denied:?}");
        assert!(denied[0].starts_with("delete core/pods"), "{denied:?}");
        assert_eq!(unused.iter().map(ToString::to_string).collect::<Vec<_>>(), ["watch core/pods"]);
    }

    #[test]
    fn wildcards_and_resource_names_cannot_be_proven_minimal() {
        let wildcard = "kind: ClusterRole\nrules:\n- apiGroups: ['']\n  resources: ['*']\n  verbs: [get]\n";
        assert!(matches!(granted(wildcard), Err(RbacError::Unsupported { index: 0, .. })));
        let named = "kind: ClusterRole\nrules:\n- apiGroups: ['']\n  resources: [pods]\n  resourceNames: [a]\n  verbs: [get]\n";
        assert!(matches!(granted(named), Err(RbacError::Unsupported { .. })));
        assert!(matches!(granted("kind: Role\n"), Err(RbacError::NoClusterRole)));
    }
}
