//! The demo: the seed's three TrafficControl examples, verbatim, on a real
//! (private) Open vSwitch, applied with the real kubectl to `tc-devcluster`
//! and realized by `tc-agent` as a process, with real packets counted
//! where they land. Each example gets a stage: apply it, send pings,
//! watch a live table (selected Pods, target port, packets at the target,
//! packets passed back through the return port), check the counts, move
//! on. The third example mirrors; a fourth stage edits it to Redirect
//! with an inline IPS between `tap0` and `tap1`, as the guide describes.
//! It ends with all three applied together, `kubectl get tc`, the flows,
//! and a teardown that also runs on Ctrl-C or a failure.
//!
//! [`run_beside_ovn`] is the same beside a real OVN that programs the
//! bridge, the agent in shared mode (`./demo.sh --beside-ovn`).

mod beside_ovn;
mod stage;

pub use beside_ovn::run_beside_ovn;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::agent::AgentProcess;
use crate::collector::Collector;
use crate::devcluster::{DevCluster, namespace_yaml};
use crate::ovs::Ovs;
use crate::pod::Pod;
use stage::{Stage, Target};

/// The node the demo's Pods run on.
const NODE: &str = "node-1";
/// How long the agent may take to realize a change.
const WAIT: Duration = Duration::from_secs(30);
/// Pings per pair of Pods in each stage.
const PINGS: u32 = 20;

/// Why the demo did not succeed.
#[derive(Debug)]
pub enum DemoError {
    /// Ctrl-C: everything was torn down.
    Interrupted,
    /// An example did not do what it should; each failed check.
    Failed(Vec<String>),
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Interrupted => f.write_str("interrupted; everything was torn down"),
            DemoError::Failed(checks) => {
                write!(f, "{} check(s) failed:\n  {}", checks.len(), checks.join("\n  "))
            }
        }
    }
}

/// Where the demo writes, and whether the user asked it to stop.
pub struct Console<'a> {
    out: &'a mut dyn Write,
    interrupted: &'a AtomicBool,
}

impl Console<'_> {
    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn check_interrupted(&self) -> Result<(), DemoError> {
        if self.interrupted.load(Ordering::SeqCst) { Err(DemoError::Interrupted) } else { Ok(()) }
    }

    /// Waits until `condition` holds (polling), or fails the check `what`.
    fn wait(&self, what: &str, mut condition: impl FnMut() -> bool) -> Result<Result<(), String>, DemoError> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            self.check_interrupted()?;
            if condition() {
                return Ok(Ok(()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Err(format!("timed out after {WAIT:?} waiting for {what}")))
    }
}

/// Runs the demo, writing to `out`; `interrupted` is set by a Ctrl-C
/// handler. Everything it started is stopped and removed when it returns.
///
/// # Errors
/// [`DemoError`] when interrupted or when an example did not do what it
/// should.
pub fn run(out: &mut dyn Write, interrupted: &AtomicBool) -> Result<(), DemoError> {
    let mut console = Console { out, interrupted };
    console.say("== starting: a private Open vSwitch (userspace datapath), Pods, a collector, the dev API server, tc-agent");
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let collector = Collector::attach(&ovs);
    let web = Pod::attach(&ovs, &bridge, "default", "web", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    let db = Pod::attach(&ovs, &bridge, "prod", "db", 3);
    let cluster = DevCluster::start();
    cluster.apply(&[namespace_yaml("default"), namespace_yaml("prod")].concat());
    for (pod, app) in [(&web, "web"), (&client, "client"), (&db, "db")] {
        cluster.create_pod(pod, NODE, &[("app", app)]);
        console.say(&format!(
            "   pod {}/{} app={app} ip {} on bridge port {}",
            pod.namespace, pod.name, pod.ip, pod.port
        ));
    }
    let mut agent = AgentProcess::start(&ovs, &bridge, &cluster.agent_kubeconfig, NODE);
    agent.wait_ready(WAIT);
    console.check_interrupted()?;
    console.say(&format!("   tc-agent ready (pid {}), kubectl -> {}", agent.pid(), cluster.address));

    let world =
        stage::World { ovs: &ovs, bridge: &bridge, cluster: &cluster, collector: &collector, shared: false };
    let traffic = [(&web, &client), (&client, &db)];
    let stages = stages();
    let mut failures = Vec::new();
    for stage in &stages {
        failures.extend(stage.run(&mut console, &world, &mut agent, &traffic, PINGS)?);
    }
    failures.extend(stage::all_together(&mut console, &world, &mut agent)?);
    console.say("== teardown: agent, dev API server, Pods, collector, Open vSwitch and their namespaces");
    drop(agent);
    if failures.is_empty() {
        console.say("== every example did what it should");
        Ok(())
    } else {
        Err(DemoError::Failed(failures))
    }
}

/// The seed's three examples, one stage each, then the third edited to
/// Redirect with an inline IPS.
fn stages() -> [stage::Stage; 4] {
    let pings = u64::from(PINGS);
    [
        Stage {
            title: "1/4 mirror-web-app: web's traffic, both directions, to a VXLAN collector",
            name: "mirror-web-app",
            manifest: seed("mirror-web-app"),
            target: Target::Collector,
            // web -> client: each request and each reply once; client <-> db: none.
            at_target: 2 * pings,
            passed_back: None,
            ips: false,
            delete_after: true,
        },
        Stage {
            title: "2/4 mirror-all-to-remote: every Pod's traffic to a GENEVE collector",
            name: "mirror-all-to-remote",
            manifest: seed("mirror-all-to-remote"),
            target: Target::Collector,
            // Both ends selected: still one copy per packet.
            at_target: 4 * pings,
            passed_back: None,
            ips: false,
            delete_after: true,
        },
        Stage {
            title: "3/4 redirect-prod-to-local (verbatim: action Mirror, with a returnPort): prod's traffic to tap0",
            name: "redirect-prod-to-local",
            manifest: seed("redirect-prod-to-local"),
            target: Target::Local("tap0"),
            at_target: 2 * pings,
            passed_back: None,
            ips: false,
            delete_after: false,
        },
        Stage {
            title: "4/4 redirect-prod-to-local edited to action: Redirect, an inline IPS forwarding tap0 -> tap1",
            name: "redirect-prod-to-local",
            manifest: seed("redirect-prod-to-local").replace("action: Mirror", "action: Redirect"),
            target: Target::Local("tap0"),
            at_target: 2 * pings,
            passed_back: Some(2 * pings),
            ips: true,
            delete_after: true,
        },
    ]
}

/// A seed example's manifest, verbatim.
fn seed(name: &str) -> String {
    let path = format!("{}/../fixtures/seed/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
