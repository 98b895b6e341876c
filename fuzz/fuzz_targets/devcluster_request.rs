//! The dev API server's request handling without a socket
//! (`devcluster::apiserver::handler::handle`): a sequence of requests on
//! one server, structure-aware so most reach the resource logic: paths
//! built from the served resources, namespaces and names; query
//! parameters (selectors, watch, resourceVersion, timeoutSeconds,
//! fieldManager, ...) from their names with fuzzed values; bodies from the
//! repository's fixtures with edits, or fuzzed JSON, or raw bytes. Watches
//! are polled after every request, as the HTTP layer does.
//!
//! Checks: no panic; every answer is an HTTP status with a JSON body; an
//! object created is what a GET then returns.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use devcluster::apiserver::clock::Timestamp;
use devcluster::apiserver::cluster::Cluster;
use devcluster::apiserver::handler::{ApiState, Reply, Request, handle};
use devcluster::apiserver::watch::WatchPlan;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const RESOURCES: [&str; 13] = [
    "/api/v1/namespaces",
    "/api/v1/pods",
    "/api/v1/configmaps",
    "/api/v1/events",
    "/apis/events.k8s.io/v1/events",
    "/apis/crd.antrea.io/v1alpha2/trafficcontrols",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "/apis/apps/v1/daemonsets",
    "/apis/crd.antrea.io/v1alpha2",
    "/api/v1/serviceaccounts",
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
];
const NAMES: [&str; 6] = ["default", "web-1", "mirror-web-app", "prod", "kube-system", "x"];
const QUERY_KEYS: [&str; 12] = [
    "labelSelector",
    "fieldSelector",
    "watch",
    "resourceVersion",
    "timeoutSeconds",
    "allowWatchBookmarks",
    "sendInitialEvents",
    "fieldManager",
    "includeObject",
    "dryRun",
    "limit",
    "force",
];
const QUERY_VALUES: [&str; 14] = [
    "true",
    "0",
    "1",
    "app=web",
    "app!=web,tier in (a,b)",
    "!app,env notin (prod)",
    "spec.nodeName=node-1",
    "metadata.name!=x,metadata.namespace=default",
    "tc-agent/node-1",
    "Object",
    "None",
    "All",
    "99999999999999999999",
    "%20",
];
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/vnd.kubernetes.protobuf",
];
/// Whom a request impersonates (kubectl --as); the first is nobody.
const USERS: [&str; 4] =
    ["", "system:serviceaccount:tc-system:tc-agent", "alice", "system:serviceaccount:tc-system"];

/// Every object of the repository's manifests: bodies to start from.
static FIXTURES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let texts = [
        include_str!("../../fixtures/cluster/namespaces.yaml"),
        include_str!("../../fixtures/cluster/pods.yaml"),
        include_str!("../../fixtures/seed/mirror-web-app.yaml"),
        include_str!("../../fixtures/seed/mirror-all-to-remote.yaml"),
        include_str!("../../fixtures/seed/redirect-prod-to-local.yaml"),
        include_str!("../../deploy/crds/trafficcontrol.yaml"),
    ];
    texts.iter().flat_map(|t| datapath::manifest::parse_documents(t).unwrap_or_default()).collect()
});

#[derive(Arbitrary, Debug)]
struct Step {
    method: u8,
    path: Path,
    query: Vec<(u8, QueryValue)>,
    table: bool,
    content_type: u8,
    body: Body,
    /// Seconds the clock moves before the request.
    wait: u8,
    /// Whom it impersonates ([`USERS`]) and as which groups.
    impersonate: (u8, Vec<String>),
}

#[derive(Arbitrary, Debug)]
enum Path {
    Resource { resource: u8, namespace: Option<u8>, name: Option<u8>, status: bool },
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum QueryValue {
    Known(u8),
    Any(String),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Fixture { index: u8, edits: Vec<(u8, Datum)> },
    Json(Datum),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Datum {
    Name(u8),
    Text(String),
    Int(i64),
    Bool(bool),
    Null,
    List(Vec<Datum>),
    Object(Vec<(u8, Datum)>),
}

/// Field paths an edit may set.
const POINTERS: [&str; 10] = [
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/labels",
    "/metadata/resourceVersion",
    "/spec",
    "/spec/direction",
    "/spec/targetPort",
    "/status",
    "/kind",
    "/apiVersion",
];
const KEYS: [&str; 8] =
    ["app", "name", "nodeName", "direction", "action", "vxlan", "remoteIP", "matchLabels"];

fn pick<'a>(list: &[&'a str], n: u8) -> &'a str {
    list[usize::from(n) % list.len()]
}

