//! [`ApiServer`]: the API state shared by every connection, and the
//! HTTP/1.1 loop that serves it on any `AsyncRead + AsyncWrite` stream
//! (a TCP socket in `tc-devcluster`, turmoil's simulated streams in the
//! simulation). The socket, the data directory and the kubeconfig are
//! [`crate::socket`]'s.
//!
//! Every request is answered by [`crate::apiserver::handler::handle`]
//! under one lock, which is never held across an await. A write wakes the
//! watches through a `tokio::sync::watch` channel (no polling) and, with a
//! data directory, saves the snapshot before the client gets its answer.
//!
//! - [`body`]: response bodies, whole or streamed.

pub mod body;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, warn};

use crate::apiserver::audit::{Audit, AuditRecord};
use crate::apiserver::authn::Credentials;
use crate::apiserver::clock::Timestamp;
use crate::apiserver::cluster::{Cluster, PatchKind, Target};
use crate::apiserver::handler::{ApiState, Reply, Request, Response, handle};
use crate::apiserver::resources::ResourceType;
use crate::apiserver::status::ApiError;
use crate::apiserver::watch::WatchPlan;
use crate::socket::persist;
use body::Body;

/// The largest request body accepted: the real API server's 3 MiB (twice
/// etcd's limit, for JSON that shrinks to protobuf on the way).
pub const MAX_BODY: usize = 3 << 20;
/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// Where the time comes from (the system clock, or the simulation's).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock, in whole seconds.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Timestamp(i64::try_from(seconds).unwrap_or(i64::MAX))
    })
}

struct Shared {
    state: Mutex<ApiState>,
    /// The revision after the last write; watches wait on it.
    changes: watch::Sender<u64>,
    clock: Clock,
    data_dir: Option<PathBuf>,
}

/// The dev API server: cheap to clone, every clone the same server.
#[derive(Clone)]
pub struct ApiServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").field("data_dir", &self.shared.data_dir).finish_non_exhaustive()
    }
}

impl ApiServer {
    /// A server with nothing but the TrafficControl CRD, in memory, that
    /// trusts its callers ([`ApiState::credentials`]): the simulation's.
    pub fn new(clock: Clock) -> ApiServer {
        let cluster = Cluster::new(clock());
        ApiServer::with_cluster(cluster, clock, None, None)
    }

    /// A server holding `cluster`, saved to `data_dir` after every write
    /// if there is one, authenticating with `credentials` if given.
    pub(crate) fn with_cluster(
        cluster: Cluster,
        clock: Clock,
        data_dir: Option<PathBuf>,
        credentials: Option<Credentials>,
    ) -> ApiServer {
        let (changes, _) = watch::channel(cluster.store().revision());
        let state = Mutex::new(ApiState { cluster, audit: Audit::default(), credentials });
        ApiServer { shared: Arc::new(Shared { state, changes, clock, data_dir }) }
    }

    fn lock(&self) -> MutexGuard<'_, ApiState> {
        // A panic while holding the lock leaves the state as consistent as
        // the store's own steps; serving on is better than dying.
        self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `step` on the state; after a write, saves the snapshot and
    /// wakes the watches.
    pub fn with_state<R>(&self, step: impl FnOnce(&mut ApiState, Timestamp) -> R) -> R {
        let now = (self.shared.clock)();
        let mut state = self.lock();
        let before = state.cluster.store().revision();
        let result = step(&mut state, now);
        let after = state.cluster.store().revision();
        if after != before {
            if let Some(dir) = &self.shared.data_dir
                && let Err(error) = persist::save_snapshot(dir, &state.cluster.snapshot())
            {
                let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
                error!(%error, %cause, revision = after, "the state could not be saved");
            }
            self.shared.changes.send_replace(after);
        }
        result
    }

    /// Answers one request (a watch is answered with its plan).
    pub fn handle(&self, request: &Request) -> Reply {
        self.with_state(|state, now| handle(state, request, now))
    }

    /// Creates an object, as a POST would.
    ///
    /// # Errors
    /// As [`Cluster::create`].
    pub fn create(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, ApiError> {
        self.with_state(|state, now| state.cluster.create(resource, namespace, object, now)).map(|w| w.object)
    }

    /// One object.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub fn get(&self, target: Target<'_>) -> Result<Value, ApiError> {
        self.lock().cluster.get(target)
    }

    /// Applies a JSON merge patch to an object or (with `target.status`)
    /// to its status.
    ///
    /// # Errors
    /// As [`Cluster::patch`].
    pub fn merge_patch(&self, target: Target<'_>, patch: &Value) -> Result<Value, ApiError> {
        self.with_state(|state, now| state.cluster.patch(target, &PatchKind::Merge, patch, now))
            .map(|w| w.object)
    }

