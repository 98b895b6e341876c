//! The agent: actors exchanging typed messages (see [`messages`]).
//!
//! ```text
//!  PodWatcher ──PodsObserved/NamespacesObserved──┐
//!  CrdWatcher ──TrafficControlsObserved──────────┤
//!  PortManager ──SwitchPortsObserved─────────────┼─▶ Reconciler ──PublishStatus──▶ StatusWriter
//!  FlowManager ──SwitchConnected─────────────────┘     │  one pass: datapath::pass decides
//!        ▲                      ▲                      │  (cluster + observed switch → operations)
//!        │ DumpAgentFlows,      │ ReadSwitchPorts,     │
//!        │ ApplyOpenFlow-       │ ApplyPortOperations  │
//!        │ Operations{epoch}    │                      │
//!        └──────────────────────┴──────────────────────┘
//! ```
//!
//! Every decision is a call into `datapath` (one pass: [`crate::reconcile`]
//! runs `datapath::pass` and hands its operations out, run by run); the
//! actors hold state, do I/O and pass messages.

pub mod backoff;
pub mod connector;
pub mod crd_watcher;
pub mod flow_manager;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod owned_bridge;
pub mod pod_watcher;
pub mod port_manager;
pub mod publish_throttle;
pub mod reconciler;
pub mod runner;
pub mod state;
pub mod status_writer;
pub mod watch_cache;
