//! The administrator's kubeconfig: HTTPS to the dev server, trusting its
//! CA (`ca.crt` beside the kubeconfig), the administrator's bearer token;
//! context `tc-devcluster`.

use std::net::SocketAddr;
use std::path::Path;

use super::persist::{PersistError, write_atomically, write_secret};

/// The context, cluster and user name.
pub const CONTEXT: &str = "tc-devcluster";

/// A kubeconfig for a server at `address` whose CA is in `ca_file`, as the
/// user with `token`.
pub fn kubeconfig(address: SocketAddr, ca_file: &Path, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: https://{address}
    certificate-authority: {ca}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
current-context: {CONTEXT}
users:
- name: {CONTEXT}
  user:
    token: {token}
preferences: {{}}
",
        ca = ca_file.display()
    )
}

/// Writes `ca.crt` beside `path`, then the kubeconfig (mode 0600: it holds
/// a token), both atomically.
///
/// # Errors
/// [`PersistError::Write`].
pub fn write_kubeconfig(
    path: &Path,
    address: SocketAddr,
    ca_pem: &str,
    token: &str,
) -> Result<(), PersistError> {
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let ca_file = std::path::absolute(directory.join(super::tls::CA_FILE))
        .map_err(|source| PersistError::Write { path: directory.to_owned(), source })?;
    write_atomically(&ca_file, ca_pem.as_bytes())?;
    write_secret(path, kubeconfig(address, &ca_file, token).as_bytes())
}