    /// Deletes an object.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub fn delete(&self, target: Target<'_>) -> Result<Value, ApiError> {
        self.with_state(|state, _| state.cluster.delete(target))
    }

    /// The current resourceVersion.
    pub fn revision(&self) -> u64 {
        self.lock().cluster.store().revision()
    }

    /// Forgets the watch history, as a restarted API server does: watches
    /// from older versions get `410 Gone`.
    pub fn forget_history(&self) {
        self.lock().cluster.forget_history();
    }

    /// The requests answered so far.
    pub fn audit(&self) -> Vec<AuditRecord> {
        self.lock().audit.records().cloned().collect()
    }

    /// Serves HTTP/1.1 on one connection until the client closes it.
    ///
    /// # Errors
    /// hyper's, when the connection breaks mid-request.
    pub async fn serve_connection<S>(&self, stream: S) -> Result<(), hyper::Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let server = self.clone();
        let service = service_fn(move |request| {
            let server = server.clone();
            async move { Ok::<_, std::convert::Infallible>(server.respond(request).await) }
        });
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
    }

    async fn respond(&self, request: hyper::Request<Incoming>) -> hyper::Response<Body> {
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                let error = if error.is::<http_body_util::LengthLimitError>() {
                    ApiError::RequestEntityTooLarge(format!("Request entity too large: limit is {MAX_BODY}"))
                } else {
                    ApiError::BadRequest(format!("the request body cannot be read: {error}"))
                };
                return json_response(Response {
                    status: error.code(),
                    body: error.to_status(),
                    warnings: vec![],
                });
            }
        };
        let header = |name: header::HeaderName| {
            parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        let impersonate_groups = parts
            .headers
            .get_all("impersonate-group")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let request = Request {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            accept: header(header::ACCEPT),
            content_type: header(header::CONTENT_TYPE),
            user_agent: header(header::USER_AGENT),
            authorization: header(header::AUTHORIZATION),
            impersonate_user: header(header::HeaderName::from_static("impersonate-user")),
            impersonate_groups,
            body: body.to_vec(),
        };
        let reply = self.handle(&request);
        debug!(method = %request.method, path = %request.path, query = %request.query, "request");
        match reply {
            Reply::Done(response) => json_response(response),
            Reply::Watch(plan) => {
                let (sender, receiver) = mpsc::channel(64);
                tokio::spawn(self.clone().stream_watch(*plan, sender));
                let mut response = hyper::Response::new(Body::Stream(receiver));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
        }
    }

    /// Feeds one watch's events into its response until the client goes,
    /// the timeout passes or the history is gone.
    async fn stream_watch(self, mut plan: WatchPlan, sender: mpsc::Sender<Bytes>) {
        let mut changes = self.shared.changes.subscribe();
        let timeout = plan.timeout_seconds.map(Duration::from_secs).unwrap_or(Duration::from_secs(1800));
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            changes.borrow_and_update();
            let batch = {
                let now = (self.shared.clock)();
                let state = self.lock();
                plan.poll(&state.cluster, now)
            };
            for event in &batch.events {
                if sender.send(line(event)).await.is_err() {
                    return;
                }
            }
            if batch.end {
                return;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = &mut deadline => return,
                () = tokio::time::sleep(BOOKMARK_INTERVAL), if plan.bookmarks => {
                    if sender.send(line(&plan.bookmark())).await.is_err() {
                        return;
                    }
                }
                () = sender.closed() => return,
            }
        }
    }
}

fn line(event: &Value) -> Bytes {
    let mut text = event.to_string();
    text.push('\n');
    Bytes::from(text)
}

fn json_response(response: Response) -> hyper::Response<Body> {
    let mut out = hyper::Response::new(Body::full(response.body.to_string()));
    *out.status_mut() = hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::OK);
    let headers = out.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for warning in response.warnings {
        match HeaderValue::from_str(&warning_header(&warning)) {
            Ok(value) => {
                headers.append(header::WARNING, value);
            }
            Err(error) => warn!(%warning, %error, "a warning cannot be sent as a header"),
        }
    }
    out
}

/// `299 - "text"`, the form client-go prints as `Warning: text`.
fn warning_header(text: &str) -> String {
    let escaped: String = text
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
        .collect::<String>()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("299 - \"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_quoted_for_the_header() {
        assert_eq!(warning_header("tc/x: a \"b\""), "299 - \"tc/x: a \\\"b\\\"\"");
        assert_eq!(warning_header("é"), "299 - \"?\"");
    }
}
