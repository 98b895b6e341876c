//! A kube-rs client whose connections are turmoil TCP streams to the
//! simulated API server: the agent's own client code (watchers, server-side
//! apply, Events) on the simulated network, plain HTTP (the in-memory
//! dev API server trusts its callers, who say who they are by
//! impersonation).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube::client::middleware::BaseUriLayer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;

/// The port the simulated API server listens on.
pub const API_PORT: u16 = 6443;

/// Connects every request's connection to `host:API_PORT` on turmoil's
/// network, whatever the URI says (the base URI only names the server).
#[derive(Clone, Debug)]
struct TurmoilConnect {
    host: String,
}

/// A turmoil stream as hyper's client wants a connection to be.
struct SimStream(turmoil::net::TcpStream);

impl Connection for SimStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl tower::Service<Uri> for TurmoilConnect {
    type Response = TokioIo<SimStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let host = self.host.clone();
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect((host.as_str(), API_PORT)).await?;
            Ok(TokioIo::new(SimStream(stream)))
        })
    }
}

/// The user the simulated agents act as: `deploy/rbac.yaml`'s
/// ServiceAccount, which the world's API server holds with its RBAC.
pub const AGENT_USER: &str = "system:serviceaccount:tc-system:tc-agent";

/// A client of the API server on turmoil host `host`, as the
/// administrator (the simulated API server trusts its callers). Call it
/// inside a turmoil host or client (it spawns its connections on that
/// runtime).
pub fn kube_client(host: &str) -> kube::Client {
    client(host, None)
}

/// A client of the API server on `host` as the agent's ServiceAccount: it
/// impersonates [`AGENT_USER`], so the API server's RBAC decides each of
/// its requests as in a cluster (a missing permission is a 403).
pub fn agent_client(host: &str) -> kube::Client {
    client(host, Some(AGENT_USER))
}

fn client(host: &str, user: Option<&'static str>) -> kube::Client {
    let connector = TurmoilConnect { host: host.to_owned() };
    let http: HyperClient<_, kube::client::Body> =
        HyperClient::builder(TokioExecutor::new()).build(connector);
    let base = Uri::builder()
        .scheme("http")
        .authority(format!("{host}:{API_PORT}"))
        .path_and_query("/")
        .build()
        .unwrap_or_default();
    let impersonate = MapRequestLayer::new(move |mut request: http::Request<kube::client::Body>| {
        if let Some(user) = user {
            request.headers_mut().insert("impersonate-user", http::HeaderValue::from_static(user));
        }
        request
    });
    let service = ServiceBuilder::new().layer(BaseUriLayer::new(base)).layer(impersonate).service(http);
    kube::Client::new(service, "default")
}
