//! The Open_vSwitch schema subset the agent uses: what to monitor, the
//! transactions that create, reconfigure and delete ports and the agent's
//! `Mirror` rows, and the planner's views ([`SwitchPort`],
//! [`SwitchMirror`]) read from the replica.
//!
//! Deleting a port removes it from its bridge's `ports`; OVSDB then
//! garbage-collects the Port and Interface rows (they are not root rows).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::datum::{named_uuid, optional, set, set_elements, string_map, to_string_map, uuid, uuid_of};
use super::ops::{self, condition};
use super::replica::{Replica, Row};
use crate::plan::PlannedMirror;
use crate::ports::{PortConfig, SwitchMirror, SwitchPort};

/// The `monitor_cond` request: exactly the columns the agent reads.
pub fn monitor_request() -> Value {
    json!({
        "Bridge": [{"columns": ["name", "ports", "mirrors"]}],
        "Port": [{"columns": ["name", "interfaces", "external_ids", "tag", "trunks", "vlan_mode"]}],
        "Interface": [{"columns": ["name", "type", "options", "external_ids", "ofport", "error"]}],
        "Mirror": [{"columns": ["name", "external_ids", "select_src_port", "select_dst_port", "output_port"]}],
    })
}

fn bridge_where(bridge: &str) -> Vec<Value> {
    vec![condition("name", "==", json!(bridge))]
}

/// Creates a port with one interface on `bridge`, asking OVS for
/// `ofport` when given (`ofport_request`: OVS grants it when no other port
/// holds it). The mutate's `count` is 0 when the bridge does not exist
/// (see [`missing_bridge`]).
pub fn add_port(
    bridge: &str,
    config: &PortConfig,
    external_ids: &BTreeMap<String, String>,
    ofport: Option<u32>,
) -> Vec<Value> {
    let mut interface = json!({
        "name": config.name,
        "type": config.interface_type.ovsdb_type(),
        "options": string_map(&config.options),
        "external_ids": string_map(external_ids),
    });
    if let Some(ofport) = ofport {
        interface["ofport_request"] = json!(ofport);
    }
    let port = json!({"name": config.name, "interfaces": named_uuid("iface"), "external_ids": string_map(external_ids)});
    vec![
        ops::insert("Interface", interface, Some("iface")),
        ops::insert("Port", port, Some("port")),
        ops::mutate(
            "Bridge",
            bridge_where(bridge),
            vec![json!(["ports", "insert", set(vec![named_uuid("port")])])],
        ),
    ]
}

/// Sets an existing interface's type and options to `config`'s.
pub fn reconfigure(config: &PortConfig) -> Vec<Value> {
    let row = json!({"type": config.interface_type.ovsdb_type(), "options": string_map(&config.options)});
    vec![ops::update("Interface", vec![condition("name", "==", json!(config.name))], row)]
}

/// Removes the named ports from `bridge` (names not on it are ignored).
pub fn delete_ports(replica: &Replica, bridge: &str, names: &[String]) -> Vec<Value> {
    let uuids: Vec<Value> = bridge_ports(replica, bridge)
        .into_iter()
        .filter(|(_, port)| {
            port.get("name").and_then(Value::as_str).is_some_and(|n| names.iter().any(|x| x == n))
        })
        .map(|(id, _)| uuid(id))
        .collect();
    if uuids.is_empty() {
        return Vec::new();
    }
    vec![ops::mutate("Bridge", bridge_where(bridge), vec![json!(["ports", "delete", set(uuids)])])]
}

/// Whether a transaction made by [`add_port`] found no bridge to add to
/// (the mutate, third, counted no row).
pub fn missing_bridge(results: &[Value]) -> bool {
    results.get(2).and_then(|r| r.get("count")).and_then(Value::as_u64) == Some(0)
}

/// The Port rows of `bridge`, by uuid.
fn bridge_ports<'a>(replica: &'a Replica, bridge: &str) -> Vec<(&'a str, &'a Row)> {
    let Some((_, row)) =
        replica.rows("Bridge").find(|(_, r)| r.get("name").and_then(Value::as_str) == Some(bridge))
    else {
        return Vec::new();
    };
    let port_ids = row.get("ports").map(set_elements).unwrap_or_default();
    port_ids.iter().filter_map(uuid_of).filter_map(|id| Some((id, replica.row("Port", id)?))).collect()
}

