//! `CrdWatcher`: watches TrafficControls as raw objects and validates each
//! with `datapath::validate`, so one the API server let through but our
//! rules refuse (say, a Redirect without a return port) is reported and
//! skipped without blocking the others; typed decoding would fail the
//! whole watch on it.
//!
//! The whole set goes to the reconciler as [`PublishThrottle`] says, not
//! once per event.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use datapath::api::{NodeStatus, TrafficControl};
use datapath::validate::Validator;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use super::backoff::WatchBackoff;
use super::messages::TrafficControlsObserved;
use super::publish_throttle::{PublishThrottle, publish_soon};
use super::watch_cache::WatchCache;

/// A TrafficControl as the agent takes it.
#[derive(Clone, Debug)]
enum Verdict {
    Valid(Box<TrafficControl>),
    Invalid(String),
}

/// The verdict, the uid Events refer to, and this node's status entry.
#[derive(Clone, Debug)]
struct Judged {
    uid: String,
    verdict: Verdict,
    this_node: Option<NodeStatus>,
}

impl PartialEq for Verdict {
    /// Equal when planning would not tell them apart: the spec and the
    /// creation time (precedence). Status and resourceVersion changes, our
    /// own status writes among them, are not news.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Verdict::Valid(a), Verdict::Valid(b)) => {
                a.spec == b.spec && a.metadata.creation_timestamp == b.metadata.creation_timestamp
            }
            (Verdict::Invalid(a), Verdict::Invalid(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for Judged {
    /// The status entry is not news: it is what this node wrote.
    fn eq(&self, other: &Self) -> bool {
        self.uid == other.uid && self.verdict == other.verdict
    }
}

/// The TrafficControl watcher.
pub struct CrdWatcher {
    client: Client,
    node: String,
    validator: Validator,
    traffic_controls: WatchCache<Judged>,
    on_change: Recipient<TrafficControlsObserved>,
    backoff: WatchBackoff,
    publishing: PublishThrottle,
}

impl CrdWatcher {
    /// `node`'s watcher, reporting to `on_change`.
    pub fn new(client: Client, node: &str, on_change: Recipient<TrafficControlsObserved>) -> Self {
        CrdWatcher {
            client,
            node: node.to_owned(),
            validator: Validator::new(),
            traffic_controls: WatchCache::default(),
            on_change,
            backoff: WatchBackoff::new(&format!("{node}/trafficcontrols")),
            publishing: PublishThrottle::default(),
        }
    }

    fn publish(&mut self, _: &mut Context<Self>) {
        let mut valid = Vec::new();
        let mut invalid = BTreeMap::new();
        let mut uids = BTreeMap::new();
        let mut this_node = BTreeMap::new();
        for (name, Judged { uid, verdict, this_node: entry }) in self.traffic_controls.iter() {
            uids.insert(name.clone(), uid.clone());
            if let Some(entry) = entry {
                this_node.insert(name.clone(), entry.clone());
            }
            match verdict {
                Verdict::Valid(tc) => valid.push((**tc).clone()),
                Verdict::Invalid(why) => {
                    invalid.insert(name.clone(), why.clone());
                }
            }
        }
        tracing::debug!(valid = valid.len(), invalid = invalid.len(), "TrafficControls changed");
        self.on_change.do_send(TrafficControlsObserved {
            valid: valid.into(),
            invalid: Arc::new(invalid),
            uids: Arc::new(uids),
            this_node: Arc::new(this_node),
        });
    }
}

impl Actor for CrdWatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let resource = ApiResource::erase::<TrafficControl>(&());
        let api = Api::<DynamicObject>::all_with(self.client.clone(), &resource);
        ctx.add_stream(watcher::watcher(api, watcher::Config::default()).backoff(self.backoff.clone()));
    }
}

/// `node`'s entry in the object's `status.nodes`, if it has a readable one.
fn node_entry(object: &DynamicObject, node: &str) -> Option<NodeStatus> {
    let entries = object.data.get("status")?.get("nodes")?.as_array()?;
    let entry = entries.iter().find(|e| e.get("node").and_then(serde_json::Value::as_str) == Some(node))?;
    serde_json::from_value(entry.clone()).ok()
}

/// The verdict on one object.
fn judge(validator: &Validator, object: &DynamicObject) -> Verdict {
    let value = match serde_json::to_value(object) {
        Ok(value) => value,
        Err(error) => return Verdict::Invalid(error.to_string()),
    };
    let report = validator.validate(&value);
    match report.traffic_control {
        Some(tc) if report.is_valid() => Verdict::Valid(Box::new(tc)),
        _ => Verdict::Invalid(report.error_summary()),
    }
}

impl StreamHandler<Result<Event<DynamicObject>, watcher::Error>> for CrdWatcher {
    fn handle(&mut self, event: Result<Event<DynamicObject>, watcher::Error>, ctx: &mut Self::Context) {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, "TrafficControl watch failed; retrying with backoff");
                return;
            }
        };
        let validator = self.validator.clone();
        let node = self.node.clone();
        let key = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
        let view = |o: &DynamicObject| {
            let verdict = judge(&validator, o);
            if let Verdict::Invalid(why) = &verdict {
                tracing::warn!(traffic_control = %key(o), %why, "refusing an invalid TrafficControl");
            }
            Some(Judged {
                uid: o.metadata.uid.clone().unwrap_or_default(),
                verdict,
                this_node: node_entry(o, &node),
            })
        };
        if self.traffic_controls.apply(event, key, view) {
            publish_soon(self, ctx, |watcher| &mut watcher.publishing, Self::publish);
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}
