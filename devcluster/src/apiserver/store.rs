//! The dev API server's objects, with Kubernetes' semantics and no I/O:
//! one resourceVersion counter for everything, optimistic concurrency,
//! JSON merge patch, selectors, and a bounded watch history that answers
//! `410 Gone` for a resourceVersion older than it keeps.
//!
//! Time is a parameter (`now`), so the simulation can run it on virtual
//! time; the HTTP layer (and turmoil's world) sit on top.

use std::collections::{BTreeMap, VecDeque};

use datapath::selector::Selector;
use serde_json::{Value, json};

use super::selectors::FieldSelector;

/// What happened to an object, as a watch reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// It appeared (or started matching the watch's selectors).
    Added,
    /// It changed.
    Modified,
    /// It went (or stopped matching).
    Deleted,
}

impl EventType {
    /// The name a watch stream uses.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the history.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The resourceVersion it made.
    pub revision: u64,
    /// The resource (plural, e.g. `pods`).
    pub resource: String,
    /// The object before (modify, delete).
    pub before: Option<Value>,
    /// The object after (add, modify); `None` for a delete.
    pub after: Option<Value>,
}

/// An event for one watch.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchEvent {
    /// What happened, as seen through the watch's selectors.
    pub kind: EventType,
    /// The object.
    pub object: Value,
}

/// Why a request failed, with the HTTP status the API server answers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// 404.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// The resource.
        resource: String,
        /// The name.
        name: String,
    },
    /// 409 on create.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// The resource.
        resource: String,
        /// The name.
        name: String,
    },
    /// 409 on update: someone else changed it first.
    #[error(
        "the object has been modified: {resource} \"{name}\" is at resourceVersion {actual}, not {expected}"
    )]
    Conflict {
        /// The resource.
        resource: String,
        /// The name.
        name: String,
        /// The version the request was based on.
        expected: String,
        /// The current version.
        actual: String,
    },
    /// 410: the watch must relist.
    #[error("too old resource version: {requested} (oldest kept: {oldest})")]
    Gone {
        /// The version asked for.
        requested: u64,
        /// The oldest version a watch can start from.
        oldest: u64,
    },
    /// 400/422: the request makes no sense.
    #[error("{0}")]
    Invalid(String),
    /// The object is larger than etcd stores in one request (its default
    /// `--max-request-bytes`, [`MAX_OBJECT_BYTES`]); the message is etcd's,
    /// which the API server passes on.
    #[error("etcdserver: request is too large")]
    TooLarge {
        /// The object's size, as JSON.
        bytes: usize,
    },
}

/// etcd's default request limit, 1.5 MiB. The dev API server measures an
/// object as JSON; a real one stores protobuf, somewhat smaller, so this
/// errs on the side of refusing.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// Refuses an object etcd would refuse.
fn check_size(object: &Value) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(object).map_or(0, |b| b.len());
    if bytes > MAX_OBJECT_BYTES { Err(StoreError::TooLarge { bytes }) } else { Ok(()) }
}

impl StoreError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            StoreError::NotFound { .. } => 404,
            StoreError::AlreadyExists { .. } | StoreError::Conflict { .. } => 409,
            StoreError::Gone { .. } => 410,
            StoreError::Invalid(_) => 422,
            StoreError::TooLarge { .. } => 500,
        }
    }
}

type Key = (String, String, String);

/// The objects and their history.
#[derive(Debug)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    revision: u64,
    history: VecDeque<Change>,
    history_limit: usize,
    /// The oldest revision a watch may start after.
    oldest: u64,
    next_uid: u64,
}

impl Store {
    /// An empty store that keeps the last `history_limit` changes for
    /// watches.
    pub fn new(history_limit: usize) -> Self {
        Store {
            objects: BTreeMap::new(),
            revision: 1,
            history: VecDeque::new(),
            history_limit,
            oldest: 1,
            next_uid: 1,
        }
    }

    /// The current resourceVersion.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Forgets the watch history (an API server restart): watches from an
    /// older version get `410 Gone` and must relist.
    pub fn forget_history(&mut self) {
        self.history.clear();
        self.oldest = self.revision;
    }

    fn key(resource: &str, namespace: Option<&str>, name: &str) -> Key {
        (resource.to_owned(), namespace.unwrap_or_default().to_owned(), name.to_owned())
    }

