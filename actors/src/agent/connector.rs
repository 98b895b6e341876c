//! How the managers reach Open vSwitch: a [`Connector`] opens a fresh
//! stream to OVSDB or to the bridge's OpenFlow socket each time a
//! connection is (re)made. The agent uses [`SocketConnector`] (unix or
//! TCP sockets from the config); the simulation plugs in its own network.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::LocalBoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use datapath::ovsdb::bridge;

use super::messages::ManagerError;
use crate::config::OvsSocket;
use crate::openflow_connection::{self, OpenFlowConnection};
use crate::ovsdb_connection::{self, OvsdbConnection};

/// Opens streams to the switch.
pub trait Connector: Clone + Unpin + 'static {
    /// The stream type.
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;
    /// A new stream to OVSDB.
    fn ovsdb(&self) -> LocalBoxFuture<'static, io::Result<Self::Stream>>;
    /// A new stream to the bridge's OpenFlow socket.
    fn openflow(&self) -> LocalBoxFuture<'static, io::Result<Self::Stream>>;
    /// Where OVSDB is, for messages.
    fn describe_ovsdb(&self) -> String;
    /// Where the OpenFlow socket is, for messages.
    fn describe_openflow(&self) -> String;
}

/// An OVSDB connection monitoring the bridges' ports, its replica filled.
///
/// # Errors
/// [`ManagerError`] when connecting or the monitor fails.
pub async fn connect_ovsdb<C: Connector>(connector: &C) -> Result<OvsdbConnection<C::Stream>, ManagerError> {
    let stream = connector
        .ovsdb()
        .await
        .map_err(|source| ManagerError::Connect { target: connector.describe_ovsdb(), source })?;
    let mut connection = OvsdbConnection::new(stream, ovsdb_connection::DEFAULT_DEADLINE);
    connection
        .monitor(bridge::monitor_request())
        .await
        .map_err(|source| ManagerError::Monitor { target: connector.describe_ovsdb(), source })?;
    Ok(connection)
}

/// An OpenFlow connection of `version`, handshake done.
///
/// # Errors
/// [`ManagerError`] when connecting or the handshake fails.
pub async fn connect_openflow<C: Connector>(
    connector: &C,
    version: u8,
) -> Result<OpenFlowConnection<C::Stream>, ManagerError> {
    let stream = connector
        .openflow()
        .await
        .map_err(|source| ManagerError::Connect { target: connector.describe_openflow(), source })?;
    OpenFlowConnection::handshake(stream, version, openflow_connection::DEFAULT_DEADLINE)
        .await
        .map_err(|source| ManagerError::Handshake { target: connector.describe_openflow(), source })
}

/// The sockets of the agent's configuration.
#[derive(Clone, Debug)]
pub struct SocketConnector {
    /// OVSDB.
    pub ovsdb: OvsSocket,
    /// The bridge's OpenFlow socket.
    pub openflow: OvsSocket,
}

impl Connector for SocketConnector {
    type Stream = OvsStream;

    fn ovsdb(&self) -> LocalBoxFuture<'static, io::Result<OvsStream>> {
        Box::pin(OvsStream::connect(self.ovsdb.clone()))
    }

    fn openflow(&self) -> LocalBoxFuture<'static, io::Result<OvsStream>> {
        Box::pin(OvsStream::connect(self.openflow.clone()))
    }

    fn describe_ovsdb(&self) -> String {
        self.ovsdb.to_string()
    }

    fn describe_openflow(&self) -> String {
        self.openflow.to_string()
    }
}

/// A unix or TCP stream.
#[derive(Debug)]
pub enum OvsStream {
    /// `unix:PATH`.
    Unix(UnixStream),
    /// `tcp:HOST:PORT`.
    Tcp(TcpStream),
}

impl OvsStream {
    async fn connect(socket: OvsSocket) -> io::Result<OvsStream> {
        match socket {
            OvsSocket::Unix(path) => UnixStream::connect(path).await.map(OvsStream::Unix),
            OvsSocket::Tcp(address) => {
                let stream = TcpStream::connect(address).await?;
                // Flow bundles are many small writes; latency matters more
                // than packet count.
                stream.set_nodelay(true)?;
                Ok(OvsStream::Tcp(stream))
            }
        }
    }
}

impl AsyncRead for OvsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OvsStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            OvsStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for OvsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            OvsStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            OvsStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OvsStream::Unix(s) => Pin::new(s).poll_flush(cx),
            OvsStream::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OvsStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            OvsStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
