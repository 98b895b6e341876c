//! An OpenFlow connection: [`datapath::openflow::session::Session`] driven
//! over any `AsyncRead + AsyncWrite` stream (a unix socket to OVS, TCP, or
//! turmoil's simulated TCP).
//!
//! Each call sends its request and pumps the stream until the answer
//! arrives or the deadline passes; echo requests from the switch are
//! answered on the way, and port status messages are kept for
//! [`OpenFlowConnection::take_port_status`]. The connection holds no
//! decisions: what to send comes from `datapath`.

use std::path::Path;
use std::time::Duration;

use datapath::openflow::flow_mod::{FlowDesc, FlowMod};
use datapath::openflow::message::VERSION_1_5;
use datapath::openflow::port::{PortDesc, PortMod10, PortReason};
use datapath::openflow::session::{Event, RequestId, Session, SessionError};
use datapath::openflow::switch_error::SwitchError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long one request may take before the connection is given up.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// Why an OpenFlow request did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Connecting to the switch failed.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The socket.
        target: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the stream failed.
    #[error("OpenFlow connection failed")]
    Io(#[from] std::io::Error),
    /// The switch closed the connection.
    #[error("the switch closed the OpenFlow connection")]
    Closed,
    /// The protocol cannot go on (malformed message, version).
    #[error(transparent)]
    Protocol(#[from] SessionError),
    /// No answer before the deadline.
    #[error("no answer from the switch within {0:?}")]
    Timeout(Duration),
    /// The switch refused the request.
    #[error("the switch refused {}: {error}", offending.as_deref().unwrap_or("the request"))]
    Refused {
        /// The switch's error.
        error: SwitchError,
        /// The flow_mod it refused, when known.
        offending: Option<String>,
    },
}

/// A port status the switch sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// Why.
    pub reason: PortReason,
    /// The port.
    pub port: PortDesc,
}

/// One OpenFlow connection to a switch.
pub struct OpenFlowConnection<S> {
    stream: S,
    session: Session,
    deadline: Duration,
    datapath_id: u64,
    port_status: Vec<PortStatus>,
    answered: Vec<Event>,
    /// Read buffer, kept across requests.
    buf: Vec<u8>,
}

/// Connects to a switch's unix socket (OVS's `<bridge>.mgmt`) and
/// completes the OpenFlow 1.5 handshake.
///
/// # Errors
/// [`ConnectionError`] when the socket refuses or the handshake fails.
pub async fn connect_unix(
    path: &Path,
) -> Result<OpenFlowConnection<tokio::net::UnixStream>, ConnectionError> {
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|source| ConnectionError::Connect { target: path.display().to_string(), source })?;
    OpenFlowConnection::handshake(stream, VERSION_1_5, DEFAULT_DEADLINE).await
}

impl<S: AsyncRead + AsyncWrite + Unpin> OpenFlowConnection<S> {
    /// Negotiates `version` on `stream` and waits for the switch's
    /// features.
    ///
    /// # Errors
    /// [`ConnectionError`] when the switch does not answer in time or
    /// refuses the version.
    pub async fn handshake(stream: S, version: u8, deadline: Duration) -> Result<Self, ConnectionError> {
        let mut connection = OpenFlowConnection {
            stream,
            session: Session::new(version),
            deadline,
            datapath_id: 0,
            port_status: Vec::new(),
            answered: Vec::new(),
            buf: vec![0; 64 * 1024],
        };
        let ready = connection.pump_until(|event| matches!(event, Event::Ready { .. })).await?;
        if let Event::Ready { datapath_id } = ready {
            connection.datapath_id = datapath_id;
        }
        Ok(connection)
    }

    /// The switch's datapath id.
    pub fn datapath_id(&self) -> u64 {
        self.datapath_id
    }

    /// Port status messages received since the last call.
    pub fn take_port_status(&mut self) -> Vec<PortStatus> {
        std::mem::take(&mut self.port_status)
    }

    /// Applies `flow_mods` atomically (one bundle); nothing is sent for an
    /// empty list.
    ///
    /// # Errors
    /// [`ConnectionError::Refused`] names the flow_mod the switch refused;
    /// none of the bundle is applied then.
    pub async fn apply(&mut self, flow_mods: &[FlowMod]) -> Result<(), ConnectionError> {
        if flow_mods.is_empty() {
            return Ok(());
        }
        let request = self.session.apply(flow_mods);
        self.answer(request).await.map(|_| ())
    }

    /// The flows whose cookie equals `cookie` under `mask`.
    ///
    /// # Errors
    /// [`ConnectionError`] when the dump fails.
    pub async fn dump_flows(&mut self, cookie: u64, mask: u64) -> Result<Vec<FlowDesc>, ConnectionError> {
        self.dump_flows_matching(cookie, mask, Vec::new()).await
    }