    fn not_found(resource: &str, name: &str) -> StoreError {
        StoreError::NotFound { resource: resource.to_owned(), name: name.to_owned() }
    }

    fn record(&mut self, resource: &str, before: Option<Value>, after: Option<Value>) {
        self.history.push_back(Change {
            revision: self.revision,
            resource: resource.to_owned(),
            before,
            after,
        });
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest = dropped.revision;
            }
        }
    }

    /// Creates `object`; sets its uid, resourceVersion, creationTimestamp
    /// (`now`), generation and (for namespaced resources) namespace.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`], or [`StoreError::Invalid`] without a
    /// name.
    pub fn create(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
        mut object: Value,
        now: &str,
    ) -> Result<Value, StoreError> {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
        if name.is_empty() {
            return Err(StoreError::Invalid(format!("{resource}: metadata.name is required")));
        }
        let key = Self::key(resource, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists { resource: resource.to_owned(), name });
        }
        check_size(&object)?;
        self.revision += 1;
        let uid = format!("00000000-0000-4000-8000-{:012x}", self.next_uid);
        self.next_uid += 1;
        let metadata = metadata_of(&mut object)?;
        metadata.insert("uid".into(), json!(uid));
        metadata.insert("resourceVersion".into(), json!(self.revision.to_string()));
        metadata.insert("creationTimestamp".into(), json!(now));
        metadata.insert("generation".into(), json!(1));
        if let Some(namespace) = namespace {
            metadata.insert("namespace".into(), json!(namespace));
        }
        self.objects.insert(key, object.clone());
        self.record(resource, None, Some(object.clone()));
        Ok(object)
    }

    /// One object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Result<Value, StoreError> {
        self.peek(resource, namespace, name).cloned().ok_or_else(|| Self::not_found(resource, name))
    }

    /// One object, borrowed.
    pub fn peek(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.objects.get(&Self::key(resource, namespace, name))
    }

    /// The objects of `resource` (in `namespace`, or all), in (namespace,
    /// name) order, borrowed.
    pub fn objects<'a>(
        &'a self,
        resource: String,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> {
        // Keys sort by resource first: one range, not a scan of every object.
        let start = (resource.clone(), namespace.unwrap_or_default().to_owned(), String::new());
        self.objects
            .range(start..)
            .take_while(move |((r, ns, _), _)| *r == resource && namespace.is_none_or(|n| n == ns))
            .map(|(_, object)| object)
    }

    /// The objects of `resource` (in `namespace`, or all) matching the
    /// selectors, in (namespace, name) order, and the list's version.
    pub fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        labels: &Selector,
        fields: &FieldSelector,
    ) -> (Vec<Value>, u64) {
        let items = self
            .objects(resource.to_owned(), namespace)
            .filter(|object| matches(object, labels, fields))
            .cloned()
            .collect();
        (items, self.revision)
    }

    /// Replaces an object (its `status` too). When the new object carries
    /// a resourceVersion, it must be the current one.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`].
    pub fn replace(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        mut object: Value,
    ) -> Result<Value, StoreError> {
        let key = Self::key(resource, namespace, name);
        let current = self.objects.get(&key).cloned().ok_or_else(|| Self::not_found(resource, name))?;
        let actual = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(expected) =
            object.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|v| !v.is_empty())
            && expected != actual
        {
            return Err(StoreError::Conflict {
                resource: resource.into(),
                name: name.into(),
                expected: expected.into(),
                actual,
            });
        }
        if object.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| n != name) {
            return Err(StoreError::Invalid(format!("{resource} \"{name}\": metadata.name cannot change")));
        }
        check_size(&object)?;
        self.revision += 1;
        let generation = current.pointer("/metadata/generation").and_then(Value::as_u64).unwrap_or(1);
        let spec_changed = current.get("spec") != object.get("spec");
        let metadata = metadata_of(&mut object)?;
        for kept in ["uid", "creationTimestamp", "namespace", "name"] {
            if let Some(value) = current.pointer(&format!("/metadata/{kept}")) {
                metadata.insert(kept.into(), value.clone());
            }
        }
        metadata.insert("resourceVersion".into(), json!(self.revision.to_string()));
        metadata.insert("generation".into(), json!(generation + u64::from(spec_changed)));
        self.objects.insert(key, object.clone());
        self.record(resource, Some(current), Some(object.clone()));
        Ok(object)
    }

    /// Applies an RFC 7386 JSON merge patch.
    ///
    /// # Errors
    /// As [`Store::replace`].
    pub fn merge_patch(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, StoreError> {
        let mut object = self.get(resource, namespace, name)?;
        merge(&mut object, patch);
        self.replace(resource, namespace, name, object)
    }

    /// Deletes an object and returns its last state.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub fn delete(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, StoreError> {
        let object = self
            .objects
            .remove(&Self::key(resource, namespace, name))
            .ok_or_else(|| Self::not_found(resource, name))?;
        self.revision += 1;
        self.record(resource, Some(object.clone()), None);
        Ok(object)
    }

    /// The events a watch from `since` sees: changes to `resource` (in
    /// `namespace`, or all) after that version, as they look through the
    /// selectors (an object that starts matching is ADDED, one that stops
    /// is DELETED).
    ///
    /// # Errors
    /// [`StoreError::Gone`] when `since` is older than the history kept.
    pub fn events_since(
        &self,
        resource: &str,
        namespace: Option<&str>,
        since: u64,
        labels: &Selector,
        fields: &FieldSelector,
    ) -> Result<Vec<(u64, WatchEvent)>, StoreError> {
        if since < self.oldest {
            return Err(StoreError::Gone { requested: since, oldest: self.oldest });
        }
        let in_scope = |object: &Value| {
            namespace.is_none_or(|n| object.pointer("/metadata/namespace").and_then(Value::as_str) == Some(n))
        };
        let mut events = Vec::new();
        for change in self.history.iter().filter(|c| c.revision > since && c.resource == resource) {
            let Some(object) = change.after.as_ref().or(change.before.as_ref()) else { continue };
            if !in_scope(object) {
                continue;
            }
            let was = change.before.as_ref().is_some_and(|b| matches(b, labels, fields));
            let now = change.after.as_ref().is_some_and(|a| matches(a, labels, fields));
            let kind = match (was, now) {
                (false, true) => EventType::Added,
                (true, true) => EventType::Modified,
                (true, false) => EventType::Deleted,
                (false, false) => continue,
            };
            events.push((change.revision, WatchEvent { kind, object: object.clone() }));
        }
        Ok(events)
    }
}

