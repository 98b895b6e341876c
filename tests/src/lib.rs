//! Harness for tests against real Open vSwitch (userspace datapath) with
//! Pods in network namespaces. Everything it creates is removed when the
//! values are dropped, also when a test panics. Packets and underlay
//! addresses come from the `fixtures` crate, audit records and the RBAC
//! check from `devcluster`; nothing here needs the simulation.
//!
//! - [`agent`]: `tc-agent` as a process with its config, endpoints and log.
//! - [`kubelet`]: a DaemonSet's Pod template as the `podman run` that
//!   reproduces it; [`podman`]: a private podman store and its containers.
//! - [`devcluster`]: `tc-devcluster` as a process, and real kubectl against it.
//! - [`ovs`]: a private ovsdb-server + ovs-vswitchd, the switch inside its
//!   own node namespace; bridges, `ovs-vsctl`/`ovs-ofctl`, restarts.
//! - [`ovn`]: a real OVN control plane (NB/SB databases, northd,
//!   ovn-controller) programming `br-int` of such a switch, binding Pods
//!   as OVN-Kubernetes does.
//! - [`node`]: a switch with the agent's connections, reconciled in one
//!   call: the agent's own pass (`actors::reconcile`) without the actors.
//! - [`pod`]: Pods as namespaces with a veth on the bridge; the harness
//!   plays the CNI (writes the Pod port's external_ids); ping.
//! - [`ovs_text`]: our flow text and messages as OVS's offline tools
//!   (`parse-flows`, `ofp-parse`) read and print them.
//! - [`plans`]: plans from the fixtures, as `tcctl plan` makes them.
//! - [`random_inputs`]: random but valid planner inputs from a seed, for
//!   property tests.
//! - [`capture`]: tcpdump in a namespace, frames read back from pcap.
//! - [`collector`]: `br-phy` with the tunnel address and a collector
//!   namespace at 10.0.10.2.
//! - [`firewall`]: an inline nftables bridge filter for Redirect.
//! - [`vlan`]: access and trunk VLANs as ovs-cni sets them, probe frames,
//!   802.1Q tags of copies.
//! - [`demo`]: the seed's examples end to end, with a live table (`./demo.sh`).
//! - [`http`]: one plain HTTP request to a loopback server.
//! - [`netns`]: network namespaces that delete themselves.
//! - [`leftovers`]: what a killed test run left (daemons, namespaces,
//!   processes), swept by the next.
//! - [`proc_stats`]: a process's RSS and open descriptors, from `/proc`.
//! - [`cmd`]: running tools, waiting for conditions, unique names.
//! - [`ovs_tool`], [`tool`]: find a tool, or fail saying how to install
//!   it (these tests never skip silently).

pub mod agent;
pub mod capture;
pub mod cmd;
pub mod collector;
pub mod demo;
pub mod devcluster;
pub mod firewall;
pub mod http;
pub mod kubelet;
pub mod leftovers;
pub mod netns;
pub mod node;
pub mod ovn;
pub mod ovs;
pub mod ovs_text;
pub mod plans;
pub mod pod;
pub mod podman;
pub mod proc_stats;
pub mod random_inputs;
pub mod vlan;

use std::path::PathBuf;

/// The path of an OVS tool (`ovs-ofctl`, `ovs-vsctl`, ...).
///
/// # Panics
/// When the tool is not installed, with the command that installs it: a
/// test that needs OVS must fail, not skip, where OVS is missing.
pub fn ovs_tool(name: &str) -> PathBuf {
    tool(name, "install Open vSwitch with `apt-get install -y openvswitch-switch` (CI's .ci/run does)")
}

/// The path of `name` on `PATH` (or in `/usr/bin`, `/usr/sbin`).
///
/// # Panics
/// When it is not installed, saying `how_to_install`.
pub fn tool(name: &str, how_to_install: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| panic!("{name} is not installed: {how_to_install}"))
}

fn find_tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// For a bench or tool binary: exits with code 2 and one line per missing
/// tool saying how to install it, when any of `tools` (tool, how to
/// install it) is not installed; a panic's backtrace would say less.
pub fn require_tools(program: &str, tools: &[(&str, &str)]) {
    let missing: Vec<&(&str, &str)> = tools.iter().filter(|(tool, _)| find_tool(tool).is_none()).collect();
    for (tool, how) in &missing {
        eprintln!("{program}: {tool} is not installed: {how}");
    }
    if !missing.is_empty() {
        std::process::exit(2);
    }
}

/// The tools every real-switch bench needs: Open vSwitch and the Linux
/// tools the harness drives.
pub const SWITCH_TOOLS: [(&str, &str); 4] = [
    ("ovs-vswitchd", "apt-get install -y openvswitch-switch"),
    ("ip", "apt-get install -y iproute2"),
    ("ping", "apt-get install -y iputils-ping"),
    ("ethtool", "apt-get install -y ethtool"),
];

/// kubectl, for the benches that drive the dev API server.
pub const KUBECTL: (&str, &str) =
    ("kubectl", "install kubectl v1.32 (https://kubernetes.io/docs/tasks/tools/) into /usr/local/bin");
