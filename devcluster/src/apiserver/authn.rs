//! Who is calling: bearer tokens, as a real API server authenticates them.
//!
//! Two kinds of token are accepted, and nothing else (anonymous requests
//! are refused with `401`, as with `--anonymous-auth=false`):
//! - the administrator's, written into the kubeconfig `tc-devcluster`
//!   hands to kubectl: user `tc-devcluster-admin` in `system:masters`;
//! - ServiceAccount tokens issued by the TokenRequest API
//!   (`kubectl create token`), signed JWTs (HS256) whose claims name the
//!   ServiceAccount and its UID. A token whose ServiceAccount was deleted,
//!   or deleted and created again (another UID), stops working at once,
//!   like a real bound token; an expired one too.
//!
//! Impersonation (`kubectl --as`) is [`crate::apiserver::authz`]'s to allow;
//! this module only builds the identity it asks for.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

use super::clock::Timestamp;
use super::cluster::{Cluster, Target};
use super::resources::SERVICE_ACCOUNTS;
use super::status::ApiError;

/// The administrator's user name.
pub const ADMIN_USER: &str = "tc-devcluster-admin";
/// The group RBAC never restricts.
pub const MASTERS: &str = "system:masters";
/// The group of every authenticated caller.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The issuer claim of ServiceAccount tokens.
const ISSUER: &str = "https://tc-devcluster.invalid";
/// The audience a token is issued for when the request names none.
pub const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
/// A real API server's default and minimum TokenRequest durations.
pub const DEFAULT_TOKEN_SECONDS: i64 = 3600;
const MIN_TOKEN_SECONDS: i64 = 600;

/// A caller: user name and groups, as RBAC subjects match them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `tc-devcluster-admin`, `system:serviceaccount:NS:NAME`, ...
    pub user: String,
    /// Its groups, `system:authenticated` included.
    pub groups: Vec<String>,
}

impl Identity {
    /// The administrator.
    pub fn admin() -> Identity {
        Identity { user: ADMIN_USER.into(), groups: vec![MASTERS.into(), AUTHENTICATED.into()] }
    }

    /// `user` with `groups`; a ServiceAccount's user name brings its
    /// ServiceAccount groups, as the real authenticator adds them.
    pub fn named(user: &str, groups: &[String]) -> Identity {
        let mut all: Vec<String> = groups.to_vec();
        if let Some((namespace, _)) = service_account_of(user) {
            all.push("system:serviceaccounts".into());
            all.push(format!("system:serviceaccounts:{namespace}"));
        }
        all.push(AUTHENTICATED.into());
        all.dedup();
        Identity { user: user.into(), groups: all }
    }

    /// Whether RBAC is bypassed.
    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }
}

