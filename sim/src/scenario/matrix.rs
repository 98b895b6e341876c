//! Every target port kind × action × direction, on one TrafficControl
//! replaced in place (the order is shuffled by the seed), converging after
//! each: each change swaps the target port, so every pass deletes a port
//! that flows used a moment before.

use serde_json::json;

use super::Script;
use super::manifests::{self, ACTIONS, DIRECTIONS, TrafficControlSpec};
use super::rng;
use super::step::Step;
use crate::world::cluster::BridgeSetup;

/// The matrix in the order seed `seed` plays it.
pub fn generate(seed: u64) -> Script {
    let mut rng = rng::for_seed(seed);
    let mut steps = vec![
        manifests::namespace("default", "dev"),
        manifests::namespace("prod", "production"),
        manifests::pod("default", "web-1", 0, "web"),
        manifests::pod("prod", "web-2", 0, "web"),
        manifests::pod("default", "client", 0, "client"),
    ];
    let mut combinations = Vec::new();
    for target in manifests::every_port_kind() {
        for action in ACTIONS {
            for direction in DIRECTIONS {
                combinations.push(TrafficControlSpec {
                    applied_to: json!({"podSelector": {"matchLabels": {"app": "web"}}}),
                    direction,
                    action,
                    target: target.clone(),
                    return_port: (action == "Redirect")
                        .then(|| json!({"ovsInternal": {"name": "tap-return"}})),
                });
            }
        }
    }
    rng.shuffle(&mut combinations);
    for spec in &combinations {
        steps.push(manifests::traffic_control("matrix", spec));
        steps.push(Step::Converge);
    }
    steps.push(Step::DeleteTrafficControl { name: "matrix".into() });
    Script { nodes: 1, devices: vec!["eth1"], steps, bridge: BridgeSetup::Owned }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_is_applied_once() {
        let script = generate(3);
        let applied = script.steps.iter().filter(|s| s.to_string().starts_with("apply tc/matrix")).count();
        assert_eq!(applied, 7 * 2 * 3);
        assert_ne!(generate(3).steps, generate(4).steps, "the seed shuffles the order");
    }
}
