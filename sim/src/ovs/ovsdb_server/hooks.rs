//! What the rest of the simulated node does to the database, as direct
//! calls: ovs-vsctl's `add-br`/`del-br`, the CNI adding and removing a
//! Pod's port (and a CNI's controller adding a `Mirror` row of its own),
//! ovs-vswitchd writing back an interface's `ofport` and `error` and
//! reading the bridge's mirrors. Each is a transaction like a client's, so
//! it commits atomically and monitors see it; and each reports a missing
//! object instead of succeeding quietly, so the glue cannot lose a step.

use std::collections::{BTreeMap, BTreeSet};

use datapath::ovsdb::datum::{named_uuid, set, string_map, uuid};
use datapath::ovsdb::ops::{self, condition};
use datapath::ports::SwitchMirror;
use serde_json::{Value, json};

use super::OvsdbServer;
use super::database::Row;
use super::datum::Datum;

/// A hook that could not be carried out; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No bridge has this name.
    #[error("no bridge named {0}")]
    NoSuchBridge(String),
    /// The bridge has no port with this name.
    #[error("bridge {bridge} has no port named {port}")]
    NoSuchPort {
        /// The bridge.
        bridge: String,
        /// The port.
        port: String,
    },
    /// No interface has this uuid.
    #[error("no interface with uuid {0}")]
    NoSuchInterface(String),
    /// The database refused the hook's transaction (a port name already
    /// taken, say).
    #[error("{hook}: {error} ({details})")]
    Refused {
        /// The hook.
        hook: &'static str,
        /// The RFC 7047 error tag.
        error: String,
        /// The server's details.
        details: String,
    },
}

/// One interface of a bridge, as the glue (or a test) reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceView {
    /// The Interface row's uuid ([`OvsdbServer::set_interface_state`]
    /// takes it).
    pub uuid: String,
    /// The Port it belongs to.
    pub port: String,
    /// `name`.
    pub name: String,
    /// `type` (`""` is a system device).
    pub interface_type: String,
    /// `options`.
    pub options: BTreeMap<String, String>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `ofport`, once ovs-vswitchd has written it (-1: it failed).
    pub ofport: Option<i64>,
    /// `ofport_request`: the number the port's creator asked for.
    pub ofport_request: Option<i64>,
    /// The Port row's `external_ids`.
    pub port_external_ids: BTreeMap<String, String>,
    /// The Port row's `tag`.
    pub tag: Option<i64>,
    /// The Port row's `trunks`.
    pub trunks: Vec<i64>,
    /// The Port row's `vlan_mode`.
    pub vlan_mode: Option<String>,
    /// `error`.
    pub error: Option<String>,
}

impl InterfaceView {
    /// The interface as the agent's port view reads it (an ofport of -1
    /// is none).
    pub fn switch_port(&self) -> datapath::ports::SwitchPort {
        let vlan = |v: i64| u16::try_from(v).ok();
        datapath::ports::SwitchPort {
            name: self.name.clone(),
            ofport: self.ofport.and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0),
            external_ids: self.external_ids.clone(),
            port_external_ids: self.port_external_ids.clone(),
            tag: self.tag.and_then(vlan),
            trunks: self.trunks.iter().copied().filter_map(vlan).collect(),
            vlan_mode: self.vlan_mode.clone(),
            interface_type: self.interface_type.clone(),
            options: self.options.clone(),
            error: self.error.clone(),
        }
    }
}

fn by_name(name: &str) -> Vec<Value> {
    vec![condition("name", "==", json!(name))]
}

fn text(row: &Row, column: &str) -> String {
    row.get(column).and_then(Datum::as_str).unwrap_or_default().to_owned()
}

impl OvsdbServer {
    /// Adds a bridge with `datapath_type` `netdev` (the userspace datapath
    /// the simulated switch stands for), like `ovs-vsctl --may-exist
    /// add-br`: an existing bridge is kept. Returns its uuid.
    ///
    /// # Errors
    /// [`HookError::Refused`] if the database refuses (it should not).
    pub fn add_bridge(&mut self, name: &str) -> Result<String, HookError> {
        if let Some((uuid, _)) = self.bridge(name) {
            return Ok(uuid.to_owned());
        }
        let results = self.run_hook(
            "add_bridge",
            vec![
                ops::insert("Bridge", json!({"name": name, "datapath_type": "netdev"}), Some("bridge")),
                ops::mutate(
                    "Open_vSwitch",
                    vec![],
                    vec![json!(["bridges", "insert", set(vec![named_uuid("bridge")])])],
                ),
            ],
        )?;
        Ok(inserted_uuid(&results, 0))
    }

    /// Deletes a bridge; its ports and interfaces go with it.
    ///
    /// # Errors
    /// [`HookError::NoSuchBridge`].
    pub fn delete_bridge(&mut self, name: &str) -> Result<(), HookError> {
        let (bridge, _) = self.bridge(name).ok_or_else(|| HookError::NoSuchBridge(name.to_owned()))?;
        let bridge = bridge.to_owned();
        self.run_hook(
            "delete_bridge",
            vec![
                ops::mutate("Open_vSwitch", vec![], vec![json!(["bridges", "delete", uuid(&bridge)])]),
                ops::delete("Bridge", by_name(name)),
            ],
        )
        .map(drop)
    }

