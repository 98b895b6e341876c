//! The `apiserver` host: the dev API server's code on turmoil's network,
//! its clock turmoil's.

use std::sync::Arc;

use devcluster::ApiServer;
use devcluster::apiserver::clock::Timestamp;
use devcluster::server::Clock;

use super::kube_client::API_PORT;

/// When the simulation starts, in API-server time: 2026-01-01T00:00:00Z.
pub const EPOCH: i64 = 1_767_225_600;

/// Virtual time: [`EPOCH`] plus the simulation's elapsed seconds.
pub fn sim_clock() -> Clock {
    Arc::new(|| {
        let elapsed = turmoil::sim_elapsed().unwrap_or_default().as_secs();
        Timestamp(EPOCH + i64::try_from(elapsed).unwrap_or(i64::MAX))
    })
}

/// Serves `server` on `API_PORT` until the host is stopped; each
/// connection on its own task.
///
/// # Errors
/// When binding or accepting fails.
pub async fn serve(server: ApiServer) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", API_PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let server = server.clone();
        tokio::task::spawn_local(async move {
            if let Err(error) = server.serve_connection(stream).await {
                tracing::debug!(%error, "simulated API connection ended");
            }
        });
    }
}
