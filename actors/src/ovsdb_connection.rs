//! An OVSDB connection: [`datapath::ovsdb::session::Session`] driven over
//! any `AsyncRead + AsyncWrite` stream. Requests pump the stream until
//! answered or the deadline passes; the server's echo requests are answered
//! and monitor updates applied on the way.

use std::time::Duration;

use datapath::ovsdb::replica::Replica;
use datapath::ovsdb::session::{Event, RequestId, Session, SessionError, Transaction, TransactionError};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const READ_BUFFER: usize = 64 * 1024;

/// How long one request may take before the connection is given up.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// Why an OVSDB request did not complete.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    /// Reading or writing the stream failed.
    #[error("OVSDB connection failed")]
    Io(#[from] std::io::Error),
    /// The server closed the connection.
    #[error("the OVSDB server closed the connection")]
    Closed,
    /// The protocol cannot go on.
    #[error(transparent)]
    Protocol(#[from] SessionError),
    /// No answer before the deadline.
    #[error("no answer from OVSDB within {0:?}")]
    Timeout(Duration),
    /// The server refused a transaction.
    #[error("OVSDB refused the transaction")]
    Refused(#[from] TransactionError),
}

/// One OVSDB connection.
pub struct OvsdbConnection<S> {
    stream: S,
    session: Session,
    deadline: Duration,
    answered: Vec<Event>,
    /// Read buffer, kept: monitor updates arrive one small read at a time.
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> OvsdbConnection<S> {
    /// A connection over `stream`.
    pub fn new(stream: S, deadline: Duration) -> Self {
        OvsdbConnection {
            stream,
            session: Session::new(),
            deadline,
            answered: Vec::new(),
            buf: vec![0; READ_BUFFER],
        }
    }

    /// The monitored rows.
    pub fn replica(&self) -> &Replica {
        self.session.replica()
    }

    /// Starts a monitor and waits for its initial rows.
    ///
    /// # Errors
    /// [`OvsdbError`] when the server refuses or does not answer.
    pub async fn monitor(&mut self, tables: Value) -> Result<(), OvsdbError> {
        let request = self.session.monitor(tables);
        self.pump_until(|e| matches!(e, Event::Monitoring { request: r } if *r == request)).await.map(|_| ())
    }

    /// Commits `operations` atomically.
    ///
    /// # Errors
    /// [`OvsdbError::Refused`] names the failing operation; nothing is
    /// committed then.
    pub async fn transact(&mut self, operations: Vec<Value>) -> Result<Transaction, OvsdbError> {
        let request = self.session.transact(operations);
        match self.pump_until(|e| answers(e, request)).await? {
            Event::Transacted { outcome, .. } => Ok(outcome?),
            _ => Err(OvsdbError::Closed),
        }
    }

    /// Sends an echo and waits for the server's answer: the connection is
    /// alive.
    ///
    /// # Errors
    /// [`OvsdbError`] when it does not answer.
    pub async fn echo(&mut self) -> Result<(), OvsdbError> {
        let request = self.session.echo();
        self.pump_until(|e| matches!(e, Event::Echoed { request: r } if *r == request)).await.map(|_| ())
    }

    /// Waits until the replica satisfies `condition` (updates keep coming
    /// in), or the deadline passes.
    ///
    /// # Errors
    /// [`OvsdbError::Timeout`] when it never does.
    pub async fn wait_for(&mut self, condition: impl Fn(&Replica) -> bool) -> Result<(), OvsdbError> {
        let deadline = self.deadline;
        tokio::time::timeout(deadline, async {
            while !condition(self.session.replica()) {
                self.pump_once().await?;
            }
            Ok(())
        })
        .await
        .map_err(|_| OvsdbError::Timeout(deadline))?
    }

    /// Waits, as long as it takes, until a monitor update changes the
    /// replica: what a watcher does between requests. Reads only when
    /// the server writes, so an idle switch costs no CPU.
    ///
    /// # Errors
    /// [`OvsdbError`] when the connection fails or closes.
    pub async fn next_update(&mut self) -> Result<(), OvsdbError> {
        while !self.pump_once().await? {}
        Ok(())
    }

    async fn pump_until(&mut self, wanted: impl Fn(&Event) -> bool) -> Result<Event, OvsdbError> {
        let deadline = self.deadline;
        tokio::time::timeout(deadline, async {
            loop {
                if let Some(at) = self.answered.iter().position(&wanted) {
                    return Ok(self.answered.remove(at));
                }
                self.pump_once().await?;
            }
        })
        .await
        .map_err(|_| OvsdbError::Timeout(deadline))?
    }

    /// Writes what is queued, reads once, and keeps the answers; says
    /// whether a monitor update came in.
    async fn pump_once(&mut self) -> Result<bool, OvsdbError> {
        let outgoing = self.session.take_outgoing();
        if !outgoing.is_empty() {
            self.stream.write_all(&outgoing).await?;
            self.stream.flush().await?;
        }
        let n = self.stream.read(&mut self.buf).await?;
        if n == 0 {
            return Err(OvsdbError::Closed);
        }
        let events = self.session.receive(&self.buf[..n])?;
        let updated = events.iter().any(|e| matches!(e, Event::Updated));
        self.answered.extend(events.into_iter().filter(|e| !matches!(e, Event::Updated)));
        // Echo replies the session queued go out on the next pump; send
        // them now so a quiet connection is not dropped for silence.
        let replies = self.session.take_outgoing();
        if !replies.is_empty() {
            self.stream.write_all(&replies).await?;
        }
        Ok(updated)
    }
}

fn answers(event: &Event, request: RequestId) -> bool {
    matches!(event, Event::Transacted { request: r, .. } | Event::Monitoring { request: r } if *r == request)
}
