//! A watch as data: what it selects, where it is in the history and how
//! it prints, and the step that turns the store's new changes into the
//! newline-delimited JSON events the stream carries. The HTTP layer only
//! waits for a change and writes what [`WatchPlan::poll`] returns.

use datapath::selector::Selector;
use serde_json::{Value, json};

use super::clock::Timestamp;
use super::cluster::Cluster;
use super::resources::ResourceType;
use super::selectors::FieldSelector;
use super::status::ApiError;
use super::table::{IncludeObject, column_definitions, row};

/// How events carry objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The objects themselves.
    Object,
    /// One-row Tables, as `kubectl get -w` asks.
    Table(IncludeObject),
}

/// One open watch.
#[derive(Clone, Debug)]
pub struct WatchPlan {
    /// The resource watched.
    pub resource: &'static ResourceType,
    /// The namespace, or all.
    pub namespace: Option<String>,
    /// The label selector.
    pub labels: Selector,
    /// The field selector.
    pub fields: FieldSelector,
    /// The last resourceVersion the client has seen.
    pub since: u64,
    /// Whether the current objects go first, as ADDED (a watch without a
    /// resourceVersion, or with `0`, or with `sendInitialEvents`).
    pub send_initial: bool,
    /// Whether a BOOKMARK annotated `k8s.io/initial-events-end` follows the
    /// initial objects (`sendInitialEvents=true`).
    pub mark_initial_end: bool,
    /// How objects are printed.
    pub format: Format,
    /// Whether the client accepts BOOKMARK events.
    pub bookmarks: bool,
    /// When the server ends the watch (`timeoutSeconds`).
    pub timeout_seconds: Option<u64>,
}

/// What one step of a watch sends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// The events, in order.
    pub events: Vec<Value>,
    /// Whether the stream ends after them (a `410 Gone` ERROR event).
    pub end: bool,
}

impl WatchPlan {
    /// The events since the last step, and where the watch is now.
    pub fn poll(&mut self, cluster: &Cluster, now: Timestamp) -> Batch {
        let namespace = self.namespace.as_deref();
        let mut batch = Batch::default();
        if self.send_initial {
            self.send_initial = false;
            let (objects, revision) = cluster.list(self.resource, namespace, &self.labels, &self.fields);
            batch.events.extend(objects.iter().map(|o| self.event("ADDED", o, revision, now)));
            self.since = revision;
            if self.mark_initial_end {
                let mut bookmark = self.bookmark();
                bookmark["object"]["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
                batch.events.push(bookmark);
            }
            return batch;
        }
        let store = cluster.store();
        match store.events_since(
            &self.resource.qualified(),
            namespace,
            self.since,
            &self.labels,
            &self.fields,
        ) {
            Ok(changes) => {
                for (revision, change) in changes {
                    batch.events.push(self.event(change.kind.as_str(), &change.object, revision, now));
                }
                self.since = store.revision();
            }
            Err(error) => {
                batch.events.push(json!({"type": "ERROR", "object": ApiError::from(error).to_status()}));
                batch.end = true;
            }
        }
        batch
    }

    /// A BOOKMARK at the watch's current version.
    pub fn bookmark(&self) -> Value {
        json!({"type": "BOOKMARK", "object": {
            "kind": self.resource.kind,
            "apiVersion": self.resource.api_version(),
            "metadata": {"resourceVersion": self.since.to_string()},
        }})
    }

    fn event(&self, kind: &str, object: &Value, revision: u64, now: Timestamp) -> Value {
        let object = match self.format {
            Format::Object => object.clone(),
            Format::Table(include) => json!({
                "kind": "Table",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": revision.to_string()},
                "columnDefinitions": column_definitions(self.resource),
                "rows": [row(self.resource, object, now, include)],
            }),
        };
        json!({"type": kind, "object": object})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::PODS;

    const NOW: Timestamp = Timestamp(1_795_564_800);

    fn plan(cluster: &Cluster, format: Format) -> WatchPlan {
        WatchPlan {
            resource: &PODS,
            namespace: None,
            labels: Selector::default(),
            fields: FieldSelector::default(),
            since: cluster.store().revision(),
            send_initial: false,
            mark_initial_end: false,
            format,
            bookmarks: true,
            timeout_seconds: None,
        }
    }

    fn pod(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn a_watch_sends_each_change_once() {
        let mut cluster = Cluster::new(NOW);
        let mut watch = plan(&cluster, Format::Object);
        cluster.create(&PODS, Some("default"), pod("a"), NOW).unwrap();
        let batch = watch.poll(&cluster, NOW);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.events[0]["type"], "ADDED");
        assert_eq!(batch.events[0]["object"]["metadata"]["name"], "a");
        assert!(watch.poll(&cluster, NOW).events.is_empty());
        assert_eq!(
            watch.bookmark()["object"]["metadata"]["resourceVersion"],
            cluster.store().revision().to_string()
        );
    }

    #[test]
    fn initial_events_end_with_a_marked_bookmark_and_table_watches_send_rows() {
        let mut cluster = Cluster::new(NOW);
        cluster.create(&PODS, Some("default"), pod("a"), NOW).unwrap();
        let mut watch = WatchPlan {
            send_initial: true,
            mark_initial_end: true,
            ..plan(&cluster, Format::Table(IncludeObject::Metadata))
        };
        let batch = watch.poll(&cluster, NOW);
        assert_eq!(batch.events[0]["object"]["kind"], "Table");
        assert_eq!(batch.events[0]["object"]["rows"][0]["cells"][0], "a");
        assert_eq!(batch.events[1]["type"], "BOOKMARK");
        assert_eq!(batch.events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
    }

    #[test]
    fn a_watch_from_forgotten_history_gets_a_410_and_ends() {
        let mut cluster = Cluster::new(NOW);
        let mut watch = plan(&cluster, Format::Object);
        cluster.create(&PODS, Some("default"), pod("a"), NOW).unwrap();
        cluster.forget_history();
        let batch = watch.poll(&cluster, NOW);
        assert!(batch.end);
        assert_eq!(batch.events[0]["type"], "ERROR");
        assert_eq!(batch.events[0]["object"]["code"], 410);
    }
}
