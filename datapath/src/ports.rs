//! The OVS side of a TrafficControl port: its Interface type, its options
//! and the `external_ids` that mark it as ours.
//!
//! Options are always written out in full (defaults included) so that a
//! port's configuration reads the same whatever the user left implicit.

use std::collections::BTreeMap;

use crate::api::Port;
use crate::cni::{self, PodClaim, PortIdentity};
use crate::naming::{GENEVE_DEFAULT_PORT, VXLAN_DEFAULT_PORT, port_name};

/// The `external_ids` key that marks the agent's ports (Antrea's).
pub const OWNER_KEY: &str = "antrea-type";
/// The value of [`OWNER_KEY`] on TrafficControl ports.
pub const OWNER_VALUE: &str = "traffic-control";

/// The OVS Interface type of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceType {
    /// An OVS internal port (a tap device on the userspace datapath).
    Internal,
    /// An existing host device (OVS's empty type).
    System,
    /// `geneve`
    Geneve,
    /// `vxlan`
    Vxlan,
    /// `gre`
    Gre,
    /// `erspan`
    Erspan,
}

impl InterfaceType {
    /// The `Interface.type` value OVSDB stores.
    pub fn ovsdb_type(self) -> &'static str {
        match self {
            InterfaceType::Internal => "internal",
            InterfaceType::System => "",
            InterfaceType::Geneve => "geneve",
            InterfaceType::Vxlan => "vxlan",
            InterfaceType::Gre => "gre",
            InterfaceType::Erspan => "erspan",
        }
    }

    /// A name for people (`system` for the empty type).
    pub fn name(self) -> &'static str {
        match self {
            InterfaceType::System => "system",
            other => other.ovsdb_type(),
        }
    }
}

/// How a port is configured on the bridge.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortConfig {
    /// The port (and interface) name.
    pub name: String,
    /// The interface type.
    pub interface_type: InterfaceType,
    /// `Interface.options`.
    pub options: BTreeMap<String, String>,
}

impl PortConfig {
    /// The configuration that realizes `port`.
    pub fn of(port: &Port) -> Self {
        let mut options = BTreeMap::new();
        let mut set = |key: &str, value: String| {
            options.insert(key.to_owned(), value);
        };
        let interface_type = match port {
            Port::OvsInternal(_) => InterfaceType::Internal,
            Port::Device(_) => InterfaceType::System,
            Port::Geneve(t) | Port::Vxlan(t) => {
                let (kind, default_port) = match port {
                    Port::Geneve(_) => (InterfaceType::Geneve, GENEVE_DEFAULT_PORT),
                    _ => (InterfaceType::Vxlan, VXLAN_DEFAULT_PORT),
                };
                set("remote_ip", t.remote_ip.to_string());
                set("dst_port", t.destination_port.unwrap_or(default_port).to_string());
                set("key", t.vni.unwrap_or(0).to_string());
                kind
            }
            Port::Gre(t) => {
                set("remote_ip", t.remote_ip.to_string());
                set("key", t.key.unwrap_or(0).to_string());
                InterfaceType::Gre
            }
            Port::Erspan(t) => {
                set("remote_ip", t.remote_ip.to_string());
                set("key", t.session_id.unwrap_or(0).to_string());
                set("erspan_ver", t.version.to_string());
                // OVS reads erspan_idx and erspan_hwid as hex (strtol base
                // 16): write them with 0x so nobody reads them as decimal
                // (Antrea writes hwid in decimal, which OVS misreads).
                if t.version == 1 {
                    set("erspan_idx", format!("{:#x}", t.index.unwrap_or(0)));
                } else {
                    set("erspan_dir", t.dir.unwrap_or(0).to_string());
                    set("erspan_hwid", format!("{:#x}", t.hardware_id.unwrap_or(0)));
                }
                InterfaceType::Erspan
            }
        };
        PortConfig { name: port_name(port), interface_type, options }
    }

    /// The `external_ids` the agent writes on its ports.
    pub fn external_ids() -> BTreeMap<String, String> {
        BTreeMap::from([(OWNER_KEY.to_owned(), OWNER_VALUE.to_owned())])
    }
}

/// The OpenFlow number of the bridge's own (LOCAL) port.
pub const OFPP_LOCAL: u32 = 0xfffe;
/// OpenFlow port numbers above this are reserved (OF1.0's `OFPP_MAX`).
pub const OFPORT_MAX: u32 = 0xfeff;

/// A port as the switch reports it (OVSDB's Port and Interface rows).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SwitchPort {
    /// The port name.
    pub name: String,
    /// The OpenFlow port number, once OVS has assigned one.
    #[serde(default)]
    pub ofport: Option<u32>,
    /// The interface's `external_ids`.
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
    /// The Port row's `external_ids` (where Antrea and ovs-cni write a
    /// Pod's keys).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub port_external_ids: BTreeMap<String, String>,
    /// The Port's access VLAN (`tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u16>,
    /// The VLANs a trunk Port carries (`trunks`; empty: all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trunks: Vec<u16>,
    /// `vlan_mode` (`access`, `trunk`, ...), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_mode: Option<String>,
    /// `Interface.type` (empty for a system device).
    #[serde(default)]
    pub interface_type: String,
    /// `Interface.options`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `Interface.error`: why OVS could not set the interface up.
    #[serde(default)]
    pub error: Option<String>,
}

