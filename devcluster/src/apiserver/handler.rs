//! One request in, one answer out: the API server's behaviour as a
//! function of (request, state, now), with no socket. A watch is answered
//! with a [`WatchPlan`] that the HTTP layer streams.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::audit::{Audit, AuditRecord};
use super::auth_api::{access_review, rules_review, token_request};
use super::authn::{Credentials, Identity, authenticate, service_account_of};
use super::authz::{self, Attributes};
use super::clock::Timestamp;
use super::cluster::{Cluster, PatchKind, Target, Written};
use super::discovery;
use super::protobuf;
use super::route::{ResourcePath, Route, parse_query, resource_parts, route};
use super::selectors::{parse_fields, parse_labels};
use super::status::ApiError;
use super::table::{IncludeObject, row, table};
use super::watch::{Format, WatchPlan};

/// An HTTP request, as much of it as the API server reads.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (after `?`), or empty.
    pub query: String,
    /// The Accept header.
    pub accept: String,
    /// The Content-Type header.
    pub content_type: String,
    /// The User-Agent header.
    pub user_agent: String,
    /// The Authorization header (`Bearer TOKEN`).
    pub authorization: String,
    /// The Impersonate-User header (`kubectl --as`), or empty.
    pub impersonate_user: String,
    /// The Impersonate-Group headers (`kubectl --as-group`).
    pub impersonate_groups: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A complete answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// `Warning:` headers, one line each.
    pub warnings: Vec<String>,
}

/// What the HTTP layer sends.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A JSON document.
    Done(Response),
    /// A stream of watch events (status 200).
    Watch(Box<WatchPlan>),
}

/// Everything the server keeps.
#[derive(Debug)]
pub struct ApiState {
    /// The objects.
    pub cluster: Cluster,
    /// The requests answered.
    pub audit: Audit,
    /// The tokens it accepts; `None` trusts every caller as the
    /// administrator (the simulation, whose clients choose who they are
    /// with `Impersonate-User`, still checked by RBAC).
    pub credentials: Option<Credentials>,
}

impl ApiState {
    /// A server that trusts its callers (see [`ApiState::credentials`]).
    pub fn trusting(cluster: Cluster) -> ApiState {
        ApiState { cluster, audit: Audit::default(), credentials: None }
    }
}

fn ok(body: Value) -> Reply {
    Reply::Done(Response { status: 200, body, warnings: Vec::new() })
}

fn failed(error: &ApiError) -> Reply {
    Reply::Done(Response { status: error.code(), body: error.to_status(), warnings: Vec::new() })
}

/// Answers one request and records it in the audit list: who is calling
/// (401 when nobody the server knows), whether RBAC allows it (403), then
/// the request itself.
pub fn handle(state: &mut ApiState, request: &Request, now: Timestamp) -> Reply {
    let route = route(&request.path);
    let attributes = attributes(request);
    let mut record = AuditRecord { user_agent: request.user_agent.clone(), ..AuditRecord::default() };
    match &attributes {
        Attributes::Resource { verb, group, resource, subresource, namespace, name } => {
            record.verb.clone_from(verb);
            record.group.clone_from(group);
            record.resource.clone_from(resource);
            record.subresource.clone_from(subresource);
            record.namespace.clone_from(namespace);
            record.name.clone_from(name);
        }
        Attributes::NonResource { verb, path } => {
            record.verb.clone_from(verb);
            record.path.clone_from(path);
        }
    }
    let reply = match identify(state, request, now) {
        Err(error) => failed(&error),
        Ok(who) => {
            record.user.clone_from(&who.user);
            match authz::require(&state.cluster, &who, &attributes) {
                Err(error) => failed(&error),
                Ok(()) => dispatch(state, &who, request, route, now),
            }
        }
    };
    record.code = match &reply {
        Reply::Done(response) => response.status,
        Reply::Watch(_) => 200,
    };
    state.audit.record(record);
    reply
}

/// The request in RBAC's terms: any path under `/api` or `/apis` is a
/// resource request, served or not (`cannot list resource "secrets"`, then
/// 404), as the API server reads it.
fn attributes(request: &Request) -> Attributes {
    match resource_parts(&request.path) {
        Some(parts) => Attributes::Resource {
            verb: verb(request, !parts.name.is_empty()).to_owned(),
            group: parts.group.to_owned(),
            resource: parts.resource.to_owned(),
            subresource: parts.subresource.to_owned(),
            namespace: parts.namespace.to_owned(),
            name: parts.name.to_owned(),
        },
        None => Attributes::NonResource { verb: request.method.to_lowercase(), path: request.path.clone() },
    }
}

