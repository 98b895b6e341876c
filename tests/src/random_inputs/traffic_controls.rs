//! Random TrafficControl manifests (JSON, as a user writes them): every
//! action, direction and port kind, tunnel parameters anywhere in their
//! valid ranges (the bounds often), selectors over the labels the Pods and
//! Namespaces of [`super::cluster`] carry. A few are spoiled on purpose
//! (one field out of its range), so the validator has something to refuse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use super::cluster::{LABEL_KEYS, LABEL_VALUES, NAMESPACE_LABELS, NAMESPACES};
use super::rng::Rng;

/// Internal port names: few, so TrafficControls share ports, and a
/// Redirect sometimes returns where it leaves (which the validator
/// refuses).
pub const INTERNAL_PORTS: [&str; 5] = ["tap0", "tap1", "fw-in", "fw-out", "ids.mon"];
/// Device names (some of them already on the switch).
pub const DEVICES: [&str; 4] = ["eth1", "ens5f1", "bond0.100", "eno2"];
/// Collector addresses, besides random ones.
const COLLECTORS: [&str; 4] = ["10.0.10.2", "192.168.7.30", "fd00:10::2", "2001:db8::1:9"];
/// Creation times: few, so precedence often falls back to the name.
const CREATED: [&str; 3] = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-03-05T12:00:00Z"];

/// One TrafficControl manifest; `spoiled` when one of its fields was
/// put out of range on purpose.
pub struct Manifest {
    /// The object, as `kubectl apply` would send it.
    pub object: Value,
    /// Whether it was spoiled on purpose (the validator must refuse it).
    pub spoiled: bool,
}

/// The `index`th TrafficControl of an input.
pub fn traffic_control(rng: &mut Rng, index: usize) -> Manifest {
    let action = *rng.pick(&["Mirror", "Redirect"]);
    let mut spec = json!({
        "appliedTo": applied_to(rng),
        "direction": rng.pick(&["Ingress", "Egress", "Both"]),
        "action": action,
        "targetPort": port(rng, true),
    });
    if (action == "Redirect" && rng.chance(97)) || rng.chance(10) {
        spec["returnPort"] = port(rng, false);
    }
    let name = format!("{}-{index}", rng.pick(&["mirror", "ids", "tap", "redirect.fw"]));
    let mut object = json!({
        "apiVersion": "crd.antrea.io/v1alpha2",
        "kind": "TrafficControl",
        "metadata": {"name": name, "creationTimestamp": rng.pick(&CREATED)},
        "spec": spec,
    });
    let spoiled = rng.chance(4);
    if spoiled {
        spoil(rng, &mut object);
    }
    Manifest { object, spoiled }
}

fn applied_to(rng: &mut Rng) -> Value {
    let mut applied_to = Map::new();
    match rng.between(0, 9) {
        0 => {} // selects nothing (a warning, not an error)
        1 => {
            applied_to.insert("namespaceSelector".into(), namespace_selector(rng));
        }
        2 | 3 => {
            applied_to.insert("podSelector".into(), pod_selector(rng));
            applied_to.insert("namespaceSelector".into(), namespace_selector(rng));
        }
        _ => {
            applied_to.insert("podSelector".into(), pod_selector(rng));
        }
    }
    Value::Object(applied_to)
}

fn pod_selector(rng: &mut Rng) -> Value {
    selector(rng, &LABEL_KEYS, &LABEL_VALUES)
}

fn namespace_selector(rng: &mut Rng) -> Value {
    if rng.chance(50) {
        let names: Vec<&str> = (0..rng.between(1, 2)).map(|_| *rng.pick(&NAMESPACES)).collect();
        return json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": names}
        ]});
    }
    let keys: Vec<&str> = NAMESPACE_LABELS.iter().map(|(k, _)| *k).collect();
    let values: Vec<&str> = NAMESPACE_LABELS.iter().map(|(_, v)| *v).collect();
    selector(rng, &keys, &values)
}

