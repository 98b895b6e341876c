//! Redirect through a real inline firewall: the target and return ports
//! are the two ends of a Linux bridge with an nftables filter. Allowed
//! traffic arrives unchanged and once; what the firewall drops never
//! arrives, so nothing bypasses it.

use datapath::plan::Progress;
use tests::capture::Capture;
use tests::firewall::{Firewall, RETURN, TARGET};
use tests::node::TestNode;
use tests::plans::traffic_controls;
use tests::pod::Pod;

const REDIRECT: &str = "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nmetadata: {name: web-ips}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: web}}}\n  direction: Both\n  action: Redirect\n  targetPort: {device: {name: fw-tgt}}\n  returnPort: {device: {name: fw-ret}}\n";

/// An HTTP GET from `from` to a one-shot server on `to`; true if it worked.
fn http_get(from: &Pod, to: &Pod) -> bool {
    let server = format!(
        "import http.server,socketserver;socketserver.TCPServer.allow_reuse_address=True;s=http.server.HTTPServer(('{}',8000),http.server.SimpleHTTPRequestHandler);s.timeout=5;s.handle_request()",
        to.ip
    );
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", to.netns.name(), "python3", "-c", &server])
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 server");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let client = format!(
        "import urllib.request;print(urllib.request.urlopen('http://{}:8000/',timeout=3).status)",
        to.ip
    );
    let ok = from.netns.try_exec(&["python3", "-c", &client]).stdout.starts_with(b"200");
    let _ = child.kill();
    let _ = child.wait();
    ok
}

#[tokio::test(flavor = "current_thread")]
async fn redirected_traffic_passes_the_firewall_once_and_what_it_drops_never_arrives() {
    let mut node = TestNode::start().await;
    let firewall = Firewall::attach(&node.ovs);
    let web = Pod::attach(&node.ovs, &node.bridge, "default", "web-1", 1);
    let client = Pod::attach(&node.ovs, &node.bridge, "default", "client", 2);
    let pods = [web.info(&[("app", "web")]), client.info(&[("app", "client")])];
    let report = node.reconcile(&traffic_controls(REDIRECT), &pods).await;
    assert!(
        report.plan.traffic_controls.values().all(|tc| tc.progress == Progress::Realized),
        "{:?}",
        report.plan.traffic_controls
    );
    assert!(report.ports.iter().any(|p| p.name == TARGET) && report.ports.iter().any(|p| p.name == RETURN));

    // Allowed: each request reaches the client exactly once, through the firewall.
    let at_client = Capture::inbound(&client.netns, "eth0", "icmp");
    let pings = web.ping(&client, 5);
    let arrived = at_client.stop();
    assert_eq!(pings.received, 5);
    assert_eq!(arrived.len(), 5, "each request once");
    assert_eq!(firewall.icmp_forwarded(), 10, "every request and reply went through the firewall");
    assert!(http_get(&web, &client), "TCP works through the firewall");

    // Dropped by the firewall: no way around it.
    firewall.drop_icmp();
    assert_eq!(web.ping(&client, 3).received, 0, "ICMP is dropped, and nothing bypasses the firewall");
    assert!(http_get(&web, &client), "TCP still works");
}
