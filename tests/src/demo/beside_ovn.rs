//! The demo beside a real OVN, as a user of OVN-Kubernetes would run the
//! agent: ovn-northd and ovn-controller program `br-int` (a logical
//! switch, the Pods bound as OVN-Kubernetes binds them, an ACL dropping
//! TCP to port 80), and `tc-agent` in shared mode realizes the seed's
//! examples with `Mirror` rows only. The Redirect stage is refused, as it
//! must be on a bridge whose pipeline is the CNI's. It ends by showing
//! that OVN's flows are the ones it had before the agent came, that the
//! agent wrote none, and that the ACL still drops what it dropped.

use std::io::Write;
use std::sync::atomic::AtomicBool;

use super::stage::{self, World};
use super::{Console, DemoError, NODE, PINGS, WAIT, seed, stages};
use crate::agent::AgentProcess;
use crate::collector::Collector;
use crate::devcluster::{DevCluster, namespace_yaml};
use crate::ovn::Ovn;
use crate::ovs::Ovs;

/// The port OVN's ACL drops TCP to.
const DROPPED_PORT: u16 = 80;
/// OVN-Kubernetes names a node's logical switch after the node.
const SWITCH: &str = NODE;

/// Runs the demo beside OVN, writing to `out`; `interrupted` is set by a
/// Ctrl-C handler. Everything it started is stopped and removed when it
/// returns.
///
/// # Errors
/// [`DemoError`] when interrupted or when something did not do what it
/// should.
pub fn run_beside_ovn(out: &mut dyn Write, interrupted: &AtomicBool) -> Result<(), DemoError> {
    let mut console = Console { out, interrupted };
    console.say(
        "== starting: a private Open vSwitch (userspace datapath), a real OVN (NB and SB databases, ovn-northd, \
         ovn-controller) programming br-int, Pods bound as OVN-Kubernetes binds them, a collector, the dev API \
         server, tc-agent in shared mode",
    );
    let ovs = Ovs::start();
    let ovn = Ovn::start(&ovs);
    ovn.add_switch(SWITCH);
    let collector = Collector::attach(&ovs);
    let cluster = DevCluster::start();
    cluster.apply(&[namespace_yaml("default"), namespace_yaml("prod")].concat());
    // The Pod exists before its port, as a kubelet creates it: the CNI
    // writes the Pod's UID, the logical port asks for it.
    let bind = |namespace: &str, name: &str, index: u8, app: &str| {
        let uid = cluster.create_pod_named(namespace, name, NODE, &[("app", app)]);
        ovn.attach_pod(&ovs, SWITCH, namespace, name, index, &uid)
    };
    let web = bind("default", "web", 1, "web");
    let client = bind("default", "client", 2, "client");
    let db = bind("prod", "db", 3, "db");
    for pod in [&web, &client, &db] {
        console.say(&format!(
            "   pod {}/{} ip {} on br-int port {}, OVN logical port {}_{} (ovn-installed)",
            pod.namespace, pod.name, pod.ip, pod.port, pod.namespace, pod.name
        ));
    }
    let _listener = web.listen(DROPPED_PORT);
    let mut failures = Vec::new();
    // It answers before the ACL: the drop is the ACL's.
    failures.extend(
        console.wait("web's TCP listener", || client.connect(&web, DROPPED_PORT, 1) == Some(0))?.err(),
    );
    ovn.drop_tcp_to_port(SWITCH, DROPPED_PORT);
    console
        .say(&format!("$ ovn-nbctl acl-add {SWITCH} to-lport 1000 'tcp && tcp.dst == {DROPPED_PORT}' drop"));
    failures.extend(acl_drops(&mut console, &client, &web, "before the agent"));
    let (ovn_flows, _) = ovs.flows_by_owner(ovn.br_int());
    console.say(&format!("   ovn-controller has programmed {} flows on br-int", ovn_flows.len()));

    let mut agent =
        AgentProcess::start_in_mode(&ovs, ovn.br_int(), &cluster.agent_kubeconfig, NODE, "shared");
    agent.wait_ready(WAIT);
    console.check_interrupted()?;
    console.say(&format!(
        "   tc-agent ready (pid {}, bridgeMode: {}), kubectl -> {}",
        agent.pid(),
        agent.status().bridge_mode.name(),
        cluster.address
    ));

    let world =
        World { ovs: &ovs, bridge: ovn.br_int(), cluster: &cluster, collector: &collector, shared: true };
    let traffic = [(&web, &client), (&client, &db)];
    let [mirror_web, mirror_all, mut mirror_prod, _redirect] = stages();
    // The next stage edits it to Redirect, which is refused here: deleted
    // first, so what the refusal leaves is seen on a clean bridge.
    mirror_prod.delete_after = true;
    for stage in [mirror_web, mirror_all, mirror_prod] {
        failures.extend(stage.run(&mut console, &world, &mut agent, &traffic, PINGS)?);
    }
    failures.extend(stage::refused(
        &mut console,
        &world,
        "redirect-prod-to-local edited to action: Redirect: refused on a bridge whose pipeline is OVN's",
        "redirect-prod-to-local",
        &seed("redirect-prod-to-local").replace("action: Mirror", "action: Redirect"),
        "bridgeMode: owned",
    )?);
    failures.extend(stage::all_together(&mut console, &world, &mut agent)?);

    console.say("\n== OVN, after everything the agent did");
    let (now, agents) = ovs.flows_by_owner(ovn.br_int());
    console.say(&format!(
        "   OVN's flows on br-int: {} before the agent, {} now, {} changed; the agent's flows: {}",
        ovn_flows.len(),
        now.len(),
        ovn_flows.iter().filter(|f| !now.contains(f)).count()
            + now.iter().filter(|f| !ovn_flows.contains(f)).count(),
        agents.len()
    ));
    if now != ovn_flows {
        failures.push("OVN's flows on br-int changed while the agent ran".to_owned());
    }
    if !agents.is_empty() {
        failures.push(format!("the agent wrote {} flows on a shared bridge", agents.len()));
    }
    failures.extend(acl_drops(&mut console, &client, &web, "with the agent's mirrors"));
    console
        .say("== teardown: agent, dev API server, Pods, collector, OVN, Open vSwitch and their namespaces");
    drop(agent);
    if failures.is_empty() {
        console.say("== every example did what it should, and OVN's pipeline is as OVN made it");
        Ok(())
    } else {
        Err(DemoError::Failed(failures))
    }
}

/// Shows and checks that OVN's ACL drops TCP to `to`'s dropped port: the
/// connection times out (the SYN never reaches the listener).
fn acl_drops(
    console: &mut Console<'_>,
    from: &crate::pod::Pod,
    to: &crate::pod::Pod,
    when: &str,
) -> Option<String> {
    let code = from.connect(to, DROPPED_PORT, 2);
    let dropped = code == Some(124);
    console.say(&format!(
        "   {}: TCP {}/{} -> {}:{DROPPED_PORT} {} ({when})",
        if dropped { "ok" } else { "FAILED" },
        from.namespace,
        from.name,
        to.ip,
        if dropped { "dropped by OVN's ACL" } else { "not dropped" },
    ));
    (!dropped).then(|| format!("OVN's ACL did not drop TCP to port {DROPPED_PORT} {when} (exit {code:?})"))
}
