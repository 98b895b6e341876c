//! May this caller do this? RBAC, with Kubernetes' semantics, over the
//! ClusterRoles, ClusterRoleBindings, Roles and RoleBindings stored in the
//! server (`kubectl apply -k deploy/` creates the agent's).
//!
//! A request is allowed when one rule of one role bound to the caller
//! allows it: a ClusterRoleBinding's role everywhere, a RoleBinding's
//! (to a Role or a ClusterRole) in its namespace only. Rules match as the
//! real authorizer matches them: `*` in verbs, apiGroups, resources and
//! nonResourceURLs; `resource/subresource` and `*/subresource`;
//! `resourceNames` only for requests that name an object; a trailing `*`
//! in a non-resource URL as a prefix. `system:masters` is never checked.
//!
//! Built in, as the API server bootstraps them: every authenticated caller
//! may read discovery, version and health paths (`system:discovery`,
//! `system:public-info-viewer`) and ask what it may do
//! (`system:basic-user`). Not modelled: ClusterRole aggregation rules
//! (deploy/ has none) and the escalation checks on writing roles.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::authn::{AUTHENTICATED, Identity, service_account_of};
use super::cluster::{Cluster, Target};
use super::resources::{CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES};
use super::status::ApiError;

/// What a request does, in RBAC's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attributes {
    /// On a resource, a collection or a subresource.
    Resource {
        /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
        /// `deletecollection`, `impersonate`.
        verb: String,
        /// The API group (`""` for core).
        group: String,
        /// The plural.
        resource: String,
        /// `status`, `token` or empty.
        subresource: String,
        /// The namespace, or empty for cluster scope.
        namespace: String,
        /// The object's name, or empty.
        name: String,
    },
    /// On a path outside the resources (`/version`, `/apis`, ...).
    NonResource {
        /// The HTTP method in lower case.
        verb: String,
        /// The path.
        path: String,
    },
}

/// The answer, with the reason RBAC gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Which binding allowed it (empty when denied).
    pub reason: String,
}

/// A role's rules as bound to a caller, borrowed from the store: RBAC is
/// decided on every request, and copies of bindings and roles are what it
/// would otherwise spend its time on.
struct Grant<'a> {
    via: Via<'a>,
    rules: &'a [Value],
}

/// How a grant reaches the caller.
enum Via<'a> {
    /// The roles every authenticated caller has.
    Bootstrap,
    /// A binding (a RoleBinding when `namespace` is its namespace) whose
    /// `subject` is the caller.
    Binding { binding: &'a Value, namespace: Option<&'a str>, subject: &'a Value },
}

impl Via<'_> {
    /// `ClusterRoleBinding "x" of ClusterRole "y" to User "z"`, as RBAC's
    /// reasons say it.
    fn describe(&self) -> String {
        let Via::Binding { binding, namespace, subject } = self else {
            return format!("the built-in discovery roles to Group {AUTHENTICATED:?}");
        };
        let (kind, place) = match namespace {
            Some(namespace) => ("RoleBinding", format!(" in namespace {namespace:?}")),
            None => ("ClusterRoleBinding", String::new()),
        };
        let subject = match text(subject, "/kind") {
            "ServiceAccount" => {
                format!("ServiceAccount \"{}/{}\"", text(subject, "/name"), text(subject, "/namespace"))
            }
            other => format!("{other} {:?}", text(subject, "/name")),
        };
        format!(
            "{kind} {:?}{place} of {} {:?} to {subject}",
            text(binding, "/metadata/name"),
            text(binding, "/roleRef/kind"),
            text(binding, "/roleRef/name"),
        )
    }
}

/// `resource` or `resource/subresource`, as rules and messages name it.
fn combined(resource: &str, subresource: &str) -> String {
    if subresource.is_empty() { resource.to_owned() } else { format!("{resource}/{subresource}") }
}

/// The roles every authenticated caller has (system:discovery,
/// system:public-info-viewer, system:basic-user).
static BOOTSTRAP: LazyLock<Vec<Value>> = LazyLock::new(|| {
    vec![
        json!({"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*",
                                   "/version", "/version/", "/healthz", "/livez", "/readyz"],
               "verbs": ["get"]}),
        json!({"apiGroups": ["authorization.k8s.io"],
               "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
               "verbs": ["create"]}),
    ]
});

/// Decides one request.
pub fn authorize(cluster: &Cluster, who: &Identity, attributes: &Attributes) -> Decision {
    if who.is_master() {
        return Decision { allowed: true, reason: "system:masters is not subject to RBAC".into() };
    }
    allowing(cluster, who, attributes).map_or_else(
        || Decision { allowed: false, reason: String::new() },
        |via| Decision { allowed: true, reason: format!("RBAC: allowed by {}", via.describe()) },
    )
}

/// How `who` may do `attributes`, if it may.
fn allowing<'a>(cluster: &'a Cluster, who: &'a Identity, attributes: &'a Attributes) -> Option<Via<'a>> {
    let namespace = match attributes {
        Attributes::Resource { namespace, .. } => namespace.as_str(),
        Attributes::NonResource { .. } => "",
    };
    grants(cluster, who, namespace)
        .find(|grant| grant.rules.iter().any(|rule| allows(rule, attributes)))
        .map(|grant| grant.via)
}

