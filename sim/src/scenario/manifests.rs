//! The manifests scenarios apply, as `kubectl apply` would send them
//! (JSON, which the YAML reader takes as it is).

use serde_json::{Value, json};

use super::step::Step;

/// A Pod on `node` with label `app`.
pub fn pod(namespace: &str, name: &str, node: usize, app: &str) -> Step {
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"nodeName": format!("node-{}", node + 1), "containers": [{"name": "main", "image": "pause"}]},
    });
    Step::Apply {
        what: format!("pod {namespace}/{name} app={app} on node-{}", node + 1),
        manifest: manifest.to_string(),
    }
}

/// A Namespace labelled `env` (and with the label the API server adds).
pub fn namespace(name: &str, env: &str) -> Step {
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, "env": env}},
    });
    Step::Apply { what: format!("namespace {name} env={env}"), manifest: manifest.to_string() }
}

/// What a TrafficControl does, in the CRD's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficControlSpec {
    /// `spec.appliedTo`.
    pub applied_to: Value,
    /// `Ingress`, `Egress` or `Both`.
    pub direction: &'static str,
    /// `Mirror` or `Redirect`.
    pub action: &'static str,
    /// `spec.targetPort`.
    pub target: Value,
    /// `spec.returnPort` (Redirect only).
    pub return_port: Option<Value>,
}

/// Applies (creates or replaces) TrafficControl `name`.
pub fn traffic_control(name: &str, spec: &TrafficControlSpec) -> Step {
    let mut body = json!({
        "appliedTo": spec.applied_to,
        "direction": spec.direction,
        "action": spec.action,
        "targetPort": spec.target,
    });
    if let Some(return_port) = &spec.return_port {
        body["returnPort"] = return_port.clone();
    }
    let manifest = json!({
        "apiVersion": "crd.antrea.io/v1alpha2",
        "kind": "TrafficControl",
        "metadata": {"name": name},
        "spec": body,
    });
    let returning = spec.return_port.as_ref().map(|p| format!(" return {p}")).unwrap_or_default();
    Step::Apply {
        what: format!(
            "tc/{name} {} {} of {} to {}{returning}",
            spec.action, spec.direction, spec.applied_to, spec.target
        ),
        manifest: manifest.to_string(),
    }
}

/// The collector's address in every tunnel.
pub const COLLECTOR: &str = "10.0.10.2";

/// Every kind of target port, once: internal, device, and each tunnel
/// (ERSPAN in both versions).
pub fn every_port_kind() -> Vec<Value> {
    vec![
        json!({"ovsInternal": {"name": "tap-target"}}),
        json!({"device": {"name": "eth1"}}),
        json!({"vxlan": {"remoteIP": COLLECTOR, "vni": 7}}),
        json!({"geneve": {"remoteIP": COLLECTOR, "vni": 8}}),
        json!({"gre": {"remoteIP": COLLECTOR, "key": 9}}),
        json!({"erspan": {"remoteIP": COLLECTOR, "sessionID": 1, "version": 1, "index": 26}}),
        json!({"erspan": {"remoteIP": COLLECTOR, "sessionID": 2, "version": 2, "dir": 1, "hardwareID": 12}}),
    ]
}

/// The encapsulation snapshot's name for a tunnel target
/// (`encap-vxlan`, ..., `encap-erspan-v2`); `None` for other ports.
pub fn tunnel_snapshot_name(target: &Value) -> Option<String> {
    let (kind, fields) = target.as_object()?.iter().next()?;
    match kind.as_str() {
        "vxlan" | "geneve" | "gre" => Some(format!("encap-{kind}")),
        "erspan" => Some(format!("encap-erspan-v{}", fields.get("version")?)),
        _ => None,
    }
}

/// Every direction.
pub const DIRECTIONS: [&str; 3] = ["Ingress", "Egress", "Both"];
/// Every action.
pub const ACTIONS: [&str; 2] = ["Mirror", "Redirect"];
