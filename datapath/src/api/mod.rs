//! The `crd.antrea.io/v1alpha2` TrafficControl API: Rust types with the same
//! JSON names and optionality as Antrea's, and the CRD they generate.
//!
//! The types describe a *valid* object. Checking raw input is the job of
//! [`crate::validate`], which walks the generated schema and reports every
//! problem; deserializing into these types is the last step, done only once
//! the object is known to be valid.
//!
//! Where the generated schema must say more than the Rust types can (ranges,
//! IP formats, the port `oneOf`), the small functions in [`schemas`] write it
//! out explicitly, so the CRD reads like Antrea's.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group, version and kind, as `apiVersion`/`kind` spell them.
pub const API_VERSION: &str = "crd.antrea.io/v1alpha2";
/// The kind of the object.
pub const KIND: &str = "TrafficControl";

/// What a TrafficControl asks for: which Pods, which direction, what to do
/// with their traffic and where to send it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    doc = "TrafficControl mirrors or redirects the traffic of selected Pods to a port of the node's OVS bridge.",
    group = "crd.antrea.io",
    version = "v1alpha2",
    kind = "TrafficControl",
    plural = "trafficcontrols",
    singular = "trafficcontrol",
    shortname = "tc",
    status = "TrafficControlStatus",
    printcolumn = r#"{"name":"Direction","type":"string","description":"The direction of traffic that is controlled","jsonPath":".spec.direction"}"#,
    printcolumn = r#"{"name":"Action","type":"string","description":"Mirror or Redirect","jsonPath":".spec.action"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficControlSpec {
    /// The Pods whose traffic is controlled.
    pub applied_to: AppliedTo,
    /// Which traffic of those Pods: sent, received or both.
    pub direction: Direction,
    /// Copy the traffic (Mirror) or divert it (Redirect).
    pub action: Action,
    /// Where the traffic goes.
    pub target_port: Port,
    /// Where redirected traffic comes back; only meaningful for Redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_port: Option<ReturnPort>,
}

/// The Pods a TrafficControl applies to. Both selectors absent selects
/// nothing; an empty selector (`{}`) selects everything.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppliedTo {
    /// Pods whose labels match, in the Namespaces `namespaceSelector` picks
    /// (or in every Namespace when it is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces whose Pods are selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
}

/// A Kubernetes label selector (`metav1.LabelSelector`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Requirements that must all hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
}

/// One `matchExpressions` entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// How the key's value is compared with `values`.
    pub operator: Operator,
    /// The values for In and NotIn; must be absent or empty otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::label_values")]
    pub values: Option<Vec<String>>,
}

/// The operators of `matchExpressions`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Operator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// The direction of the Pods' traffic that is controlled.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
pub enum Direction {
    /// Traffic the Pods receive.
    Ingress,
    /// Traffic the Pods send.
    Egress,
    /// Both.
    Both,
}

impl Direction {
    /// Whether traffic the Pod receives is controlled.
    pub fn covers_ingress(self) -> bool {
        matches!(self, Direction::Ingress | Direction::Both)
    }

    /// Whether traffic the Pod sends is controlled.
    pub fn covers_egress(self) -> bool {
        matches!(self, Direction::Egress | Direction::Both)
    }
}

/// What happens to the selected traffic.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
pub enum Action {
    /// A copy goes to the target port; the original is delivered as usual.
    Mirror,
    /// The traffic goes to the target port only, and continues to its
    /// destination when it comes back through the return port.
    Redirect,
}

/// A port to send traffic to: exactly one kind.
///
/// Serialized as Antrea's object with one key (`{"vxlan": {...}}`); the
/// generated schema is the object with all six properties and a `oneOf` of
/// `required` lists.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Port {
    /// An OVS internal port, created when missing.
    OvsInternal(NamedPort),
    /// An existing host network device, attached to the bridge.
    Device(NamedPort),
    /// A GENEVE tunnel to a remote collector.
    Geneve(UdpTunnel),
    /// A VXLAN tunnel to a remote collector.
    Vxlan(UdpTunnel),
    /// A GRE tunnel to a remote collector.
    Gre(GreTunnel),
    /// An ERSPAN tunnel to a remote collector (target ports only).
    Erspan(ErspanTunnel),
}

impl JsonSchema for Port {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TrafficControlPort".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemas::port(generator, &PortKind::ALL)
    }
}

/// The port through which redirected traffic comes back. ERSPAN is a
/// one-way encapsulation, so it cannot be one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(try_from = "Port", into = "Port")]
pub struct ReturnPort(Port);

impl ReturnPort {
    /// The port.
    pub fn port(&self) -> &Port {
        &self.0
    }
}

impl TryFrom<Port> for ReturnPort {
    type Error = &'static str;

    fn try_from(port: Port) -> Result<Self, Self::Error> {
        match port {
            Port::Erspan(_) => Err("erspan cannot be a return port"),
            other => Ok(ReturnPort(other)),
        }
    }
}

impl From<ReturnPort> for Port {
    fn from(port: ReturnPort) -> Self {
        port.0
    }
}

impl JsonSchema for ReturnPort {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TrafficControlReturnPort".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemas::port(generator, &PortKind::RETURN)
    }
}

