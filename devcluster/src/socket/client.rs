//! One blocking HTTPS request to a `tc-devcluster`, as its kubeconfig
//! says (server, CA, token): for tests and benches that need a raw answer
//! (a status code, a body kubectl would not show), without an async
//! client stack.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

/// Why a request could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig or its CA file cannot be read.
    #[error("{0}")]
    Config(String),
    /// Connecting, TLS or the exchange failed.
    #[error("the request to {address} failed")]
    Io {
        /// The server.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The answer is not HTTP.
    #[error("the answer from {0} is not HTTP")]
    Malformed(String),
}

/// A server, how to trust it and who to be.
#[derive(Clone)]
pub struct Client {
    /// `127.0.0.1:PORT`.
    pub address: String,
    token: String,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Client {
    /// The server, CA and token of a kubeconfig `tc-devcluster` wrote.
    ///
    /// # Errors
    /// [`ClientError::Config`].
    pub fn from_kubeconfig(path: &Path) -> Result<Client, ClientError> {
        let config = |what: &str| ClientError::Config(format!("{}: {what}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| config(&e.to_string()))?;
        let documents = datapath::manifest::parse_documents(&text).map_err(|e| config(&e.to_string()))?;
        let document = documents.first().ok_or_else(|| config("empty"))?;
        let field = |pointer: &str| {
            document.pointer(pointer).and_then(Value::as_str).ok_or_else(|| config(&format!("no {pointer}")))
        };
        let server = field("/clusters/0/cluster/server")?;
        let address = server.strip_prefix("https://").ok_or_else(|| config("the server is not https"))?;
        let ca = std::fs::read_to_string(field("/clusters/0/cluster/certificate-authority")?)
            .map_err(|e| config(&format!("the CA file: {e}")))?;
        Client::new(address, &ca, field("/users/0/user/token")?)
    }

    /// A client of `address` trusting `ca_pem`, sending `token`.
    ///
    /// # Errors
    /// [`ClientError::Config`] when `ca_pem` holds no usable certificate.
    pub fn new(address: &str, ca_pem: &str, token: &str) -> Result<Client, ClientError> {
        let der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|e| ClientError::Config(format!("the CA is not PEM: {e}")))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).map_err(|e| ClientError::Config(format!("the CA is not a certificate: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client { address: address.to_owned(), token: token.to_owned(), tls: Arc::new(tls) })
    }

    /// The same server and CA, as the holder of `token` (empty: no
    /// credentials at all).
    pub fn with_token(&self, token: &str) -> Client {
        Client { token: token.to_owned(), ..self.clone() }
    }

    /// Sends `method path` (HTTP/1.0, so the answer ends when the server
    /// closes) with an optional `(content type, body)`: `(status, body)`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
    ) -> Result<(u16, String), ClientError> {
        let (content_type, body) = body.unwrap_or(("text/plain", ""));
        let authorization = if self.token.is_empty() {
            String::new()
        } else {
            format!("Authorization: Bearer {}\r\n", self.token)
        };
        let text = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\n{authorization}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        let response = self.exchange(text.as_bytes())?;
        let malformed = || ClientError::Malformed(self.address.clone());
        let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(malformed)?;
        let (_, body) = response.split_once("\r\n\r\n").ok_or_else(malformed)?;
        Ok((code, body.to_owned()))
    }

    /// A GET over HTTP/1.1 with `Connection: close` and a client's
    /// User-Agent: the whole raw answer, headers and chunks included.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn raw_get(&self, path: &str, user_agent: &str) -> Result<String, ClientError> {
        let text = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nUser-Agent: {user_agent}\r\nConnection: close\r\n\r\n",
            self.address, self.token
        );
        self.exchange(text.as_bytes())
    }

    fn exchange(&self, request: &[u8]) -> Result<String, ClientError> {
        let io = |source| ClientError::Io { address: self.address.clone(), source };
        let tcp = TcpStream::connect(&self.address).map_err(io)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30))).map_err(io)?;
        let name = ServerName::try_from("localhost").map_err(|e| ClientError::Config(e.to_string()))?;
        let connection = rustls::ClientConnection::new(Arc::clone(&self.tls), name)
            .map_err(|e| io(std::io::Error::other(e)))?;
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        stream.write_all(request).map_err(io)?;
        let mut response = Vec::new();
        match stream.read_to_end(&mut response) {
            // A server that closes without TLS's close_notify has still
            // sent its whole answer (HTTP framing ends it).
            Err(error) if error.kind() == ErrorKind::UnexpectedEof && !response.is_empty() => {}
            other => {
                other.map_err(io)?;
            }
        }
        Ok(String::from_utf8_lossy(&response).into_owned())
    }
}