/// The caller, after authentication and impersonation.
fn identify(state: &ApiState, request: &Request, now: Timestamp) -> Result<Identity, ApiError> {
    let caller = match &state.credentials {
        Some(credentials) => authenticate(credentials, &state.cluster, &request.authorization, now)?,
        None => Identity::admin(),
    };
    let user = request.impersonate_user.as_str();
    if user.is_empty() {
        if !request.impersonate_groups.is_empty() {
            return Err(ApiError::BadRequest(
                "requested impersonation of groups without impersonating a user".into(),
            ));
        }
        return Ok(caller);
    }
    // Impersonating is itself a permission, checked for the real caller.
    let impersonate = |resource: &str, namespace: &str, name: &str| Attributes::Resource {
        verb: "impersonate".into(),
        group: String::new(),
        resource: resource.into(),
        subresource: String::new(),
        namespace: namespace.into(),
        name: name.into(),
    };
    let as_user = match service_account_of(user) {
        Some((namespace, name)) => impersonate("serviceaccounts", namespace, name),
        None => impersonate("users", "", user),
    };
    authz::require(&state.cluster, &caller, &as_user)?;
    for group in &request.impersonate_groups {
        authz::require(&state.cluster, &caller, &impersonate("groups", "", group))?;
    }
    Ok(Identity::named(user, &request.impersonate_groups))
}

/// The request, once allowed.
fn dispatch(state: &mut ApiState, who: &Identity, request: &Request, route: Route, now: Timestamp) -> Reply {
    match route {
        Route::Resource(path) if path.subresource.as_deref() == Some("token") => {
            let Some(name) = path.name.as_deref() else {
                return failed(&ApiError::BadRequest("no name".into()));
            };
            if request.method != "POST" {
                return failed(&ApiError::MethodNotAllowed(format!(
                    "{} is not supported on serviceaccounts/token",
                    request.method
                )));
            }
            body(request)
                .and_then(|review| {
                    token_request(
                        state.credentials.as_ref(),
                        &state.cluster,
                        target(&path, name),
                        &review,
                        now,
                    )
                })
                .map_or_else(|error| failed(&error), created)
        }
        Route::Resource(path) => {
            resource(&mut state.cluster, request, &path, now).unwrap_or_else(|error| failed(&error))
        }
        Route::AccessReview if request.method == "POST" => body(request)
            .and_then(|review| access_review(&state.cluster, who, &review))
            .map_or_else(|error| failed(&error), created),
        Route::RulesReview if request.method == "POST" => body(request)
            .map(|review| rules_review(&state.cluster, who, &review))
            .map_or_else(|error| failed(&error), created),
        Route::Audit => ok(state.audit.to_json()),
        other => non_resource(&other),
    }
}

fn created(body: Value) -> Reply {
    Reply::Done(Response { status: 201, body, warnings: Vec::new() })
}

