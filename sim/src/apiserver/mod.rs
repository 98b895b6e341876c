//! The dev API server's logic, without I/O: what `tc-devcluster` serves
//! to real `kubectl` and kube-rs, and what the simulation's API server
//! host runs on turmoil's network.
//!
//! - [`store`]: objects with resourceVersions, optimistic concurrency,
//!   merge patch and a watch history (`410 Gone` past it).
//! - [`selectors`]: label and field selectors in the API's string syntax.

pub mod selectors;
pub mod store;
