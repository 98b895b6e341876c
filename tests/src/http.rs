//! One plain HTTP request to a loopback server (the agent's endpoints,
//! the dev API server): enough for tests and benchmarks, without an HTTP
//! client stack. HTTP/1.0, so the answer is never chunked: it ends when
//! the server closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `method path` with an optional `(content type, body)` and reads
/// the whole answer: `(status code, body)`, or `None` when the server
/// cannot be reached or answers garbage.
pub fn request(address: &str, method: &str, path: &str, body: Option<(&str, &str)>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_nodelay(true).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let (content_type, body) = body.unwrap_or(("text/plain", ""));
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some((code, body.to_owned()))
}
