//! Every problem of one TrafficControl, as errors (the object is refused)
//! and warnings (it is accepted), each naming the object, the field and the
//! rule: `tc/mirror-web-app: spec.targetPort.vxlan.vni: 16777216 is above
//! 16777215`.
//!
//! Two passes over the raw JSON: the CRD's own schema ([`crate::schema`]),
//! then the rules a schema cannot say (Redirect needs a return port, names
//! Linux refuses, label selectors Kubernetes refuses, ...). Only an object
//! without errors is turned into a typed [`TrafficControl`].

use std::fmt;
use std::sync::{Arc, LazyLock};

use serde_json::Value;

use crate::api::{self, Port, TrafficControl};
use crate::naming::{check_interface_name, port_name};
use crate::schema::{self, FieldPath};
use crate::selector::{check_label_key, check_label_value, is_dns_subdomain};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The object is refused.
    Error,
    /// The object is accepted; the user should know.
    Warning,
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The field.
    pub path: FieldPath,
    /// The rule, phrased for a user.
    pub message: String,
}

/// The verdict on one TrafficControl.
#[derive(Clone, Debug)]
pub struct Report {
    /// `tc/NAME`, or `tc/<unnamed>`.
    pub object: String,
    /// Errors first, then warnings, each sorted by field.
    pub findings: Vec<Finding>,
    /// The typed object, when there are no errors.
    pub traffic_control: Option<TrafficControl>,
}

impl Report {
    /// Whether the object is accepted.
    pub fn is_valid(&self) -> bool {
        self.traffic_control.is_some()
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Warning)
    }

    /// The findings as one error message (`tc/x: a: b; c: d`), for API
    /// servers and events that have one line to say it in.
    pub fn error_summary(&self) -> String {
        let parts: Vec<String> = self.errors().map(|f| format!("{}: {}", f.path, f.message)).collect();
        format!("{}: {}", self.object, parts.join("; "))
    }
}

impl fmt::Display for Report {
    /// One line per finding; a valid object starts with `tc/NAME: ok`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_valid() {
            writeln!(f, "{}: ok", self.object)?;
        }
        for finding in &self.findings {
            let label = if finding.severity == Severity::Warning { "warning: " } else { "" };
            writeln!(f, "{}: {label}{}: {}", self.object, finding.path, finding.message)?;
        }
        Ok(())
    }
}

/// Checks TrafficControls against the CRD schema, which is built once per
/// process and shared (building it is most of the cost of a dev API
/// server's start, and of each of its fuzz runs).
#[derive(Clone)]
pub struct Validator {
    schema: Arc<Value>,
}

/// The CRD's schema as the validator reads it.
static SCHEMA: LazyLock<Arc<Value>> = LazyLock::new(|| {
    let mut schema = api::openapi_schema();
    // The API server knows these three on every object; the CRD does not
    // list them. `metadata` is checked by `check_metadata`.
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("apiVersion".into(), serde_json::json!({"type": "string"}));
        properties.insert("kind".into(), serde_json::json!({"type": "string"}));
        properties.insert(
            "metadata".into(),
            serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
    }
    Arc::new(schema)
});

impl Default for Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Validator {
    /// A validator for the CRD this crate publishes.
    pub fn new() -> Self {
        Validator { schema: SCHEMA.clone() }
    }

    /// Every problem of `object`, a TrafficControl as parsed from YAML or
    /// JSON. Never panics, whatever the input.
    pub fn validate(&self, object: &Value) -> Report {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).filter(|n| !n.is_empty());
        let label = format!("tc/{}", name.unwrap_or("<unnamed>"));

        let mut rules = Vec::new();
        check_type_meta(object, &mut rules);
        check_metadata(object, &mut rules);
        if let Some(spec) = object.get("spec") {
            check_spec(spec, &mut rules);
        }
        // A rule that explains a field better than the schema does replaces
        // the schema's message for that field. An ERSPAN return port also
        // makes the schema's "exactly one of ... found none" on its parent
        // noise: the rule already says what to use instead.
        let mut explained: Vec<FieldPath> = rules.iter().map(|f: &Finding| f.path.clone()).collect();
        if explained.contains(&FieldPath::parse("spec.returnPort.erspan")) {
            explained.push(FieldPath::parse("spec.returnPort"));
        }
        let mut findings: Vec<Finding> = schema::check(&self.schema, object)
            .into_iter()
            .filter(|v| !explained.contains(&v.path))
            .map(|v| Finding { severity: Severity::Error, path: v.path, message: v.message })
            .collect();
        findings.extend(rules);
        findings.sort();
        findings.dedup();

