//! Where a request goes: the URL path and query of the Kubernetes API
//! (`/apis/GROUP/VERSION/namespaces/NS/PLURAL/NAME/SUBRESOURCE`) read into
//! a [`Route`], and the query's parameters decoded.

use std::collections::BTreeMap;

use super::resources::ResourceType;

/// What a path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/api`: the core group's versions.
    CoreVersions,
    /// `/apis`: the other groups.
    Groups,
    /// `/api/v1` or `/apis/GROUP/VERSION`: one group version's resources.
    GroupVersion {
        /// `""` for the core group.
        group: String,
        /// The version.
        version: String,
    },
    /// `/openapi/v3`: the index of OpenAPI documents.
    OpenApiIndex,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/GROUP/VERSION`.
    OpenApi {
        /// `""` for the core group.
        group: String,
        /// The version.
        version: String,
    },
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    /// `/debug/requests`: the audit list (not a Kubernetes path).
    Audit,
    /// `/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: what may
    /// the caller do (`kubectl auth can-i`). Created, never stored.
    AccessReview,
    /// `/apis/authorization.k8s.io/v1/selfsubjectrulesreviews`: all the
    /// caller may do in a namespace (`kubectl auth can-i --list`).
    RulesReview,
    /// A resource, a collection or a subresource.
    Resource(ResourcePath),
    /// Anything else (404).
    Unknown,
}

/// A path into a served resource.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourcePath {
    /// The resource.
    pub resource: &'static ResourceType,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    /// The object's name; `None` for the collection.
    pub name: Option<String>,
    /// `status` (or `token` on a ServiceAccount), or `None` for the object
    /// itself.
    pub subresource: Option<String>,
}

/// Reads a request path.
pub fn route(path: &str) -> Route {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["debug", "requests"] => Route::Audit,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] => Route::AccessReview,
        ["apis", "authorization.k8s.io", "v1", "selfsubjectrulesreviews"] => Route::RulesReview,
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", version] => {
            Route::OpenApi { group: String::new(), version: (*version).into() }
        }
        ["openapi", "v3", "apis", group, version] => {
            Route::OpenApi { group: (*group).into(), version: (*version).into() }
        }
        ["api", version] => Route::GroupVersion { group: String::new(), version: (*version).into() },
        ["apis", group, version] => {
            Route::GroupVersion { group: (*group).into(), version: (*version).into() }
        }
        ["api", _, _, ..] | ["apis", _, _, _, ..] => {
            parts_of(&segments).map_or(Route::Unknown, |p| resource_path(&p))
        }
        _ => Route::Unknown,
    }
}

/// A path under `/api/VERSION` or `/apis/GROUP/VERSION`, in its parts, read
/// the way the API server reads any such path before it knows whether the
/// resource exists (RBAC decides on these, then the server may answer
/// 404). Empty strings for what the path does not name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResourceParts<'a> {
    /// The API group (`""` for the core group).
    pub group: &'a str,
    /// The version.
    pub version: &'a str,
    /// The namespace in the path.
    pub namespace: &'a str,
    /// The resource's plural.
    pub resource: &'a str,
    /// The object's name.
    pub name: &'a str,
    /// `status`, `token`, ...
    pub subresource: &'a str,
    /// Segments after the subresource (no served path has any).
    pub extra: bool,
}

/// [`ResourceParts`] of `path`; `None` for a path that names no resource.
pub fn resource_parts(path: &str) -> Option<ResourceParts<'_>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    parts_of(&segments)
}

fn parts_of<'a>(segments: &[&'a str]) -> Option<ResourceParts<'a>> {
    let (group, version, rest) = match segments {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    // `/namespaces/NS/status` is the Namespace's own subresource, not a
    // resource called "status" inside it.
    let (namespace, rest): (&str, &[&str]) = match rest {
        ["namespaces", namespace, tail @ ..]
            if tail.first().is_some_and(|t| !["status", "finalize"].contains(t)) =>
        {
            (namespace, tail)
        }
        _ => ("", rest),
    };
    let (resource, tail) = rest.split_first()?;
    let at = |i: usize| tail.get(i).copied().unwrap_or_default();
    Some(ResourceParts {
        group,
        version,
        namespace,
        resource,
        name: at(0),
        subresource: at(1),
        extra: tail.len() > 2,
    })
}

