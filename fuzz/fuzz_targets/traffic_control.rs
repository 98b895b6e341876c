//! TrafficControl manifests as users write them (YAML or JSON, several
//! documents, Lists, Pods and Namespaces beside them), through what
//! `tcctl validate` and `tcctl plan` run: the YAML reader, the validator
//! (CRD schema and our rules), the typed API, then the planner in both
//! bridge modes.
//!
//! Checks: no panic; a TrafficControl the validator accepts serializes to
//! JSON that the typed API reads back as the same value and that the
//! validator accepts again; its YAML rendering reads back as the same JSON.
#![no_main]

use std::sync::LazyLock;

use datapath::api::TrafficControl;
use datapath::manifest::{parse_documents, to_yaml};
use datapath::offline::{Objects, plan_offline};
use datapath::plan::BridgeMode;
use datapath::validate::Validator;
use libfuzzer_sys::fuzz_target;

/// Built once: it holds the CRD's schema, whose generation would dominate
/// every run.
static VALIDATOR: LazyLock<Validator> = LazyLock::new(Validator::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(documents) = parse_documents(text) else { return };
    let validator = &*VALIDATOR;
    let mut objects = Objects::default();
    objects.add_documents(validator, documents);
    for report in &objects.traffic_controls {
        let _ = (report.to_string(), report.error_summary(), report.warnings().count());
        let Some(tc) = report.traffic_control.as_ref().filter(|_| report.is_valid()) else { continue };
        let value = serde_json::to_value(tc).expect("a TrafficControl serializes");
        let back: TrafficControl = serde_json::from_value(value.clone()).expect("and reads back");
        assert_eq!((&back.metadata, &back.spec), (&tc.metadata, &tc.spec), "typed round trip");
        assert!(validator.validate(&value).is_valid(), "a valid TrafficControl, serialized, is still valid");
        let yaml = to_yaml(&value);
        let reread = parse_documents(&yaml).expect("our YAML parses");
        assert_eq!(reread, [value], "YAML round trip:\n{yaml}");
    }
    let mut nodes: Vec<&str> = objects.pods.iter().filter_map(|p| p.node_name.as_deref()).take(2).collect();
    nodes.push("node-1");
    for node in nodes {
        for mode in [BridgeMode::Owned, BridgeMode::Shared] {
            let _ = plan_offline(node, &objects, mode).render();
        }
    }
});
