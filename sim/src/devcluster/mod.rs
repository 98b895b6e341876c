//! The dev API server on a byte stream: hyper's HTTP/1.1 around
//! [`crate::apiserver`], watches streamed as chunked JSON lines, the state
//! saved to a data directory after every write, and the kubeconfig that
//! points kubectl at it. `tc-devcluster` is this on a TCP socket; the
//! simulation serves the same [`ApiServer`] on turmoil's streams.
//!
//! - [`server`]: [`ApiServer`], the shared state and the serving loop.
//! - [`body`]: response bodies, whole or streamed.
//! - [`persist`]: atomic files and the state snapshot.
//! - [`kubeconfig`]: the kubeconfig for a server address.

pub mod body;
pub mod kubeconfig;
pub mod persist;
pub mod server;

pub use server::ApiServer;
