//! `tc-devcluster` as a process, with real `kubectl` against it: the API
//! server the agent and the user talk to in end-to-end tests, over HTTPS.
//! kubectl and the harness are the administrator; the agent is the
//! `tc-agent` ServiceAccount of `deploy/rbac.yaml`, with a token from the
//! TokenRequest API, so RBAC applies to every request it makes. The
//! harness plays kubelet through it (creates the Pod objects of the Pods
//! it attaches). Killed on drop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::agent::{free_port, workspace_binary};
use crate::cmd::{unique, wait_until};
use crate::pod::Pod;

/// The agent's ServiceAccount, as `deploy/rbac.yaml` names it.
pub const AGENT_NAMESPACE: &str = "tc-system";
/// Its name.
pub const AGENT_ACCOUNT: &str = "tc-agent";
/// Its user name in RBAC.
pub const AGENT_USER: &str = "system:serviceaccount:tc-system:tc-agent";

/// A running dev API server.
pub struct DevCluster {
    child: Child,
    dir: PathBuf,
    /// Its kubeconfig: the administrator's.
    pub kubeconfig: PathBuf,
    /// A kubeconfig as the agent's ServiceAccount (`tc-system/tc-agent`,
    /// bound by `deploy/rbac.yaml`).
    pub agent_kubeconfig: PathBuf,
    /// Where it listens, `127.0.0.1:PORT`.
    pub address: String,
    kubectl: PathBuf,
    binary: PathBuf,
    persistent: bool,
}

/// `tc-devcluster` on `address`, its log appended to `dir`'s, its state in
/// `dir/data` when `persistent`.
fn spawn(binary: &Path, dir: &Path, address: &str, persistent: bool) -> Child {
    let port = address.rsplit(':').next().unwrap_or_default();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("devcluster.log"))
        .expect("devcluster log");
    let mut command = Command::new(binary);
    command.args(["--port", port, "--kubeconfig-out"]).arg(dir.join("kubeconfig"));
    if persistent {
        command.arg("--data-dir").arg(dir.join("data"));
    }
    let child = command.stdout(Stdio::null()).stderr(log).spawn().expect("start tc-devcluster");
    crate::leftovers::record(&crate::leftovers::Owned::Process(child.id()));
    child
}

/// The path of `kubectl`.
///
/// # Panics
/// When it is not installed, saying how to get it: these tests never skip.
pub fn kubectl_path() -> PathBuf {
    crate::tool(
        "kubectl",
        "install kubectl v1.32 (https://kubernetes.io/docs/tasks/tools/) into /usr/local/bin",
    )
}

impl DevCluster {
    /// The server's process id (for benches that measure it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `tc-devcluster` on a free loopback port, state in memory.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Starts it with a data directory, so that [`DevCluster::restart`]
    /// keeps every object.
    pub fn start_persistent() -> Self {
        Self::launch(true)
    }

    fn launch(persistent: bool) -> Self {
        let kubectl = kubectl_path();
        let binary = workspace_binary("tc-devcluster");
        let dir = std::env::temp_dir().join(unique("tc-dev-"));
        std::fs::create_dir_all(&dir).expect("devcluster dir");
        let kubeconfig = dir.join("kubeconfig");
        let address = format!("127.0.0.1:{}", free_port());
        let child = spawn(&binary, &dir, &address, persistent);
        let agent_kubeconfig = dir.join("agent-kubeconfig");
        let cluster =
            DevCluster { child, dir, kubeconfig, agent_kubeconfig, address, kubectl, binary, persistent };
        cluster.wait_serving();
        cluster.write_agent_kubeconfig();
        cluster
    }

    /// Creates `deploy/`'s Namespace, ServiceAccount and RBAC, asks the
    /// TokenRequest API for the agent's token (as `kubectl create token`
    /// does) and writes a kubeconfig that uses it.
    fn write_agent_kubeconfig(&self) {
        let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/");
        self.kubectl(&[
            "apply",
            "-f",
            &format!("{deploy}namespace.yaml"),
            "-f",
            &format!("{deploy}rbac.yaml"),
        ]);
        let token = self.create_token(AGENT_NAMESPACE, AGENT_ACCOUNT, "24h");
        let address = self.address.parse().expect("a socket address");
        let text = devcluster::socket::kubeconfig::kubeconfig(address, &self.ca_file(), &token);
        devcluster::socket::persist::write_secret(&self.agent_kubeconfig, text.as_bytes())
            .expect("write the agent's kubeconfig");
    }