/// A served resource's path, or [`Route::Unknown`].
fn resource_path(parts: &ResourceParts<'_>) -> Route {
    let Some(resource) = ResourceType::find(parts.group, parts.version, parts.resource) else {
        return Route::Unknown;
    };
    if parts.extra || (!parts.namespace.is_empty() && !resource.namespaced) {
        return Route::Unknown;
    }
    let subresource = match parts.subresource {
        "" => None,
        "status" if resource.status_subresource => Some("status"),
        // The TokenRequest API (`kubectl create token`).
        "token" if resource == &super::resources::SERVICE_ACCOUNTS => Some("token"),
        _ => return Route::Unknown,
    };
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Route::Resource(ResourcePath {
        resource,
        namespace: text(parts.namespace),
        name: text(parts.name),
        subresource: subresource.map(str::to_owned),
    })
}

/// The decoded query parameters (the last of a repeated key wins).
pub fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; a malformed escape stays as it is.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match text.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::{NAMESPACES, PODS, TRAFFIC_CONTROLS};

    fn resource(path: &str) -> ResourcePath {
        match route(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_name_resources_namespaces_names_and_subresources() {
        let pod = resource("/api/v1/namespaces/default/pods/web-1");
        assert_eq!(
            (pod.resource, pod.namespace.as_deref(), pod.name.as_deref(), pod.subresource),
            (&PODS, Some("default"), Some("web-1"), None)
        );
        let all_pods = resource("/api/v1/pods");
        assert_eq!((all_pods.namespace, all_pods.name), (None, None));
        let status = resource("/apis/crd.antrea.io/v1alpha2/trafficcontrols/t/status");
        assert_eq!((status.resource, status.subresource.as_deref()), (&TRAFFIC_CONTROLS, Some("status")));
        let ns_status = resource("/api/v1/namespaces/prod/status");
        assert_eq!(
            (ns_status.resource, ns_status.name.as_deref(), ns_status.subresource.as_deref()),
            (&NAMESPACES, Some("prod"), Some("status"))
        );
        assert_eq!(resource("/api/v1/namespaces/prod").name.as_deref(), Some("prod"));
    }

    #[test]
    fn discovery_paths_and_unknown_ones() {
        assert_eq!(route("/apis"), Route::Groups);
        assert_eq!(route("/api"), Route::CoreVersions);
        assert_eq!(
            route("/apis/crd.antrea.io/v1alpha2"),
            Route::GroupVersion { group: "crd.antrea.io".into(), version: "v1alpha2".into() }
        );
        assert_eq!(route("/apis/crd.antrea.io/v1alpha2/namespaces/default/trafficcontrols"), Route::Unknown);
        assert_eq!(route("/api/v1/secrets"), Route::Unknown);
        assert_eq!(route("/api/v1/namespaces/default/pods/web-1/exec"), Route::Unknown);
    }

    #[test]
    fn any_resource_path_is_read_into_its_parts_as_the_api_server_reads_it() {
        let parts = |p: &str| {
            resource_parts(p).map(|p| [p.group, p.resource, p.subresource, p.namespace, p.name].join("|"))
        };
        assert_eq!(parts("/api/v1/secrets").as_deref(), Some("|secrets|||"));
        assert_eq!(parts("/api/v1/namespaces/a/secrets/s").as_deref(), Some("|secrets||a|s"));
        assert_eq!(
            parts("/apis/apps/v1/namespaces/a/deployments/d/scale").as_deref(),
            Some("apps|deployments|scale|a|d")
        );
        assert_eq!(parts("/api/v1/namespaces/a").as_deref(), Some("|namespaces|||a"));
        assert_eq!(parts("/api/v1/namespaces/a/status").as_deref(), Some("|namespaces|status||a"));
        assert_eq!(parts("/api/v1"), None);
        assert_eq!(parts("/metrics"), None);
    }

    #[test]
    fn query_values_are_decoded() {
        let query = parse_query("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&flag");
        assert_eq!(query["labelSelector"], "app=web,tier in (a)");
        assert_eq!(query["watch"], "1");
        assert_eq!(query["flag"], "");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}
