use super::*;
use crate::manifest::parse_documents;

const VALID: &str = r#"
apiVersion: crd.antrea.io/v1alpha2
kind: TrafficControl
metadata:
  name: mirror-web-app
spec:
  appliedTo:
    podSelector:
      matchLabels:
        app: web
  direction: Both
  action: Mirror
  targetPort:
    vxlan:
      remoteIP: 10.0.10.2
"#;

/// The object `VALID` with `edit` applied at a JSON pointer (None removes).
fn with(edits: &[(&str, Option<Value>)]) -> Value {
    let mut object = parse_documents(VALID).unwrap().remove(0);
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = object.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(v) => parent.insert(key.to_owned(), v.clone()),
            None => parent.remove(key),
        };
    }
    object
}

fn lines(object: &Value) -> Vec<String> {
    Validator::new().validate(object).to_string().lines().map(str::to_owned).collect()
}

fn json(text: &str) -> Option<Value> {
    Some(serde_json::from_str(text).unwrap())
}

#[test]
fn the_guides_example_is_valid() {
    let report = Validator::new().validate(&with(&[]));
    assert!(report.is_valid());
    assert_eq!(report.to_string(), "tc/mirror-web-app: ok\n");
}

#[test]
fn a_tunnel_to_loopback_unspecified_multicast_or_broadcast_is_refused_offline() {
    for (ip, kind) in [
        ("127.0.0.1", "a loopback address"),
        ("0.0.0.0", "the unspecified address"),
        ("224.0.0.9", "a multicast address"),
        ("255.255.255.255", "the broadcast address"),
        ("::1", "a loopback address"),
    ] {
        let object = with(&[("/spec/targetPort/vxlan/remoteIP", Some(Value::String(ip.to_owned())))]);
        assert_eq!(
            lines(&object),
            [format!(
                "tc/mirror-web-app: spec.targetPort.vxlan.remoteIP: {ip} is {kind}: a tunnel must lead to another host (the collector's address)"
            )]
        );
    }
}

