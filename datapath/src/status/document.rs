//! The agent's `/status` document: one typed contract for the endpoint
//! that writes it, `tcctl status` that prints it, and the tests and the
//! demo that read it. JSON keys are camelCase.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::flow_diff::FlowDrift;
use crate::plan::{BridgeMode, Plan, PlannedMirror};
use crate::ports::SwitchMirror;

/// What a node's agent realized, and whether its switch holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    /// The node.
    pub node: String,
    /// The first full sync is done (or the feature gate is off).
    pub ready: bool,
    /// The TrafficControl feature gate (`featureGates.TrafficControl`).
    #[serde(default)]
    pub feature_gate: FeatureGate,
    /// Each TrafficControl of the plan, oldest first.
    #[serde(default)]
    pub traffic_controls: Vec<TrafficControlStatus>,
    /// TrafficControls the validator refused: name → why.
    #[serde(default)]
    pub invalid: BTreeMap<String, String>,
    /// Ports with a Pod's keys that match no Pod, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_problems: Vec<String>,
    /// How the agent realizes TrafficControls on the bridge.
    #[serde(default)]
    pub bridge_mode: BridgeMode,
    /// The switch's flows against the plan; none before the first full
    /// sync (there is no plan to compare with yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<SwitchFlows>,
    /// The agent's `Mirror` rows against the plan (a shared bridge), in
    /// the same shape as `flows`, a mirror per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirrors: Option<SwitchFlows>,
}

/// The state of the agent's feature gate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureGate {
    /// The agent realizes TrafficControls.
    #[default]
    On,
    /// The agent realizes nothing, on purpose.
    Off,
}

/// One TrafficControl on this node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficControlStatus {
    /// Its name.
    pub name: String,
    /// `Realized`, `Pending` or `Failed`.
    pub progress: String,
    /// Why it is not realized (empty when it is).
    #[serde(default)]
    pub reason: String,
    /// The target port's name.
    pub target_port: String,
    /// The target port's ofport, once it has one.
    #[serde(default)]
    pub ofport: Option<u32>,
    /// The return port's name.
    #[serde(default)]
    pub return_port: Option<String>,
    /// The Pods it controls here, `namespace/name`.
    #[serde(default)]
    pub pods: Vec<String>,
    /// Pods it selects that an older TrafficControl controls.
    #[serde(default)]
    pub lost_pods: Vec<String>,
}

/// The switch's agent flows against the plan, or why they could not be
/// read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SwitchFlows {
    /// Read from the switch.
    Read(FlowStatus),
    /// Not read.
    Unreadable {
        /// Why.
        error: String,
    },
}

/// The switch's agent flows against the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowStatus {
    /// Flows in the plan.
    pub planned: usize,
    /// Agent flows on the switch.
    pub on_switch: usize,
    /// The switch holds exactly the plan.
    pub in_sync: bool,
    /// Planned, not on the switch as planned (dump text).
    #[serde(default)]
    pub missing: Vec<String>,
    /// On the switch, not planned as is.
    #[serde(default)]
    pub unexpected: Vec<String>,
}

impl FlowStatus {
    /// The status of `planned` flows against the switch's `on_switch`
    /// agent flows, which differ by `drift`.
    pub fn new(planned: usize, on_switch: usize, drift: FlowDrift) -> Self {
        FlowStatus {
            planned,
            on_switch,
            in_sync: drift.is_empty(),
            missing: drift.missing,
            unexpected: drift.unexpected,
        }
    }
}

impl AgentStatus {
    /// A node whose agent has not finished its first full sync.
    pub fn starting(node: &str, bridge_mode: BridgeMode) -> Self {
        AgentStatus { node: node.to_owned(), bridge_mode, ..AgentStatus::default() }
    }

    /// A node whose agent realizes nothing: the feature gate is off.
    pub fn gate_off(node: &str) -> Self {
        AgentStatus {
            node: node.to_owned(),
            ready: true,
            feature_gate: FeatureGate::Off,
            ..Default::default()
        }
    }

    /// What `plan` realizes on `node`'s bridge (in `bridge_mode`), with the
    /// refused TrafficControls, the switch's flows and, on a shared bridge,
    /// its mirrors.
    pub fn realized(
        node: &str,
        bridge_mode: BridgeMode,
        plan: &Plan,
        invalid: &BTreeMap<String, String>,
        flows: SwitchFlows,
        mirrors: Option<SwitchFlows>,
    ) -> Self {
        let traffic_controls = plan
            .precedence
            .iter()
            .filter_map(|name| Some((name, plan.traffic_controls.get(name)?)))
            .map(|(name, tc)| TrafficControlStatus {
                name: name.clone(),
                progress: tc.progress.state().to_owned(),
                reason: tc.progress.reason().to_owned(),
                target_port: tc.target_port.clone(),
                ofport: plan.ports.get(&tc.target_port).and_then(|p| p.ofport),
                return_port: tc.return_port.clone(),
                pods: tc.pods.iter().map(ToString::to_string).collect(),
                lost_pods: tc.lost_pods.iter().map(ToString::to_string).collect(),
            })
            .collect();
        AgentStatus {
            node: node.to_owned(),
            ready: true,
            feature_gate: FeatureGate::On,
            traffic_controls,
            invalid: invalid.clone(),
            port_problems: plan.port_problems.clone(),
            bridge_mode,
            flows: Some(flows),
            mirrors,
        }
    }