    /// Adds a port with one interface of `interface_type` to `bridge`,
    /// like the CNI adding a Pod's port. Returns the Interface's uuid.
    ///
    /// # Errors
    /// [`HookError::NoSuchBridge`]; [`HookError::Refused`] when the name
    /// is taken.
    pub fn add_port(
        &mut self,
        bridge: &str,
        name: &str,
        interface_type: &str,
        external_ids: &BTreeMap<String, String>,
    ) -> Result<String, HookError> {
        if self.bridge(bridge).is_none() {
            return Err(HookError::NoSuchBridge(bridge.to_owned()));
        }
        let interface =
            json!({"name": name, "type": interface_type, "external_ids": string_map(external_ids)});
        let port = json!({"name": name, "interfaces": named_uuid("iface"), "external_ids": string_map(external_ids)});
        let results = self.run_hook(
            "add_port",
            vec![
                ops::insert("Interface", interface, Some("iface")),
                ops::insert("Port", port, Some("port")),
                ops::mutate("Bridge", by_name(bridge), vec![json!(["ports", "insert", named_uuid("port")])]),
            ],
        )?;
        Ok(inserted_uuid(&results, 0))
    }

    /// Removes a port from `bridge`, like the CNI when its Pod goes; the
    /// Port and its Interfaces are garbage-collected.
    ///
    /// # Errors
    /// [`HookError::NoSuchBridge`], [`HookError::NoSuchPort`].
    pub fn delete_port(&mut self, bridge: &str, name: &str) -> Result<(), HookError> {
        let (_, bridge_row) =
            self.bridge(bridge).ok_or_else(|| HookError::NoSuchBridge(bridge.to_owned()))?;
        let port = self
            .ports(bridge_row)
            .into_iter()
            .find(|(_, row)| text(row, "name") == name)
            .map(|(uuid, _)| uuid.to_owned())
            .ok_or_else(|| HookError::NoSuchPort { bridge: bridge.to_owned(), port: name.to_owned() })?;
        self.run_hook(
            "delete_port",
            vec![ops::mutate("Bridge", by_name(bridge), vec![json!(["ports", "delete", uuid(&port)])])],
        )
        .map(drop)
    }

    /// Writes what ovs-vswitchd reports about an interface: its OpenFlow
    /// port (`Some(-1)` for one it could not open, as OVS does) and its
    /// error. Writing the same state again changes nothing and notifies
    /// nobody.
    ///
    /// # Errors
    /// [`HookError::NoSuchInterface`].
    pub fn set_interface_state(
        &mut self,
        interface_uuid: &str,
        ofport: Option<i64>,
        error: Option<String>,
    ) -> Result<(), HookError> {
        if self.db.row("Interface", interface_uuid).is_none() {
            return Err(HookError::NoSuchInterface(interface_uuid.to_owned()));
        }
        let optional = |value: Option<Value>| value.unwrap_or_else(|| set(vec![]));
        let row =
            json!({"ofport": optional(ofport.map(Value::from)), "error": optional(error.map(Value::from))});
        let by_uuid = vec![condition("_uuid", "==", uuid(interface_uuid))];
        self.run_hook("set_interface_state", vec![ops::update("Interface", by_uuid, row)]).map(drop)
    }

    /// Adds a `Mirror` row to `bridge`, like `ovs-vsctl -- --id=@m create
    /// mirror ... -- add bridge <br> mirrors @m`: ports are named, and must
    /// be on the bridge. Returns the Mirror's uuid.
    ///
    /// # Errors
    /// [`HookError::NoSuchBridge`], [`HookError::NoSuchPort`];
    /// [`HookError::Refused`] if the database refuses.
    pub fn add_mirror(&mut self, bridge: &str, mirror: &SwitchMirror) -> Result<String, HookError> {
        let (_, bridge_row) =
            self.bridge(bridge).ok_or_else(|| HookError::NoSuchBridge(bridge.to_owned()))?;
        let ports: BTreeMap<String, String> = self
            .ports(bridge_row)
            .into_iter()
            .map(|(uuid, row)| (text(row, "name"), uuid.to_owned()))
            .collect();
        let uuids = |names: &mut dyn Iterator<Item = &String>| -> Result<Value, HookError> {
            let found: Result<Vec<Value>, HookError> = names
                .map(|name| {
                    ports.get(name).map(|id| uuid(id)).ok_or_else(|| HookError::NoSuchPort {
                        bridge: bridge.to_owned(),
                        port: name.clone(),
                    })
                })
                .collect();
            Ok(set(found?))
        };
        let row = json!({
            "name": mirror.name,
            "external_ids": string_map(&mirror.external_ids),
            "select_src_port": uuids(&mut mirror.select_src_port.iter())?,
            "select_dst_port": uuids(&mut mirror.select_dst_port.iter())?,
            "output_port": uuids(&mut mirror.output_port.iter())?,
        });
        let results = self.run_hook(
            "add_mirror",
            vec![
                ops::insert("Mirror", row, Some("mirror")),
                ops::mutate(
                    "Bridge",
                    by_name(bridge),
                    vec![json!(["mirrors", "insert", named_uuid("mirror")])],
                ),
            ],
        )?;
        Ok(inserted_uuid(&results, 0))
    }

