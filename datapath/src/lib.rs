//! The functional core of the TrafficControl agent: pure functions from
//! inputs to decisions. Nothing here does I/O, reads a clock or draws a
//! random number, so the same input always gives the same output.
//!
//! Kubernetes side:
//! - [`api`]: the `crd.antrea.io/v1alpha2` TrafficControl types and the CRD
//!   they generate.
//! - [`manifest`]: multi-document YAML into JSON values, with line numbers.
//! - [`schema`]: a validator for the OpenAPI v3 subset CRDs use, run against
//!   the generated CRD so the schema and the checks never drift apart.
//! - [`validate`]: every problem of one TrafficControl, as errors and
//!   warnings that name the object, the field and the rule.
//! - [`guard_rails`]: what a TrafficControl port must never be (a piece of
//!   the node's own networking) and where a tunnel must never lead.
//! - [`cluster`]: the planner's view of Kubernetes (Pods, Namespaces).
//! - [`cni`]: which Pod a bridge port belongs to, by the keys each CNI
//!   (Antrea, OVN-Kubernetes, Kube-OVN, ovs-cni) writes in OVSDB.
//! - [`selector`]: Kubernetes label-selector semantics, indexed for speed.
//! - [`bitset`]: fixed-size index sets, the form of "which Pods".
//!
//! Planning:
//! - [`naming`]: port names derived from their parameters (Antrea-compatible).
//! - [`ports`]: the ports a TrafficControl needs, their OVS types and options,
//!   and the switch's port view.
//! - [`flows`]: the OpenFlow pipeline's typed model and its `ovs-ofctl` text.
//! - [`plan`]: the cluster (TrafficControls, Namespaces, Pods) and the
//!   switch's ports → the ports, the effective TrafficControl per Pod,
//!   conflicts and flows.
//! - [`pass`]: one reconcile pass: (cluster, observed switch) → the plan
//!   and every operation that realizes it, in DESIGN §2's order.
//! - [`status`]: a node's status entry and Events per TrafficControl.
//! - [`offline`]: manifests sorted by kind and a made-up switch, for
//!   planning without a cluster (`tcctl plan`, snapshots).
//!
//! Against the switch:
//! - [`port_diff`]: planned ports against the switch's → create, reconfigure,
//!   delete after flows, failures.
//! - [`flow_diff`]: planned flows against a switch dump → one bundle's flow_mods.
//! - [`openflow`]: the OpenFlow 1.5 subset OVS needs, sans-IO.
//! - [`ovsdb`]: the OVSDB subset the agent uses, sans-IO.
//! - [`encap`]: tunnel packets (VXLAN, GENEVE, GRE, ERSPAN II/III) decoded.

pub mod api;
pub mod bitset;
pub mod cluster;
pub mod cni;
pub mod encap;
pub mod flow_diff;
pub mod flows;
pub mod guard_rails;
pub mod manifest;
pub mod naming;
pub mod offline;
pub mod openflow;
pub mod ovsdb;
pub mod owned_tables;
pub mod pass;
pub mod plan;
pub mod port_diff;
pub mod ports;
pub mod schema;
pub mod selector;
pub mod status;
pub mod validate;
