//! The dev API server as `tc-devcluster` runs it on this machine: HTTPS on
//! a TCP socket, bearer tokens checked, its state and secrets saved to a
//! data directory, and the administrator's kubeconfig. The simulation uses
//! none of this: it serves the same [`ApiServer`] on turmoil's streams, in
//! memory, trusting its callers.
//!
//! - [`persist`]: atomic files, the state snapshot and the credentials.
//! - [`tls`]: the CA and the serving certificate.
//! - [`kubeconfig`]: the kubeconfig for a server address.
//! - [`client`]: one blocking HTTPS request, for tests and benches.

pub mod client;
pub mod kubeconfig;
pub mod persist;
pub mod tls;

use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use crate::apiserver::authn::Credentials;
use crate::apiserver::cluster::Cluster;
use crate::server::{ApiServer, Clock};
use persist::PersistError;

impl ApiServer {
    /// A server that authenticates its callers with `credentials`: its
    /// state in `data_dir` if given (loaded from its snapshot if there is
    /// one, saved after every write), else in memory.
    ///
    /// # Errors
    /// [`PersistError`] when the snapshot cannot be read or the directory
    /// cannot be written.
    pub fn open(
        clock: Clock,
        data_dir: Option<PathBuf>,
        credentials: Credentials,
    ) -> Result<ApiServer, PersistError> {
        let Some(data_dir) = data_dir else {
            let cluster = Cluster::new(clock());
            return Ok(ApiServer::with_cluster(cluster, clock, None, Some(credentials)));
        };
        let cluster = match persist::load_snapshot(&data_dir)? {
            Some(snapshot) => Cluster::from_snapshot(&snapshot, clock()).map_err(|e| {
                PersistError::Malformed { path: data_dir.join(persist::SNAPSHOT_FILE), reason: e.to_string() }
            })?,
            None => Cluster::new(clock()),
        };
        info!(data_dir = %data_dir.display(), revision = cluster.store().revision(), "state loaded");
        persist::save_snapshot(&data_dir, &cluster.snapshot())?;
        Ok(ApiServer::with_cluster(cluster, clock, Some(data_dir), Some(credentials)))
    }

    /// Accepts TLS connections on `listener` forever, each served on its
    /// own task.
    ///
    /// # Errors
    /// When accepting fails.
    pub async fn serve(&self, listener: TcpListener, tls: TlsAcceptor) -> std::io::Result<()> {
        loop {
            let (stream, peer) = listener.accept().await?;
            let server = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let stream = match tls.accept(stream).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                };
                if let Err(error) = server.serve_connection(stream).await {
                    debug!(%peer, %error, "connection ended");
                }
            });
        }
    }
}
