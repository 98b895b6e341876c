//! The deployed path, run: the image `deploy/image/build.sh` makes, started
//! by podman exactly as `deploy/`'s DaemonSet (after kustomize) describes
//! its Pod — args, env with the downward API's NODE_NAME, the ConfigMap
//! mounted where the spec mounts it, the ServiceAccount token projected
//! where a kubelet projects it, the OVS run directory read-only, a
//! read-only root, every capability dropped, host network, the memory
//! limit — against a private OVS and the dev API server over HTTPS. The
//! agent finds the API server with the in-cluster configuration and is
//! authorized by `deploy/rbac.yaml` alone. A change to the DaemonSet, the
//! image or the ClusterRole that would break a real node breaks this test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::capture::Capture;
use tests::collector::{Collector, INTERFACE, icmp_copies};
use tests::devcluster::{AGENT_USER, DevCluster, namespace_yaml};
use tests::kubelet::{self, Node, SERVICE_ACCOUNT_DIR};
use tests::ovs::Ovs;
use tests::pod::Pod;
use tests::podman::Podman;

const NODE: &str = "node-1";
const WAIT: Duration = Duration::from_secs(30);
/// The tag build.sh gives the image inside its layout.
const LAYOUT_TAG: &str = "tc-agent:0.1.0";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The image: the layout CI built before the tests (`TC_IMAGE_LAYOUT`), or
/// one built now with `deploy/image/build.sh` from this workspace.
fn image_layout(scratch: &Path) -> PathBuf {
    if let Some(layout) = std::env::var_os("TC_IMAGE_LAYOUT") {
        return PathBuf::from(layout);
    }
    let layout = scratch.join("image");
    // The test runs from target/<profile>/deps: build.sh builds the
    // release binary in the same target directory.
    let target = std::env::current_exe().ok().and_then(|e| Some(e.parent()?.parent()?.parent()?.to_owned()));
    let mut command = std::process::Command::new(repo("deploy/image/build.sh"));
    command.arg(&layout);
    if let Some(target) = target {
        command.env("CARGO_TARGET_DIR", target);
    }
    let output = command.output().expect("run deploy/image/build.sh");
    assert!(
        output.status.success(),
        "deploy/image/build.sh failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    layout
}

/// `deploy/` as kustomize renders it.
fn rendered(cluster: &DevCluster) -> Vec<Value> {
    let text = cluster.kubectl(&["kustomize", &repo("deploy").display().to_string()]);
    datapath::manifest::parse_documents(&text).expect("kustomize renders YAML")
}

fn get(address: &str, path: &str) -> Option<u16> {
    tests::http::request(address, "GET", path, None).map(|(code, _)| code)
}

/// `Cap*` and `NoNewPrivs` of a process, from /proc.
fn proc_status(pid: u32) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.starts_with("Cap") || *k == "NoNewPrivs")
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Mount options of the mount at `target` in the process's namespace.
fn mount_options(pid: u32, target: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    text.lines()
        .filter(|l| l.split_whitespace().nth(4) == Some(target))
        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_owned))
        .next_back()
        .unwrap_or_default()
}