#[test]
fn an_out_of_range_vni_is_named_with_object_field_and_rule() {
    let object = with(&[("/spec/targetPort/vxlan/vni", json("16777216"))]);
    assert_eq!(lines(&object), ["tc/mirror-web-app: spec.targetPort.vxlan.vni: 16777216 is above 16777215"]);
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let object = with(&[
        ("/spec/targetPort/vxlan/vni", json("-1")),
        ("/spec/targetPort/vxlan/destinationPort", json("0")),
        ("/spec/direction", json(r#""Sideways""#)),
        ("/spec/colour", json(r#""blue""#)),
    ]);
    assert_eq!(
        lines(&object),
        [
            "tc/mirror-web-app: spec.colour: unknown field (known fields: action, appliedTo, direction, returnPort, targetPort)",
            "tc/mirror-web-app: spec.direction: \"Sideways\" is not one of Ingress, Egress, Both",
            "tc/mirror-web-app: spec.targetPort.vxlan.destinationPort: 0 is below 1",
            "tc/mirror-web-app: spec.targetPort.vxlan.vni: -1 is below 0",
        ]
    );
}

#[test]
fn missing_required_fields_are_each_named() {
    let object =
        with(&[("/spec/direction", None), ("/spec/action", None), ("/spec/targetPort/vxlan/remoteIP", None)]);
    assert_eq!(
        lines(&object),
        [
            "tc/mirror-web-app: spec.action: is required",
            "tc/mirror-web-app: spec.direction: is required",
            "tc/mirror-web-app: spec.targetPort.vxlan.remoteIP: is required",
        ]
    );
}

#[test]
fn a_port_needs_exactly_one_kind() {
    let none = with(&[("/spec/targetPort", json("{}"))]);
    assert_eq!(
        lines(&none),
        [
            "tc/mirror-web-app: spec.targetPort: exactly one of ovsInternal, device, geneve, vxlan, gre, erspan must be set, found none"
        ]
    );
    let two = with(&[("/spec/targetPort/gre", json(r#"{"remoteIP": "10.0.10.3"}"#))]);
    assert_eq!(
        lines(&two),
        [
            "tc/mirror-web-app: spec.targetPort: exactly one of ovsInternal, device, geneve, vxlan, gre, erspan must be set, found vxlan and gre"
        ]
    );
}

#[test]
fn a_bad_remote_ip_is_refused() {
    let object = with(&[("/spec/targetPort/vxlan/remoteIP", json(r#""10.0.10""#))]);
    assert_eq!(
        lines(&object),
        [
            "tc/mirror-web-app: spec.targetPort.vxlan.remoteIP: \"10.0.10\" is not an IPv4 address or an IPv6 address"
        ]
    );
}

#[test]
fn wrong_types_are_refused() {
    let object = with(&[("/spec/targetPort/vxlan/vni", json(r#""1""#)), ("/spec/appliedTo", json("[]"))]);
    assert_eq!(
        lines(&object),
        [
            "tc/mirror-web-app: spec.appliedTo: a list is a list, expected an object",
            "tc/mirror-web-app: spec.targetPort.vxlan.vni: \"1\" is a string, expected an integer",
        ]
    );
}

#[test]
fn redirect_without_return_port_is_rejected() {
    let object = with(&[("/spec/action", json(r#""Redirect""#))]);
    assert_eq!(
        lines(&object),
        ["tc/mirror-web-app: spec.returnPort: is required when spec.action is Redirect"]
    );
}

#[test]
fn a_return_port_equal_to_the_target_is_rejected_even_when_spelled_differently() {
    let object = with(&[
        ("/spec/action", json(r#""Redirect""#)),
        (
            "/spec/returnPort",
            json(r#"{"vxlan": {"remoteIP": "10.0.10.2", "destinationPort": 4789, "vni": 0}}"#),
        ),
    ]);
    assert_eq!(
        lines(&object),
        [
            "tc/mirror-web-app: spec.returnPort: is the same port as spec.targetPort (vxlan-a84093): redirected traffic would come back where it left"
        ]
    );
}

#[test]
fn erspan_as_a_return_port_is_rejected_with_a_reason() {
    let object = with(&[
        ("/spec/action", json(r#""Redirect""#)),
        ("/spec/returnPort", json(r#"{"erspan": {"remoteIP": "10.0.10.2", "version": 1}}"#)),
    ]);
    assert_eq!(
        lines(&object),
        [
            "tc/mirror-web-app: spec.returnPort.erspan: ERSPAN cannot be a return port: it only carries traffic away (use ovsInternal, device, geneve, vxlan or gre)",
        ]
    );
}

#[test]
fn a_return_port_on_a_mirror_is_accepted_with_a_warning() {
    let object = with(&[("/spec/returnPort", json(r#"{"ovsInternal": {"name": "tap1"}}"#))]);
    let report = Validator::new().validate(&object);
    assert!(report.is_valid());
    assert_eq!(report.warnings().count(), 1);
    assert!(
        report.to_string().contains("tc/mirror-web-app: warning: spec.returnPort: is only used by Redirect")
    );
}

#[test]
fn interface_names_linux_refuses_are_rejected() {
    for (name, rule) in [
        ("", "must not be empty"),
        ("a-very-long-name0", "\"a-very-long-name0\" is 17 bytes long, Linux allows at most 15"),
        ("a/b", "\"a/b\" contains '/', which Linux refuses in interface names"),
        ("..", "\"..\" is not a valid interface name"),
    ] {
        let object = with(&[("/spec/targetPort", json(&format!(r#"{{"device": {{"name": {name:?}}}}}"#)))]);
        assert_eq!(lines(&object), [format!("tc/mirror-web-app: spec.targetPort.device.name: {rule}")]);
    }
}

#[test]
fn erspan_fields_of_the_other_version_are_warned_about() {
    let v1 = with(&[(
        "/spec/targetPort",
        json(r#"{"erspan": {"remoteIP": "10.0.10.2", "version": 1, "dir": 1, "hardwareID": 4}}"#),
    )]);
    let report = Validator::new().validate(&v1);
    assert!(report.is_valid());
    assert_eq!(
        report.warnings().map(|w| w.path.to_string()).collect::<Vec<_>>(),
        ["spec.targetPort.erspan.dir", "spec.targetPort.erspan.hardwareID"]
    );
    let v2 = with(&[(
        "/spec/targetPort",
        json(r#"{"erspan": {"remoteIP": "10.0.10.2", "version": 2, "index": 1}}"#),
    )]);
    assert_eq!(
        lines(&v2)[1],
        "tc/mirror-web-app: warning: spec.targetPort.erspan.index: is only used by ERSPAN version 1 and is ignored with version 2"
    );
}

#[test]
fn label_selectors_kubernetes_refuses_are_rejected() {
    let object = with(&[(
        "/spec/appliedTo/podSelector",
        json(
            r#"{"matchLabels": {"-bad": "x", "ok": "bad value"},
                "matchExpressions": [
                  {"key": "a", "operator": "In"},
                  {"key": "b", "operator": "Exists", "values": ["x"]},
                  {"key": "c", "operator": "Near", "values": ["x"]},
                  {"key": "d", "operator": "NotIn", "values": ["-x"]}]}"#,
        ),
    )]);
    let lines = lines(&object);
    let fields: Vec<&str> = lines.iter().map(|l| l.split(": ").nth(1).unwrap()).collect();
    assert_eq!(
        fields,
        [
            "spec.appliedTo.podSelector.matchExpressions[0].values",
            "spec.appliedTo.podSelector.matchExpressions[1].values",
            "spec.appliedTo.podSelector.matchExpressions[2].operator",
            "spec.appliedTo.podSelector.matchExpressions[3].values[0]",
            "spec.appliedTo.podSelector.matchLabels[-bad]",
            "spec.appliedTo.podSelector.matchLabels[ok]",
        ],
        "{lines:#?}"
    );
}

#[test]
fn an_empty_applied_to_is_accepted_with_a_warning() {
    let object = with(&[("/spec/appliedTo", json("{}"))]);
    assert_eq!(
        lines(&object)[1],
        "tc/mirror-web-app: warning: spec.appliedTo: selects no Pods: set podSelector or namespaceSelector ({} selects every Pod)"
    );
}

#[test]
fn metadata_needs_a_valid_name_and_known_fields() {
    let object = with(&[("/metadata", json(r#"{"name": "Bad_Name", "lables": {}}"#))]);
    let lines = lines(&object);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].starts_with("tc/Bad_Name: metadata.lables: unknown field"));
    assert!(lines[1].starts_with("tc/Bad_Name: metadata.name: \"Bad_Name\" is not a valid name"));
    let unnamed = with(&[("/metadata", json("{}"))]);
    assert_eq!(super::tests::lines(&unnamed), ["tc/<unnamed>: metadata.name: is required"]);
}

#[test]
fn other_api_versions_are_refused() {
    let object = with(&[("/apiVersion", json(r#""crd.antrea.io/v1alpha1""#))]);
    assert_eq!(
        lines(&object),
        [
            "tc/mirror-web-app: apiVersion: \"crd.antrea.io/v1alpha1\" is not served, use \"crd.antrea.io/v1alpha2\""
        ]
    );
}

#[test]
fn a_status_is_accepted() {
    let object = with(&[("/status", json(r#"{"nodes": [{"node": "n1", "selectedPods": 2}]}"#))]);
    assert!(Validator::new().validate(&object).is_valid());
}

#[test]
fn the_gre_key_takes_the_full_32_bits() {
    let gre = |key: &str| {
        with(&[(
            "/spec/targetPort",
            json(&format!(r#"{{"gre": {{"remoteIP": "10.0.10.2", "key": {key}}}}}"#)),
        )])
    };
    assert!(Validator::new().validate(&gre("4294967295")).is_valid());
    assert_eq!(
        lines(&gre("4294967296")),
        ["tc/mirror-web-app: spec.targetPort.gre.key: 4294967296 is above 4294967295"]
    );
}

#[test]
fn every_pattern_in_the_published_schema_is_enforced() {
    fn patterns(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(p)) = map.get("pattern") {
                    out.push(p.clone());
                }
                map.values().for_each(|v| patterns(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| patterns(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    patterns(&crate::api::openapi_schema(), &mut found);
    assert!(!found.is_empty());
    for pattern in found {
        assert!(crate::schema::known_pattern(&pattern).is_some(), "{pattern} is published but not enforced");
    }
}

#[test]
fn arbitrary_json_never_panics() {
    let validator = Validator::new();
    for text in [
        "null",
        "1",
        "\"s\"",
        "[]",
        "{}",
        r#"{"spec": 1}"#,
        r#"{"spec": {"targetPort": [], "returnPort": 5, "appliedTo": {"podSelector": []}}}"#,
    ] {
        let report = validator.validate(&serde_json::from_str(text).unwrap());
        assert!(!report.is_valid(), "{text}");
    }
}
