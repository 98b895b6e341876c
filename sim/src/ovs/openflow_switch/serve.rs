//! The switch served on byte streams: one loop per connection, all over
//! one shared switch, as ovs-vswitchd serves every controller connection
//! from one process.
//!
//! A loop must also write what another party queued for its connection
//! (a port status after `add_port`, a port_mod on another connection) and
//! end when `restart` closes it. So every change goes through
//! [`SharedSwitch::with`], which wakes every loop afterwards (a
//! [`tokio::sync::Notify`]); a loop registers for the wake-up before it
//! looks at the switch, so none is lost. Only tokio's I/O, sync and
//! `select!` are used: it runs on a current-thread runtime and under
//! turmoil, with no OS thread and no clock.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::OpenFlowSwitch;

/// How much one read takes from the stream.
const READ_CHUNK: usize = 64 * 1024;

/// The switch shared by its connections' loops and whoever drives the
/// world (adds ports, restarts it, reads its flows).
#[derive(Clone, Debug)]
pub struct SharedSwitch {
    switch: Arc<Mutex<OpenFlowSwitch>>,
    changed: Arc<Notify>,
    checks: Arc<Mutex<Checks>>,
}

/// A check run after every change of the switch.
type Check = Box<dyn FnMut(&OpenFlowSwitch) + Send>;

/// What runs after every change of the switch.
#[derive(Default)]
struct Checks(Vec<Check>);

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} checks", self.0.len())
    }
}

impl SharedSwitch {
    /// Shares `switch`.
    pub fn new(switch: OpenFlowSwitch) -> Self {
        SharedSwitch {
            switch: Arc::new(Mutex::new(switch)),
            changed: Arc::new(Notify::new()),
            checks: Arc::default(),
        }
    }

    /// Runs `check` after every [`SharedSwitch::with`], on the switch as
    /// that call left it: every message a connection sends goes through
    /// `with`, so an invariant checked here holds between any two of them.
    pub fn on_change(&self, check: impl FnMut(&OpenFlowSwitch) + Send + 'static) {
        self.checks.lock().unwrap_or_else(PoisonError::into_inner).0.push(Box::new(check));
    }

    /// Runs `f` on the switch, then the checks, then wakes every
    /// connection's loop so that what `f` queued goes out (and a restart's
    /// closed connections end).
    pub fn with<R>(&self, f: impl FnOnce(&mut OpenFlowSwitch) -> R) -> R {
        let result = {
            let mut switch = self.lock();
            let result = f(&mut switch);
            for check in &mut self.checks.lock().unwrap_or_else(PoisonError::into_inner).0 {
                check(&switch);
            }
            result
        };
        self.changed.notify_waiters();
        result
    }

    /// Reads the switch without waking anyone.
    pub fn read<R>(&self, f: impl FnOnce(&OpenFlowSwitch) -> R) -> R {
        f(&self.lock())
    }

    // A panic while the lock was held leaves the switch as the panicking
    // step left it; the simulation reports that panic, not a poisoned lock.
    fn lock(&self) -> std::sync::MutexGuard<'_, OpenFlowSwitch> {
        self.switch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves one connection on `stream` until the peer closes it, the
    /// stream fails, or the switch closes it (`restart`, a failed hello,
    /// bytes that cannot be framed); the stream is dropped then, so the
    /// peer reads EOF.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(self, stream: S) {
        self.serve_from(stream, "").await;
    }

    /// [`SharedSwitch::serve`] for a connection from `peer` (a host's
    /// name): the switch counts its flow changes under that name.
    pub async fn serve_from<S: AsyncRead + AsyncWrite + Unpin>(self, stream: S, peer: &str) {
        let id = self.with(|switch| switch.connect_from(peer));
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut buf = vec![0u8; READ_CHUNK];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (outgoing, closed) = {
                let mut switch = self.lock();
                (switch.take_outgoing(id), switch.is_closed(id))
            };
            if closed {
                // Only a failed hello leaves a farewell. After a restart
                // there is none, and what this loop still held is dropped:
                // it died with the process.
                if !outgoing.is_empty() {
                    let _ = writer.write_all(&outgoing).await;
                    let _ = writer.flush().await;
                }
                break;
            }
            pending.extend(outgoing);
            tokio::select! {
                read = reader.read(&mut buf) => match read {
                    Ok(n) if n > 0 => {
                        // A refusal is queued for the peer; an
                        // unframeable stream closes the connection, which
                        // the next turn sees.
                        let _ = self.with(|switch| switch.receive(id, &buf[..n]));
                    }
                    _ => break,
                },
                written = writer.write(&pending), if !pending.is_empty() => match written {
                    Ok(n) if n > 0 => {
                        pending.drain(..n);
                        if pending.is_empty() && writer.flush().await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                },
                () = &mut changed => {}
            }
        }
        self.with(|switch| switch.disconnect(id));
    }
}
