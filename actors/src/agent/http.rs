//! The agent's HTTP endpoints: `/healthz` (the process runs), `/readyz`
//! (the first full sync is done), `/metrics` (Prometheus text) and
//! `/status` (what this node realized, and whether the switch's flows
//! equal the plan: what `tcctl status` shows).

use std::convert::Infallible;
use std::sync::Arc;

use actix::Recipient;
use datapath::flow_diff;
use datapath::status::Standing;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::messages::DumpAgentFlows;
use super::state::AgentState;

/// Serves the endpoints on `listener` until the process ends.
pub async fn serve(listener: TcpListener, state: Arc<AgentState>, flows: Option<Recipient<DumpAgentFlows>>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "cannot accept an HTTP connection");
                continue;
            }
        };
        let state = state.clone();
        let flows = flows.clone();
        let service = service_fn(move |request| respond(request, state.clone(), flows.clone()));
        actix_rt::spawn(async move {
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        });
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

async fn respond<B>(
    request: Request<B>,
    state: Arc<AgentState>,
    flows: Option<Recipient<DumpAgentFlows>>,
) -> Result<Reply, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    Ok(match request.uri().path() {
        "/healthz" => reply(StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" if state.is_ready() => reply(StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, "waiting for the first full sync\n".into()),
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics.render(),
        ),
        "/status" => {
            let body = status(&state, flows).await;
            reply(StatusCode::OK, "application/json", format!("{body:#}\n"))
        }
        _ => {
            reply(StatusCode::NOT_FOUND, TEXT, "not found: try /healthz, /readyz, /metrics, /status\n".into())
        }
    })
}

/// The `/status` document.
async fn status(state: &AgentState, flows: Option<Recipient<DumpAgentFlows>>) -> Value {
    if state.is_idle() {
        return json!({"node": state.node, "ready": true, "featureGate": "off", "trafficControls": []});
    }
    let Some(realized) = state.realized() else {
        return json!({"node": state.node, "ready": false});
    };
    let plan = &realized.plan;
    let traffic_controls: Vec<Value> = plan
        .precedence
        .iter()
        .filter_map(|name| plan.traffic_controls.get(name).map(|tc| (name, tc)))
        .map(|(name, tc)| {
            let standing = Standing::of(tc, realized.port_failures.get(name));
            json!({
                "name": name,
                "progress": standing.state(),
                "reason": standing.reason(),
                "targetPort": tc.target_port,
                "ofport": plan.ports.get(&tc.target_port).and_then(|p| p.ofport),
                "returnPort": tc.return_port,
                "pods": tc.pods.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "lostPods": tc.lost_pods.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let switch = match flows {
        None => json!({"error": "no switch connection"}),
        Some(flows) => match flows.send(DumpAgentFlows).await {
            Ok(Ok(observed)) => {
                let drift = flow_diff::drift(&plan.flows, &observed);
                json!({
                    "planned": plan.flows.len(),
                    "onSwitch": observed.len(),
                    "inSync": drift.is_empty(),
                    "missing": drift.missing,
                    "unexpected": drift.unexpected,
                })
            }
            Ok(Err(error)) => json!({"error": error.to_string()}),
            Err(error) => json!({"error": error.to_string()}),
        },
    };
    json!({
        "node": state.node,
        "ready": state.is_ready(),
        "trafficControls": traffic_controls,
        "invalid": *realized.traffic_controls.invalid,
        "flows": switch,
    })
}