        let mut traffic_control = None;
        if !findings.iter().any(|f| f.severity == Severity::Error) {
            match serde_json::from_value::<TrafficControl>(object.clone()) {
                Ok(tc) => traffic_control = Some(tc),
                // The checks above should make this unreachable; if they
                // ever miss something, say so instead of accepting it.
                Err(error) => {
                    findings.insert(0, error_at(FieldPath::root(), format!("cannot be read: {error}")))
                }
            }
        }
        Report { object: label, findings, traffic_control }
    }
}

fn error_at(path: FieldPath, message: impl Into<String>) -> Finding {
    Finding { severity: Severity::Error, path, message: message.into() }
}

fn warning_at(path: FieldPath, message: impl Into<String>) -> Finding {
    Finding { severity: Severity::Warning, path, message: message.into() }
}

fn check_type_meta(object: &Value, out: &mut Vec<Finding>) {
    match object.get("apiVersion").and_then(Value::as_str) {
        Some(api::API_VERSION) => {}
        Some(other) => out.push(error_at(
            FieldPath::parse("apiVersion"),
            format!("{other:?} is not served, use {:?}", api::API_VERSION),
        )),
        None => out.push(error_at(FieldPath::parse("apiVersion"), "is required")),
    }
}

/// The fields of `metav1.ObjectMeta`; anything else is a typo.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn check_metadata(object: &Value, out: &mut Vec<Finding>) {
    let path = FieldPath::parse("metadata");
    let Some(metadata) = object.get("metadata").and_then(Value::as_object) else {
        if object.get("metadata").is_none_or(Value::is_null) {
            out.push(error_at(path.field("name"), "is required"));
        }
        return; // a non-object is reported by the schema
    };
    match metadata.get("name") {
        Some(Value::String(name)) if is_dns_subdomain(name) => {}
        Some(Value::String(name)) => out.push(error_at(
            path.field("name"),
            format!("{name:?} is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"),
        )),
        Some(Value::Null) | None => out.push(error_at(path.field("name"), "is required")),
        Some(other) => out.push(error_at(path.field("name"), format!("{} is not a string", schema::show(other)))),
    }
    if metadata.get("namespace").is_some_and(|n| !n.is_null()) {
        out.push(warning_at(path.field("namespace"), "is ignored: TrafficControl is cluster-scoped"));
    }
    for key in metadata.keys().filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str())) {
        out.push(error_at(path.field(key), "unknown field"));
    }
    for map in ["labels", "annotations"] {
        match metadata.get(map) {
            Some(Value::Object(entries)) => {
                for (key, value) in entries {
                    if !value.is_string() {
                        out.push(error_at(
                            path.field(map).key(key),
                            format!("{} is not a string", schema::show(value)),
                        ));
                    }
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => {
                out.push(error_at(path.field(map), format!("{} is not a map", schema::show(other))))
            }
        }
    }
}

fn check_spec(spec: &Value, out: &mut Vec<Finding>) {
    let path = FieldPath::parse("spec");
    let action = spec.get("action").and_then(Value::as_str);
    let return_port = spec.get("returnPort").filter(|v| !v.is_null());
    match (action, return_port) {
        (Some("Redirect"), None) => {
            out.push(error_at(path.field("returnPort"), "is required when spec.action is Redirect"));
        }
        (Some("Mirror"), Some(_)) => out.push(warning_at(
            path.field("returnPort"),
            "is only used by Redirect: with Mirror the port is created (as Antrea does) but no traffic is expected back",
        )),
        _ => {}
    }
    if return_port.and_then(|p| p.get("erspan")).is_some() {
        out.push(error_at(
            path.field("returnPort").field("erspan"),
            "ERSPAN cannot be a return port: it only carries traffic away (use ovsInternal, device, geneve, vxlan or gre)",
        ));
    }
    for field in ["targetPort", "returnPort"] {
        if let Some(port) = spec.get(field).and_then(Value::as_object) {
            check_port_fields(port, &path.field(field), out);
        }
    }
    if let (Some(target), Some(ret)) = (typed_port(spec.get("targetPort")), typed_port(return_port)) {
        let (target_name, return_name) = (port_name(&target), port_name(&ret));
        if target_name == return_name {
            out.push(error_at(
                path.field("returnPort"),
                format!("is the same port as spec.targetPort ({target_name}): redirected traffic would come back where it left"),
            ));
        }
    }
    if let Some(applied_to) = spec.get("appliedTo").and_then(Value::as_object) {
        let applied_path = path.field("appliedTo");
        let pod = applied_to.get("podSelector").filter(|v| !v.is_null());
        let namespace = applied_to.get("namespaceSelector").filter(|v| !v.is_null());
        if pod.is_none() && namespace.is_none() {
            out.push(warning_at(
                applied_path.clone(),
                "selects no Pods: set podSelector or namespaceSelector ({} selects every Pod)",
            ));
        }
        for (field, selector) in [("podSelector", pod), ("namespaceSelector", namespace)] {
            if let Some(selector) = selector {
                check_label_selector(selector, &applied_path.field(field), out);
            }
        }
    }
}

fn typed_port(value: Option<&Value>) -> Option<Port> {
    value.and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn check_port_fields(port: &serde_json::Map<String, Value>, path: &FieldPath, out: &mut Vec<Finding>) {
    for kind in ["ovsInternal", "device"] {
        if let Some(name) = port.get(kind).and_then(|p| p.get("name")).and_then(Value::as_str)
            && let Err(rule) = check_interface_name(name)
        {
            out.push(error_at(path.field(kind).field("name"), rule));
        }
    }
    for kind in ["vxlan", "geneve", "gre", "erspan"] {
        let remote = port.get(kind).and_then(|p| p.get("remoteIP")).and_then(Value::as_str);
        if let Some(Err(rule)) =
            remote.and_then(|text| text.parse().ok()).map(crate::guard_rails::check_remote_ip)
        {
            out.push(error_at(path.field(kind).field("remoteIP"), rule));
        }
    }
    if let Some(erspan) = port.get("erspan").and_then(Value::as_object) {
        let erspan_path = path.field("erspan");
        let version = erspan.get("version").and_then(Value::as_u64);
        let foreign: &[&str] = match version {
            Some(1) => &["dir", "hardwareID"],
            Some(2) => &["index"],
            _ => &[],
        };
        let other = if version == Some(1) { 2 } else { 1 };
        for field in foreign.iter().filter(|f| erspan.get(**f).is_some_and(|v| !v.is_null())) {
            out.push(warning_at(
                erspan_path.field(field),
                format!(
                    "is only used by ERSPAN version {other} and is ignored with version {}",
                    version.unwrap_or(0)
                ),
            ));
        }
    }
}

fn check_label_selector(selector: &Value, path: &FieldPath, out: &mut Vec<Finding>) {
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        let labels_path = path.field("matchLabels");
        for (key, value) in labels {
            if let Err(rule) = check_label_key(key) {
                out.push(error_at(labels_path.key(key), rule));
            } else if let Some(value) = value.as_str()
                && let Err(rule) = check_label_value(value)
            {
                out.push(error_at(labels_path.key(key), rule));
            }
        }
    }
    let Some(expressions) = selector.get("matchExpressions").and_then(Value::as_array) else { return };
    for (i, expression) in expressions.iter().enumerate() {
        let expr_path = path.field("matchExpressions").index(i);
        if let Some(key) = expression.get("key").and_then(Value::as_str)
            && let Err(rule) = check_label_key(key)
        {
            out.push(error_at(expr_path.field("key"), rule));
        }
        let values = expression.get("values").and_then(Value::as_array);
        let count = values.map_or(0, Vec::len);
        match expression.get("operator").and_then(Value::as_str) {
            Some(op @ ("In" | "NotIn")) if count == 0 => {
                out.push(error_at(
                    expr_path.field("values"),
                    format!("must not be empty when operator is {op}"),
                ));
            }
            Some(op @ ("Exists" | "DoesNotExist")) if count > 0 => {
                out.push(error_at(expr_path.field("values"), format!("must be empty when operator is {op}")));
            }
            _ => {}
        }
        for (j, value) in values.into_iter().flatten().enumerate() {
            if let Some(value) = value.as_str()
                && let Err(rule) = check_label_value(value)
            {
                out.push(error_at(expr_path.field("values").index(j), rule));
            }
        }
    }
}

#[cfg(test)]
mod tests;