    /// The `Mirror` rows of `bridge`, by name (then uuid), with their
    /// ports by name (empty if there is no such bridge): what
    /// ovs-vswitchd configures, and what the agent reads.
    pub fn mirrors(&self, bridge: &str) -> Vec<SwitchMirror> {
        let Some((_, bridge_row)) = self.bridge(bridge) else { return Vec::new() };
        let mut rows = self.references(bridge_row, "mirrors", "Mirror");
        rows.sort_by_key(|(uuid, row)| (text(row, "name"), *uuid));
        let names = |row: &Row, column: &str| -> BTreeSet<String> {
            self.references(row, column, "Port").into_iter().map(|(_, port)| text(port, "name")).collect()
        };
        rows.into_iter()
            .map(|(_, row)| SwitchMirror {
                name: text(row, "name"),
                external_ids: row.get("external_ids").map(Datum::to_string_map).unwrap_or_default(),
                select_src_port: names(row, "select_src_port"),
                select_dst_port: names(row, "select_dst_port"),
                output_port: names(row, "output_port").into_iter().next(),
            })
            .collect()
    }

    /// The bridges' names, sorted.
    pub fn bridges(&self) -> Vec<String> {
        let mut names: Vec<String> = self.db.table("Bridge").values().map(|row| text(row, "name")).collect();
        names.sort();
        names
    }

    /// The interfaces on `bridge`, by port name then interface name (empty
    /// if there is no such bridge).
    pub fn interfaces(&self, bridge: &str) -> Vec<InterfaceView> {
        let Some((_, bridge_row)) = self.bridge(bridge) else { return Vec::new() };
        let mut ports = self.ports(bridge_row);
        ports.sort_by_key(|(_, row)| text(row, "name"));
        let mut views = Vec::new();
        for (_, port) in ports {
            let mut interfaces: Vec<(&str, &Row)> = self.references(port, "interfaces", "Interface");
            interfaces.sort_by_key(|(_, row)| text(row, "name"));
            views.extend(interfaces.into_iter().map(|(uuid, row)| InterfaceView {
                uuid: uuid.to_owned(),
                port: text(port, "name"),
                name: text(row, "name"),
                interface_type: text(row, "type"),
                options: row.get("options").map(Datum::to_string_map).unwrap_or_default(),
                external_ids: row.get("external_ids").map(Datum::to_string_map).unwrap_or_default(),
                ofport: row.get("ofport").and_then(Datum::as_integer),
                ofport_request: row.get("ofport_request").and_then(Datum::as_integer),
                port_external_ids: port.get("external_ids").map(Datum::to_string_map).unwrap_or_default(),
                tag: port.get("tag").and_then(Datum::as_integer),
                trunks: port.get("trunks").map(Datum::integers).unwrap_or_default(),
                vlan_mode: port.get("vlan_mode").and_then(Datum::as_str).map(str::to_owned),
                error: row.get("error").and_then(Datum::as_str).map(str::to_owned),
            }));
        }
        views
    }

    fn bridge(&self, name: &str) -> Option<(&str, &Row)> {
        self.db
            .table("Bridge")
            .iter()
            .find(|(_, row)| text(row, "name") == name)
            .map(|(u, r)| (u.as_str(), r))
    }

    fn ports<'a>(&'a self, bridge: &'a Row) -> Vec<(&'a str, &'a Row)> {
        self.references(bridge, "ports", "Port")
    }

    /// The rows `row`'s `column` refers to in `table`.
    fn references<'a>(&'a self, row: &'a Row, column: &str, table: &str) -> Vec<(&'a str, &'a Row)> {
        let uuids = row.get(column).into_iter().flat_map(Datum::uuids);
        uuids.filter_map(|uuid| Some((uuid, self.db.row(table, uuid)?))).collect()
    }

    fn run_hook(&mut self, hook: &'static str, ops: Vec<Value>) -> Result<Vec<Value>, HookError> {
        let results = self.transact(&ops);
        match results.iter().find(|r| r.get("error").is_some()) {
            None => Ok(results),
            Some(failure) => {
                let field =
                    |key: &str| failure.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
                Err(HookError::Refused { hook, error: field("error"), details: field("details") })
            }
        }
    }
}

/// The uuid an insert at `index` reported.
fn inserted_uuid(results: &[Value], index: usize) -> String {
    let uuid = results.get(index).and_then(|r| r.get("uuid")).and_then(datapath::ovsdb::datum::uuid_of);
    uuid.unwrap_or_default().to_owned()
}
