//! A watch stream from the API server (one JSON event per line, as
//! kube-rs reads it) decoded as Pods, Namespaces and TrafficControls, then
//! reduced as the agent's watchers reduce each object: `PodInfo` and
//! `NamespaceInfo` (selection's view) and the CrdWatcher's verdict (the
//! raw object, serialized, through the validator).
//!
//! Checks: no panic; an accepted TrafficControl's spec is what the
//! object said.
#![no_main]

use std::sync::LazyLock;

use datapath::cluster::{NamespaceInfo, PodInfo};
use datapath::validate::Validator;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::core::{DynamicObject, WatchEvent};
use libfuzzer_sys::fuzz_target;

/// Built once: it holds the CRD's schema, whose generation would dominate
/// every run.
static VALIDATOR: LazyLock<Validator> = LazyLock::new(Validator::new);

fuzz_target!(|data: &[u8]| {
    let validator = &*VALIDATOR;
    for line in data.split(|&b| b == b'\n') {
        if let Ok(event) = serde_json::from_slice::<WatchEvent<Pod>>(line)
            && let Some(pod) = object(&event)
        {
            let info = PodInfo::from(pod);
            let _ = format!("{info:?}");
        }
        if let Ok(event) = serde_json::from_slice::<WatchEvent<Namespace>>(line)
            && let Some(namespace) = object(&event)
        {
            let _ = NamespaceInfo::from(namespace);
        }
        if let Ok(event) = serde_json::from_slice::<WatchEvent<DynamicObject>>(line)
            && let Some(dynamic) = object(&event)
            && let Ok(value) = serde_json::to_value(dynamic)
        {
            let report = validator.validate(&value);
            let _ = report.error_summary();
            if let Some(tc) = report.traffic_control.as_ref().filter(|_| report.is_valid()) {
                let said = value.get("spec").cloned().expect("a valid TrafficControl has a spec");
                let said: datapath::api::TrafficControlSpec =
                    serde_json::from_value(said).expect("the object's spec reads as a spec");
                assert_eq!(tc.spec, said, "the spec is the object's");
            }
        }
    }
});

fn object<K>(event: &WatchEvent<K>) -> Option<&K> {
    match event {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Some(o),
        WatchEvent::Bookmark(_) | WatchEvent::Error(_) => None,
    }
}
