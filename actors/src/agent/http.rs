//! The agent's HTTP endpoints: `/healthz` (the process runs), `/readyz`
//! (the first full sync is done), `/metrics` (Prometheus text) and
//! `/status` (what this node realized, and whether the switch's flows
//! equal the plan: what `tcctl status` shows).

use std::convert::Infallible;
use std::sync::Arc;

use datapath::flow_diff;
use datapath::plan::BridgeMode;
use datapath::status::{AgentStatus, FlowStatus, SwitchFlows, mirror_status};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::messages::{DumpAgentFlows, ReadBridge};
use super::runner::SwitchReaders;
use super::state::AgentState;
use crate::errors::Chain;

/// Serves the endpoints on `listener` until the process ends.
pub async fn serve(listener: TcpListener, state: Arc<AgentState>, switch: Option<SwitchReaders>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "cannot accept an HTTP connection");
                continue;
            }
        };
        let state = state.clone();
        let switch = switch.clone();
        let service = service_fn(move |request| respond(request, state.clone(), switch.clone()));
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
    switch: Option<SwitchReaders>,
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
            let document = status(&state, switch).await;
            match serde_json::to_string_pretty(&document) {
                Ok(body) => reply(StatusCode::OK, "application/json", body + "\n"),
                Err(error) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{error}\n")),
            }
        }
        _ => {
            reply(StatusCode::NOT_FOUND, TEXT, "not found: try /healthz, /readyz, /metrics, /status\n".into())
        }
    })
}

/// The `/status` document.
async fn status(state: &AgentState, switch: Option<SwitchReaders>) -> AgentStatus {
    if state.is_idle() {
        return AgentStatus::gate_off(&state.node);
    }
    let Some(realized) = state.realized() else {
        return AgentStatus::starting(&state.node, state.mode);
    };
    let plan = &realized.plan;
    let Some(switch) = switch else {
        let none = SwitchFlows::Unreadable { error: "no switch connection".to_owned() };
        return AgentStatus::realized(
            &state.node,
            state.mode,
            plan,
            &realized.traffic_controls.invalid,
            none,
            None,
        );
    };
    let flows = match switch.flows.send(DumpAgentFlows).await {
        Ok(Ok(observed)) => {
            let drift = flow_diff::drift(&plan.flows, &observed.flows);
            SwitchFlows::Read(FlowStatus::new(plan.flows.len(), observed.flows.len(), drift))
        }
        Ok(Err(error)) => unreadable(&error),
        Err(error) => unreadable(&error),
    };
    let mirrors = match state.mode {
        BridgeMode::Owned => None,
        BridgeMode::Shared => Some(match switch.bridge.send(ReadBridge).await {
            Ok(Ok(view)) => SwitchFlows::Read(mirror_status(&plan.mirrors, &view.mirrors)),
            Ok(Err(error)) => unreadable(&error),
            Err(error) => unreadable(&error),
        }),
    };
    AgentStatus::realized(&state.node, state.mode, plan, &realized.traffic_controls.invalid, flows, mirrors)
}

fn unreadable(error: &dyn std::error::Error) -> SwitchFlows {
    SwitchFlows::Unreadable { error: Chain(error).to_string() }
}
