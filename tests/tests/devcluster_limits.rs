//! The dev API server keeps the real one's size limits, so a status that
//! grows past them fails here as it would in a cluster: a request body
//! over 3 MiB is refused with 413 and the API server's message, and an
//! object over etcd's 1.5 MiB with etcd's error.

use tests::devcluster::DevCluster;

const TCS: &str = "/apis/crd.antrea.io/v1alpha2/trafficcontrols";

fn traffic_control(name: &str, padding: usize) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1alpha2","kind":"TrafficControl","metadata":{{"name":"{name}","annotations":{{"padding":"{}"}}}},"spec":{{"appliedTo":{{"podSelector":{{}}}},"direction":"Both","action":"Mirror","targetPort":{{"ovsInternal":{{"name":"tap0"}}}}}}}}"#,
        "x".repeat(padding)
    )
}

#[test]
fn a_body_over_3_mib_gets_413_and_an_object_over_etcds_limit_gets_etcds_error() {
    let cluster = DevCluster::start();
    let client = cluster.client();
    let post = |body: &str| client.request("POST", TCS, Some(("application/json", body))).ok();

    let (code, answer) = post(&traffic_control("huge", 3 << 20)).expect("an answer");
    assert_eq!(code, 413, "{answer}");
    assert!(answer.contains("Request entity too large: limit is 3145728"), "{answer}");

    let (code, answer) = post(&traffic_control("large", 1600 * 1024)).expect("an answer");
    assert_eq!(code, 500, "{answer}");
    assert!(answer.contains("etcdserver: request is too large"), "{answer}");

    let (code, answer) = post(&traffic_control("fits", 1400 * 1024)).expect("an answer");
    assert_eq!(code, 201, "{answer}");
}
