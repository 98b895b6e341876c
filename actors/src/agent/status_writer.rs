//! `StatusWriter`: writes this node's entry of each TrafficControl's
//! `status.nodes` with server-side apply under a field manager of its own
//! (`tc-agent-<node>`), so nodes never overwrite each other, and records an
//! Event when a condition changes. Only what changed is written: a steady
//! state costs the API server nothing.
//!
//! Writes are coalesced: while one round is in flight only the newest
//! plan waits; a failed round is retried with backoff.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use datapath::api::{NodeStatus, TrafficControl};
use datapath::status::{self, EventSpec};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde_json::json;

use super::backoff::Backoff;
use super::messages::PublishStatus;
use super::state::AgentState;

/// Where Events about cluster-scoped objects go, as kubectl looks for them.
const EVENT_NAMESPACE: &str = "default";
/// The component name on Events.
const COMPONENT: &str = "tc-agent";

/// The status writer.
pub struct StatusWriter {
    /// TrafficControls, for their status.
    traffic_controls: Api<DynamicObject>,
    /// Events, where kubectl looks for them.
    events: Api<Event>,
    node: String,
    state: std::sync::Arc<AgentState>,
    /// What the API server holds from us, per TrafficControl.
    written: BTreeMap<String, NodeStatus>,
    pending: Option<PublishStatus>,
    writing: bool,
    retry: Backoff,
}

impl StatusWriter {
    /// A writer for `state.node`.
    pub fn new(client: Client, state: std::sync::Arc<AgentState>) -> Self {
        StatusWriter {
            traffic_controls: Api::all_with(client.clone(), &ApiResource::erase::<TrafficControl>(&())),
            events: Api::namespaced(client, EVENT_NAMESPACE),
            node: state.node.clone(),
            state,
            written: BTreeMap::new(),
            pending: None,
            writing: false,
            retry: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }

    fn write_next(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            return;
        }
        let Some(publish) = self.pending.take() else { return };
        let PublishStatus(realized) = &publish;
        let now = (self.state.clock)().to_string();
        let mut current = status::node_statuses(&self.node, &realized.plan, &self.written, &now);
        let invalid = &realized.traffic_controls.invalid;
        current.extend(status::invalid_statuses(&self.node, invalid, &self.written, &now));
        let events = status::events(&self.written, &current);
        let changed: Vec<(String, NodeStatus)> = current
            .iter()
            .filter(|(name, s)| self.written.get(*name) != Some(s))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        if changed.is_empty() && events.is_empty() {
            return;
        }
        self.writing = true;
        let (traffic_controls, event_api) = (self.traffic_controls.clone(), self.events.clone());
        let node = self.node.clone();
        let uids = realized.traffic_controls.uids.clone();
        let work = async move {
            let mut results = Vec::new();
            for (name, entry) in changed {
                let result = apply_status(&traffic_controls, &node, &name, &entry).await;
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
            let mut failed = false;
            for (name, entry, result) in results {
                match result {
                    Ok(()) => {
                        actor.written.insert(name, entry);
                    }
                    // Deleted meanwhile: nothing to report on.
                    Err(kube::Error::Api(status)) if status.code == 404 => {
                        actor.written.remove(&name);
                    }
                    Err(error) => {
                        failed = true;
                        actor.state.metrics.error("status_write");
                        tracing::warn!(%error, traffic_control = %name, "cannot write status");
                    }
                }
            }
            // Forget TrafficControls that are gone, so a new one of the same
            // name starts fresh.
            actor.written.retain(|name, _| current.contains_key(name));
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
}

impl Actor for StatusWriter {
    type Context = Context<Self>;
}

impl Handler<PublishStatus> for StatusWriter {
    type Result = ();

    #[tracing::instrument(level = "debug", name = "publish_status", skip_all)]
    fn handle(&mut self, publish: PublishStatus, ctx: &mut Self::Context) {
        self.pending = Some(publish);
        self.write_next(ctx);
    }
}

/// The field manager of `node`'s agent: one per node, so server-side apply
/// merges the `status.nodes` entries by node.
pub fn field_manager(node: &str) -> String {
    format!("{COMPONENT}-{node}")
}

async fn apply_status(
    api: &Api<DynamicObject>,
    node: &str,
    name: &str,
    entry: &NodeStatus,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": TrafficControl::api_version(&()),
        "kind": TrafficControl::kind(&()),
        "metadata": {"name": name},
        "status": {"nodes": [entry]},
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
