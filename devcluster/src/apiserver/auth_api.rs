//! The API endpoints about identity: the TokenRequest subresource
//! (`kubectl create token SA`), SelfSubjectAccessReview (`kubectl auth
//! can-i`) and SelfSubjectRulesReview (`kubectl auth can-i --list`). None
//! stores anything.

use serde_json::{Value, json};

use super::authn::{AccountClaims, Credentials, DEFAULT_AUDIENCE, Identity, token_lifetime};
use super::authz::{Attributes, authorize, rules_for};
use super::clock::Timestamp;
use super::cluster::{Cluster, Target};
use super::status::ApiError;

/// `POST .../serviceaccounts/NAME/token`: a token for that ServiceAccount.
///
/// # Errors
/// [`ApiError::NotFound`] for a ServiceAccount that does not exist,
/// [`ApiError::Invalid`] for a lifetime under ten minutes,
/// [`ApiError::BadRequest`] when the server has no credentials (the
/// simulation's trusted mode).
pub fn token_request(
    credentials: Option<&Credentials>,
    cluster: &Cluster,
    account: Target<'_>,
    request: &Value,
    now: Timestamp,
) -> Result<Value, ApiError> {
    let credentials = credentials.ok_or_else(|| {
        ApiError::BadRequest("this server authenticates nobody, so it issues no tokens".into())
    })?;
    let object = cluster.get(account)?;
    let spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));
    let seconds = token_lifetime(spec.get("expirationSeconds").and_then(Value::as_i64))?;
    let audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![DEFAULT_AUDIENCE.to_owned()]);
    let namespace = account.namespace.unwrap_or_default();
    let claims = AccountClaims {
        namespace: namespace.to_owned(),
        name: account.name.to_owned(),
        uid: object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_owned(),
        audiences: audiences.clone(),
    };
    let token = credentials.issue(&claims, now, seconds);
    Ok(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {"name": account.name, "namespace": namespace, "creationTimestamp": now.to_string()},
        "spec": {
            "audiences": audiences,
            "expirationSeconds": seconds,
            "boundObjectRef": spec.get("boundObjectRef").cloned().unwrap_or(Value::Null),
        },
        "status": {"token": token, "expirationTimestamp": Timestamp(now.0.saturating_add(seconds)).to_string()},
    }))
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: may
/// `who` do what the review's spec says?
///
/// # Errors
/// [`ApiError::BadRequest`] for a review without attributes.
pub fn access_review(cluster: &Cluster, who: &Identity, review: &Value) -> Result<Value, ApiError> {
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let text =
        |value: &Value, key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let attributes = if let Some(resource) = spec.get("resourceAttributes") {
        Attributes::Resource {
            verb: text(resource, "verb"),
            group: text(resource, "group"),
            resource: text(resource, "resource"),
            subresource: text(resource, "subresource"),
            namespace: text(resource, "namespace"),
            name: text(resource, "name"),
        }
    } else if let Some(path) = spec.get("nonResourceAttributes") {
        Attributes::NonResource { verb: text(path, "verb"), path: text(path, "path") }
    } else {
        return Err(ApiError::Invalid(
            "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
        ));
    };
    let decision = authorize(cluster, who, &attributes);
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    Ok(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    }))
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`: every
/// rule that applies to `who` in the review's namespace.
pub fn rules_review(cluster: &Cluster, who: &Identity, review: &Value) -> Value {
    let namespace = review.pointer("/spec/namespace").and_then(Value::as_str).unwrap_or_default();
    let (resource_rules, non_resource_rules) = rules_for(cluster, who, namespace);
    let resource_rules: Vec<Value> = resource_rules
        .into_iter()
        .map(|rule| {
            let field = |key: &str| rule.get(key).cloned().unwrap_or_else(|| json!([]));
            json!({"verbs": field("verbs"), "apiGroups": field("apiGroups"), "resources": field("resources"), "resourceNames": field("resourceNames")})
        })
        .collect();
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "metadata": {"creationTimestamp": null},
        "spec": {"namespace": namespace},
        "status": {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false},
    })
}
