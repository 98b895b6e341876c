use serde_json::json;

use super::*;
use crate::apiserver::clock::Timestamp;
use crate::apiserver::resources::{NAMESPACES, ResourceType};

const NOW: Timestamp = Timestamp(1_700_000_000);

fn agent() -> Identity {
    Identity::named("system:serviceaccount:tc-system:tc-agent", &[])
}

fn create(cluster: &mut Cluster, resource: &'static ResourceType, namespace: Option<&str>, object: Value) {
    cluster.create(resource, namespace, object, NOW).expect("created");
}

/// deploy/rbac.yaml's ClusterRole and binding, plus a namespaced Role.
fn cluster() -> Cluster {
    let mut cluster = Cluster::new(NOW);
    for name in ["tc-system", "web"] {
        create(
            &mut cluster,
            &NAMESPACES,
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        );
    }
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/rbac.yaml"))
        .expect("rbac.yaml");
    cluster.create_manifest(&manifest, NOW).expect("deploy/rbac.yaml is created");
    create(
        &mut cluster,
        &ROLES,
        Some("web"),
        json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "cm-reader", "namespace": "web"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["settings"]},
                  {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]}]}),
    );
    create(
        &mut cluster,
        &ROLE_BINDINGS,
        Some("web"),
        json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "agent-cm", "namespace": "web"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "tc-agent", "namespace": "tc-system"}]}),
    );
    cluster
}

fn resource(
    verb: &str,
    group: &str,
    resource: &str,
    subresource: &str,
    namespace: &str,
    name: &str,
) -> Attributes {
    Attributes::Resource {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn allowed(who: &Identity, attributes: &Attributes) -> bool {
    authorize(&cluster(), who, attributes).allowed
}

#[test]
fn the_agent_may_do_what_deploy_rbac_grants_and_nothing_else() {
    let who = agent();
    assert!(allowed(&who, &resource("list", "", "pods", "", "", "")));
    assert!(allowed(&who, &resource("watch", "", "pods", "", "", "")));
    assert!(allowed(
        &who,
        &resource("patch", "crd.antrea.io", "trafficcontrols", "status", "", "mirror-web-app")
    ));
    assert!(allowed(&who, &resource("create", "", "events", "", "default", "")));
    assert!(!allowed(&who, &resource("patch", "crd.antrea.io", "trafficcontrols", "", "", "mirror-web-app")));
    assert!(!allowed(&who, &resource("get", "", "pods", "", "default", "web-1")));
    assert!(!allowed(&who, &resource("create", "events.k8s.io", "events", "", "default", "")));
    assert!(!allowed(&who, &resource("delete", "", "pods", "", "default", "web-1")));
    let reason = authorize(&cluster(), &who, &resource("list", "", "nodes", "", "", "")).reason;
    assert_eq!(
        reason,
        "RBAC: allowed by ClusterRoleBinding \"tc-agent\" of ClusterRole \"tc-agent\" to ServiceAccount \"tc-agent/tc-system\""
    );
}

#[test]
fn another_account_of_the_same_name_elsewhere_gets_nothing() {
    let other = Identity::named("system:serviceaccount:default:tc-agent", &[]);
    assert!(!allowed(&other, &resource("list", "", "pods", "", "", "")));
    let user = Identity::named("tc-agent", &[]);
    assert!(!allowed(&user, &resource("list", "", "pods", "", "", "")));
}

#[test]
fn role_bindings_apply_in_their_namespace_with_resource_names_and_subresource_wildcards() {
    let who = agent();
    assert!(allowed(&who, &resource("get", "", "configmaps", "", "web", "settings")));
    assert!(!allowed(&who, &resource("get", "", "configmaps", "", "web", "secrets-ish")));
    assert!(
        !allowed(&who, &resource("list", "", "configmaps", "", "web", "")),
        "resourceNames never match a list"
    );
    assert!(
        !allowed(&who, &resource("get", "", "configmaps", "", "default", "settings")),
        "only in its namespace"
    );
    assert!(allowed(&who, &resource("update", "apps", "daemonsets", "status", "web", "x")));
    assert!(
        !allowed(&who, &resource("update", "apps", "daemonsets", "", "web", "x")),
        "*/status is not the object"
    );
}

#[test]
fn discovery_is_open_to_every_authenticated_caller_and_nothing_else_is() {
    let who = agent();
    let path = |p: &str| Attributes::NonResource { verb: "get".into(), path: p.into() };
    for open in ["/api", "/api/v1", "/apis/crd.antrea.io/v1alpha2", "/version", "/openapi/v3", "/healthz"] {
        assert!(allowed(&who, &path(open)), "{open}");
    }
    assert!(!allowed(&who, &path("/debug/requests")));
    assert!(!allowed(&who, &Attributes::NonResource { verb: "post".into(), path: "/api".into() }));
    assert!(allowed(
        &who,
        &resource("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "")
    ));
    assert!(allowed(&Identity::admin(), &path("/debug/requests")));
}

#[test]
fn denials_read_as_the_api_servers() {
    let who = agent();
    let status = forbidden(&who, &resource("list", "", "secrets", "", "", "")).to_status();
    assert_eq!(
        status["message"],
        "secrets is forbidden: User \"system:serviceaccount:tc-system:tc-agent\" cannot list resource \"secrets\" in API group \"\" at the cluster scope"
    );
    assert_eq!((status["code"].as_u64(), status["reason"].as_str()), (Some(403), Some("Forbidden")));
    assert_eq!(status["details"], json!({"kind": "secrets"}));
    let named =
        forbidden(&who, &resource("patch", "crd.antrea.io", "trafficcontrols", "", "", "t")).to_status();
    assert_eq!(
        named["message"],
        "trafficcontrols.crd.antrea.io \"t\" is forbidden: User \"system:serviceaccount:tc-system:tc-agent\" cannot patch resource \"trafficcontrols\" in API group \"crd.antrea.io\" at the cluster scope"
    );
    assert_eq!(named["details"], json!({"name": "t", "group": "crd.antrea.io", "kind": "trafficcontrols"}));
    let in_namespace = forbidden(&who, &resource("create", "", "pods", "", "web", "")).to_string();
    assert!(in_namespace.ends_with("in API group \"\" in the namespace \"web\""), "{in_namespace}");
    let path =
        forbidden(&who, &Attributes::NonResource { verb: "get".into(), path: "/debug/requests".into() });
    assert_eq!(
        path.to_string(),
        "forbidden: User \"system:serviceaccount:tc-system:tc-agent\" cannot get path \"/debug/requests\""
    );
}
