//! The agent in shared mode beside a real OVN, as OVN-Kubernetes runs it:
//! ovn-northd and ovn-controller program `br-int` (a logical switch, the
//! Pods' logical ports `<namespace>_<pod>`, an ACL dropping TCP to port
//! 80), and the agent, a process against the dev API server, realizes the
//! seed's TrafficControls, applied verbatim with kubectl, with `Mirror`
//! rows only.
//!
//! Checked, each able to fail: OVN's forwarding and its ACL work before,
//! during and after; every copy arrives once per packet per direction, at
//! the internal port and at the tunnel collector; OVN's flows are the same
//! text throughout, across ovn-controller recomputes and an agent restart,
//! and the agent has no flow at all; ovn-controller leaves the agent's
//! rows and ports alone; deleting the TrafficControls removes exactly what
//! the agent made; Redirect is refused and makes nothing.
//!
//! (Beside a controller the test plays itself: `e2e_shared_bridge.rs`.)

mod world;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use world::{Copies, DiagnoseOnPanic, NODE, WAIT, World, wait_realized};

const REDIRECT: &str = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: redirect-db}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: db}}}\n  direction: Both\n  action: Redirect\n  targetPort: {ovsInternal: {name: tap5}}\n  returnPort: {ovsInternal: {name: tap6}}\n";

fn seed_file(name: &str) -> String {
    format!("{}/../fixtures/seed/{name}.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// Sleeps into the clock's next whole second (the API server's
/// creationTimestamp has seconds only): what is created after is younger
/// than what was created before.
fn sleep_into_the_next_second() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    std::thread::sleep(
        Duration::from_nanos(u64::from(1_000_000_000 - now.subsec_nanos())) + Duration::from_millis(10),
    );
}

#[test]
fn beside_a_real_ovn_each_seed_example_is_mirrored_with_mirror_rows_and_ovn_stays_as_it_was() {
    let world = World::start();
    let _diagnose = DiagnoseOnPanic(&world);
    let (web, client, db) = (&world.web, &world.client, &world.db);
    let mut agent = world.start_agent();
    assert_eq!(agent.status().bridge_mode.name(), "shared");
    world.assert_flows("the agent started");
    assert_eq!(world.rows(), world.rows, "the agent started: it changed nothing");

    // Each example alone, verbatim; ovn-controller recomputes beside each
    // one's port and mirror and removes neither.
    let examples: [(&str, &[&str], Copies<'_>); 3] = [
        ("redirect-prod-to-local", &["prod/db"], Copies { tap0: Some(vec![db]), ..Copies::default() }),
        ("mirror-web-app", &["default/web-1"], Copies { vxlan: vec![web], ..Copies::default() }),
        (
            "mirror-all-to-remote",
            &["default/client", "default/web-1", "prod/db"],
            Copies { geneve: vec![web, client, db], ..Copies::default() },
        ),
    ];
    for (name, pods, copies) in &examples {
        world.cluster.kubectl(&["apply", "-f", &seed_file(name)]);
        wait_realized(&world, &agent, &[(name, pods)], &format!("{name} realized"));
        world.assert_agent_objects(&agent.status(), name);
        world.assert_copies(copies, name);
        world.assert_flows(name);
        let (mirrors, ports) = (world.mirrors(), world.ports());
        world.ovn.recompute();
        assert_eq!(
            (world.mirrors(), world.ports()),
            (mirrors, ports),
            "{name}: after ovn-controller's recompute"
        );
        world.assert_flows(&format!("{name}, after ovn-controller's recompute"));
        if *name != "mirror-all-to-remote" {
            world.delete(&mut agent, &[name]);
            world.assert_flows(&format!("{name} deleted"));
        }
    }
    world.assert_policy("with a TrafficControl");

    // The agent stops; ovn-controller recomputes everything while nobody
    // would put the agent's rows back: it removes none of them.
    let (mirrors, ports) = (world.mirrors(), world.ports());
    drop(agent.stop());
    world.ovn.recompute();
    assert_eq!((world.mirrors(), world.ports()), (mirrors.clone(), ports), "recompute, the agent away");
    world.assert_flows("recompute, the agent away");
    // The agent comes back to the same rows, and the copies go on.
    let mut agent = world.start_agent();
    let all = ["default/client", "default/web-1", "prod/db"];
    wait_realized(&world, &agent, &[("mirror-all-to-remote", &all)], "the restarted agent in sync");
    assert_eq!(world.mirrors(), mirrors, "the restarted agent keeps its mirror row");
    let everyone = Copies { geneve: vec![web, client, db], ..Copies::default() };
    world.assert_copies(&everyone, "after the restart");
    world.assert_flows("after the restart");

    // Deleting it removes exactly what the agent made.
    world.delete(&mut agent, &["mirror-all-to-remote"]);
    world.assert_flows("after the deletion");
    world.assert_policy("after the TrafficControls");

    // Redirect needs the agent's own pipeline: refused, nothing made.
    world.cluster.apply(REDIRECT);
    agent.wait_for("redirect-db refused in kubectl", WAIT, |_| {
        world.cluster.condition("redirect-db", NODE, "Realized", "status") == "False"
    });
    let message = world.cluster.condition("redirect-db", NODE, "Realized", "message");
    assert!(
        message.contains("Redirect needs the agent's own OpenFlow pipeline")
            && message.contains("bridgeMode: owned"),
        "{message}"
    );
    assert_eq!(world.rows(), world.rows, "a refused Redirect makes no port and no mirror");
    world.assert_flows("Redirect refused");
    world.cluster.kubectl(&["delete", "tc", "redirect-db"]);
    world.cluster.assert_agent_requests_allowed_by_deploy_rbac();
}

/// The three applied together, each the oldest TrafficControl of one
/// Pod: three mirrors side by side on OVN's bridge. (The agent's OVSDB
/// replica once forgot its other mirrors when a second one came, and
/// filled the bridge with duplicate `tc-*` rows: this is the test that
/// found it.)
#[test]
fn the_seed_applied_together_gives_each_pod_one_mirror() {
    let world = World::start();
    let _diagnose = DiagnoseOnPanic(&world);
    let (web, client, db) = (&world.web, &world.client, &world.db);
    let mut agent = world.start_agent();
    // A second apart (creationTimestamp has seconds), so each is the
    // oldest TrafficControl of one Pod.
    for name in ["redirect-prod-to-local", "mirror-web-app", "mirror-all-to-remote"] {
        world.cluster.kubectl(&["apply", "-f", &seed_file(name)]);
        sleep_into_the_next_second();
    }
    let together: [(&str, &[&str]); 3] = [
        ("redirect-prod-to-local", &["prod/db"]),
        ("mirror-web-app", &["default/web-1"]),
        ("mirror-all-to-remote", &["default/client"]),
    ];
    wait_realized(&world, &agent, &together, "the three realized, one per Pod");
    world.assert_agent_objects(&agent.status(), "all three");
    let copies = Copies { tap0: Some(vec![db]), vxlan: vec![web], geneve: vec![client] };
    world.assert_copies(&copies, "all three");
    world.assert_flows("all three");
    world.delete(&mut agent, &["redirect-prod-to-local", "mirror-web-app", "mirror-all-to-remote"]);
    world.assert_flows("all three deleted");
}
