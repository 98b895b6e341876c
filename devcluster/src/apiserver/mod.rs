//! The dev API server's logic, without I/O: what `tc-devcluster` serves
//! to real `kubectl` and kube-rs, and what the simulation's API server
//! host runs on turmoil's network.
//!
//! - [`handler`]: one request in, one answer (or a watch plan) out.
//! - [`authn`]: who is calling (bearer tokens, ServiceAccount tokens).
//! - [`authz`]: RBAC over the stored roles and bindings.
//! - [`auth_api`]: TokenRequest and SelfSubjectAccessReview.
//! - [`protobuf`]: the two request bodies kubectl sends only as protobuf.
//! - [`route`]: URL paths and query strings into resources and parameters.
//! - [`resources`]: the catalogue of served resources.
//! - [`cluster`]: each resource's rules (validation, status subresource,
//!   patches) on top of the store; snapshots for restarts.
//! - [`store`]: objects with resourceVersions, optimistic concurrency,
//!   merge patch and a watch history (`410 Gone` past it).
//! - [`selectors`]: label and field selectors in the API's string syntax.
//! - [`strategic`]: strategic merge patch, approximately.
//! - [`apply`]: server-side apply of `status.nodes`, per field manager.
//! - [`watch`]: a watch's position and its events.
//! - [`table`]: the Tables `kubectl get` prints.
//! - [`discovery`]: `/api`, `/apis`, resource lists and OpenAPI v3.
//! - [`status`]: errors as Kubernetes `Status` objects.
//! - [`audit`]: the requests answered, for RBAC checks.
//! - [`clock`]: timestamps and kubectl's ages.

pub mod apply;
pub mod audit;
pub mod auth_api;
pub mod authn;
pub mod authz;
pub mod clock;
pub mod cluster;
pub mod discovery;
pub mod handler;
pub mod protobuf;
pub mod resources;
pub mod route;
pub mod selectors;
pub mod status;
pub mod store;
pub mod strategic;
pub mod table;
pub mod watch;