/// Every rule that applies to `who` in `namespace` (empty: cluster-wide
/// only), split into resource and non-resource rules, as a
/// SelfSubjectRulesReview lists them (`kubectl auth can-i --list`).
pub fn rules_for(cluster: &Cluster, who: &Identity, namespace: &str) -> (Vec<Value>, Vec<Value>) {
    if who.is_master() {
        let everything = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]});
        return (vec![everything], vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})]);
    }
    let rules = grants(cluster, who, namespace).flat_map(|grant| grant.rules).cloned();
    rules.partition(|rule| rule.get("nonResourceURLs").is_none())
}

/// Decides one request and turns a denial into Kubernetes' 403.
///
/// # Errors
/// [`ApiError::Forbidden`].
pub fn require(cluster: &Cluster, who: &Identity, attributes: &Attributes) -> Result<(), ApiError> {
    if who.is_master() || allowing(cluster, who, attributes).is_some() {
        Ok(())
    } else {
        Err(forbidden(who, attributes))
    }
}

/// The API server's 403 for `who` doing `attributes`.
pub fn forbidden(who: &Identity, attributes: &Attributes) -> ApiError {
    match attributes {
        Attributes::NonResource { verb, path } => ApiError::Forbidden {
            message: format!("forbidden: User {:?} cannot {verb} path {path:?}", who.user),
            name: String::new(),
            group: String::new(),
            resource: String::new(),
        },
        Attributes::Resource { verb, group, resource, subresource, namespace, name } => {
            let combined = combined(resource, subresource);
            let scope = if namespace.is_empty() {
                "at the cluster scope".to_owned()
            } else {
                format!("in the namespace {namespace:?}")
            };
            let reason = format!(
                "User {:?} cannot {verb} resource {combined:?} in API group {group:?} {scope}",
                who.user
            );
            let qualified = if group.is_empty() { resource.clone() } else { format!("{resource}.{group}") };
            let message = if name.is_empty() {
                format!("{qualified} is forbidden: {reason}")
            } else {
                format!("{qualified} {name:?} is forbidden: {reason}")
            };
            ApiError::Forbidden {
                message,
                name: name.clone(),
                group: group.clone(),
                resource: resource.clone(),
            }
        }
    }
}

/// Every role bound to `who` that applies in `namespace` (cluster-wide
/// bindings, and RoleBindings of that namespace), built-in ones first.
fn grants<'a>(
    cluster: &'a Cluster,
    who: &'a Identity,
    namespace: &'a str,
) -> impl Iterator<Item = Grant<'a>> {
    let bootstrap = who
        .groups
        .iter()
        .any(|g| g == AUTHENTICATED)
        .then(|| Grant { via: Via::Bootstrap, rules: BOOTSTRAP.as_slice() });
    let cluster_bindings = cluster.objects(&CLUSTER_ROLE_BINDINGS, None).map(|b| (b, None));
    let role_bindings = (!namespace.is_empty())
        .then(|| cluster.objects(&ROLE_BINDINGS, Some(namespace)).map(move |b| (b, Some(namespace))))
        .into_iter()
        .flatten();
    let bound = cluster_bindings.chain(role_bindings).filter_map(move |(binding, namespace)| {
        let subject = matching_subject(binding, who)?;
        let role_name = text(binding, "/roleRef/name");
        let (resource, namespace) = match (text(binding, "/roleRef/kind"), namespace) {
            ("ClusterRole", _) => (&CLUSTER_ROLES, None),
            ("Role", Some(namespace)) => (&ROLES, Some(namespace)),
            _ => return None,
        };
        let role = cluster.peek(Target { resource, namespace, name: role_name, status: false })?;
        let rules = role.get("rules").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        Some(Grant { via: Via::Binding { binding, namespace, subject }, rules })
    });
    bootstrap.into_iter().chain(bound)
}

/// The binding's first subject that is `who`.
fn matching_subject<'a>(binding: &'a Value, who: &Identity) -> Option<&'a Value> {
    let subjects = binding.get("subjects").and_then(Value::as_array)?;
    subjects.iter().find(|subject| {
        let name = text(subject, "/name");
        match text(subject, "/kind") {
            "User" => who.user == name,
            "Group" => who.groups.iter().any(|g| g == name),
            "ServiceAccount" => service_account_of(&who.user) == Some((text(subject, "/namespace"), name)),
            _ => false,
        }
    })
}

/// Whether one PolicyRule allows the request.
fn allows(rule: &Value, attributes: &Attributes) -> bool {
    let list = |field: &str| -> Vec<&str> {
        rule.get(field)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    match attributes {
        Attributes::NonResource { verb, path } => {
            covers(&list("verbs"), verb)
                && list("nonResourceURLs").iter().any(|url| {
                    *url == "*"
                        || url == path
                        || url.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
                })
        }
        Attributes::Resource { verb, group, resource, subresource, name, .. } => {
            let combined = combined(resource, subresource);
            let names = list("resourceNames");
            covers(&list("verbs"), verb)
                && covers(&list("apiGroups"), group)
                && list("resources").iter().any(|r| {
                    *r == "*"
                        || *r == combined
                        || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource.as_str()))
                })
                && (names.is_empty() || names.contains(&name.as_str()))
        }
    }
}

fn covers(items: &[&str], wanted: &str) -> bool {
    items.iter().any(|item| *item == "*" || *item == wanted)
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests;
