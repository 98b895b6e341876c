//! `StatusWriter`: writes this node's entry of each TrafficControl's
//! `status.nodes` with server-side apply under a field manager of its own
//! (`tc-agent-<node>`), so nodes never overwrite each other, and records an
//! Event when a condition changes. Only what changed is written: a steady
//! state costs the API server nothing.
//!
//! What a node writes depends on the cluster's size ([`ReportScope`]): it
//! counts the Nodes at start and every few minutes, and writes nothing
//! until it knows. Writes are coalesced (while one round is in flight only
//! the newest plan waits) and rate limited: at most one write per
//! TrafficControl per [`MIN_WRITE_INTERVAL`]. A failed round is retried
//! with backoff; an entry the API server refuses for its size is not. A
//! restarted agent starts from the entries the API server holds, so a
//! DaemonSet rollout rewrites nothing that did not change.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use datapath::api::{NodeStatus, TrafficControl};
use datapath::status::{self, EntryWrite, EventSpec, ReportScope};
use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde_json::json;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::messages::PublishStatus;
use super::publish_throttle::{PublishThrottle, publish_soon};
use super::state::AgentState;

/// Where Events about cluster-scoped objects go, as kubectl looks for them.
const EVENT_NAMESPACE: &str = "default";
/// The component name on Events.
const COMPONENT: &str = "tc-agent";
/// The write budget: one write per TrafficControl per node per interval,
/// however fast its Pods churn (docs/scale.md has the arithmetic).
pub const MIN_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest time between two rounds of working out the statuses.
const STATUS_ROUNDS_EVERY: Duration = Duration::from_millis(250);
/// How often the Nodes are counted again.
const NODE_COUNT_EVERY: Duration = Duration::from_secs(300);
/// How soon a failed count is tried again.
const NODE_COUNT_RETRY: Duration = Duration::from_secs(30);

/// The status writer.
pub struct StatusWriter {
    /// TrafficControls, for their status.
    traffic_controls: Api<DynamicObject>,
    /// Events, where kubectl looks for them.
    events: Api<Event>,
    /// Nodes, counted for the scope.
    nodes: Api<Node>,
    node: String,
    state: std::sync::Arc<AgentState>,
    /// Whose entries are written; unknown until the Nodes are counted.
    scope: Option<ReportScope>,
    /// This node's last status of every TrafficControl, written or not:
    /// transition times and Events come from it.
    reported: BTreeMap<String, NodeStatus>,
    /// What the API server holds from us, per TrafficControl (or refused
    /// for its size: not retried until it changes).
    written: BTreeMap<String, NodeStatus>,
    /// When each TrafficControl's entry was last written.
    last_write: BTreeMap<String, Instant>,
    pending: Option<PublishStatus>,
    writing: bool,
    /// A deferred round is scheduled.
    wake_armed: bool,
    /// When the newest plan's statuses are worked out: every entry is
    /// compared on each round, so a burst of passes must not make a round
    /// each (with 10,000 TrafficControls a round is tens of milliseconds).
    computing: PublishThrottle,
    retry: Backoff,
}

