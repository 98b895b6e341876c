//! The agent's configuration, in the shape of Antrea's `antrea-agent.conf`
//! (the seed's ConfigMap), so the same file works for both:
//!
//! ```yaml
//! featureGates:
//!   TrafficControl: true        # absent or false: the agent realizes nothing
//! ovsBridge: br-int             # Antrea's key; default br-int
//! ovsRunDir: /var/run/openvswitch
//! clientConnection:
//!   kubeconfig: /etc/kubeconfig # absent: in-cluster configuration
//! trafficControl:               # ours, all optional
//!   bridgeMode: shared          # shared (default) or owned, see below
//!   ovsdbSocket: unix:/var/run/openvswitch/db.sock
//!   openflowSocket: unix:/var/run/openvswitch/br-int.mgmt
//! ```
//!
//! `bridgeMode`: `shared` for a bridge whose OpenFlow tables a CNI's
//! controller owns (OVN-Kubernetes, Kube-OVN, Antrea): the agent writes no
//! flow, mirrors with OVS `Mirror` rows and refuses Redirect. `owned` for a
//! bridge no controller programs (a standalone bridge, an ovs-cni bridge):
//! the agent's own pipeline, Mirror and Redirect. `shared` is the default
//! because it cannot damage a CNI's pipeline whatever the bridge is.
//!
//! Keys it does not know are ignored: an Antrea agent's file has many. The
//! node name comes from `--node-name`, else `NODE_NAME` (the downward API),
//! else the file's `nodeName`.

use std::path::{Path, PathBuf};

use datapath::plan::BridgeMode;
use serde_json::Value;

/// Where OVS listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OvsSocket {
    /// `unix:PATH`.
    Unix(PathBuf),
    /// `tcp:HOST:PORT`.
    Tcp(String),
}

impl std::fmt::Display for OvsSocket {
    /// In OVS's own syntax, as the config file writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OvsSocket::Unix(path) => write!(f, "unix:{}", path.display()),
            OvsSocket::Tcp(address) => write!(f, "tcp:{address}"),
        }
    }
}

/// The agent's settings, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// `featureGates.TrafficControl`.
    pub traffic_control_enabled: bool,
    /// The bridge the agent manages.
    pub bridge: String,
    /// How TrafficControls are realized on it.
    pub bridge_mode: BridgeMode,
    /// OVSDB's socket.
    pub ovsdb: OvsSocket,
    /// The bridge's OpenFlow socket.
    pub openflow: OvsSocket,
    /// A kubeconfig, or in-cluster configuration when absent.
    pub kubeconfig: Option<PathBuf>,
    /// This node's name.
    pub node_name: String,
    /// `trafficControl.hostNetns`: the network namespace whose addresses
    /// and routes are the node's, when it is not the agent's own (a test
    /// whose switch runs in a namespace of its own).
    pub host_netns: Option<PathBuf>,
}

/// What the command line and environment say (they win over the file).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--node-name`.
    pub node_name: Option<String>,
    /// `NODE_NAME`.
    pub node_name_env: Option<String>,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
}

/// A configuration the agent cannot start with (exit code 2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not YAML.
    #[error("{file}: not valid YAML: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message, with the line.
        reason: String,
    },
    /// A key has a value the agent cannot use.
    #[error("{file}: {key}: {rule}")]
    Invalid {
        /// The file.
        file: String,
        /// The key's path.
        key: String,
        /// What is wrong.
        rule: String,
    },
    /// No node name anywhere.
    #[error("no node name: pass --node-name, set NODE_NAME, or set nodeName in {file}")]
    NoNodeName {
        /// The file.
        file: String,
    },
}

