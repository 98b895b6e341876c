//! `deploy/crds/trafficcontrol.yaml` is exactly what `tcctl crd` prints;
//! when the API types change, this fails until the file is regenerated.

#[test]
fn the_deployed_crd_is_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds/trafficcontrol.yaml");
    let deployed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        deployed == datapath::api::crd_yaml(),
        "deploy/crds/trafficcontrol.yaml is stale: regenerate it with\n    cargo run -p actors --bin tcctl -- crd > deploy/crds/trafficcontrol.yaml"
    );
}

#[test]
fn the_crd_means_what_antreas_does() {
    let crd = serde_json::to_value(datapath::api::crd()).unwrap();
    let at = |pointer: &str| crd.pointer(pointer).unwrap_or_else(|| panic!("no {pointer}")).clone();
    assert_eq!(at("/spec/scope"), "Cluster");
    assert_eq!(at("/spec/names/shortNames"), serde_json::json!(["tc"]));
    assert_eq!(at("/spec/versions/0/subresources"), serde_json::json!({"status": {}}));
    let spec = "/spec/versions/0/schema/openAPIV3Schema/properties/spec";
    assert_eq!(
        at(&format!("{spec}/required")),
        serde_json::json!(["action", "appliedTo", "direction", "targetPort"])
    );
    let kinds = |port: &str| -> Vec<String> {
        at(&format!("{spec}/properties/{port}/oneOf"))
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["required"][0].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds("targetPort"), ["ovsInternal", "device", "geneve", "vxlan", "gre", "erspan"]);
    assert_eq!(kinds("returnPort"), ["ovsInternal", "device", "geneve", "vxlan", "gre"]);
    let columns: Vec<String> = at("/spec/versions/0/additionalPrinterColumns")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(columns, ["Direction", "Action", "Age"]);
}
