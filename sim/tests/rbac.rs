//! `deploy/rbac.yaml`'s ClusterRole is exactly what the agent uses: every
//! request the agents made in the simulated world (the seed's examples
//! under faults, and churn with Pods, Namespaces and TrafficControls
//! coming and going) is allowed, and every permission the role grants was
//! used. The world's API server also enforces the role (the agents act as
//! its ServiceAccount), so none of their requests may have been refused.
//! The real-process end-to-end tests check the first half against
//! `tc-devcluster`'s record too (`tests/tests/e2e_agent.rs`).

use actors::agent::reconciler::Tuning;
use devcluster::rbac::{compare, granted};
use sim::scenario::{self, Scenario};

#[test]
fn the_cluster_role_allows_every_request_and_grants_nothing_unused() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/rbac.yaml"))
        .expect("rbac.yaml");
    let granted = granted(&manifest).expect("the ClusterRole");
    let mut requests = Vec::new();
    for (scenario, seeds) in [(Scenario::Examples, 0..3), (Scenario::Churn, 0..10)] {
        for seed in seeds {
            let outcome = scenario::run(scenario, seed, Tuning::default()).unwrap_or_else(|f| panic!("{f}"));
            requests.extend(outcome.requests);
        }
    }
    // The world's API server enforces the role (the agents act as its
    // ServiceAccount): nothing was refused either.
    let refused: Vec<_> = requests.iter().filter(|r| r.code == 403 || r.code == 401).collect();
    assert!(refused.is_empty(), "the API server refused requests of the agents: {refused:?}");
    let (denied, unused) = compare(&granted, &requests);
    assert!(
        denied.is_empty(),
        "the agent made requests deploy/rbac.yaml does not allow:\n{}",
        denied.join("\n")
    );
    let unused: Vec<String> = unused.iter().map(ToString::to_string).collect();
    assert!(unused.is_empty(), "deploy/rbac.yaml grants what the agent never used:\n{}", unused.join("\n"));
    eprintln!("{} requests checked against {} permissions", requests.len(), granted.len());
}