impl Store {
    /// Everything a restart must keep: the objects, the revision counter
    /// and the uid counter (the watch history is not kept: a restarted
    /// server answers `410 Gone` for older versions, as a real one may).
    pub fn snapshot(&self) -> Value {
        let objects: Vec<Value> = self
            .objects
            .iter()
            .map(|((resource, namespace, _), object)| {
                json!({"resource": resource, "namespace": namespace, "object": object})
            })
            .collect();
        json!({"revision": self.revision, "nextUid": self.next_uid, "objects": objects})
    }

    /// A store holding a [`Store::snapshot`]'s objects, whose watches start
    /// at the snapshot's revision.
    ///
    /// # Errors
    /// What is malformed, as text.
    pub fn restore(snapshot: &Value, history_limit: usize) -> Result<Store, String> {
        let number = |field: &str| {
            snapshot.get(field).and_then(Value::as_u64).ok_or_else(|| format!("{field} is not a number"))
        };
        let mut store = Store::new(history_limit);
        store.revision = number("revision")?;
        store.next_uid = number("nextUid")?;
        store.oldest = store.revision;
        let objects = snapshot.get("objects").and_then(Value::as_array).ok_or("objects is not a list")?;
        for entry in objects {
            let text = |field: &str| {
                entry
                    .get(field)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{field} is missing"))
            };
            let object = entry.get("object").cloned().ok_or("an entry has no object")?;
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .ok_or("an object has no name")?
                .to_owned();
            store.objects.insert((text("resource")?, text("namespace")?, name), object);
        }
        Ok(store)
    }
}

fn metadata_of(object: &mut Value) -> Result<&mut serde_json::Map<String, Value>, StoreError> {
    let root =
        object.as_object_mut().ok_or_else(|| StoreError::Invalid("an object is a JSON object".into()))?;
    root.entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| StoreError::Invalid("metadata must be an object".into()))
}

fn matches(object: &Value, labels: &Selector, fields: &FieldSelector) -> bool {
    let label_map: BTreeMap<String, String> = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    labels.matches(&label_map) && fields.matches(object)
}

/// RFC 7386: objects merge key by key, `null` removes, anything else
/// replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests;
