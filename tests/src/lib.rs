//! Harness for tests against real Open vSwitch tools and, from the OVS
//! issue on, a private ovsdb-server and ovs-vswitchd (userspace datapath)
//! with Pods in network namespaces.
//!
//! - [`ovs_tool`]: find an OVS command-line tool, or fail saying how to
//!   install it (these tests never skip silently).

use std::path::PathBuf;

/// The path of an OVS tool (`ovs-ofctl`, `ovs-vsctl`, ...).
///
/// # Panics
/// When the tool is not installed, with the command that installs it: a
/// test that needs OVS must fail, not skip, where OVS is missing.
pub fn ovs_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!("{name} is not installed: install Open vSwitch with `apt-get install -y openvswitch-switch` (CI's .ci/run does)")
    })
}