    /// The CA clients trust (`ca.crt` beside the kubeconfig).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join(devcluster::socket::tls::CA_FILE)
    }

    /// A token for ServiceAccount `namespace/account`, valid for
    /// `duration` (`1h`, `24h`), from `kubectl create token`.
    pub fn create_token(&self, namespace: &str, account: &str, duration: &str) -> String {
        let duration = format!("--duration={duration}");
        self.kubectl(&["create", "token", account, "-n", namespace, &duration]).trim().to_owned()
    }

    /// What a kubelet projects into a Pod of ServiceAccount
    /// `namespace/account`: `token`, `ca.crt` and `namespace` in `dir`.
    pub fn project_service_account(&self, namespace: &str, account: &str, dir: &Path) {
        std::fs::create_dir_all(dir).expect("token dir");
        std::fs::write(dir.join("token"), self.create_token(namespace, account, "1h")).expect("token");
        std::fs::write(dir.join("namespace"), namespace).expect("namespace");
        std::fs::copy(self.ca_file(), dir.join("ca.crt")).expect("ca.crt");
    }

    /// A raw HTTPS client as the administrator.
    pub fn client(&self) -> devcluster::socket::client::Client {
        devcluster::socket::client::Client::from_kubeconfig(&self.kubeconfig)
            .expect("the kubeconfig names the server, its CA and a token")
    }

    fn wait_serving(&self) {
        wait_until("tc-devcluster to serve", Duration::from_secs(10), || {
            self.kubeconfig.exists() && self.try_kubectl(&["get", "--raw", "/version"]).status.success()
        });
    }

    /// Kills the server (SIGKILL: no goodbye to its watchers) and starts it
    /// again on the same address and data directory. Watch history is not
    /// kept across a restart: clients resume with a relist.
    ///
    /// # Panics
    /// On a cluster started without a data directory.
    pub fn restart(&mut self) {
        assert!(self.persistent, "restart needs DevCluster::start_persistent");
        self.stop();
        self.child = spawn(&self.binary, &self.dir, &self.address, true);
        self.wait_serving();
    }

    /// Kills the server and waits for it (the state stays on disk).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::leftovers::forget(&crate::leftovers::Owned::Process(self.child.id()));
    }

    /// Runs kubectl; returns its output whatever the exit status.
    pub fn try_kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl; panics with its output when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let output = self.try_kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `yaml`.
    pub fn apply(&self, yaml: &str) -> String {
        let mut child = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(yaml.as_bytes()).expect("kubectl stdin");
        }
        let output = child.wait_with_output().expect("kubectl apply");
        assert!(
            output.status.success(),
            "kubectl apply failed for\n{yaml}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Playing kubelet: the Pod object of an attached Pod, on `node`.
    pub fn create_pod(&self, pod: &Pod, node: &str, labels: &[(&str, &str)]) {
        self.apply(&pod_yaml(&pod.namespace, &pod.name, node, labels));
    }

    /// Creates Pod `namespace/name` on `node` (before its port exists, as
    /// a kubelet does) and returns its UID.
    pub fn create_pod_named(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        labels: &[(&str, &str)],
    ) -> String {
        self.apply(&pod_yaml(namespace, name, node, labels));
        self.kubectl(&["get", "pod", "-n", namespace, name, "-o", "jsonpath={.metadata.uid}"])
            .trim()
            .to_owned()
    }

    /// A field of a condition of `node`'s status entry of `tc`, through
    /// kubectl's JSONPath (empty when there is none).
    pub fn condition(&self, tc: &str, node: &str, kind: &str, field: &str) -> String {
        let path = format!(
            "jsonpath={{.status.nodes[?(@.node==\"{node}\")].conditions[?(@.type==\"{kind}\")].{field}}}"
        );
        let output = self.try_kubectl(&["get", "tc", tc, "-o", &path]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Events about `tc` (in `default`, where the agent records them):
    /// (reason, message).
    pub fn events(&self, tc: &str) -> Vec<(String, String)> {
        let list: serde_json::Value =
            serde_json::from_str(&self.kubectl(&["get", "events", "-n", "default", "-o", "json"]))
                .unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["involvedObject"]["name"] == tc)
            .map(|e| (text(&e["reason"]), text(&e["message"])))
            .collect()
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("devcluster.log")).unwrap_or_default()
    }

    /// Every request the agents' ServiceAccount made (`/debug/requests`).
    pub fn agent_requests(&self) -> Vec<devcluster::apiserver::audit::AuditRecord> {
        let (_, body) = self.client().request("GET", "/debug/requests", None).unwrap_or_else(|e| {
            panic!("tc-devcluster at {} did not answer /debug/requests: {e}", self.address)
        });
        let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let items = list.get("items").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
        items
            .iter()
            .map(devcluster::apiserver::audit::AuditRecord::from_json)
            .filter(|r| r.user == AGENT_USER)
            .collect()
    }

    /// Fails the test when the agents made a request `deploy/rbac.yaml`
    /// does not allow.
    pub fn assert_agent_requests_allowed_by_deploy_rbac(&self) {
        let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/rbac.yaml"))
            .expect("deploy/rbac.yaml");
        let granted = devcluster::rbac::granted(&manifest).expect("the ClusterRole");
        let requests = self.agent_requests();
        assert!(!requests.is_empty(), "the agent made no request at all");
        let (denied, _) = devcluster::rbac::compare(&granted, &requests);
        assert!(
            denied.is_empty(),
            "the agent made requests deploy/rbac.yaml does not allow:\n{}",
            denied.join("\n")
        );
    }
}

/// A Pod object as kubelet would have it, for the harness's Pods.
pub fn pod_yaml(namespace: &str, name: &str, node: &str, labels: &[(&str, &str)]) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{{}}}\nspec:\n  nodeName: {node}\n  containers:\n  - name: main\n    image: registry.k8s.io/pause:3.10\n---\n",
        labels.join(", ")
    )
}

/// A Namespace with the label the API server always adds.
pub fn namespace_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {{kubernetes.io/metadata.name: {name}}}\n---\n"
    )
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