/// The RBAC verb of a resource request.
fn verb(request: &Request, named: bool) -> &'static str {
    let watch = parse_query(&request.query).get("watch").is_some_and(|w| w == "true" || w == "1");
    match (request.method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

fn non_resource(route: &Route) -> Reply {
    let not_found = || failed(&ApiError::NotFound("the server could not find the requested resource".into()));
    match route {
        Route::Version => ok(discovery::version()),
        Route::CoreVersions => ok(discovery::core_versions()),
        Route::Groups => ok(discovery::groups()),
        Route::GroupVersion { group, version } => {
            discovery::resource_list(group, version).map_or_else(not_found, ok)
        }
        Route::OpenApiIndex => ok(discovery::openapi_index()),
        Route::OpenApi { group, version } => {
            discovery::openapi_document(group, version).map_or_else(not_found, ok)
        }
        Route::Health => ok(json!("ok")),
        Route::Audit | Route::AccessReview | Route::RulesReview | Route::Resource(_) | Route::Unknown => {
            not_found()
        }
    }
}

fn resource(
    cluster: &mut Cluster,
    request: &Request,
    path: &ResourcePath,
    now: Timestamp,
) -> Result<Reply, ApiError> {
    let query = parse_query(&request.query);
    if query.get("dryRun").is_some_and(|d| !d.is_empty()) && request.method != "GET" {
        return Err(ApiError::BadRequest("dryRun is not supported by tc-devcluster".into()));
    }
    let namespace = path.namespace.as_deref();
    let target = |name| target(path, name);
    let as_table = request.accept.contains("as=Table");
    let include = IncludeObject::parse(query.get("includeObject").map(String::as_str));
    let written = |written: Written, status: u16| {
        Reply::Done(Response { status, body: written.object, warnings: written.warnings })
    };
    let method = request.method.as_str();
    match (method, path.name.as_deref()) {
        ("GET", Some(name)) => {
            let object = cluster.get(target(name))?;
            if as_table {
                let version = cluster.store().revision();
                Ok(ok(table(path.resource, &[object], version, now, include)))
            } else {
                Ok(ok(object))
            }
        }
        ("GET", None) => list_or_watch(cluster, path, &query, as_table.then_some(include), now),
        ("POST", None) => {
            let object = body(request)?;
            Ok(written(cluster.create(path.resource, namespace, object, now)?, 201))
        }
        ("PUT", Some(name)) => Ok(written(cluster.update(target(name), body(request)?)?, 200)),
        ("PATCH", Some(name)) => {
            let kind = patch_kind(&request.content_type, &query)?;
            let patch = body(request)?;
            let created = matches!(kind, PatchKind::Apply { .. }) && cluster.get(target(name)).is_err();
            let result = cluster.patch(target(name), &kind, &patch, now)?;
            Ok(written(result, if created { 201 } else { 200 }))
        }
        ("DELETE", Some(name)) => {
            let object = cluster.delete(target(name))?;
            Ok(ok(if as_table { row(path.resource, &object, now, include) } else { object }))
        }
        _ => Err(ApiError::MethodNotAllowed(format!(
            "{method} is not supported on {}{}",
            path.resource.qualified(),
            if path.name.is_some() { " objects" } else { "" }
        ))),
    }
}

/// A list, or a watch plan with `watch=true`; as a Table when `table`
/// says how to include objects.
fn list_or_watch(
    cluster: &Cluster,
    path: &ResourcePath,
    query: &BTreeMap<String, String>,
    table_of: Option<IncludeObject>,
    now: Timestamp,
) -> Result<Reply, ApiError> {
    let labels = parse_labels(query.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let fields = parse_fields(query.get("fieldSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        let format = table_of.map_or(Format::Object, Format::Table);
        return watch(path, query, labels, fields, format).map(|plan| Reply::Watch(Box::new(plan)));
    }
    let (items, version) = cluster.list(path.resource, path.namespace.as_deref(), &labels, &fields);
    if let Some(include) = table_of {
        return Ok(ok(table(path.resource, &items, version, now, include)));
    }
    Ok(ok(json!({
        "kind": path.resource.list_kind(),
        "apiVersion": path.resource.api_version(),
        "metadata": {"resourceVersion": version.to_string()},
        "items": items,
    })))
}

fn target<'a>(path: &'a ResourcePath, name: &'a str) -> Target<'a> {
    Target {
        resource: path.resource,
        namespace: path.namespace.as_deref(),
        name,
        status: path.subresource.as_deref() == Some("status"),
    }
}

fn watch(
    path: &ResourcePath,
    query: &BTreeMap<String, String>,
    labels: datapath::selector::Selector,
    fields: super::selectors::FieldSelector,
    format: Format,
) -> Result<WatchPlan, ApiError> {
    let version = query.get("resourceVersion").map_or("", String::as_str);
    let initial_events = query.get("sendInitialEvents").is_some_and(|s| s == "true");
    let since = match version {
        "" | "0" => 0,
        number => number
            .parse::<u64>()
            .map_err(|_| ApiError::BadRequest(format!("resourceVersion {number:?} is not a number")))?,
    };
    let timeout_seconds = match query.get("timeoutSeconds") {
        Some(seconds) => Some(
            seconds
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("timeoutSeconds {seconds:?} is not a number")))?,
        ),
        None => None,
    };
    Ok(WatchPlan {
        resource: path.resource,
        namespace: path.namespace.clone(),
        labels,
        fields,
        since,
        send_initial: since == 0 || initial_events,
        mark_initial_end: initial_events,
        format,
        bookmarks: query.get("allowWatchBookmarks").is_some_and(|b| b == "true" || b == "1"),
        timeout_seconds,
    })
}

fn patch_kind(
    content_type: &str,
    query: &std::collections::BTreeMap<String, String>,
) -> Result<PatchKind, ApiError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    match media {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" => match query.get("fieldManager").filter(|m| !m.is_empty()) {
            Some(manager) => Ok(PatchKind::Apply { manager: manager.clone() }),
            None => {
                Err(ApiError::BadRequest("PATCH requests with apply-patch+yaml require fieldManager".into()))
            }
        },
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the patch type {other:?} is not supported (use merge-patch, strategic-merge-patch or apply-patch+yaml)"
        ))),
    }
}

/// The body as JSON, or as YAML for a server-side apply, or the few
/// protobuf bodies kubectl sends ([`protobuf`]).
fn body(request: &Request) -> Result<Value, ApiError> {
    if request.content_type.starts_with(protobuf::MEDIA_TYPE) {
        return protobuf::decode(&request.body).ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "tc-devcluster reads protobuf only for TokenRequest and SelfSubjectAccessReview; send JSON"
                    .into(),
            )
        });
    }
    if let Ok(value) = serde_json::from_slice::<Value>(&request.body) {
        return Ok(value);
    }
    let text = std::str::from_utf8(&request.body)
        .map_err(|_| ApiError::BadRequest("the body is neither JSON nor UTF-8 YAML".into()))?;
    let documents = datapath::manifest::parse_documents(text)
        .map_err(|e| ApiError::BadRequest(format!("the body cannot be read: {}", e.message)))?;
    match <[Value; 1]>::try_from(documents) {
        Ok([document]) => Ok(document),
        Err(_) => Err(ApiError::BadRequest("the body must be exactly one object".into())),
    }
}

#[cfg(test)]
mod tests;
