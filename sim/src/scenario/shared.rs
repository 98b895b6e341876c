//! The scenarios on shared bridges: each node's tables belong to a CNI's
//! controller (NORMAL and a drop rule, an uplink, a span port and its own
//! mirrors; see [`crate::world::controller_host`]) and the agent runs in
//! `bridgeMode: shared`. The seed draws how many mirrors the controller
//! keeps: usually one, sometimes so many that OVS's 32 leave the agent
//! room for only a few. Both scenarios end by deleting every
//! TrafficControl, so the final convergence checks that exactly the
//! controller's and the Pods' rows are left.
//!
//! - [`examples`]: the seed's three examples (all Mirrors: the third has
//!   a return port, which a Mirror does not use) and a Redirect, which a
//!   shared bridge refuses; then faults.
//! - [`churn`]: the owned churn's steps, Redirects and faults included.

use super::rng;
use super::step::Step;
use super::{Script, churn as owned_churn, examples as owned_examples};
use crate::world::cluster::BridgeSetup;
use crate::world::controller_host::Controller;

/// A Redirect a shared bridge must refuse (Realized=False), creating
/// nothing.
const REDIRECT: &str = r#"{"apiVersion": "crd.antrea.io/v1alpha2", "kind": "TrafficControl",
 "metadata": {"name": "redirect-db"},
 "spec": {"appliedTo": {"podSelector": {"matchLabels": {"app": "db"}}}, "direction": "Both",
  "action": "Redirect", "targetPort": {"ovsInternal": {"name": "tap5"}},
  "returnPort": {"ovsInternal": {"name": "tap6"}}}}"#;

/// The controller seed `seed` draws, apart from the steps' own draws.
pub fn controller(seed: u64) -> Controller {
    let mut rng = rng::for_seed(seed ^ 0x0053_4841_5245_4400);
    let mirrors = if rng.chance(25) { 26 + usize::try_from(rng.below(6)).unwrap_or(0) } else { 1 };
    Controller { mirrors }
}

/// The seed's examples and a refused Redirect, then faults, on shared
/// bridges; at the end every TrafficControl goes.
pub fn examples(seed: u64) -> Script {
    let mut script = owned_examples::generate(seed);
    let first_converge = script.steps.iter().position(|s| *s == Step::Converge).unwrap_or(script.steps.len());
    let redirect = Step::Apply { what: "tc/redirect-db (Redirect)".into(), manifest: REDIRECT.into() };
    script.steps.insert(first_converge, redirect);
    script.steps.push(Step::DeleteEveryTrafficControl);
    Script { bridge: BridgeSetup::Shared(controller(seed)), ..script }
}

/// The owned churn's steps on shared bridges; at the end every
/// TrafficControl goes.
pub fn churn(seed: u64) -> Script {
    let mut script = owned_churn::generate(seed);
    script.steps.push(Step::DeleteEveryTrafficControl);
    Script { bridge: BridgeSetup::Shared(controller(seed)), ..script }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_draws_the_controllers_mirrors_and_some_seeds_crowd_the_agent() {
        assert_eq!(controller(3), controller(3));
        let crowded = (0..100).filter(|seed| controller(*seed).mirrors > 1).count();
        assert!((10..50).contains(&crowded), "{crowded} of 100 seeds crowd the agent");
        assert!((0..100).all(|seed| controller(seed).mirrors <= 31), "the agent always has room for one");
    }

    #[test]
    fn shared_scenarios_end_by_deleting_every_traffic_control_and_examples_add_a_redirect() {
        for script in [examples(4), churn(4)] {
            assert_eq!(script.steps.last(), Some(&Step::DeleteEveryTrafficControl));
            assert!(matches!(script.bridge, BridgeSetup::Shared(_)));
        }
        assert!(examples(4).steps.iter().any(|s| s.to_string().contains("Redirect")));
    }
}