/// `(namespace, name)` of a ServiceAccount user name.
pub fn service_account_of(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

/// The secrets: the administrator's token and the token signing key.
#[derive(Clone)]
pub struct Credentials {
    admin_token: String,
    signing_key: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

/// Why credentials could not be made or read back.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
    /// A saved credentials document is not one.
    #[error("not a credentials document: {0}")]
    Malformed(String),
}

impl Credentials {
    /// Fresh random credentials.
    ///
    /// # Errors
    /// [`CredentialsError::Random`].
    pub fn generate() -> Result<Credentials, CredentialsError> {
        let random = SystemRandom::new();
        let mut bytes = [0_u8; 64];
        random.fill(&mut bytes).map_err(|_| CredentialsError::Random)?;
        let (token, key) = bytes.split_at(32);
        Ok(Credentials { admin_token: URL_SAFE_NO_PAD.encode(token), signing_key: key.to_vec() })
    }

    /// The administrator's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// As saved in the data directory.
    pub fn to_json(&self) -> Value {
        json!({"adminToken": self.admin_token, "signingKey": URL_SAFE_NO_PAD.encode(&self.signing_key)})
    }

    /// From [`Credentials::to_json`]'s form.
    ///
    /// # Errors
    /// [`CredentialsError::Malformed`].
    pub fn from_json(value: &Value) -> Result<Credentials, CredentialsError> {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| t.len() >= 32)
                .ok_or_else(|| CredentialsError::Malformed(format!("{key} is missing or too short")))
        };
        let signing_key = URL_SAFE_NO_PAD
            .decode(text("signingKey")?)
            .map_err(|e| CredentialsError::Malformed(format!("signingKey is not base64: {e}")))?;
        Ok(Credentials { admin_token: text("adminToken")?.to_owned(), signing_key })
    }

    fn key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.signing_key)
    }

    /// A token for ServiceAccount `namespace/name` (UID `uid`), valid from
    /// `now` for `seconds`.
    pub fn issue(&self, account: &AccountClaims, now: Timestamp, seconds: i64) -> String {
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let claims = json!({
            "iss": ISSUER,
            "aud": account.audiences,
            "sub": format!("system:serviceaccount:{}:{}", account.namespace, account.name),
            "iat": now.0,
            "nbf": now.0,
            "exp": now.0.saturating_add(seconds),
            "kubernetes.io": {
                "namespace": account.namespace,
                "serviceaccount": {"name": account.name, "uid": account.uid},
            },
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = hmac::sign(&self.key(), signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// The claims of a token this server signed, if it is one and has not
    /// expired at `now`.
    fn verify(&self, token: &str, now: Timestamp) -> Option<AccountClaims> {
        let (signed, signature) = token.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        hmac::verify(&self.key(), signed.as_bytes(), &signature).ok()?;
        let (_, claims) = signed.split_once('.')?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
        let expires = claims.get("exp").and_then(Value::as_i64)?;
        if expires <= now.0 {
            return None;
        }
        let text = |pointer: &str| claims.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
        Some(AccountClaims {
            namespace: text("/kubernetes.io/namespace")?,
            name: text("/kubernetes.io/serviceaccount/name")?,
            uid: text("/kubernetes.io/serviceaccount/uid")?,
            audiences: vec![],
        })
    }
}

/// What a ServiceAccount token says about its account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountClaims {
    /// The ServiceAccount's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its UID when the token was issued.
    pub uid: String,
    /// The audiences the token is for.
    pub audiences: Vec<String>,
}

/// How long a TokenRequest's token lives: its `expirationSeconds`, at
/// least ten minutes (the real API server's minimum), an hour by default.
///
/// # Errors
/// [`ApiError::Invalid`] below the minimum, as the API server refuses it.
pub fn token_lifetime(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_TOKEN_SECONDS),
        Some(seconds) if seconds < MIN_TOKEN_SECONDS => Err(ApiError::Invalid(format!(
            "TokenRequest.authentication.k8s.io is invalid: spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than {MIN_TOKEN_SECONDS} seconds"
        ))),
        Some(seconds) => Ok(seconds),
    }
}