/// The planner's view of `bridge`'s ports: each port's first interface.
pub fn switch_ports(replica: &Replica, bridge: &str) -> Vec<SwitchPort> {
    let mut ports: Vec<SwitchPort> = bridge_ports(replica, bridge)
        .into_iter()
        .filter_map(|(_, port)| {
            let interface = port.get("interfaces").map(set_elements)?.iter().find_map(uuid_of)?;
            let mut view = replica.row("Interface", interface).map(interface_view)?;
            // CNIs differ in where they write a Pod's keys (Antrea and
            // ovs-cni on the Port row, OVN-Kubernetes and Kube-OVN on the
            // Interface row): both are kept, `cni` reads them.
            view.port_external_ids = port.get("external_ids").map(to_string_map).unwrap_or_default();
            let vlan = |value: &Value| value.as_u64().and_then(|v| u16::try_from(v).ok());
            view.tag = port.get("tag").and_then(optional).and_then(vlan);
            view.trunks =
                port.get("trunks").map(set_elements).unwrap_or_default().iter().filter_map(vlan).collect();
            view.vlan_mode =
                port.get("vlan_mode").and_then(optional).and_then(Value::as_str).map(str::to_owned);
            Some(view)
        })
        .collect();
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    ports
}

fn interface_view(row: &Row) -> SwitchPort {
    let text = |column: &str| row.get(column).and_then(Value::as_str).unwrap_or_default().to_owned();
    let map = |column: &str| row.get(column).map(to_string_map).unwrap_or_default();
    SwitchPort {
        name: text("name"),
        // OVS reports -1 for an interface it could not open.
        ofport: row
            .get("ofport")
            .and_then(optional)
            .and_then(|v| v.as_i64())
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0),
        external_ids: map("external_ids"),
        interface_type: text("type"),
        options: map("options"),
        error: row.get("error").and_then(optional).and_then(|v| v.as_str().map(str::to_owned)),
        ..SwitchPort::default()
    }
}

/// What the agent reads of a bridge: its ports and its `Mirror` rows,
/// and which ports the switch's other bridges hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeView {
    /// The ports (see [`switch_ports`]).
    pub ports: Vec<SwitchPort>,
    /// The mirrors (see [`switch_mirrors`]).
    pub mirrors: Vec<SwitchMirror>,
    /// Ports of the other bridges, with their bridge (see
    /// [`other_bridge_ports`]).
    pub other_bridge_ports: BTreeMap<String, String>,
}

/// `bridge`'s ports and mirrors, as the replica has them.
pub fn view(replica: &Replica, bridge: &str) -> BridgeView {
    BridgeView {
        ports: switch_ports(replica, bridge),
        mirrors: switch_mirrors(replica, bridge),
        other_bridge_ports: other_bridge_ports(replica, bridge),
    }
}

/// The ports of every bridge but `bridge`, with the bridge that holds
/// each: a device one of them holds must not be attached to `bridge`.
pub fn other_bridge_ports(replica: &Replica, bridge: &str) -> BTreeMap<String, String> {
    replica
        .rows("Bridge")
        .filter_map(|(_, row)| Some((row.get("name")?.as_str()?, row)))
        .filter(|(name, _)| *name != bridge)
        .flat_map(|(name, row)| {
            port_names(replica, row.get("ports")).into_iter().map(move |port| (port, name.to_owned()))
        })
        .collect()
}

/// The bridge's row, by uuid.
fn bridge_row<'a>(replica: &'a Replica, bridge: &str) -> Option<(&'a str, &'a Row)> {
    replica.rows("Bridge").find(|(_, r)| r.get("name").and_then(Value::as_str) == Some(bridge))
}

/// The names of the Ports `value` (a set of uuids) refers to.
fn port_names(replica: &Replica, value: Option<&Value>) -> std::collections::BTreeSet<String> {
    value
        .map(set_elements)
        .unwrap_or_default()
        .iter()
        .filter_map(uuid_of)
        .filter_map(|id| replica.row("Port", id)?.get("name")?.as_str().map(str::to_owned))
        .collect()
}

