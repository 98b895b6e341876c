//! One step of a scenario, and how the world plays it.

use std::fmt;
use std::time::Duration;

use devcluster::apiserver::resources::{PODS, TRAFFIC_CONTROLS};

use crate::world::cluster::{API_HOST, World, WorldError};

use super::CONVERGE_TIMEOUT;

/// A fault, by node index (0 is `node-1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The agent crashes and starts again (a new process, no memory).
    BounceAgent(usize),
    /// The OVS host drops every OVSDB and OpenFlow connection.
    BounceOvs(usize),
    /// ovs-vswitchd restarts: flows and port config lost, OVSDB and the
    /// ofports kept.
    RestartVswitchd(usize),
    /// ovs-vswitchd restarts and every port gets another ofport.
    RestartVswitchdRenumbered(usize),
    /// The API server restarts and forgets its watch history (410, relist).
    RestartApiServer,
    /// The node loses the API server (TCP holds its segments).
    Partition(usize),
    /// The partition heals.
    Heal(usize),
}

/// What a scenario does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `kubectl apply` of a manifest (`what` names it in logs).
    Apply {
        /// A short description.
        what: String,
        /// The manifest (YAML or JSON).
        manifest: String,
    },
    /// `kubectl delete` of a Pod.
    DeletePod {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// `kubectl delete` of a TrafficControl.
    DeleteTrafficControl {
        /// Its name.
        name: String,
    },
    /// `kubectl delete tc --all`: whatever TrafficControls exist then.
    DeleteEveryTrafficControl,
    /// A fault.
    Fault(Fault),
    /// Time passes.
    Wait(Duration),
    /// The switches must reach the plan of the cluster now.
    Converge,
}

impl Step {
    /// Plays the step.
    ///
    /// # Errors
    /// [`WorldError`] when the world refuses it or, for
    /// [`Step::Converge`], does not converge or broke a safety rule.
    pub fn play(&self, world: &mut World) -> Result<(), WorldError> {
        match self {
            Step::Apply { manifest, .. } => world.apply(manifest),
            Step::DeletePod { namespace, name } => world.delete(&PODS, Some(namespace), name),
            Step::DeleteTrafficControl { name } => world.delete(&TRAFFIC_CONTROLS, None, name),
            Step::DeleteEveryTrafficControl => {
                for name in world.traffic_control_names() {
                    world.delete(&TRAFFIC_CONTROLS, None, &name)?;
                }
                Ok(())
            }
            Step::Fault(fault) => {
                inject(world, fault);
                Ok(())
            }
            Step::Wait(duration) => world.run_for(*duration),
            Step::Converge => world.converge(CONVERGE_TIMEOUT).map(|_| ()),
        }
    }
}

fn inject(world: &mut World, fault: &Fault) {
    let node_host = |world: &World, node: usize| world.nodes.get(node).map(|n| n.name.clone());
    match fault {
        Fault::BounceAgent(node) => {
            if let Some(host) = node_host(world, *node) {
                world.sim.bounce(host);
            }
        }
        Fault::BounceOvs(node) => {
            if let Some(host) = world.nodes.get(*node).map(|n| n.ovs_host.clone()) {
                world.sim.bounce(host);
            }
        }
        Fault::RestartVswitchd(node) => {
            if let Some(node) = world.nodes.get(*node) {
                node.ovs.restart_vswitchd();
            }
        }
        Fault::RestartVswitchdRenumbered(node) => {
            if let Some(node) = world.nodes.get(*node) {
                node.ovs.restart_vswitchd_renumbered();
            }
        }
        Fault::RestartApiServer => {
            world.sim.bounce(API_HOST);
            world.api.forget_history();
        }
        Fault::Partition(node) => {
            if let Some(host) = node_host(world, *node) {
                world.sim.hold(host, API_HOST);
            }
        }
        Fault::Heal(node) => {
            if let Some(host) = node_host(world, *node) {
                world.sim.release(host, API_HOST);
            }
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::BounceAgent(node) => write!(f, "bounce the agent on node-{}", node + 1),
            Fault::BounceOvs(node) => write!(f, "drop every OVS connection of ovs-{}", node + 1),
            Fault::RestartVswitchd(node) => write!(f, "restart ovs-vswitchd on ovs-{}", node + 1),
            Fault::RestartVswitchdRenumbered(node) => {
                write!(f, "restart ovs-vswitchd on ovs-{}, every port renumbered", node + 1)
            }
            Fault::RestartApiServer => f.write_str("restart the API server, forgetting its history"),
            Fault::Partition(node) => write!(f, "partition node-{} from the API server", node + 1),
            Fault::Heal(node) => write!(f, "heal node-{}'s partition", node + 1),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Apply { what, .. } => write!(f, "apply {what}"),
            Step::DeletePod { namespace, name } => write!(f, "delete pod {namespace}/{name}"),
            Step::DeleteTrafficControl { name } => write!(f, "delete tc/{name}"),
            Step::DeleteEveryTrafficControl => f.write_str("delete every tc"),
            Step::Fault(fault) => write!(f, "fault: {fault}"),
            Step::Wait(duration) => write!(f, "wait {duration:?}"),
            Step::Converge => f.write_str("converge"),
        }
    }
}