/// The six port kinds, named as their JSON keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortKind {
    /// `ovsInternal`
    OvsInternal,
    /// `device`
    Device,
    /// `geneve`
    Geneve,
    /// `vxlan`
    Vxlan,
    /// `gre`
    Gre,
    /// `erspan`
    Erspan,
}

impl PortKind {
    /// Every kind a target port may be.
    pub const ALL: [PortKind; 6] = [
        PortKind::OvsInternal,
        PortKind::Device,
        PortKind::Geneve,
        PortKind::Vxlan,
        PortKind::Gre,
        PortKind::Erspan,
    ];
    /// Every kind a return port may be.
    pub const RETURN: [PortKind; 5] =
        [PortKind::OvsInternal, PortKind::Device, PortKind::Geneve, PortKind::Vxlan, PortKind::Gre];

    /// The JSON key of this kind.
    pub fn key(self) -> &'static str {
        match self {
            PortKind::OvsInternal => "ovsInternal",
            PortKind::Device => "device",
            PortKind::Geneve => "geneve",
            PortKind::Vxlan => "vxlan",
            PortKind::Gre => "gre",
            PortKind::Erspan => "erspan",
        }
    }
}

impl Port {
    /// The kind of this port.
    pub fn kind(&self) -> PortKind {
        match self {
            Port::OvsInternal(_) => PortKind::OvsInternal,
            Port::Device(_) => PortKind::Device,
            Port::Geneve(_) => PortKind::Geneve,
            Port::Vxlan(_) => PortKind::Vxlan,
            Port::Gre(_) => PortKind::Gre,
            Port::Erspan(_) => PortKind::Erspan,
        }
    }
}

/// A port known by its name (`ovsInternal`, `device`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedPort {
    /// The interface name.
    pub name: String,
}

/// A GENEVE or VXLAN tunnel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UdpTunnel {
    /// The collector's address.
    #[serde(rename = "remoteIP")]
    #[schemars(schema_with = "schemas::ip_address")]
    pub remote_ip: IpAddr,
    /// The UDP destination port (4789 for VXLAN, 6081 for GENEVE when absent).
    #[serde(rename = "destinationPort", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::udp_port")]
    pub destination_port: Option<u16>,
    /// The Virtual Network Identifier (0 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::vni")]
    pub vni: Option<u32>,
}

/// A GRE tunnel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GreTunnel {
    /// The collector's address.
    #[serde(rename = "remoteIP")]
    #[schemars(schema_with = "schemas::ip_address")]
    pub remote_ip: IpAddr,
    /// The GRE key (0 when absent). The full 32 bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::gre_key")]
    pub key: Option<u32>,
}

/// An ERSPAN tunnel (version 1 is type II, version 2 is type III).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErspanTunnel {
    /// The collector's address.
    #[serde(rename = "remoteIP")]
    #[schemars(schema_with = "schemas::ip_address")]
    pub remote_ip: IpAddr,
    /// The ERSPAN session ID (0 when absent).
    #[serde(rename = "sessionID", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::erspan_session_id")]
    pub session_id: Option<u16>,
    /// 1 (type II) or 2 (type III).
    #[schemars(schema_with = "schemas::erspan_version")]
    pub version: u8,
    /// Version 1 only: the port index (20 bits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::erspan_index")]
    pub index: Option<u32>,
    /// Version 2 only: 0 for ingress, 1 for egress traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::erspan_dir")]
    pub dir: Option<u8>,
    /// Version 2 only: the ERSPAN engine's hardware ID (6 bits).
    #[serde(rename = "hardwareID", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::erspan_hardware_id")]
    pub hardware_id: Option<u8>,
}

/// What each node reports about a TrafficControl.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficControlStatus {
    /// One entry per node; each node writes only its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schemas::node_status_list")]
    pub nodes: Vec<NodeStatus>,
}

/// What one node realized for a TrafficControl.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// The node's name.
    pub node: String,
    /// How many Pods on this node the TrafficControl controls.
    #[serde(default)]
    #[schemars(schema_with = "schemas::count")]
    pub selected_pods: u32,
    /// The name of the target port on this node's bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<String>,
    /// The target port's OpenFlow port number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schemas::count")]
    pub ofport: Option<u32>,
    /// Conditions, `Realized` among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A status condition, shaped like `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type, e.g. `Realized`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// The CustomResourceDefinition of TrafficControl.
pub fn crd() -> CustomResourceDefinition {
    TrafficControl::crd()
}

/// The CRD as the YAML document `kubectl apply` takes
/// (`deploy/crds/trafficcontrol.yaml` holds exactly this text).
pub fn crd_yaml() -> String {
    let mut value = serde_json::to_value(crd()).unwrap_or_default();
    whole_numbers_as_integers(&mut value);
    crate::manifest::to_yaml(&value)
}

/// `JSONSchemaProps` keeps bounds as f64, which would print `65535.0`;
/// Antrea's CRD (and every hand-written one) says `65535`.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// The `openAPIV3Schema` of the CRD's only version, as JSON.
pub fn openapi_schema() -> serde_json::Value {
    let crd = serde_json::to_value(crd()).unwrap_or_default();
    crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().unwrap_or_default()
}

pub mod schemas;
