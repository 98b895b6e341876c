//! `tc-agent` as a process, the way a DaemonSet runs it: a config file in
//! antrea-agent.conf's shape pointing at the private switch, a kubeconfig,
//! and its endpoints on a loopback port. Killed on drop; its log is kept
//! in a file and printed when a wait fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datapath::status::AgentStatus;

use crate::cmd::unique;
use crate::ovs::{Bridge, Ovs};

/// A running `tc-agent`.
pub struct AgentProcess {
    child: Child,
    dir: PathBuf,
    /// Its endpoints, `127.0.0.1:PORT`.
    pub listen: String,
}

/// The path of a workspace binary next to the test executable's
/// directory (`target/<profile>/NAME`).
///
/// # Panics
/// When it is not built, saying how to build it.
pub fn workspace_binary(name: &str) -> PathBuf {
    built_binary(name).unwrap_or_else(|| {
        panic!("{name} is not built: run `cargo build --workspace --bins` (cargo nextest run --workspace builds it)")
    })
}

/// [`workspace_binary`], or `None` when it is not built (for a bench that
/// says so and exits instead of panicking).
pub fn built_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // A test runs from target/<profile>/deps, a bench binary from
    // target/<profile>: look next to it, then one level up.
    let beside = exe.parent().map(|dir| dir.join(name));
    let above = exe.parent().and_then(Path::parent).map(|dir| dir.join(name));
    [beside, above].into_iter().flatten().find(|p| p.is_file())
}

/// A free loopback port (bound, read, released: the agent binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl AgentProcess {
    /// Starts the agent for `node` on `bridge`, a bridge it owns (no
    /// other controller programs it), talking to the API server of
    /// `kubeconfig`.
    pub fn start(ovs: &Ovs, bridge: &Bridge, kubeconfig: &Path, node: &str) -> Self {
        Self::start_in_mode(ovs, bridge, kubeconfig, node, "owned")
    }

    /// [`AgentProcess::start`] with `trafficControl.bridgeMode: mode`.
    pub fn start_in_mode(ovs: &Ovs, bridge: &Bridge, kubeconfig: &Path, node: &str, mode: &str) -> Self {
        let dir = std::env::temp_dir().join(unique("tc-agent-"));
        std::fs::create_dir_all(&dir).expect("agent dir");
        let config = dir.join("antrea-agent.conf");
        let text = format!(
            "featureGates:\n  TrafficControl: true\novsBridge: {}\ntrafficControl:\n  bridgeMode: {mode}\n  ovsdbSocket: unix:{}\n  openflowSocket: unix:{}\n  hostNetns: /run/netns/{}\n",
            bridge.name,
            ovs.db_socket().display(),
            bridge.mgmt.display(),
            // The node's networking is the switch's namespace, not the
            // test machine's, where the agent runs.
            ovs.node().name()
        );
        std::fs::write(&config, text).expect("agent config");
        Self::start_with_config(&dir, &config, kubeconfig, node)
    }

    fn start_with_config(dir: &Path, config: &Path, kubeconfig: &Path, node: &str) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.join("agent.log")).expect("agent log");
        // TC_AGENT: another build of the agent (the benchmarks compare
        // two commits against the same references this way).
        let binary = std::env::var_os("TC_AGENT").map_or_else(|| workspace_binary("tc-agent"), PathBuf::from);
        let child = Command::new(binary)
            .args(["--config"])
            .arg(config)
            .args(["--node-name", node, "--listen", &listen, "--kubeconfig"])
            .arg(kubeconfig)
            .env("RUST_LOG", "info,actors=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tc-agent");
        crate::leftovers::record(&crate::leftovers::Owned::Process(child.id()));
        AgentProcess { child, dir: dir.to_path_buf(), listen }
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GETs one endpoint: (status code, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        crate::http::request(&self.listen, "GET", path, None)
    }

    /// Waits until `/readyz` says ready.
    ///
    /// # Panics
    /// After `timeout`, with the agent's log.
    pub fn wait_ready(&mut self, timeout: Duration) {
        self.wait_for("/readyz to answer 200", timeout, |agent| {
            agent.get("/readyz").is_some_and(|(c, _)| c == 200)
        });
    }

    /// Waits until `condition` holds.
    ///
    /// # Panics
    /// After `timeout` or if the agent exits, with its log.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, mut condition: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tc-agent exited ({status}) while waiting for {what}; its log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the agent's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its `/status`, read (the default, not ready, while it does not
    /// answer).
    pub fn status(&self) -> AgentStatus {
        self.get("/status").and_then(|(_, body)| serde_json::from_str(&body).ok()).unwrap_or_default()
    }

    /// Waits until `/status` satisfies `check` with the switch's flows
    /// equal to the agent's plan.
    ///
    /// # Panics
    /// After `timeout` or if the agent exits, with its log.
    pub fn wait_status(&mut self, what: &str, timeout: Duration, check: impl Fn(&AgentStatus) -> bool) {
        self.wait_for(what, timeout, |agent| {
            let status = agent.status();
            status.in_sync() && check(&status)
        });
    }

    /// Waits for the agent to exit on its own; its exit code.
    ///
    /// # Panics
    /// After `timeout`, with its log.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "tc-agent did not exit; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it with SIGTERM (as kubelet does) and waits.
    pub fn stop(mut self) -> String {
        self.terminate();
        self.log()
    }

    fn terminate(&mut self) {
        // kill(1): the harness has no libc binding and needs none more.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AgentProcess {
    /// `tc_agent_flow_mods_total` from `/metrics`, when the agent answers.
    pub fn flow_mods_total(&self) -> Option<u64> {
        self.metric("tc_agent_flow_mods_total").map(|total| total as u64)
    }

    /// One series of `/metrics` (name and labels as printed, e.g.
    /// `tc_agent_traffic_controls{state="realized"}`); `None` when the
    /// agent does not answer or has no such series yet.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, metrics) = self.get("/metrics")?;
        metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))?.trim().parse().ok()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
        if std::thread::panicking() {
            // A failed assertion would otherwise lose the log with the dir.
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "the agent's log (last lines):\n{}",
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
        crate::leftovers::forget(&crate::leftovers::Owned::Process(self.child.id()));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