    /// The entry of TrafficControl `name`.
    pub fn traffic_control(&self, name: &str) -> Option<&TrafficControlStatus> {
        self.traffic_controls.iter().find(|tc| tc.name == name)
    }

    /// The Pods TrafficControl `name` controls here (none when it has no
    /// entry), `namespace/name`, in that order.
    pub fn pods_of(&self, name: &str) -> Vec<String> {
        self.traffic_control(name).map(|tc| tc.pods.clone()).unwrap_or_default()
    }

    /// Whether the switch's flows are known to equal the plan.
    pub fn in_sync(&self) -> bool {
        let held =
            |what: &Option<SwitchFlows>| matches!(what, Some(SwitchFlows::Read(status)) if status.in_sync);
        held(&self.flows) && (self.bridge_mode == BridgeMode::Owned || held(&self.mirrors))
    }

    /// Whether all is as it should be: the switch holds the plan, or the
    /// feature gate says there is nothing to hold (`tcctl status`'s exit
    /// code).
    pub fn is_healthy(&self) -> bool {
        self.in_sync() || self.feature_gate == FeatureGate::Off
    }

    /// The document for a person, as `tcctl status` prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let ready = if self.ready { "ready" } else { "not ready" };
        let _ = writeln!(out, "node {}: {ready}, {} bridge", self.node, self.bridge_mode.name());
        if self.feature_gate == FeatureGate::Off {
            let _ = writeln!(
                out,
                "the TrafficControl feature gate is off (featureGates.TrafficControl): this agent realizes nothing"
            );
            return out;
        }
        let Some(flows) = &self.flows else {
            let _ = writeln!(out, "flows: not known until the agent's first full sync");
            return out;
        };
        if !self.traffic_controls.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<28} {:<9} {:<16} {:>6} {:>5}  REASON",
                "TRAFFICCONTROL", "STATE", "TARGET", "OFPORT", "PODS"
            );
        }
        for tc in &self.traffic_controls {
            let ofport = tc.ofport.map_or("-".to_owned(), |p| p.to_string());
            let _ = writeln!(
                out,
                "{:<28} {:<9} {:<16} {:>6} {:>5}  {}",
                tc.name,
                tc.progress,
                tc.target_port,
                ofport,
                tc.pods.len(),
                tc.reason
            );
            for lost in &tc.lost_pods {
                let _ = writeln!(out, "  conflict: {lost} is controlled by an older TrafficControl");
            }
        }
        for (name, why) in &self.invalid {
            let _ = writeln!(out, "{name:<28} Invalid   {why}");
        }
        if !self.port_problems.is_empty() {
            let _ = writeln!(out, "\nports that match no Pod:");
            for problem in &self.port_problems {
                let _ = writeln!(out, "  {problem}");
            }
        }
        render_held(&mut out, "flows", flows);
        if let Some(mirrors) = &self.mirrors {
            render_held(&mut out, "mirrors", mirrors);
        }
        out
    }
}

/// What the switch holds of `what` against the plan, for a person.
fn render_held(out: &mut String, what: &str, held: &SwitchFlows) {
    match held {
        SwitchFlows::Unreadable { error } => {
            let _ = writeln!(out, "\n{what}: cannot read the switch: {error}");
        }
        SwitchFlows::Read(status) if status.in_sync => {
            let _ = writeln!(out, "\n{what}: {} planned, the switch holds exactly the plan", status.planned);
        }
        SwitchFlows::Read(status) => {
            let _ = writeln!(
                out,
                "\n{what}: the switch differs from the plan ({} planned, {} on the switch):",
                status.planned, status.on_switch
            );
            for line in &status.missing {
                let _ = writeln!(out, "+ {line}");
            }
            for line in &status.unexpected {
                let _ = writeln!(out, "- {line}");
            }
        }
    }
}