fn datum(d: &Datum) -> Value {
    match d {
        Datum::Name(n) => json!(pick(&NAMES, *n)),
        Datum::Text(s) => json!(s),
        Datum::Int(i) => json!(i),
        Datum::Bool(b) => json!(b),
        Datum::Null => Value::Null,
        Datum::List(items) => Value::Array(items.iter().map(datum).collect()),
        Datum::Object(pairs) => {
            Value::Object(pairs.iter().map(|(k, v)| (pick(&KEYS, *k).to_owned(), datum(v))).collect())
        }
    }
}

fn body(body: &Body) -> Vec<u8> {
    match body {
        Body::Fixture { index, edits } => {
            let Some(mut object) = FIXTURES.get(usize::from(*index) % FIXTURES.len().max(1)).cloned() else {
                return Vec::new();
            };
            for (at, value) in edits {
                if let Some(slot) = object.pointer_mut(pick(&POINTERS, *at)) {
                    *slot = datum(value);
                }
            }
            object.to_string().into_bytes()
        }
        Body::Json(d) => datum(d).to_string().into_bytes(),
        Body::Raw(bytes) => bytes.clone(),
    }
}

fn request(step: &Step) -> Request {
    let path = match &step.path {
        Path::Resource { resource, namespace, name, status } => {
            let base = pick(&RESOURCES, *resource);
            let mut path = match namespace {
                Some(ns) => base.replacen("/v1/", &format!("/v1/namespaces/{}/", pick(&NAMES, *ns)), 1),
                None => base.to_owned(),
            };
            if let Some(name) = name {
                path.push('/');
                path.push_str(pick(&NAMES, *name));
                if *status {
                    path.push_str("/status");
                }
            }
            path
        }
        Path::Raw(path) => path.clone(),
    };
    let query = step
        .query
        .iter()
        .map(|(key, value)| {
            let value = match value {
                QueryValue::Known(n) => pick(&QUERY_VALUES, *n).to_owned(),
                QueryValue::Any(s) => s.clone(),
            };
            format!("{}={value}", pick(&QUERY_KEYS, *key))
        })
        .collect::<Vec<_>>()
        .join("&");
    Request {
        method: pick(&METHODS, step.method).to_owned(),
        path,
        query,
        accept: if step.table {
            "application/json;as=Table;g=meta.k8s.io;v=v1".into()
        } else {
            "application/json".into()
        },
        content_type: pick(&CONTENT_TYPES, step.content_type).to_owned(),
        user_agent: "fuzz".into(),
        impersonate_user: pick(&USERS, step.impersonate.0).to_owned(),
        impersonate_groups: step.impersonate.1.clone(),
        body: body(&step.body),
        ..Request::default()
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut now = Timestamp(1_700_000_000);
    let mut state = ApiState::trusting(Cluster::new(now));
    let mut watches: Vec<WatchPlan> = Vec::new();
    for step in steps.iter().take(64) {
        now = Timestamp(now.0 + i64::from(step.wait));
        let request = request(step);
        match handle(&mut state, &request, now) {
            Reply::Done(response) => {
                assert!((200..600).contains(&response.status), "{response:?}");
                let _ = response.body.to_string();
                if response.status == 201 && request.method == "POST" {
                    created_reads_back(&mut state, &request, &response.body, now);
                }
            }
            Reply::Watch(plan) if watches.len() < 4 => watches.push(*plan),
            Reply::Watch(_) => {}
        }
        watches.retain_mut(|plan| {
            let batch = plan.poll(&state.cluster, now);
            let _ = Value::Array(batch.events).to_string();
            !batch.end
        });
    }
});

/// A GET of what a POST created returns it.
fn created_reads_back(state: &mut ApiState, post: &Request, created: &Value, now: Timestamp) {
    let Some(name) = created.pointer("/metadata/name").and_then(Value::as_str) else { return };
    let path = format!("{}/{}", post.path.trim_end_matches('/'), name);
    let get = Request { method: "GET".into(), path, ..Request::default() };
    match handle(state, &get, now) {
        Reply::Done(response) => {
            assert_eq!(response.status, 200, "{get:?}: {response:?}");
            assert_eq!(&response.body, created, "what was created is what a GET returns");
        }
        Reply::Watch(_) => panic!("a GET of one object is not a watch"),
    }
}