/// The caller of a request with this `Authorization` header.
///
/// # Errors
/// [`ApiError::Unauthorized`] without a token, or with one that is not the
/// administrator's nor a live ServiceAccount's.
pub fn authenticate(
    credentials: &Credentials,
    cluster: &Cluster,
    authorization: &str,
    now: Timestamp,
) -> Result<Identity, ApiError> {
    let token = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    if constant_time_eq(token.as_bytes(), credentials.admin_token.as_bytes()) {
        return Ok(Identity::admin());
    }
    let claims = credentials.verify(token, now).ok_or(ApiError::Unauthorized)?;
    let target = Target {
        resource: &SERVICE_ACCOUNTS,
        namespace: Some(&claims.namespace),
        name: &claims.name,
        status: false,
    };
    let account = cluster.peek(target).ok_or(ApiError::Unauthorized)?;
    if account.pointer("/metadata/uid").and_then(Value::as_str) != Some(claims.uid.as_str()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(Identity::named(&format!("system:serviceaccount:{}:{}", claims.namespace, claims.name), &[]))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: Timestamp = Timestamp(1_700_000_000);

    fn cluster_with_account(uid_after_create: &mut String) -> Cluster {
        let mut cluster = Cluster::new(NOW);
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tc-system"}});
        cluster.create(&super::super::resources::NAMESPACES, None, namespace, NOW).expect("namespace");
        let account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tc-agent"}});
        let written = cluster.create(&SERVICE_ACCOUNTS, Some("tc-system"), account, NOW).expect("account");
        *uid_after_create = written.object["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
        cluster
    }

    fn claims(uid: &str) -> AccountClaims {
        AccountClaims {
            namespace: "tc-system".into(),
            name: "tc-agent".into(),
            uid: uid.into(),
            audiences: vec![],
        }
    }

    #[test]
    fn a_service_account_token_names_its_account_until_it_expires() {
        let credentials = Credentials::generate().expect("random");
        let mut uid = String::new();
        let cluster = cluster_with_account(&mut uid);
        let token = credentials.issue(&claims(&uid), NOW, 3600);
        let identity = authenticate(&credentials, &cluster, &format!("Bearer {token}"), NOW).expect("valid");
        assert_eq!(identity.user, "system:serviceaccount:tc-system:tc-agent");
        assert!(identity.groups.contains(&"system:serviceaccounts:tc-system".to_owned()));
        assert!(!identity.is_master());
        let later = Timestamp(NOW.0 + 3600);
        assert_eq!(
            authenticate(&credentials, &cluster, &format!("Bearer {token}"), later),
            Err(ApiError::Unauthorized)
        );
    }

    #[test]
    fn forged_foreign_and_orphaned_tokens_are_refused() {
        let credentials = Credentials::generate().expect("random");
        let other = Credentials::generate().expect("random");
        let mut uid = String::new();
        let cluster = cluster_with_account(&mut uid);
        let refused =
            |header: &str| authenticate(&credentials, &cluster, header, NOW) == Err(ApiError::Unauthorized);
        assert!(refused(""));
        assert!(refused("Bearer "));
        assert!(refused("Basic YWRtaW46YWRtaW4="));
        assert!(refused(&format!("Bearer {}", other.issue(&claims(&uid), NOW, 3600))));
        assert!(refused(&format!("Bearer {}", credentials.issue(&claims("another-uid"), NOW, 3600))));
        let token = credentials.issue(&claims(&uid), NOW, 3600);
        let (signed, _) = token.rsplit_once('.').expect("three parts");
        assert!(refused(&format!("Bearer {signed}.AAAA")));
        assert!(refused("Bearer not.a.token"));
        let admin = format!("Bearer {}", credentials.admin_token());
        assert_eq!(authenticate(&credentials, &cluster, &admin, NOW), Ok(Identity::admin()));
    }

    #[test]
    fn credentials_survive_a_save_and_load() {
        let credentials = Credentials::generate().expect("random");
        let loaded = Credentials::from_json(&credentials.to_json()).expect("loads");
        assert_eq!(loaded.admin_token(), credentials.admin_token());
        assert_eq!(loaded.signing_key, credentials.signing_key);
        assert!(Credentials::from_json(&json!({"adminToken": "x"})).is_err());
    }

    #[test]
    fn service_account_user_names_are_read_strictly() {
        assert_eq!(
            service_account_of("system:serviceaccount:tc-system:tc-agent"),
            Some(("tc-system", "tc-agent"))
        );
        assert_eq!(service_account_of("system:serviceaccount::x"), None);
        assert_eq!(service_account_of("system:serviceaccount:a:b:c"), None);
        assert_eq!(service_account_of("alice"), None);
        assert!(token_lifetime(Some(599)).is_err());
        assert_eq!(token_lifetime(None).ok(), Some(3600));
    }
}
