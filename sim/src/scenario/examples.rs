//! The seed's three examples, verbatim, on the cluster fixtures; then a
//! few faults drawn from the seed, converging after each.

use std::time::Duration;

use super::Script;
use super::rng;
use super::step::{Fault, Step};
use crate::world::cluster::BridgeSetup;

const NAMESPACES: &str = include_str!("../../../fixtures/cluster/namespaces.yaml");
const PODS: &str = include_str!("../../../fixtures/cluster/pods.yaml");
const EXAMPLES: [(&str, &str); 3] = [
    ("mirror-web-app", include_str!("../../../fixtures/seed/mirror-web-app.yaml")),
    ("mirror-all-to-remote", include_str!("../../../fixtures/seed/mirror-all-to-remote.yaml")),
    ("redirect-prod-to-local", include_str!("../../../fixtures/seed/redirect-prod-to-local.yaml")),
];

/// The examples, then three faults.
pub fn generate(seed: u64) -> Script {
    let mut rng = rng::for_seed(seed);
    let mut steps = vec![
        Step::Apply { what: "fixtures/cluster/namespaces.yaml".into(), manifest: NAMESPACES.into() },
        Step::Apply { what: "fixtures/cluster/pods.yaml".into(), manifest: PODS.into() },
    ];
    for (name, manifest) in EXAMPLES {
        steps.push(Step::Apply { what: format!("fixtures/seed/{name}.yaml"), manifest: manifest.into() });
    }
    steps.push(Step::Converge);
    for _ in 0..3 {
        let fault = match rng.below(6) {
            0 => Fault::BounceAgent(0),
            1 => Fault::BounceOvs(0),
            2 => Fault::RestartVswitchd(0),
            3 => Fault::RestartApiServer,
            4 => Fault::RestartVswitchdRenumbered(0),
            _ => Fault::Partition(0),
        };
        let partitioned = fault == Fault::Partition(0);
        steps.push(Step::Fault(fault));
        steps.push(Step::Wait(Duration::from_millis(rng.below(2000))));
        if partitioned {
            steps.push(Step::Fault(Fault::Heal(0)));
        }
        steps.push(Step::Converge);
    }
    Script { nodes: 2, devices: vec![], steps, bridge: BridgeSetup::Owned }
}
