//! Harness for end-to-end tests against real Open vSwitch (userspace
//! datapath) and network namespaces.
//!
//! Empty until the OVS issue; it builds so the workspace shape is the
//! design card's from the first commit.