/// The `Mirror` rows of `bridge`, the agent's and others', by name.
pub fn switch_mirrors(replica: &Replica, bridge: &str) -> Vec<SwitchMirror> {
    let Some((_, row)) = bridge_row(replica, bridge) else { return Vec::new() };
    let ids = row.get("mirrors").map(set_elements).unwrap_or_default();
    let mut mirrors: Vec<SwitchMirror> = ids
        .iter()
        .filter_map(uuid_of)
        .filter_map(|id| replica.row("Mirror", id))
        .map(|mirror| SwitchMirror {
            name: mirror.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            external_ids: mirror.get("external_ids").map(to_string_map).unwrap_or_default(),
            select_src_port: port_names(replica, mirror.get("select_src_port")),
            select_dst_port: port_names(replica, mirror.get("select_dst_port")),
            output_port: port_names(replica, mirror.get("output_port")).into_iter().next(),
        })
        .collect();
    mirrors.sort_by(|a, b| a.name.cmp(&b.name));
    mirrors
}

/// The uuids of `bridge`'s ports named in `names` (names not on it are
/// left out: a port gone since the plan is not mirrored).
fn port_uuids<'a>(
    replica: &Replica,
    bridge: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Vec<Value> {
    let ports = bridge_ports(replica, bridge);
    names
        .into_iter()
        .filter_map(|name| {
            ports
                .iter()
                .find(|(_, p)| p.get("name").and_then(Value::as_str) == Some(name))
                .map(|(id, _)| uuid(id))
        })
        .collect()
}

/// The agent's `Mirror` row named like `mirror`, on `bridge`, if any.
fn agents_mirror<'a>(replica: &'a Replica, bridge: &str, name: &str) -> Option<&'a str> {
    let (_, row) = bridge_row(replica, bridge)?;
    let owned = PortConfig::external_ids();
    row.get("mirrors").map(set_elements).unwrap_or_default().iter().filter_map(uuid_of).find(|id| {
        replica.row("Mirror", id).is_some_and(|m| {
            m.get("name").and_then(Value::as_str) == Some(name)
                && m.get("external_ids")
                    .map(to_string_map)
                    .is_some_and(|ids| owned.iter().all(|(k, v)| ids.get(k) == Some(v)))
        })
    })
}

/// Creates the agent's `Mirror` row `mirror` on `bridge`, or sets the one
/// it has (ports by uuid, resolved now; its `external_ids` mark it as the
/// agent's). Empty when its output port is not on the bridge.
pub fn set_mirror(replica: &Replica, bridge: &str, mirror: &PlannedMirror) -> Vec<Value> {
    let Some(output) = port_uuids(replica, bridge, [&mirror.output_port]).into_iter().next() else {
        return Vec::new();
    };
    let row = json!({
        "name": mirror.name,
        "external_ids": string_map(&PortConfig::external_ids()),
        "select_src_port": set(port_uuids(replica, bridge, &mirror.select_src_port)),
        "select_dst_port": set(port_uuids(replica, bridge, &mirror.select_dst_port)),
        "output_port": output,
    });
    match agents_mirror(replica, bridge, &mirror.name) {
        Some(id) => vec![ops::update("Mirror", vec![condition("_uuid", "==", uuid(id))], row)],
        None => vec![
            ops::insert("Mirror", row, Some("mirror")),
            ops::mutate(
                "Bridge",
                bridge_where(bridge),
                vec![json!(["mirrors", "insert", set(vec![named_uuid("mirror")])])],
            ),
        ],
    }
}

