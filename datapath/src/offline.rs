//! Planning without a cluster or a switch (`tcctl plan`, snapshots): the
//! objects of manifest files sorted by kind, and a switch made up for them.
//!
//! The made-up switch is deterministic: this node's Pods (not host-network)
//! get ofports 1, 2, ... in (Namespace, name) order, with MAC
//! `02:00:` followed by the ofport's four bytes, and a port named like Antrea's
//! (`<first 8 chars of the name>-<6 hex of SHA-1(namespace/name)>`); the
//! TrafficControl ports the pass creates ask for the next numbers, in name
//! order, as they would on a real switch (see [`crate::pass`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::api;
use crate::cluster::{NamespaceInfo, PodInfo};
use crate::cni::keys::antrea;
use crate::pass::{SwitchState, pass};
use crate::plan::{BridgeMode, Cluster, Plan};
use crate::ports::SwitchPort;
use crate::validate::{Report, Validator};

/// The objects of a set of manifests, sorted by kind.
#[derive(Default)]
pub struct Objects {
    /// Every TrafficControl with its validation report (valid or not).
    pub traffic_controls: Vec<Report>,
    /// Namespaces.
    pub namespaces: Vec<NamespaceInfo>,
    /// Pods.
    pub pods: Vec<PodInfo>,
    /// Documents that are none of the above (`Kind name`), or could not be
    /// read as what they claim to be (with the reason).
    pub skipped: Vec<String>,
}

impl Objects {
    /// Adds the documents of one manifest; `List` objects are unpacked.
    pub fn add_documents(&mut self, validator: &Validator, documents: Vec<Value>) {
        for document in documents {
            self.add(validator, document);
        }
    }

    fn add(&mut self, validator: &Validator, document: Value) {
        let kind = document.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
        let name =
            document.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("<unnamed>").to_owned();
        match kind.as_str() {
            api::KIND => self.traffic_controls.push(validator.validate(&document)),
            "Pod" => match serde_json::from_value::<Pod>(document) {
                Ok(pod) => self.pods.push(PodInfo::from(&pod)),
                Err(error) => self.skipped.push(format!("Pod {name}: {error}")),
            },
            "Namespace" => match serde_json::from_value::<Namespace>(document) {
                Ok(namespace) => self.namespaces.push(NamespaceInfo::from(&namespace)),
                Err(error) => self.skipped.push(format!("Namespace {name}: {error}")),
            },
            list if list.ends_with("List") => {
                if let Some(Value::Array(items)) = document.get("items") {
                    for item in items.clone() {
                        self.add(validator, item);
                    }
                }
            }
            other => {
                self.skipped.push(format!("{} {name}", if other.is_empty() { "<no kind>" } else { other }))
            }
        }
    }

    /// The TrafficControls that passed validation.
    pub fn valid_traffic_controls(&self) -> Vec<api::TrafficControl> {
        self.traffic_controls.iter().filter_map(|r| r.traffic_control.clone()).collect()
    }

    /// The planner's view of these objects from `node`.
    pub fn cluster(&self, node: &str) -> Cluster {
        Cluster::new(node, self.valid_traffic_controls(), self.namespaces.clone(), self.pods.clone())
    }
}

/// Plans `objects` for `node` on a made-up switch (see the module doc):
/// the plan of the pass the agent would run there, whose new ports get
/// the next ofports.
pub fn plan_offline(node: &str, objects: &Objects, mode: BridgeMode) -> Plan {
    let switch = SwitchState { mode, ports: pod_ports(node, &objects.pods), ..SwitchState::default() };
    pass(&objects.cluster(node), &switch).plan
}

/// Ports for this node's Pods, as a CNI would attach them.
pub fn pod_ports(node: &str, pods: &[PodInfo]) -> Vec<SwitchPort> {
    let mut local: Vec<&PodInfo> =
        pods.iter().filter(|p| !p.host_network && p.node_name.as_deref() == Some(node)).collect();
    local.sort_by(|a, b| a.pod.cmp(&b.pod));
    local.dedup_by(|a, b| a.pod == b.pod);
    local
        .iter()
        .zip(1u32..)
        .map(|(pod, ofport)| {
            let digest = Sha1::digest(pod.pod.to_string().as_bytes());
            let short: String = pod.pod.name.chars().take(8).collect();
            let [a, b, c, d] = ofport.to_be_bytes();
            SwitchPort {
                name: format!("{short}-{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2]),
                ofport: Some(ofport),
                external_ids: BTreeMap::from([
                    (antrea::POD_NAME.to_owned(), pod.pod.name.clone()),
                    (antrea::POD_NAMESPACE.to_owned(), pod.pod.namespace.clone()),
                    (antrea::MAC.to_owned(), format!("02:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}")),
                ]),
                ..Default::default()
            }
        })
        .collect()
}
