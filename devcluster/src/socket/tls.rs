//! HTTPS as a cluster's API server serves it: a certificate authority of
//! its own (generated on first start, kept in the data directory so a
//! restart keeps every client's trust), a serving certificate it signs
//! for the names clients use (127.0.0.1, localhost and the in-cluster
//! `kubernetes.default.svc` names), and TLS 1.2/1.3 with rustls.
//!
//! `ca.crt` is what clients trust: `tc-devcluster` writes it beside the
//! kubeconfig, and a test projects it into a ServiceAccount directory.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use super::persist::{PersistError, write_atomically, write_secret};

/// The CA certificate's file name, in the data directory and beside the
/// kubeconfig.
pub const CA_FILE: &str = "ca.crt";
const CA_KEY_FILE: &str = "ca.key";
/// The names the serving certificate is valid for.
const SERVING_NAMES: [&str; 6] = [
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating a key or a certificate failed.
    #[error("cannot make the {what}")]
    Generate {
        /// Which one.
        what: &'static str,
        /// rcgen's reason.
        #[source]
        source: rcgen::Error,
    },
    /// rustls refused the certificate and key.
    #[error("the serving certificate is not usable")]
    Config(#[source] rustls::Error),
    /// The CA files in the data directory are not a CA.
    #[error("{path} is not a PEM key: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file.
    #[error(transparent)]
    Persist(#[from] PersistError),
}

/// The server side of TLS, and the CA clients must trust.
#[derive(Clone)]
pub struct Serving {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// Accepts TLS connections with the serving certificate.
    pub acceptor: TlsAcceptor,
}

/// The CA's fixed parameters: the issuer name and key usages a serving
/// certificate refers to are the same at every start, so a CA key read
/// back from disk signs certificates its saved `ca.crt` verifies.
fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|source| TlsError::Generate { what: "CA parameters", source })?;
    params.distinguished_name.push(DnType::CommonName, "tc-devcluster-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

/// The CA of `data_dir` (made on first use), or a fresh one in memory.
///
/// # Errors
/// [`TlsError`] when a key cannot be generated, read or saved.
pub fn serving(data_dir: Option<&Path>) -> Result<Serving, TlsError> {
    let saved = match data_dir {
        Some(dir) => read_ca(dir)?,
        None => None,
    };
    let (ca_key, ca_pem) = match saved {
        Some(found) => found,
        None => {
            let key = KeyPair::generate().map_err(|source| TlsError::Generate { what: "CA key", source })?;
            let certificate = ca_params()?
                .self_signed(&key)
                .map_err(|source| TlsError::Generate { what: "CA certificate", source })?;
            let pem = certificate.pem();
            if let Some(dir) = data_dir {
                write_secret(&dir.join(CA_KEY_FILE), key.serialize_pem().as_bytes())?;
                write_atomically(&dir.join(CA_FILE), pem.as_bytes())?;
            }
            (key, pem)
        }
    };
    let issuer = Issuer::new(ca_params()?, ca_key);
    let key = KeyPair::generate().map_err(|source| TlsError::Generate { what: "serving key", source })?;
    let mut params = CertificateParams::new(SERVING_NAMES.map(str::to_owned).to_vec())
        .map_err(|source| TlsError::Generate { what: "serving parameters", source })?;
    params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let certificate = params
        .signed_by(&key, &issuer)
        .map_err(|source| TlsError::Generate { what: "serving certificate", source })?;
    let chain = vec![certificate.der().clone()];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(TlsError::Config)?;
    // HTTP/1.1 only: the server speaks no HTTP/2, and Go's client falls
    // back when ALPN offers only this.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Serving { ca_pem, acceptor: TlsAcceptor::from(Arc::new(config)) })
}

/// The saved CA key and certificate, if both are there.
fn read_ca(dir: &Path) -> Result<Option<(KeyPair, String)>, TlsError> {
    let key_path = dir.join(CA_KEY_FILE);
    let (Ok(key_pem), Ok(ca_pem)) =
        (std::fs::read_to_string(&key_path), std::fs::read_to_string(dir.join(CA_FILE)))
    else {
        return Ok(None);
    };
    let key = KeyPair::from_pem(&key_pem)
        .map_err(|e| TlsError::Malformed { path: key_path.display().to_string(), reason: e.to_string() })?;
    Ok(Some((key, ca_pem)))
}