impl SwitchPort {
    /// The ofport, if it is one flows may use (OVS reports -1 or nothing
    /// for a port it could not open; reserved numbers are not ports).
    pub fn usable_ofport(&self) -> Option<u32> {
        self.ofport.filter(|p| (1..=OFPORT_MAX).contains(p))
    }

    /// Whether the agent created this port.
    pub fn is_agents(&self) -> bool {
        self.external_ids.get(OWNER_KEY).is_some_and(|v| v == OWNER_VALUE)
    }

    /// The Pod this port claims to belong to, per the CNI's keys (see
    /// [`crate::cni`]); none also when the keys contradict each other.
    pub fn pod_claim(&self) -> Option<PodClaim> {
        match cni::identify(self) {
            PortIdentity::Pod(claim) => Some(claim),
            PortIdentity::Conflicting(_) | PortIdentity::None => None,
        }
    }

    /// Whether some CNI marks this port as a Pod's (even with keys that
    /// contradict each other): the agent never takes it for anything else.
    pub fn is_pods(&self) -> bool {
        cni::identify(self) != PortIdentity::None
    }
}

/// A `Mirror` row of the bridge, as the switch reports it, its ports by
/// name.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SwitchMirror {
    /// `name`.
    pub name: String,
    /// `external_ids` (the agent marks its mirrors as it marks its ports).
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
    /// `select_src_port`, by port name.
    #[serde(default)]
    pub select_src_port: std::collections::BTreeSet<String>,
    /// `select_dst_port`, by port name.
    #[serde(default)]
    pub select_dst_port: std::collections::BTreeSet<String>,
    /// `output_port`, by name.
    #[serde(default)]
    pub output_port: Option<String>,
}

impl SwitchMirror {
    /// Whether the agent created this mirror.
    pub fn is_agents(&self) -> bool {
        self.external_ids.get(OWNER_KEY).is_some_and(|v| v == OWNER_VALUE)
    }

    /// One line for people, as `/status` and `tcctl status` compare it.
    pub fn describe(&self) -> String {
        describe_mirror(
            &self.name,
            self.output_port.as_deref().unwrap_or("-"),
            &self.select_src_port,
            &self.select_dst_port,
        )
    }
}

/// `<name> output=<port> select_src_port=<a,b> select_dst_port=<c>`.
pub fn describe_mirror(
    name: &str,
    output: &str,
    sources: &std::collections::BTreeSet<String>,
    destinations: &std::collections::BTreeSet<String>,
) -> String {
    let list = |ports: &std::collections::BTreeSet<String>| {
        ports.iter().map(String::as_str).collect::<Vec<_>>().join(",")
    };
    format!("{name} output={output} select_src_port={} select_dst_port={}", list(sources), list(destinations))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErspanTunnel, GreTunnel, NamedPort, UdpTunnel};

    fn options(port: &Port) -> Vec<String> {
        PortConfig::of(port).options.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    #[test]
    fn udp_tunnels_write_defaults_explicitly() {
        let tunnel = UdpTunnel { remote_ip: "10.0.10.2".parse().unwrap(), destination_port: None, vni: None };
        assert_eq!(options(&Port::Vxlan(tunnel.clone())), ["dst_port=4789", "key=0", "remote_ip=10.0.10.2"]);
        assert_eq!(options(&Port::Geneve(tunnel)), ["dst_port=6081", "key=0", "remote_ip=10.0.10.2"]);
    }

    #[test]
    fn gre_keys_use_all_32_bits() {
        let port = Port::Gre(GreTunnel { remote_ip: "fd00::2".parse().unwrap(), key: Some(u32::MAX) });
        assert_eq!(options(&port), ["key=4294967295", "remote_ip=fd00::2"]);
    }

    #[test]
    fn erspan_options_follow_the_version() {
        let v1 = ErspanTunnel {
            remote_ip: "10.0.10.2".parse().unwrap(),
            session_id: Some(1),
            version: 1,
            index: Some(26),
            dir: None,
            hardware_id: None,
        };
        assert_eq!(
            options(&Port::Erspan(v1.clone())),
            ["erspan_idx=0x1a", "erspan_ver=1", "key=1", "remote_ip=10.0.10.2"]
        );
        let v2 = ErspanTunnel { version: 2, index: None, dir: Some(1), hardware_id: Some(12), ..v1 };
        assert_eq!(
            options(&Port::Erspan(v2)),
            ["erspan_dir=1", "erspan_hwid=0xc", "erspan_ver=2", "key=1", "remote_ip=10.0.10.2"]
        );
    }

    #[test]
    fn named_ports_have_no_options() {
        let config = PortConfig::of(&Port::Device(NamedPort { name: "eno2".into() }));
        assert_eq!((config.name.as_str(), config.interface_type.ovsdb_type()), ("eno2", ""));
        assert!(config.options.is_empty());
    }
}
