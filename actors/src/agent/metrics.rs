//! The agent's Prometheus metrics, served at `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// One label, e.g. `kind="ovsdb"`.
type Labels = Vec<(&'static str, String)>;

/// Everything `/metrics` reports.
pub struct Metrics {
    registry: Registry,
    /// TrafficControls by state: realized, failed, pending, invalid.
    pub traffic_controls: Family<Labels, Gauge>,
    /// TrafficControl ports on the bridge.
    pub ports: Gauge,
    /// Agent flows on the switch.
    pub flows: Gauge,
    /// Pods this node's TrafficControls control.
    pub selected_pods: Gauge,
    /// Ports with a Pod's keys that match no Pod (contradicting keys, a
    /// port of an earlier Pod, two ports for one interface).
    pub port_problems: Gauge,
    /// How long a reconcile pass took, in seconds.
    pub reconcile_duration: Histogram,
    /// How long each step of a pass took, in seconds, by `step`.
    pub pass_step_duration: Family<Labels, Histogram, fn() -> Histogram>,
    /// flow_mods sent.
    pub flow_mods: Counter,
    /// Failures by kind.
    pub errors: Family<Labels, Counter>,
    /// 1 for the bridge mode the agent runs in (`mode="shared"` or
    /// `mode="owned"`).
    pub bridge_mode: Family<Labels, Gauge>,
    /// Writes of this node's status entries (applied or withdrawn).
    pub status_writes: Counter,
    /// 1 for the nodes whose entries this node writes
    /// (`scope="all-nodes"` or `scope="problems-only"`).
    pub status_scope: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registered metrics, all zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tc_agent");
        let traffic_controls = Family::<Labels, Gauge>::default();
        let ports = Gauge::default();
        let flows = Gauge::default();
        let selected_pods = Gauge::default();
        let port_problems = Gauge::default();
        // 0.5 ms .. ~4 s: a pass is milliseconds; a reconnect is seconds.
        let reconcile_duration = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let pass_step_duration: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(step_histogram);
        let flow_mods = Counter::default();
        let errors = Family::<Labels, Counter>::default();
        let bridge_mode = Family::<Labels, Gauge>::default();
        let status_writes = Counter::default();
        let status_scope = Family::<Labels, Gauge>::default();
        registry.register("traffic_controls", "TrafficControls by state", traffic_controls.clone());
        registry.register("ports", "TrafficControl ports on the bridge", ports.clone());
        registry.register(
            "flows",
            "Agent flows in the last pass's plan (on the switch once the pass succeeded)",
            flows.clone(),
        );
        registry.register("selected_pods", "Pods controlled on this node", selected_pods.clone());
        registry.register(
            "port_problems",
            "Bridge ports with a Pod's keys that match no Pod (see /status)",
            port_problems.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time from the start of a reconcile pass to flows on the switch",
            reconcile_duration.clone(),
        );
        registry.register(
            "pass_step_duration_seconds",
            "Time of each step of a reconcile pass",
            pass_step_duration.clone(),
        );
        registry.register("flow_mods", "flow_mods sent to the switch", flow_mods.clone());
        registry.register("errors", "Failures by kind", errors.clone());
        registry.register(
            "bridge_mode",
            "The bridge mode the agent runs in (trafficControl.bridgeMode)",
            bridge_mode.clone(),
        );
        registry.register(
            "status_writes",
            "Writes of this node's TrafficControl status entries (at most one per TrafficControl per second)",
            status_writes.clone(),
        );
        registry.register(
            "status_scope",
            "Whose status entries are written: every node's, or only those with a problem (clusters over 1,000 nodes)",
            status_scope.clone(),
        );
        Metrics {
            registry,
            traffic_controls,
            ports,
            flows,
            selected_pods,
            port_problems,
            reconcile_duration,
            pass_step_duration,
            flow_mods,
            errors,
            bridge_mode,
            status_writes,
            status_scope,
        }
    }

    /// Records how long `step` of a pass took.
    pub fn pass_step(&self, step: &str, took: std::time::Duration) {
        self.pass_step_duration.get_or_create(&vec![("step", step.to_owned())]).observe(took.as_secs_f64());
    }

    /// Counts one failure of `kind`.
    pub fn error(&self, kind: &str) {
        self.errors.get_or_create(&vec![("kind", kind.to_owned())]).inc();
    }

    /// Sets the gauge of TrafficControls in `state`.
    pub fn set_traffic_controls(&self, state: &str, count: usize) {
        self.traffic_controls.get_or_create(&vec![("state", state.to_owned())]).set(gauge(count));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// 0.1 ms .. ~1.6 s: a step is a few round trips to the switch.
fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 14))
}

/// A count as a gauge value (saturating: counts never reach i64::MAX).
pub fn gauge(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
