//! The cluster's objects with each resource's rules on top of the
//! [`Store`]: TrafficControls are validated, `status` is a subresource,
//! cluster-scoped objects lose a stray namespace, patches and server-side
//! apply, a Namespace's deletion takes its objects along, and the whole
//! state can be saved and loaded as one JSON snapshot.
//!
//! No I/O and no clock: `now` is a parameter.

use datapath::validate::Validator;
use serde_json::{Value, json};

use super::apply::apply_status;
use super::clock::Timestamp;
use super::resources::{ALL, CUSTOM_RESOURCE_DEFINITIONS, NAMESPACES, ResourceType, TRAFFIC_CONTROLS};
use super::selectors::FieldSelector;
use super::status::ApiError;
use super::store::{Store, merge};
use super::strategic::strategic_merge;
use datapath::selector::Selector;

/// How many changes a watch can resume from before it must relist.
pub const HISTORY: usize = 10_000;

/// How a patch body is read (the request's Content-Type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`, approximated (see
    /// [`super::strategic`]).
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply by this field
    /// manager.
    Apply {
        /// The `fieldManager` query parameter.
        manager: String,
    },
}

/// A successful write: the object as stored and the warnings for the
/// client (`Warning:` headers).
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The object.
    pub object: Value,
    /// Warnings, one line each.
    pub warnings: Vec<String>,
}

/// A snapshot that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot is not the JSON this module writes.
    #[error("the snapshot is malformed: {0}")]
    Malformed(String),
}

/// Which object a request addresses.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The resource.
    pub resource: &'static ResourceType,
    /// The namespace, for namespaced resources.
    pub namespace: Option<&'a str>,
    /// The name.
    pub name: &'a str,
    /// Whether the request is for the `status` subresource.
    pub status: bool,
}

/// The cluster's objects and rules.
pub struct Cluster {
    store: Store,
    validator: Validator,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("store", &self.store).finish_non_exhaustive()
    }
}

impl Cluster {
    /// An empty cluster that already serves (and stores) the
    /// TrafficControl CRD.
    pub fn new(now: Timestamp) -> Cluster {
        let mut cluster = Cluster { store: Store::new(HISTORY), validator: Validator::new() };
        cluster.ensure_builtin_crd(now);
        cluster
    }

    /// The store underneath, for reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Forgets the watch history, as a restarted API server does.
    pub fn forget_history(&mut self) {
        self.store.forget_history();
    }

