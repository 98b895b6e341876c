//! The agent: actors exchanging typed messages (see [`messages`]).
//!
//! ```text
//!  PodWatcher ──PodsObserved/NamespacesObserved──┐
//!  CrdWatcher ──TrafficControlsObserved──────────┤
//!  PortManager ──SwitchPortsObserved─────────────┼─▶ Reconciler ──PublishStatus──▶ StatusWriter
//!  FlowManager ──SwitchConnected─────────────────┘     │  (plans with datapath)
//!        ▲                    ▲                         │
//!        │ InstallFlows       │ ReadSwitchPorts, RealizePorts, DeletePorts
//!        └────────────────────┴─────────────────────────┘
//! ```
//!
//! Every decision is a call into `datapath`; the actors hold state, do
//! I/O and pass messages.

pub mod backoff;
pub mod connector;
pub mod crd_watcher;
pub mod flow_manager;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod pod_watcher;
pub mod port_manager;
pub mod reconciler;
pub mod runner;
pub mod state;
pub mod status_writer;
pub mod watch_cache;