impl StatusWriter {
    /// A writer for `state.node`.
    pub fn new(client: Client, state: std::sync::Arc<AgentState>) -> Self {
        StatusWriter {
            traffic_controls: Api::all_with(client.clone(), &ApiResource::erase::<TrafficControl>(&())),
            events: Api::namespaced(client.clone(), EVENT_NAMESPACE),
            nodes: Api::all(client),
            node: state.node.clone(),
            state,
            scope: None,
            reported: BTreeMap::new(),
            written: BTreeMap::new(),
            last_write: BTreeMap::new(),
            pending: None,
            writing: false,
            wake_armed: false,
            computing: PublishThrottle::every(STATUS_ROUNDS_EVERY),
            retry: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }

    fn count_nodes(&mut self, ctx: &mut Context<Self>) {
        let nodes = self.nodes.clone();
        ctx.spawn(count_nodes(nodes).into_actor(self).map(|counted, actor, ctx| {
            let (scope, again) = match counted {
                Ok(count) => (ReportScope::for_cluster(count), NODE_COUNT_EVERY),
                Err(error) => {
                    actor.state.metrics.error("node_count");
                    // Unknown size: the scope that cannot outgrow an object.
                    tracing::warn!(%error, "cannot count the Nodes (the agent needs `list` on nodes); writing status for problems only");
                    (ReportScope::ProblemsOnly, NODE_COUNT_RETRY)
                }
            };
            actor.set_scope(scope);
            ctx.run_later(again, |actor, ctx| actor.count_nodes(ctx));
            actor.write_next(ctx);
        }));
    }

    fn set_scope(&mut self, scope: ReportScope) {
        if self.scope == Some(scope) {
            return;
        }
        tracing::info!(%scope, "status entries: {scope}");
        let metrics = &self.state.metrics;
        for each in [ReportScope::AllNodes, ReportScope::ProblemsOnly] {
            metrics
                .status_scope
                .get_or_create(&vec![("scope", each.to_string())])
                .set(i64::from(each == scope));
        }
        self.scope = Some(scope);
        // Entries to withdraw or add under the new scope.
        if self.pending.is_none()
            && let Some(realized) = self.state.realized()
        {
            self.pending = Some(PublishStatus(realized));
        }
    }

    fn write_next(&mut self, ctx: &mut Context<Self>) {
        let Some(scope) = self.scope else { return };
        if self.writing {
            return;
        }
        let Some(publish) = self.pending.take() else { return };
        let PublishStatus(realized) = &publish;
        // A TrafficControl seen for the first time (at start, or after a
        // restart) starts from the entry the API server holds: unchanged,
        // it is not written again and its Events are not recorded again.
        for (name, entry) in realized.traffic_controls.this_node.iter() {
            if !self.reported.contains_key(name) {
                self.reported.insert(name.clone(), entry.clone());
                self.written.entry(name.clone()).or_insert_with(|| entry.clone());
            }
        }
        let now = (self.state.clock)().to_string();
        let mut current = status::node_statuses(&self.node, &realized.plan, &self.reported, &now);
        let invalid = &realized.traffic_controls.invalid;
        current.extend(status::invalid_statuses(&self.node, invalid, &self.reported, &now));
        let events = status::events(&self.reported, &current);
        let events = status::events_in_scope(events, &self.reported, &current, scope);
        self.written.retain(|name, _| current.contains_key(name));
        self.last_write.retain(|name, _| current.contains_key(name));
        let writes = status::entry_writes(&current, &self.written, scope);
        self.reported = current;

        let started = Instant::now();
        let (due, deferred): (Vec<EntryWrite>, Vec<EntryWrite>) =
            writes.into_iter().partition(|(name, _)| {
                self.last_write.get(name).is_none_or(|at| started.duration_since(*at) >= MIN_WRITE_INTERVAL)
            });
        if let Some(wait) = deferred
            .iter()
            .filter_map(|(name, _)| self.last_write.get(name))
            .map(|at| MIN_WRITE_INTERVAL.saturating_sub(started.duration_since(*at)))
            .min()
        {
            self.pending.get_or_insert(publish.clone());
            if !self.wake_armed {
                self.wake_armed = true;
                ctx.run_later(wait, |actor, ctx| {
                    actor.wake_armed = false;
                    actor.write_next(ctx);
                });
            }
        }
        if due.is_empty() && events.is_empty() {
            return;
        }
        for (name, _) in &due {
            self.last_write.insert(name.clone(), started);
        }
        self.writing = true;
        let (traffic_controls, event_api) = (self.traffic_controls.clone(), self.events.clone());
        let node = self.node.clone();
        let uids = realized.traffic_controls.uids.clone();
        let work = async move {
            let mut results = Vec::new();
            for (name, entry) in due {
                let result = apply_entry(&traffic_controls, &node, &name, entry.as_ref()).await;
                results.push((name, entry, result));
            }
            for event in &events {
                if let Err(error) =
                    record_event(&event_api, &node, event, uids.get(&event.traffic_control), &now).await
                {
                    tracing::warn!(%error, traffic_control = %event.traffic_control, "cannot record an Event");
                }
            }
            results
        };
        ctx.spawn(work.into_actor(self).map(move |results, actor, ctx| {
            actor.writing = false;
            let failed = actor.settle(results);
            if failed && actor.pending.is_none() {
                actor.pending = Some(publish);
                let delay = actor.retry.next_delay();
                ctx.run_later(delay, |actor, ctx| actor.write_next(ctx));
            } else {
                if !failed {
                    actor.retry.reset();
                }
                actor.write_next(ctx);
            }
        }));
    }

    /// Records what the API server now holds; whether a write failed in a
    /// way worth retrying.
    fn settle(&mut self, results: Vec<(String, Option<NodeStatus>, Result<(), kube::Error>)>) -> bool {
        let mut failed = false;
        for (name, entry, result) in results {
            if result.is_ok() {
                self.state.metrics.status_writes.inc();
            }
            match (result, entry) {
                (Ok(()), Some(entry)) => {
                    self.written.insert(name, entry);
                }
                (Ok(()), None) => {
                    self.written.remove(&name);
                }
                // Deleted meanwhile: nothing to report on.
                (Err(kube::Error::Api(status)), _) if status.code == 404 => {
                    self.written.remove(&name);
                }
                // The object is full: retrying the same entry cannot help
                // and would load the API server; the next change tries.
                (Err(kube::Error::Api(status)), entry) if is_too_large(&status) => {
                    self.state.metrics.error("status_too_large");
                    tracing::warn!(traffic_control = %name, message = %status.message, "the API server refused this node's status entry for its size");
                    if let Some(entry) = entry {
                        self.written.insert(name, entry);
                    }
                }
                (Err(error), _) => {
                    failed = true;
                    self.state.metrics.error("status_write");
                    tracing::warn!(%error, traffic_control = %name, "cannot write status");
                }
            }
        }
        failed
    }
}

impl Actor for StatusWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.count_nodes(ctx);
    }
}