/// The agent's mirrors on the switch (`observed`, every mirror of the
/// bridge) against the plan's, a mirror per line.
pub fn mirror_status(planned: &BTreeMap<String, PlannedMirror>, observed: &[SwitchMirror]) -> FlowStatus {
    let want: std::collections::BTreeSet<String> = planned.values().map(PlannedMirror::describe).collect();
    let have: std::collections::BTreeSet<String> =
        observed.iter().filter(|m| m.is_agents()).map(SwitchMirror::describe).collect();
    let drift = FlowDrift {
        missing: want.difference(&have).cloned().collect(),
        unexpected: have.difference(&want).cloned().collect(),
    };
    FlowStatus::new(want.len(), have.len(), drift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AgentStatus {
        AgentStatus {
            node: "node-1".into(),
            ready: true,
            feature_gate: FeatureGate::On,
            traffic_controls: vec![TrafficControlStatus {
                name: "mirror-web-app".into(),
                progress: "Realized".into(),
                reason: String::new(),
                target_port: "tap0".into(),
                ofport: Some(7),
                return_port: None,
                pods: vec!["default/web-1".into()],
                lost_pods: vec!["default/web-2".into()],
            }],
            invalid: BTreeMap::from([("bad".into(), "tc/bad: spec.direction: required".into())]),
            port_problems: vec!["port veth9 (ovs-cni, net1) names no Pod".into()],
            bridge_mode: BridgeMode::Owned,
            mirrors: None,
            flows: Some(SwitchFlows::Read(FlowStatus {
                planned: 2,
                on_switch: 1,
                in_sync: false,
                missing: vec!["table=1, priority=200 actions=drop".into()],
                unexpected: vec![],
            })),
        }
    }

    #[test]
    fn the_document_reads_back_as_written_with_camel_case_keys() {
        let status = sample();
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["featureGate"], "on");
        assert_eq!(json["trafficControls"][0]["lostPods"][0], "default/web-2");
        assert_eq!(json["flows"]["onSwitch"], 1);
        assert_eq!(serde_json::from_value::<AgentStatus>(json).unwrap(), status);
        let unreadable =
            AgentStatus { flows: Some(SwitchFlows::Unreadable { error: "gone".into() }), ..sample() };
        let json = serde_json::to_string(&unreadable).unwrap();
        assert!(json.contains(r#""flows":{"error":"gone"}"#), "{json}");
        assert_eq!(serde_json::from_str::<AgentStatus>(&json).unwrap(), unreadable);
    }

    #[test]
    fn on_a_shared_bridge_the_mirrors_must_be_the_plans_too() {
        let planned = BTreeMap::from([(
            "tc-tap0".to_owned(),
            PlannedMirror {
                name: "tc-tap0".into(),
                output_port: "tap0".into(),
                select_src_port: ["web".to_owned()].into(),
                ..PlannedMirror::default()
            },
        )]);
        let theirs = SwitchMirror { name: "m0".into(), ..SwitchMirror::default() };
        let ours = SwitchMirror {
            name: "tc-tap0".into(),
            external_ids: crate::ports::PortConfig::external_ids(),
            select_src_port: ["web".to_owned()].into(),
            output_port: Some("tap0".into()),
            ..SwitchMirror::default()
        };
        let held = mirror_status(&planned, &[theirs.clone(), ours.clone()]);
        assert!(held.in_sync && held.on_switch == 1, "{held:?}");
        let missing = mirror_status(&planned, &[theirs]);
        assert_eq!(missing.missing, ["tc-tap0 output=tap0 select_src_port=web select_dst_port="]);
        let shared = |mirrors: FlowStatus| AgentStatus {
            bridge_mode: BridgeMode::Shared,
            mirrors: Some(SwitchFlows::Read(mirrors)),
            flows: Some(SwitchFlows::Read(FlowStatus { in_sync: true, ..FlowStatus::default() })),
            ..sample()
        };
        assert!(shared(held).in_sync());
        let drifted = shared(missing);
        assert!(!drifted.in_sync());
        assert!(
            drifted.render().contains(
                "mirrors: the switch differs from the plan (1 planned, 0 on the switch):\n+ tc-tap0"
            ),
            "{}",
            drifted.render()
        );
    }

    #[test]
    fn before_the_first_sync_there_are_no_flows_to_compare() {
        let starting = AgentStatus::starting("node-1", BridgeMode::Shared);
        let json = serde_json::to_value(&starting).unwrap();
        assert!(json.get("flows").is_none());
        assert!(!starting.is_healthy());
        assert!(starting.render().contains("not known until the agent's first full sync"));
    }

    #[test]
    fn a_gate_that_is_off_is_healthy_and_says_so() {
        let off = AgentStatus::gate_off("node-1");
        assert!(off.is_healthy() && !off.in_sync());
        assert_eq!(serde_json::to_value(&off).unwrap()["featureGate"], "off");
        assert!(off.render().contains("feature gate is off"));
    }

    #[test]
    fn the_text_shows_each_traffic_control_conflicts_refusals_and_the_drift() {
        let text = sample().render();
        assert!(text.starts_with("node node-1: ready, owned bridge\n"), "{text}");
        assert!(
            text.contains("mirror-web-app               Realized  tap0                  7     1"),
            "{text}"
        );
        assert!(text.contains("  conflict: default/web-2 is controlled by an older TrafficControl"));
        assert!(text.contains("bad                          Invalid   tc/bad: spec.direction: required"));
        assert!(
            text.contains("ports that match no Pod:\n  port veth9 (ovs-cni, net1) names no Pod\n"),
            "{text}"
        );
        assert!(
            text.contains("(2 planned, 1 on the switch):\n+ table=1, priority=200 actions=drop\n"),
            "{text}"
        );
    }
}