/// Removes the agent's `Mirror` row `name` from `bridge` (OVSDB then
/// garbage-collects it); empty when it has none of that name.
pub fn delete_mirror(replica: &Replica, bridge: &str, name: &str) -> Vec<Value> {
    match agents_mirror(replica, bridge, name) {
        Some(id) => {
            vec![ops::mutate(
                "Bridge",
                bridge_where(bridge),
                vec![json!(["mirrors", "delete", set(vec![uuid(id)])])],
            )]
        }
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{NamedPort, Port};

    /// A monitored set or optional column the replica does not know is
    /// merged by its diff's shape, which is wrong for a one-element set
    /// and for a cleared optional value: each must be listed.
    #[test]
    fn every_monitored_column_has_a_known_kind() {
        use super::super::replica::{OPTIONAL_COLUMNS, SET_COLUMNS};
        // Scalars (a diff is the new value) and maps (a diff is by shape).
        let scalar_or_map = ["name", "type", "external_ids", "options"];
        let request = monitor_request();
        for (table, monitors) in request.as_object().into_iter().flatten() {
            for column in monitors[0]["columns"].as_array().into_iter().flatten() {
                let column = column.as_str().unwrap_or_default();
                let key = (table.as_str(), column);
                assert!(
                    SET_COLUMNS.contains(&key)
                        || OPTIONAL_COLUMNS.contains(&key)
                        || scalar_or_map.contains(&column),
                    "{table}.{column} is monitored but the replica does not know its kind"
                );
            }
        }
    }

    fn replica() -> Replica {
        let mut replica = Replica::default();
        replica
            .apply(&json!({
                "Bridge": {"b1": {"initial": {"name": "br-int", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"]]]}}},
                "Port": {
                    "p1": {"initial": {"name": "tap0", "interfaces": ["uuid", "i1"]}},
                    "p2": {"initial": {"name": "eno9", "interfaces": ["uuid", "i2"]}},
                },
                "Interface": {
                    "i1": {"initial": {"name": "tap0", "type": "internal", "options": ["map", []],
                        "external_ids": ["map", [["antrea-type", "traffic-control"]]], "ofport": 3, "error": ["set", []]}},
                    "i2": {"initial": {"name": "eno9", "type": "", "options": ["map", []], "external_ids": ["map", []],
                        "ofport": -1, "error": "could not open network device eno9 (No such device)"}},
                },
            }))
            .unwrap();
        replica
    }

    #[test]
    fn the_port_view_reads_ofports_errors_and_external_ids() {
        let ports = switch_ports(&replica(), "br-int");
        assert_eq!(ports.len(), 2);
        assert_eq!((ports[1].name.as_str(), ports[1].ofport, ports[1].is_agents()), ("tap0", Some(3), true));
        assert_eq!(ports[0].ofport, None, "-1 is no ofport");
        assert_eq!(ports[0].error.as_deref(), Some("could not open network device eno9 (No such device)"));
        assert!(switch_ports(&replica(), "br-other").is_empty());
    }

    #[test]
    fn the_port_rows_keys_and_vlans_are_read_beside_the_interfaces() {
        let mut replica = Replica::default();
        replica
            .apply(&json!({
                "Bridge": {"b1": {"initial": {"name": "br-int", "ports": ["uuid", "p3"]}}},
                "Port": {"p3": {"initial": {"name": "veth1", "interfaces": ["uuid", "i3"], "external_ids": ["map", [
                    ["pod-name", "web-1"], ["pod-namespace", "default"], ["attached-mac", "02:00:00:00:00:01"],
                    ["antrea-type", "container"]]], "tag": 10, "trunks": ["set", [20, 30]], "vlan_mode": "access"}}},
                "Interface": {"i3": {"initial": {"name": "veth1", "type": "", "options": ["map", []],
                    "external_ids": ["map", [["attached-mac", "02:00:00:00:00:09"]]], "ofport": 5, "error": ["set", []]}}},
            }))
            .unwrap();
        let ports = switch_ports(&replica, "br-int");
        let pod = ports.iter().find(|p| p.name == "veth1").unwrap();
        let claim = pod.pod_claim().unwrap();
        assert_eq!(claim.pod.map(|p| p.to_string()).as_deref(), Some("default/web-1"));
        assert_eq!(
            claim.mac.map(|m| m.to_string()).as_deref(),
            Some("02:00:00:00:00:09"),
            "the Interface wins"
        );
        assert!(!pod.is_agents(), "ownership is read from the Interface row only");
        assert_eq!(
            (pod.tag, pod.trunks.as_slice(), pod.vlan_mode.as_deref()),
            (Some(10), &[20, 30][..], Some("access"))
        );
    }

    #[test]
    fn deleting_removes_only_the_named_ports_from_the_bridge() {
        let ops = delete_ports(&replica(), "br-int", &["tap0".to_owned(), "absent".to_owned()]);
        assert_eq!(ops[0]["mutations"], json!([["ports", "delete", ["set", [["uuid", "p1"]]]]]));
        assert!(delete_ports(&replica(), "br-int", &["absent".to_owned()]).is_empty());
    }

    #[test]
    fn adding_a_port_inserts_interface_and_port_and_links_them_by_name() {
        let config = PortConfig::of(&Port::OvsInternal(NamedPort { name: "tap0".into() }));
        let ops = add_port("br-int", &config, &PortConfig::external_ids(), Some(7));
        assert_eq!(ops[0]["row"]["ofport_request"], json!(7));
        assert_eq!(ops[1]["row"]["interfaces"], json!(["named-uuid", "iface"]));
        assert_eq!(ops[2]["mutations"], json!([["ports", "insert", ["set", [["named-uuid", "port"]]]]]));
        assert!(missing_bridge(&[json!({}), json!({}), json!({"count": 0})]));
    }

    fn with_mirrors() -> Replica {
        let mut replica = Replica::default();
        replica
            .apply(&json!({
                "Bridge": {"b1": {"initial": {"name": "br-int", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"], ["uuid", "p3"]]],
                    "mirrors": ["set", [["uuid", "m1"], ["uuid", "m2"]]]}}},
                "Port": {
                    "p1": {"initial": {"name": "tap0", "interfaces": ["uuid", "i1"]}},
                    "p2": {"initial": {"name": "web", "interfaces": ["uuid", "i2"]}},
                    "p3": {"initial": {"name": "db", "interfaces": ["uuid", "i3"]}},
                },
                "Mirror": {
                    "m1": {"initial": {"name": "tc-tap0", "external_ids": ["map", [["antrea-type", "traffic-control"]]],
                        "select_src_port": ["uuid", "p2"], "select_dst_port": ["set", []], "output_port": ["uuid", "p1"]}},
                    "m2": {"initial": {"name": "m0", "external_ids": ["map", [["ovn-owned", "true"]]],
                        "select_src_port": ["set", []], "select_dst_port": ["uuid", "p3"], "output_port": ["set", []]}},
                },
            }))
            .unwrap();
        replica
    }

    #[test]
    fn mirrors_are_read_with_their_ports_by_name_and_whose_they_are() {
        let mirrors = switch_mirrors(&with_mirrors(), "br-int");
        assert_eq!(mirrors.len(), 2);
        let ours = mirrors.iter().find(|m| m.name == "tc-tap0").unwrap();
        assert!(ours.is_agents());
        assert_eq!(
            (
                ours.select_src_port.iter().map(String::as_str).collect::<Vec<_>>(),
                ours.output_port.as_deref()
            ),
            (vec!["web"], Some("tap0"))
        );
        let theirs = mirrors.iter().find(|m| m.name == "m0").unwrap();
        assert!(!theirs.is_agents());
        assert_eq!((theirs.output_port.as_deref(), theirs.select_dst_port.len()), (None, 1));
    }

    #[test]
    fn the_agents_mirror_is_updated_in_place_a_new_one_inserted_and_only_its_own_deleted() {
        let replica = with_mirrors();
        let planned = |name: &str| PlannedMirror {
            name: name.into(),
            output_port: "tap0".into(),
            select_src_port: ["web".to_owned(), "gone".to_owned()].into(),
            select_dst_port: ["db".to_owned()].into(),
            users: Default::default(),
        };
        let update = set_mirror(&replica, "br-int", &planned("tc-tap0"));
        assert_eq!(update.len(), 1);
        assert_eq!(update[0]["op"], "update");
        assert_eq!(
            update[0]["row"]["select_src_port"],
            json!(["set", [["uuid", "p2"]]]),
            "a port gone is left out"
        );
        let insert = set_mirror(&replica, "br-int", &planned("tc-tap9"));
        assert_eq!((insert[0]["op"].as_str(), insert[1]["op"].as_str()), (Some("insert"), Some("mutate")));
        assert_eq!(insert[0]["row"]["external_ids"], json!(["map", [["antrea-type", "traffic-control"]]]));
        // A mirror of the same name that is not the agent's is never taken.
        assert_eq!(
            set_mirror(&replica, "br-int", &PlannedMirror { name: "m0".into(), ..planned("m0") })[0]["op"],
            "insert"
        );
        assert!(delete_mirror(&replica, "br-int", "m0").is_empty());
        let delete = delete_mirror(&replica, "br-int", "tc-tap0");
        assert_eq!(delete[0]["mutations"], json!([["mirrors", "delete", ["set", [["uuid", "m1"]]]]]));
        let no_output = PlannedMirror { output_port: "nowhere".into(), ..planned("tc-x") };
        assert!(set_mirror(&replica, "br-int", &no_output).is_empty());
    }
}