/// `{}` (everything), `matchLabels`, `matchExpressions` or both.
fn selector(rng: &mut Rng, keys: &[&str], values: &[&str]) -> Value {
    let mut selector = Map::new();
    let kind = rng.between(0, 5);
    if kind == 0 {
        return Value::Object(selector);
    }
    if kind <= 3 {
        let labels: Map<String, Value> =
            (0..rng.between(1, 2)).map(|_| (rng.pick(keys).to_string(), json!(rng.pick(values)))).collect();
        selector.insert("matchLabels".into(), Value::Object(labels));
    }
    if kind >= 3 {
        let expressions: Vec<Value> = (0..rng.between(1, 2))
            .map(|_| {
                let key = *rng.pick(keys);
                match *rng.pick(&["In", "NotIn", "Exists", "DoesNotExist"]) {
                    op @ ("In" | "NotIn") => {
                        let set: Vec<&str> = (0..rng.between(1, 3)).map(|_| *rng.pick(values)).collect();
                        json!({"key": key, "operator": op, "values": set})
                    }
                    op => json!({"key": key, "operator": op}),
                }
            })
            .collect();
        selector.insert("matchExpressions".into(), Value::Array(expressions));
    }
    Value::Object(selector)
}

/// A target port (any kind) or a return port (any but ERSPAN).
fn port(rng: &mut Rng, target: bool) -> Value {
    let kinds: &[&str] = if target {
        &["ovsInternal", "device", "vxlan", "geneve", "gre", "erspan"]
    } else {
        &["ovsInternal", "device", "vxlan", "geneve", "gre"]
    };
    let kind = *rng.pick(kinds);
    let mut fields = Map::new();
    match kind {
        "ovsInternal" => return json!({kind: {"name": rng.pick(&INTERNAL_PORTS)}}),
        "device" => return json!({kind: {"name": rng.pick(&DEVICES)}}),
        "vxlan" | "geneve" => {
            optional(rng, &mut fields, "destinationPort", 1, 65_535);
            optional(rng, &mut fields, "vni", 0, 16_777_215);
        }
        "gre" => optional(rng, &mut fields, "key", 0, u64::from(u32::MAX)),
        _ => {
            optional(rng, &mut fields, "sessionID", 0, 1_023);
            let version = rng.between(1, 2);
            fields.insert("version".into(), json!(version));
            // The other version's fields now and then: a warning only.
            let foreign = rng.chance(10);
            if version == 1 || foreign {
                optional(rng, &mut fields, "index", 0, 1_048_575);
            }
            if version == 2 || foreign {
                optional(rng, &mut fields, "dir", 0, 1);
                optional(rng, &mut fields, "hardwareID", 0, 63);
            }
        }
    }
    fields.insert("remoteIP".into(), json!(remote_ip(rng).to_string()));
    json!({kind: fields})
}

/// `key` in `low..=high`, or (two times in five) absent.
fn optional(rng: &mut Rng, fields: &mut Map<String, Value>, key: &str, low: u64, high: u64) {
    if rng.chance(60) {
        fields.insert(key.to_owned(), json!(rng.in_range(low, high)));
    }
}

/// A collector's address: a known one, or any address at all (the
/// validator refuses loopback, multicast and the like).
fn remote_ip(rng: &mut Rng) -> IpAddr {
    match rng.between(0, 3) {
        0 | 1 => rng.pick(&COLLECTORS).parse().expect("collector address"),
        2 => IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32)),
        _ => IpAddr::V6(Ipv6Addr::from(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()))),
    }
}

/// Puts one field out of its range, or breaks one rule.
fn spoil(rng: &mut Rng, object: &mut Value) {
    let spec = &mut object["spec"];
    match rng.between(0, 4) {
        0 => spec["targetPort"] = json!({"vxlan": {"remoteIP": "10.0.10.2", "vni": 16_777_216}}),
        1 => {
            spec["targetPort"] = json!({"erspan": {"remoteIP": "10.0.10.2", "version": 2, "hardwareID": 64}})
        }
        2 => spec["targetPort"] = json!({"ovsInternal": {"name": "a-name-too-long0"}}),
        3 => {
            spec["action"] = json!("Redirect");
            spec.as_object_mut().expect("spec").remove("returnPort");
        }
        _ => spec["targetPort"] = json!({"geneve": {"remoteIP": "10.0.10.2", "destinationPort": 0}}),
    }
}