    /// Stores the built-in CRD as if `kubectl apply` had created it, so
    /// applying `deploy/crds/trafficcontrol.yaml` again is "unchanged".
    fn ensure_builtin_crd(&mut self, now: Timestamp) {
        /// The CRD as `kubectl apply -f deploy/crds/` sends it, read once.
        static BUILTIN_CRD: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
            datapath::manifest::parse_documents(&datapath::api::crd_yaml())
                .ok()
                .and_then(|documents| documents.into_iter().next())
                .unwrap_or_default()
        });
        let key = CUSTOM_RESOURCE_DEFINITIONS.qualified();
        let crd = BUILTIN_CRD.clone();
        let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned) else {
            return;
        };
        if self.store.get(&key, None, &name).is_ok() {
            return;
        }
        let mut applied = crd.clone();
        applied["metadata"]["annotations"] = json!({});
        let mut stored = crd;
        stored["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/last-applied-configuration": format!("{}\n", sorted(&applied))});
        stored["status"] = json!({"conditions": [{"type": "Established", "status": "True"}]});
        // A fresh store cannot refuse the first object.
        let _ = self.store.create(&key, None, stored, &now.to_string());
    }

    /// The whole state (objects, revision counter, uid counter) as JSON.
    pub fn snapshot(&self) -> Value {
        self.store.snapshot()
    }

    /// A cluster with a snapshot's objects and revision counter and an
    /// empty watch history.
    ///
    /// # Errors
    /// [`SnapshotError`] when the snapshot is not one [`Cluster::snapshot`]
    /// wrote.
    pub fn from_snapshot(snapshot: &Value, now: Timestamp) -> Result<Cluster, SnapshotError> {
        let store = Store::restore(snapshot, HISTORY).map_err(SnapshotError::Malformed)?;
        let mut cluster = Cluster { store, validator: Validator::new() };
        cluster.ensure_builtin_crd(now);
        Ok(cluster)
    }

    /// One object.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub fn get(&self, target: Target<'_>) -> Result<Value, ApiError> {
        Ok(self.store.get(
            &target.resource.qualified(),
            scope(target.resource, target.namespace),
            target.name,
        )?)
    }

    /// One object, borrowed: for reads on every request (the caller's
    /// ServiceAccount, its roles) that need no copy.
    pub fn peek(&self, target: Target<'_>) -> Option<&Value> {
        self.store.peek(&target.resource.qualified(), scope(target.resource, target.namespace), target.name)
    }

    /// The objects of `resource` (in `namespace`, or all), borrowed: for
    /// reads on every request (RBAC's bindings) that need no copy.
    pub fn objects<'a>(
        &'a self,
        resource: &ResourceType,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> {
        self.store.objects(resource.qualified(), namespace)
    }

    /// The matching objects and the list's resourceVersion.
    pub fn list(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        labels: &Selector,
        fields: &FieldSelector,
    ) -> (Vec<Value>, u64) {
        self.store.list(&resource.qualified(), namespace, labels, fields)
    }

    /// Creates an object in `namespace` (ignored for cluster-scoped
    /// resources).
    ///
    /// # Errors
    /// [`ApiError::Invalid`] for a TrafficControl the validator refuses,
    /// [`ApiError::BadRequest`] for a wrong kind or namespace,
    /// [`ApiError::AlreadyExists`].
    pub fn create(
        &mut self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        mut object: Value,
        now: Timestamp,
    ) -> Result<Written, ApiError> {
        check_type(resource, &object)?;
        let namespace = scope(resource, namespace);
        if resource.namespaced {
            let Some(namespace) = namespace else {
                return Err(ApiError::BadRequest(format!(
                    "{} must be created in a namespace",
                    resource.plural
                )));
            };
            match object.pointer("/metadata/namespace").and_then(Value::as_str) {
                Some(given) if given != namespace => {
                    return Err(ApiError::BadRequest(format!(
                        "the namespace of the provided object ({given}) does not match the namespace sent on the request ({namespace})"
                    )));
                }
                _ => {}
            }
        }
        let warnings = self.check(resource, &object)?;
        normalize(resource, &mut object);
        if resource.status_subresource && resource != &NAMESPACES && resource != &super::resources::PODS {
            // A CRD's status is written only through /status; a Pod's
            // status is kept so a test can play kubelet in one request.
            if let Some(root) = object.as_object_mut() {
                root.remove("status");
            }
        }
        if resource == &NAMESPACES {
            let name =
                object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
            object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            object["status"] = json!({"phase": "Active"});
        }
        let object = self.store.create(&resource.qualified(), namespace, object, &now.to_string())?;
        Ok(Written { object, warnings })
    }

    /// Creates every object of a YAML manifest, each in the namespace it
    /// names (`default` for a namespaced one that names none), as
    /// `kubectl create -f` would.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for a manifest that does not parse or an
    /// object of a kind not served; otherwise as [`Cluster::create`].
    pub fn create_manifest(&mut self, manifest: &str, now: Timestamp) -> Result<(), ApiError> {
        let documents = datapath::manifest::parse_documents(manifest)
            .map_err(|e| ApiError::BadRequest(format!("not a manifest: {}", e.message)))?;
        for object in documents {
            let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default();
            let resource = ResourceType::of_kind(text("/apiVersion"), text("/kind")).ok_or_else(|| {
                ApiError::BadRequest(format!("{} {} is not served", text("/apiVersion"), text("/kind")))
            })?;
            let namespace = match text("/metadata/namespace") {
                "" => "default".to_owned(),
                named => named.to_owned(),
            };
            self.create(resource, Some(&namespace), object, now)?;
        }
        Ok(())
    }

    /// Replaces an object (PUT). On the object itself `status` is kept as
    /// stored; on `/status` only `status` changes.
    ///
    /// # Errors
    /// [`ApiError::NotFound`], [`ApiError::Conflict`], [`ApiError::Invalid`].
    pub fn update(&mut self, target: Target<'_>, object: Value) -> Result<Written, ApiError> {
        check_type(target.resource, &object)?;
        let current = self.get(target)?;
        let mut next = if target.status {
            let mut next = current.clone();
            set_status(&mut next, object.get("status").cloned());
            if let Some(version) = object.pointer("/metadata/resourceVersion") {
                next["metadata"]["resourceVersion"] = version.clone();
            }
            next
        } else {
            let mut next = object;
            if target.resource.status_subresource {
                set_status(&mut next, current.get("status").cloned());
            }
            keep_managed_fields(&mut next, &current);
            next
        };
        normalize(target.resource, &mut next);
        self.write(target, next)
    }

    /// Patches an object; a server-side apply of an object that does not
    /// exist creates it.
    ///
    /// # Errors
    /// As [`Cluster::update`].
    pub fn patch(
        &mut self,
        target: Target<'_>,
        kind: &PatchKind,
        patch: &Value,
        now: Timestamp,
    ) -> Result<Written, ApiError> {
        let current = match self.get(target) {
            Err(ApiError::NotFound(_)) if matches!(kind, PatchKind::Apply { .. }) && !target.status => {
                let mut object = patch.clone();
                if object.pointer("/metadata/name").is_none() {
                    object["metadata"]["name"] = json!(target.name);
                }
                return self.create(target.resource, target.namespace, object, now);
            }
            other => other?,
        };
        let mut next = current.clone();
        match kind {
            PatchKind::Merge => merge(&mut next, patch),
            PatchKind::Strategic => strategic_merge(&mut next, patch),
            PatchKind::Apply { manager } if target.status && target.resource == &TRAFFIC_CONTROLS => {
                next =
                    apply_status(&current, patch, manager, &target.resource.api_version(), &now.to_string());
            }
            // Approximate: an apply merges what it sends and removes
            // nothing it no longer sends.
            PatchKind::Apply { .. } => merge(&mut next, patch),
        }
        if target.status {
            let patched = std::mem::replace(&mut next, current.clone());
            set_status(&mut next, patched.get("status").cloned());
            // The version a patch may carry (optimistic concurrency) and
            // the owners an apply recorded.
            for field in ["resourceVersion", "managedFields"] {
                if let Some(value) = patched.pointer(&format!("/metadata/{field}")) {
                    next["metadata"][field] = value.clone();
                }
            }
        } else if target.resource.status_subresource {
            set_status(&mut next, current.get("status").cloned());
        }
        normalize(target.resource, &mut next);
        self.write(target, next)
    }

    /// Deletes an object and returns its last state. Deleting a Namespace
    /// deletes every object in it.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub fn delete(&mut self, target: Target<'_>) -> Result<Value, ApiError> {
        let namespace = scope(target.resource, target.namespace);
        let deleted = self.store.delete(&target.resource.qualified(), namespace, target.name)?;
        if target.resource == &NAMESPACES {
            let everything = (Selector::default(), FieldSelector::default());
            for resource in ALL.into_iter().filter(|r| r.namespaced) {
                let (objects, _) =
                    self.store.list(&resource.qualified(), Some(target.name), &everything.0, &everything.1);
                for object in objects {
                    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                    // Listed a moment ago under the same borrow: present.
                    let _ = self.store.delete(&resource.qualified(), Some(target.name), name);
                }
            }
        }
        Ok(deleted)
    }

    /// Validates, then replaces.
    fn write(&mut self, target: Target<'_>, next: Value) -> Result<Written, ApiError> {
        let warnings = if target.status { Vec::new() } else { self.check(target.resource, &next)? };
        let namespace = scope(target.resource, target.namespace);
        let object = self.store.replace(&target.resource.qualified(), namespace, target.name, next)?;
        Ok(Written { object, warnings })
    }

    /// The validator's verdict on a TrafficControl: errors refuse it,
    /// warnings go back to the client.
    fn check(&self, resource: &ResourceType, object: &Value) -> Result<Vec<String>, ApiError> {
        if resource != &TRAFFIC_CONTROLS {
            return Ok(Vec::new());
        }
        let report = self.validator.validate(object);
        let line = |f: &datapath::validate::Finding| format!("{}: {}: {}", report.object, f.path, f.message);
        if !report.is_valid() {
            let lines: Vec<String> = report.errors().map(line).collect();
            return Err(ApiError::Invalid(lines.join("\n")));
        }
        Ok(report.warnings().map(line).collect())
    }
}