impl AgentConfig {
    /// Reads the configuration from the text of `file`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the key and the rule.
    pub fn parse(file: &Path, text: &str, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file_name = file.display().to_string();
        let document = datapath::manifest::parse_documents(text)
            .map_err(|e| ConfigError::Syntax { file: file_name.clone(), reason: e.to_string() })?
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        let fields = Fields { file: &file_name, root: &document };
        if !document.is_null() && !document.is_object() {
            return Err(fields.invalid("(root)", "must be a mapping of settings"));
        }
        let traffic_control_enabled = fields.boolean(&["featureGates", "TrafficControl"])?.unwrap_or(false);
        let bridge = fields.string(&["ovsBridge"])?.unwrap_or_else(|| "br-int".to_owned());
        if let Err(rule) = datapath::naming::check_interface_name(&bridge) {
            return Err(fields.invalid("ovsBridge", &rule));
        }
        let bridge_mode = match fields.string(&["trafficControl", "bridgeMode"])?.as_deref() {
            None | Some("shared") => BridgeMode::Shared,
            Some("owned") => BridgeMode::Owned,
            Some(other) => {
                return Err(
                    fields.invalid("trafficControl.bridgeMode", &format!("{other:?} is not shared or owned"))
                );
            }
        };
        let run_dir = PathBuf::from(
            fields.string(&["ovsRunDir"])?.unwrap_or_else(|| "/var/run/openvswitch".to_owned()),
        );
        let ovsdb = match fields.string(&["trafficControl", "ovsdbSocket"])? {
            Some(text) => {
                socket(&text).map_err(|rule| fields.invalid("trafficControl.ovsdbSocket", &rule))?
            }
            None => OvsSocket::Unix(run_dir.join("db.sock")),
        };
        let openflow = match fields.string(&["trafficControl", "openflowSocket"])? {
            Some(text) => {
                socket(&text).map_err(|rule| fields.invalid("trafficControl.openflowSocket", &rule))?
            }
            None => OvsSocket::Unix(run_dir.join(format!("{bridge}.mgmt"))),
        };
        let kubeconfig = match &overrides.kubeconfig {
            Some(path) => Some(path.clone()),
            None => fields
                .string(&["clientConnection", "kubeconfig"])?
                .filter(|k| !k.is_empty())
                .map(PathBuf::from),
        };
        let node_name = match (&overrides.node_name, &overrides.node_name_env) {
            (Some(name), _) => name.clone(),
            (None, Some(name)) if !name.is_empty() => name.clone(),
            _ => fields.string(&["nodeName"])?.ok_or(ConfigError::NoNodeName { file: file_name.clone() })?,
        };
        if !datapath::selector::is_dns_subdomain(&node_name) {
            return Err(
                fields.invalid("node name", &format!("{node_name:?} is not a valid Kubernetes node name"))
            );
        }
        let host_netns =
            fields.string(&["trafficControl", "hostNetns"])?.filter(|p| !p.is_empty()).map(PathBuf::from);
        Ok(AgentConfig {
            host_netns,
            traffic_control_enabled,
            bridge,
            bridge_mode,
            ovsdb,
            openflow,
            kubeconfig,
            node_name,
        })
    }
}

/// Typed access to the document's keys, with errors that name them.
struct Fields<'a> {
    file: &'a str,
    root: &'a Value,
}

impl Fields<'_> {
    fn invalid(&self, key: &str, rule: &str) -> ConfigError {
        ConfigError::Invalid { file: self.file.to_owned(), key: key.to_owned(), rule: rule.to_owned() }
    }

    fn get(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self.root, |value, key| value.get(key)).filter(|v| !v.is_null())
    }

    fn boolean(&self, path: &[&str]) -> Result<Option<bool>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.invalid(&path.join("."), &format!("{other} is not true or false"))),
        }
    }

    fn string(&self, path: &[&str]) -> Result<Option<String>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.invalid(&path.join("."), &format!("{other} is not a string"))),
        }
    }
}

