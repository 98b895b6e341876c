//! The kubeconfig that points kubectl and kube-rs at the dev server:
//! plain HTTP, context `tc-devcluster`, a user without credentials.

use std::net::SocketAddr;
use std::path::Path;

use super::persist::{PersistError, write_atomically};

/// The context, cluster and user name.
pub const CONTEXT: &str = "tc-devcluster";

/// The kubeconfig for a server at `address`.
pub fn kubeconfig(address: SocketAddr) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: http://{address}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
current-context: {CONTEXT}
users:
- name: {CONTEXT}
  user: {{}}
preferences: {{}}
"
    )
}

/// Writes the kubeconfig atomically.
///
/// # Errors
/// [`PersistError::Write`].
pub fn write_kubeconfig(path: &Path, address: SocketAddr) -> Result<(), PersistError> {
    write_atomically(path, kubeconfig(address).as_bytes())
}
