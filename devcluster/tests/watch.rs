//! Watches over a real socket against an in-process [`ApiServer`], shaped
//! the way kube-rs's watcher asks: list, then watch from the list's
//! resourceVersion; relist after `410 Gone`.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use devcluster::ApiServer;
use devcluster::apiserver::resources::PODS;
use devcluster::server::system_clock;
use serde_json::{Value, json};
use support::http_get;

/// Serves `server` on 127.0.0.1 from a thread with its own runtime, plain
/// HTTP (the in-process server trusts its callers; TLS is the binary's).
fn serve_in_background(server: &ApiServer) -> String {
    let server = server.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
            sender.send(listener.local_addr().expect("an address").to_string()).expect("the test waits");
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.serve_connection(stream).await });
            }
        });
    });
    receiver.recv_timeout(Duration::from_secs(5)).expect("the server listens")
}

fn pod(name: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "pause"}]},
        "status": {"podIP": "10.10.0.11", "phase": "Running"}
    })
}

#[test]
fn a_watch_from_forgotten_history_gets_410_gone() {
    let server = ApiServer::new(system_clock());
    let address = serve_in_background(&server);
    server.create(&PODS, Some("default"), pod("web-1", "node-1")).expect("created");
    let old = server.revision() - 1;
    server.forget_history();
    let response = http_get(
        &address,
        &format!("/api/v1/pods?watch=true&resourceVersion={old}&allowWatchBookmarks=true&timeoutSeconds=290"),
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""type":"ERROR""#)
            && response.contains(r#""code":410"#)
            && response.contains("Expired"),
        "{response}"
    );
}

#[test]
fn a_list_then_watch_sees_a_new_pod_on_its_node() {
    let server = ApiServer::new(system_clock());
    let address = serve_in_background(&server);
    let list: Value = {
        let response = http_get(&address, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&limit=500");
        let body = response.split("\r\n\r\n").nth(1).expect("a body");
        serde_json::from_str(body).expect("JSON")
    };
    assert_eq!(list["kind"], "PodList");
    let version = list["metadata"]["resourceVersion"].as_str().expect("a version").to_owned();

    let mut stream = TcpStream::connect(&address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(
        stream,
        "GET /api/v1/pods?watch=true&resourceVersion={version}&fieldSelector=spec.nodeName%3Dnode-1&timeoutSeconds=10 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .expect("sent");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).expect("headers");
    }
    server.create(&PODS, Some("default"), pod("elsewhere", "node-2")).expect("created");
    server.create(&PODS, Some("default"), pod("web-1", "node-1")).expect("created");
    // Chunked: a size line, then the event line.
    let mut event = String::new();
    while !event.starts_with('{') {
        event.clear();
        reader.read_line(&mut event).expect("an event");
    }
    let event: Value = serde_json::from_str(event.trim()).expect("an event in JSON");
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["metadata"]["name"], "web-1", "node-2's Pod is filtered out");
    assert_eq!(event["object"]["status"]["podIP"], "10.10.0.11");
}