impl Handler<PublishStatus> for StatusWriter {
    type Result = ();

    #[tracing::instrument(level = "debug", name = "publish_status", skip_all)]
    fn handle(&mut self, publish: PublishStatus, ctx: &mut Self::Context) {
        self.pending = Some(publish);
        publish_soon(self, ctx, |actor| &mut actor.computing, Self::write_next);
    }
}

/// How many Nodes the cluster has, from a one-item list: the API server
/// counts the rest (`remainingItemCount`), so this costs one small
/// request whatever the cluster's size.
async fn count_nodes(nodes: Api<Node>) -> Result<usize, kube::Error> {
    let page = nodes.list_metadata(&ListParams::default().limit(1)).await?;
    let rest = page.metadata.remaining_item_count.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    Ok(page.items.len() + rest)
}

/// etcd's "request is too large" (500) or the API server's 413.
fn is_too_large(status: &kube::core::Status) -> bool {
    status.code == 413 || (status.code == 500 && status.message.contains("too large"))
}

/// The field manager of `node`'s agent: one per node, so server-side apply
/// merges the `status.nodes` entries by node.
pub fn field_manager(node: &str) -> String {
    format!("{COMPONENT}-{node}")
}

/// Applies this node's entry, or withdraws it (`None`): an apply without
/// the entry drops what this node's manager applied before.
async fn apply_entry(
    api: &Api<DynamicObject>,
    node: &str,
    name: &str,
    entry: Option<&NodeStatus>,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": TrafficControl::api_version(&()),
        "kind": TrafficControl::kind(&()),
        "metadata": {"name": name},
        "status": {"nodes": entry.into_iter().collect::<Vec<_>>()},
    });
    let params = PatchParams::apply(&field_manager(node)).force();
    api.patch_status(name, &params, &Patch::Apply(&patch)).await.map(|_| ())
}

/// Event names must be unique; the API server would refuse a repeat.
fn event_name(traffic_control: &str, time: Option<Timestamp>) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = time.map_or(0, |t| t.as_nanosecond());
    format!("{traffic_control}.{nanos:x}{:x}", SEQUENCE.fetch_add(1, Ordering::Relaxed))
}

async fn record_event(
    api: &Api<Event>,
    node: &str,
    spec: &EventSpec,
    uid: Option<&String>,
    now: &str,
) -> Result<(), kube::Error> {
    let parsed = now.parse::<Timestamp>().ok();
    let time = parsed.map(Time);
    let event = Event {
        metadata: ObjectMeta {
            name: Some(event_name(&spec.traffic_control, parsed)),
            namespace: Some(EVENT_NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(TrafficControl::api_version(&()).into_owned()),
            kind: Some(TrafficControl::kind(&()).into_owned()),
            name: Some(spec.traffic_control.clone()),
            uid: uid.cloned(),
            ..ObjectReference::default()
        },
        reason: Some(spec.reason.clone()),
        message: Some(spec.message.clone()),
        type_: Some(spec.kind.to_owned()),
        source: Some(EventSource { component: Some(COMPONENT.to_owned()), host: Some(node.to_owned()) }),
        reporting_component: Some(COMPONENT.to_owned()),
        reporting_instance: Some(node.to_owned()),
        first_timestamp: time.clone(),
        last_timestamp: time,
        count: Some(1),
        ..Event::default()
    };
    api.create(&PostParams::default(), &event).await.map(|_| ())
}