/// An OVS remote: `unix:PATH` or `tcp:HOST:PORT`.
fn socket(text: &str) -> Result<OvsSocket, String> {
    if let Some(path) = text.strip_prefix("unix:").filter(|p| !p.is_empty()) {
        return Ok(OvsSocket::Unix(PathBuf::from(path)));
    }
    if let Some(address) = text.strip_prefix("tcp:")
        && let Some((host, port)) = address.rsplit_once(':')
        && !host.is_empty()
        && port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Ok(OvsSocket::Tcp(address.to_owned()));
    }
    Err(format!("{text:?} is not unix:PATH or tcp:HOST:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
        AgentConfig::parse(
            Path::new("agent.conf"),
            text,
            &Overrides { node_name: Some("node-1".into()), ..Overrides::default() },
        )
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("invalid").to_string()
    }

    #[test]
    fn the_seeds_config_map_enables_the_feature_with_antreas_defaults() {
        let config = parse("featureGates:\n  TrafficControl: true\n").unwrap();
        assert!(config.traffic_control_enabled);
        assert_eq!(config.bridge, "br-int");
        assert_eq!(config.ovsdb, OvsSocket::Unix("/var/run/openvswitch/db.sock".into()));
        assert_eq!(config.openflow, OvsSocket::Unix("/var/run/openvswitch/br-int.mgmt".into()));
        assert_eq!(config.kubeconfig, None);
    }

    #[test]
    fn an_absent_or_false_gate_disables_the_feature() {
        assert!(!parse("").unwrap().traffic_control_enabled);
        assert!(
            !parse("featureGates: {TrafficControl: false, Egress: true}").unwrap().traffic_control_enabled
        );
    }

    #[test]
    fn antreas_other_settings_are_ignored_and_ours_are_read() {
        let config = parse(
            "ovsBridge: br-tc\novsRunDir: /run/ovs\nantreaProxy: {enable: true}\ntrafficMode: encap\nclientConnection: {kubeconfig: /k}\ntrafficControl: {ovsdbSocket: 'tcp:127.0.0.1:6640'}\n",
        )
        .unwrap();
        assert_eq!(config.bridge, "br-tc");
        assert_eq!(config.ovsdb, OvsSocket::Tcp("127.0.0.1:6640".into()));
        assert_eq!(config.openflow, OvsSocket::Unix("/run/ovs/br-tc.mgmt".into()));
        assert_eq!(config.kubeconfig, Some("/k".into()));
    }

    #[test]
    fn bad_values_name_the_file_the_key_and_the_rule() {
        assert_eq!(
            error("featureGates: {TrafficControl: maybe}"),
            "agent.conf: featureGates.TrafficControl: \"maybe\" is not true or false"
        );
        assert_eq!(
            error("ovsBridge: a-bridge-name-too-long"),
            "agent.conf: ovsBridge: \"a-bridge-name-too-long\" is 22 bytes long, Linux allows at most 15"
        );
        assert_eq!(
            error("trafficControl: {openflowSocket: /var/run/x.mgmt}"),
            "agent.conf: trafficControl.openflowSocket: \"/var/run/x.mgmt\" is not unix:PATH or tcp:HOST:PORT"
        );
        assert_eq!(error("- a list"), "agent.conf: (root): must be a mapping of settings");
        assert!(error("featureGates: [\n").starts_with("agent.conf: not valid YAML: line "));
    }

    #[test]
    fn the_node_name_comes_from_the_flag_then_the_environment_then_the_file() {
        let file = Path::new("agent.conf");
        let text = "nodeName: from-file\n";
        let env = Overrides { node_name_env: Some("from-env".into()), ..Overrides::default() };
        assert_eq!(AgentConfig::parse(file, text, &env).unwrap().node_name, "from-env");
        let flag = Overrides { node_name: Some("from-flag".into()), ..env };
        assert_eq!(AgentConfig::parse(file, text, &flag).unwrap().node_name, "from-flag");
        assert_eq!(AgentConfig::parse(file, text, &Overrides::default()).unwrap().node_name, "from-file");
        let missing = AgentConfig::parse(file, "", &Overrides::default()).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "no node name: pass --node-name, set NODE_NAME, or set nodeName in agent.conf"
        );
        let bad = AgentConfig::parse(file, "nodeName: Not_A_Node\n", &Overrides::default()).unwrap_err();
        assert!(bad.to_string().contains("\"Not_A_Node\" is not a valid Kubernetes node name"), "{bad}");
    }
}