/// A temporary directory of this test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(tests::cmd::unique("tc-daemonset-"));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_daemonset_pod_runs_the_built_image_in_cluster_and_mirrors_web_app() {
    let scratch = Scratch::new();
    let podman = Podman::new();
    let layout = image_layout(scratch.path());
    let cluster = DevCluster::start();
    let documents = rendered(&cluster);
    let daemon_set = kubelet::daemon_set(&documents, "tc-agent").expect("deploy/ has the tc-agent DaemonSet");
    let config = documents.iter().find(|d| d["kind"] == "ConfigMap").expect("the agent's ConfigMap");
    let config_text = config["data"].as_object().and_then(|d| d.values().next()).and_then(Value::as_str);
    let bridge_name = config_text
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("ovsBridge: ")))
        .expect("the ConfigMap names ovsBridge")
        .trim();

    // The node: a switch with the ConfigMap's bridge, Pods, a collector.
    let ovs = Ovs::start();
    let bridge = ovs.add_bridge_named(bridge_name);
    // The deployed config leaves bridgeMode at its default, shared: the
    // CNI forwards (here the test plays it with one NORMAL flow) and the
    // agent writes no flow of its own.
    ovs.ofctl(&bridge, "add-flow", &["cookie=0xc1,priority=0,actions=NORMAL"]);
    let collector = Collector::attach(&ovs);
    let web = Pod::attach(&ovs, &bridge, "default", "web-1", 1);
    let client = Pod::attach(&ovs, &bridge, "default", "client", 2);
    let ports_before = ovs.vsctl(&["list-ports", &bridge.name]);

    // The user deploys, as the README says.
    let applied = cluster.kubectl(&["apply", "-k", &repo("deploy").display().to_string()]);
    assert!(applied.contains("daemonset.apps/tc-agent"), "{applied}");
    cluster.apply(&namespace_yaml("default"));
    cluster.create_pod(&web, NODE, &[("app", "web")]);
    cluster.create_pod(&client, NODE, &[("app", "client")]);

    // The kubelet's part: token, volumes, env, then the container.
    let token_dir = scratch.path().join("serviceaccount");
    let namespace = daemon_set["metadata"]["namespace"].as_str().expect("a namespace");
    let account = daemon_set["spec"]["template"]["spec"]["serviceAccountName"].as_str().unwrap_or("default");
    cluster.project_service_account(namespace, account, &token_dir);
    let host_paths = BTreeMap::from([("/var/run/openvswitch".to_owned(), ovs.run_dir().to_owned())]);
    let (api_host, api_port) = cluster.address.rsplit_once(':').expect("host:port");
    let node = Node {
        name: NODE,
        pod_name: "tc-agent-x7k2p",
        api_host,
        api_port: api_port.parse().expect("a port"),
        service_account_dir: &token_dir,
        host_paths: &host_paths,
        volumes_dir: &scratch.path().join("volumes"),
    };
    let plan = kubelet::plan(daemon_set, &documents, &node).unwrap_or_else(|e| panic!("the DaemonSet: {e}"));
    podman.load(&layout, LAYOUT_TAG, &plan.image);
    // The image's config is what the spec relies on: an entrypoint for a
    // container that gives only args, and the spec's user as its own.
    let config: Value =
        serde_json::from_str(&podman.run(&["image", "inspect", "--format", "{{json .Config}}", &plan.image]))
            .expect("the image's config as JSON");
    let container_spec = &daemon_set["spec"]["template"]["spec"]["containers"][0];
    if container_spec.get("command").is_none() {
        assert_eq!(config["Entrypoint"], serde_json::json!(["/usr/local/bin/tc-agent"]), "{config}");
    }
    let context = &container_spec["securityContext"];
    let user = format!("{}:{}", context["runAsUser"], context["runAsGroup"]);
    assert_eq!(config["User"], user.as_str(), "the image runs as the DaemonSet's user: {config}");
    let container = podman.start(node.pod_name, &plan.options, &plan.image, &plan.args);

    // Ready as the readinessProbe asks, and live.
    let (host, port, path) = plan.readiness.clone().expect("a readiness probe");
    let probe = format!("{host}:{port}");
    let deadline = Instant::now() + WAIT;
    while get(&probe, &path) != Some(200) {
        assert!(container.is_running(), "the container stopped; its log:\n{}", container.logs());
        assert!(Instant::now() < deadline, "not ready after {WAIT:?}; its log:\n{}", container.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (host, port, path) = plan.liveness.clone().expect("a liveness probe");
    assert_eq!(get(&format!("{host}:{port}"), &path), Some(200), "{}", container.logs());

    // Locked down as the securityContext says, seen from the host.
    let pid = container.pid();
    let status = proc_status(pid);
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(status.get(set).map(String::as_str), Some("0000000000000000"), "{set}: {status:?}");
    }
    assert_eq!(status.get("NoNewPrivs").map(String::as_str), Some("1"));
    assert!(mount_options(pid, "/").split(',').any(|o| o == "ro"), "a read-only root");
    assert!(mount_options(pid, "/var/run/openvswitch").split(',').any(|o| o == "ro"));
    assert!(mount_options(pid, SERVICE_ACCOUNT_DIR).split(',').any(|o| o == "ro"));
    let log = container.logs();
    assert!(!log.contains("kubeconfig"), "the in-cluster configuration, not a kubeconfig:\n{log}");

    // The guide's example, verbatim: copies at the collector.
    let seed = repo("fixtures/seed/mirror-web-app.yaml").display().to_string();
    let applied = cluster.kubectl(&["apply", "-f", &seed]);
    assert!(applied.contains("mirror-web-app created"), "{applied}");
    let deadline = Instant::now() + WAIT;
    let realized = || cluster.condition("mirror-web-app", NODE, "Realized", "status") == "True";
    while !realized() {
        assert!(
            Instant::now() < deadline,
            "mirror-web-app not realized; the agent's log:\n{}",
            container.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    collector.resolve(&ovs);
    let at_collector = Capture::inbound(&collector.netns, INTERFACE, "udp port 4789");
    assert_eq!(web.ping(&client, 3).received, 3, "mirroring must not break the traffic");
    assert_eq!(icmp_copies(&at_collector.stop()).len(), 6, "3 requests and 3 replies, each mirrored once");

    // What the user reads back: this node's status entry.
    let yaml = cluster.kubectl(&["get", "tc", "mirror-web-app", "-o", "yaml"]);
    let object = datapath::manifest::parse_documents(&yaml).expect("YAML").remove(0);
    let entry = object["status"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["node"] == NODE))
        .unwrap_or_else(|| panic!("no status entry for {NODE}:\n{yaml}"));
    assert!(
        entry["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Realized" && c["status"] == "True"),
        "{yaml}"
    );

    // Every request came from the ServiceAccount, and RBAC refused none.
    let requests = cluster.agent_requests();
    assert!(requests.iter().any(|r| r.resource == "trafficcontrols" && r.verb == "watch"), "{requests:?}");
    let refused: Vec<_> = requests.iter().filter(|r| r.code == 401 || r.code == 403).collect();
    assert!(refused.is_empty(), "refused requests of {AGENT_USER}: {refused:?}");
    cluster.assert_agent_requests_allowed_by_deploy_rbac();

    // The CNI's flow is the only one: the agent mirrored with a Mirror row.
    let flows = ovs.dump_flows(&bridge);
    assert!(flows.len() == 1 && flows[0].contains("cookie=0xc1"), "{flows:?}");
    assert!(ovs.vsctl(&["--columns=name", "list", "mirror"]).contains("tc-"), "the agent's Mirror row");

    // Deleting it removes what the agent made, and only that.
    cluster.kubectl(&["delete", "-f", &seed]);
    let deadline = Instant::now() + WAIT;
    while ovs.vsctl(&["list-ports", &bridge.name]) != ports_before
        || !ovs.vsctl(&["--columns=name", "list", "mirror"]).trim().is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the agent's port or Mirror stayed: {}\n{}",
            ovs.vsctl(&["list-ports", &bridge.name]),
            ovs.vsctl(&["list", "mirror"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(container.is_running(), "{}", container.logs());
}