/// A value with every object's keys sorted, as Go's encoding/json writes
/// maps (and so as kubectl writes its last-applied annotation).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The namespace a resource's objects are keyed under.
fn scope<'a>(resource: &ResourceType, namespace: Option<&'a str>) -> Option<&'a str> {
    if resource.namespaced { namespace } else { None }
}

/// Refuses an object of another kind than the URL's (a missing
/// apiVersion or kind is filled in by [`normalize`]).
fn check_type(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::BadRequest("the body is not a JSON object".into()));
    }
    let kind = object.get("kind").and_then(Value::as_str);
    if kind.is_some_and(|kind| kind != resource.kind) {
        return Err(ApiError::BadRequest(format!(
            "the kind {:?} does not match the resource {}",
            kind.unwrap_or_default(),
            resource.qualified()
        )));
    }
    // What the API server's decoder refuses before anything reads the
    // object (found by fuzzing: a Namespace whose labels were a number
    // panicked where its name label is added).
    if let Some(metadata) = object.get("metadata") {
        if !metadata.is_object() {
            return Err(ApiError::BadRequest("metadata: must be an object".into()));
        }
        for field in ["labels", "annotations"] {
            let value = &metadata[field];
            let strings = value.as_object().is_some_and(|map| map.values().all(Value::is_string));
            if !value.is_null() && !strings {
                return Err(ApiError::BadRequest(format!(
                    "metadata.{field}: must be a map of strings, not {value}"
                )));
            }
        }
    }
    // The validator says more about a TrafficControl's apiVersion.
    let version = object.get("apiVersion").and_then(Value::as_str);
    if resource != &TRAFFIC_CONTROLS && version.is_some_and(|v| v != resource.api_version()) {
        return Err(ApiError::BadRequest(format!(
            "the apiVersion {:?} is not {}",
            version.unwrap_or_default(),
            resource.api_version()
        )));
    }
    Ok(())
}

/// Sets apiVersion and kind, drops a cluster-scoped object's namespace.
fn normalize(resource: &ResourceType, object: &mut Value) {
    let Some(root) = object.as_object_mut() else { return };
    root.insert("apiVersion".into(), json!(resource.api_version()));
    root.insert("kind".into(), json!(resource.kind));
    if !resource.namespaced
        && let Some(metadata) = root.get_mut("metadata").and_then(Value::as_object_mut)
    {
        metadata.remove("namespace");
    }
}

fn set_status(object: &mut Value, status: Option<Value>) {
    let Some(root) = object.as_object_mut() else { return };
    match status {
        Some(status) => root.insert("status".into(), status),
        None => root.remove("status"),
    };
}

/// A write to the object itself keeps the ownership server-side apply
/// recorded (clients send back what they read, or nothing).
fn keep_managed_fields(next: &mut Value, current: &Value) {
    let kept = current.pointer("/metadata/managedFields").cloned();
    if let (Some(metadata), Some(kept)) = (next.get_mut("metadata").and_then(Value::as_object_mut), kept) {
        metadata.insert("managedFields".into(), kept);
    }
}

#[cfg(test)]
mod tests;
