//! The dev API server as `tc-devcluster` runs it on this machine: accepting
//! on a TCP socket, its state saved to a data directory after every write,
//! and the kubeconfig that points kubectl at it. The simulation uses none of
//! this: it serves the same [`ApiServer`] on turmoil's streams, in memory.
//!
//! - [`persist`]: atomic files and the state snapshot.
//! - [`kubeconfig`]: the kubeconfig for a server address.

pub mod kubeconfig;
pub mod persist;

use std::path::PathBuf;

use tokio::net::TcpListener;
use tracing::{debug, info};

use crate::apiserver::cluster::Cluster;
use crate::server::{ApiServer, Clock};
use persist::PersistError;

impl ApiServer {
    /// A server whose state lives in `data_dir`: loaded from its snapshot
    /// if there is one, saved after every write.
    ///
    /// # Errors
    /// [`PersistError`] when the snapshot cannot be read or the directory
    /// cannot be written.
    pub fn with_data_dir(clock: Clock, data_dir: PathBuf) -> Result<ApiServer, PersistError> {
        std::fs::create_dir_all(&data_dir)
            .map_err(|source| PersistError::Write { path: data_dir.clone(), source })?;
        let cluster = match persist::load_snapshot(&data_dir)? {
            Some(snapshot) => Cluster::from_snapshot(&snapshot, clock()).map_err(|e| {
                PersistError::Malformed { path: data_dir.join(persist::SNAPSHOT_FILE), reason: e.to_string() }
            })?,
            None => Cluster::new(clock()),
        };
        info!(data_dir = %data_dir.display(), revision = cluster.store().revision(), "state loaded");
        persist::save_snapshot(&data_dir, &cluster.snapshot())?;
        Ok(ApiServer::with_cluster(cluster, clock, Some(data_dir)))
    }

    /// Accepts connections on `listener` forever, each served on its own
    /// task.
    ///
    /// # Errors
    /// When accepting fails.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = listener.accept().await?;
            let server = self.clone();
            tokio::spawn(async move {
                if let Err(error) = server.serve_connection(stream).await {
                    debug!(%peer, %error, "connection ended");
                }
            });
        }
    }
}
