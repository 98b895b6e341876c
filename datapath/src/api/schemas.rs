//! Explicit schemas for what the Rust types cannot say (ranges, IP
//! formats, the port `oneOf`, the per-node status map), written to read
//! like Antrea's CRD.

use schemars::{Schema, SchemaGenerator, json_schema};

use super::{ErspanTunnel, GreTunnel, NamedPort, PortKind, UdpTunnel};

/// A port object with a `oneOf` that allows exactly one of `kinds`.
pub fn port(generator: &mut SchemaGenerator, kinds: &[PortKind]) -> Schema {
    let mut properties = serde_json::Map::new();
    for kind in kinds {
        let schema = match kind {
            PortKind::OvsInternal | PortKind::Device => generator.subschema_for::<NamedPort>(),
            PortKind::Geneve | PortKind::Vxlan => generator.subschema_for::<UdpTunnel>(),
            PortKind::Gre => generator.subschema_for::<GreTunnel>(),
            PortKind::Erspan => generator.subschema_for::<ErspanTunnel>(),
        };
        properties.insert(kind.key().to_owned(), schema.to_value());
    }
    let one_of: Vec<_> = kinds.iter().map(|kind| serde_json::json!({ "required": [kind.key()] })).collect();
    json_schema!({
        "type": "object",
        "properties": properties,
        "oneOf": one_of,
    })
}

/// Label values, with the pattern Antrea's CRD (and Kubernetes) imposes.
pub fn label_values(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "nullable": true,
        "items": { "type": "string", "pattern": crate::selector::LABEL_VALUE_PATTERN },
    })
}

/// A non-negative count or port number in the status.
pub fn count(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "minimum": 0 })
}

fn integer(min: u64, max: u64) -> Schema {
    json_schema!({ "type": "integer", "minimum": min, "maximum": max })
}

/// An IPv4 or IPv6 address.
pub fn ip_address(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "oneOf": [{ "format": "ipv4" }, { "format": "ipv6" }],
    })
}

/// A UDP port number.
pub fn udp_port(_: &mut SchemaGenerator) -> Schema {
    integer(1, 65_535)
}

/// A 24-bit Virtual Network Identifier.
pub fn vni(_: &mut SchemaGenerator) -> Schema {
    integer(0, 16_777_215)
}

/// A 32-bit GRE key (all of it: Antrea's int32 is a bug we do not copy).
pub fn gre_key(_: &mut SchemaGenerator) -> Schema {
    integer(0, 4_294_967_295)
}

/// A 10-bit ERSPAN session ID.
pub fn erspan_session_id(_: &mut SchemaGenerator) -> Schema {
    integer(0, 1_023)
}

/// ERSPAN version 1 (type II) or 2 (type III).
pub fn erspan_version(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "enum": [1, 2] })
}

/// The 20-bit ERSPAN v1 index (OVS refuses more).
pub fn erspan_index(_: &mut SchemaGenerator) -> Schema {
    integer(0, 1_048_575)
}

/// The ERSPAN v2 direction bit.
pub fn erspan_dir(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "enum": [0, 1] })
}

/// The 6-bit ERSPAN v2 hardware ID (OVS refuses more).
pub fn erspan_hardware_id(_: &mut SchemaGenerator) -> Schema {
    integer(0, 63)
}

/// The per-node status list, a map keyed by node so server-side apply
/// lets each node own its own entry.
pub fn node_status_list(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<super::NodeStatus>();
    json_schema!({
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["node"],
    })
}
