//! Serving one client stream: bytes read go to the shared server, the
//! bytes it queues for this connection are written back. Besides its own
//! reads, the loop wakes on [`OvsdbServer::subscribe`]: another
//! connection's transaction or a hook may have queued monitor updates for
//! it. Reading and writing proceed together, so a client that writes a
//! large transaction while the server writes a large update cannot
//! deadlock the pair.
//!
//! Tokio APIs only (no OS threads, no wall clock): it runs on a
//! current-thread runtime and on turmoil's hosts alike.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::{ConnectionId, OvsdbServer, OvsdbServerError};

const READ_BUFFER: usize = 64 * 1024;

/// Why a served connection ended other than by the peer closing it.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reading or writing the stream failed.
    #[error("OVSDB stream failed")]
    Io(#[from] std::io::Error),
    /// The peer sent something that is not JSON-RPC.
    #[error(transparent)]
    Protocol(#[from] OvsdbServerError),
}

fn lock(server: &Mutex<OvsdbServer>) -> MutexGuard<'_, OvsdbServer> {
    // A panic elsewhere while holding the lock leaves the data as it was
    // between two whole requests: serving on is better than poisoning
    // every connection.
    server.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves `stream` as one OVSDB connection until the peer closes it (then
/// `Ok`) or it fails; the connection and its monitors are removed either
/// way.
///
/// # Errors
/// [`ServeError`] when the stream fails or the peer sends bytes that are
/// not JSON-RPC.
pub async fn serve<S: AsyncRead + AsyncWrite>(
    server: Arc<Mutex<OvsdbServer>>,
    stream: S,
) -> Result<(), ServeError> {
    let (id, changes) = {
        let mut guard = lock(&server);
        (guard.connect(), guard.subscribe())
    };
    let result = pump(&server, id, changes, stream).await;
    lock(&server).disconnect(id);
    result
}

enum Woken {
    Read(usize),
    Wrote(usize),
    Changed { open: bool },
}

async fn pump<S: AsyncRead + AsyncWrite>(
    server: &Mutex<OvsdbServer>,
    id: ConnectionId,
    mut changes: watch::Receiver<u64>,
    stream: S,
) -> Result<(), ServeError> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0; READ_BUFFER];
    let mut outgoing: Vec<u8> = Vec::new();
    let mut watching = true;
    loop {
        outgoing.extend(lock(server).take_outgoing(id));
        // `biased`: select!'s default random pick would make runs differ.
        // Writing first is backpressure: a peer that does not read stops
        // the writes, and its requests are still read.
        let woken = tokio::select! {
            biased;
            written = writer.write(&outgoing), if !outgoing.is_empty() => Woken::Wrote(written?),
            read = reader.read(&mut buf) => Woken::Read(read?),
            changed = changes.changed(), if watching => Woken::Changed { open: changed.is_ok() },
        };
        match woken {
            Woken::Read(0) => return Ok(()),
            Woken::Read(n) => lock(server).receive(id, &buf[..n])?,
            Woken::Wrote(0) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()),
            Woken::Wrote(n) => {
                outgoing.drain(..n);
                if outgoing.is_empty() {
                    writer.flush().await?;
                }
            }
            // The server lives as long as `server` does, so the channel
            // cannot close; if it did, reads still drive this connection.
            Woken::Changed { open } => watching = open,
        }
    }
}