    /// The flows of [`OpenFlowConnection::dump_flows`] that also match on
    /// `matches`.
    ///
    /// # Errors
    /// [`ConnectionError`] when the dump fails.
    pub async fn dump_flows_matching(
        &mut self,
        cookie: u64,
        mask: u64,
        matches: Vec<datapath::flows::Match>,
    ) -> Result<Vec<FlowDesc>, ConnectionError> {
        let request = self.session.dump_flows_matching(cookie, mask, matches);
        match self.answer(request).await? {
            Event::Flows { flows, .. } => Ok(flows),
            _ => Ok(Vec::new()),
        }
    }

    /// Every port of the switch.
    ///
    /// # Errors
    /// [`ConnectionError`] when the dump fails.
    pub async fn dump_ports(&mut self) -> Result<Vec<PortDesc>, ConnectionError> {
        let request = self.session.dump_ports();
        match self.answer(request).await? {
            Event::Ports { ports, .. } => Ok(ports),
            _ => Ok(Vec::new()),
        }
    }

    /// Changes a port's config bits (OpenFlow 1.0 connections only: that
    /// is where no-flood exists).
    ///
    /// # Errors
    /// [`ConnectionError::Refused`] when the switch refuses (e.g. the port
    /// address does not match).
    pub async fn port_mod(&mut self, port_mod: PortMod10) -> Result<(), ConnectionError> {
        let request = self.session.port_mod(port_mod);
        self.answer(request).await.map(|_| ())
    }

    /// Changes several ports' config bits at once: every port_mod is sent
    /// before the first answer is awaited (one round trip, not one each).
    ///
    /// # Errors
    /// [`ConnectionError::Refused`] when the switch refuses one (those
    /// before it are applied).
    pub async fn port_mods(&mut self, port_mods: &[PortMod10]) -> Result<(), ConnectionError> {
        let requests: Vec<RequestId> = port_mods.iter().map(|m| self.session.port_mod(m.clone())).collect();
        for request in requests {
            self.answer(request).await?;
        }
        Ok(())
    }

    /// Waits, as long as it takes, for the next port status message: what
    /// a liveness watcher does. Echo requests are answered on the way, and
    /// the switch closing the connection (ovs-vswitchd stopped) ends it.
    ///
    /// # Errors
    /// [`ConnectionError::Closed`] when the switch goes away.
    pub async fn next_port_status(&mut self) -> Result<PortStatus, ConnectionError> {
        loop {
            if !self.port_status.is_empty() {
                return Ok(self.port_status.remove(0));
            }
            self.pump_once().await?;
        }
    }

    /// Waits until everything sent before is done.
    ///
    /// # Errors
    /// [`ConnectionError`] when the switch does not answer.
    pub async fn barrier(&mut self) -> Result<(), ConnectionError> {
        let request = self.session.barrier();
        self.answer(request).await.map(|_| ())
    }

    async fn answer(&mut self, request: RequestId) -> Result<Event, ConnectionError> {
        let event = self.pump_until(|event| answers(event, request)).await?;
        match event {
            Event::Failed { error, offending, .. } => Err(ConnectionError::Refused { error, offending }),
            other => Ok(other),
        }
    }

    /// Sends what the session queued and reads until `wanted` matches an
    /// event, within the deadline.
    async fn pump_until(&mut self, wanted: impl Fn(&Event) -> bool) -> Result<Event, ConnectionError> {
        let deadline = self.deadline;
        tokio::time::timeout(deadline, self.pump(wanted))
            .await
            .map_err(|_| ConnectionError::Timeout(deadline))?
    }

    async fn pump(&mut self, wanted: impl Fn(&Event) -> bool) -> Result<Event, ConnectionError> {
        loop {
            if let Some(at) = self.answered.iter().position(&wanted) {
                return Ok(self.answered.remove(at));
            }
            self.pump_once().await?;
        }
    }

    /// Writes what the session queued, reads once, and sorts what came in.
    async fn pump_once(&mut self) -> Result<(), ConnectionError> {
        let outgoing = self.session.take_outgoing();
        if !outgoing.is_empty() {
            self.stream.write_all(&outgoing).await?;
            self.stream.flush().await?;
        }
        let n = self.stream.read(&mut self.buf).await?;
        if n == 0 {
            return Err(ConnectionError::Closed);
        }
        for event in self.session.receive(&self.buf[..n])? {
            match event {
                Event::PortStatus { reason, port } => self.port_status.push(PortStatus { reason, port }),
                Event::UnsolicitedError(error) => {
                    tracing::warn!(%error, "the switch reported an error about no pending request");
                }
                other => self.answered.push(other),
            }
        }
        Ok(())
    }
}

fn answers(event: &Event, request: RequestId) -> bool {
    match event {
        Event::Flows { request: r, .. }
        | Event::Ports { request: r, .. }
        | Event::Done { request: r }
        | Event::Failed { request: r, .. } => *r == request,
        Event::Ready { .. } | Event::PortStatus { .. } | Event::UnsolicitedError(_) => false,
    }
}
