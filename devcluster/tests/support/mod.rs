//! A `tc-devcluster` process and the real kubectl pointed at it, for the
//! tests that prove kubectl accepts the server.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository root: kubectl runs there so fixture paths read as in docs.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Fails (never skips) when kubectl is missing.
pub fn require_kubectl() {
    let found =
        Command::new("kubectl").arg("version").arg("--client").output().is_ok_and(|o| o.status.success());
    assert!(
        found,
        "kubectl is required for this test and was not found on PATH: install kubectl v1.32 \
         (Debian: add the pkgs.k8s.io v1.32 apt repository, then `apt-get install kubectl`)"
    );
}

/// A running server with its own kubeconfig and kubectl cache.
pub struct DevCluster {
    child: Child,
    /// The directory holding the kubeconfig and kubectl's cache.
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl DevCluster {
    /// Starts the binary on a free port (state in `data_dir` if given) and
    /// waits for its ready line.
    pub fn start(data_dir: Option<&Path>) -> DevCluster {
        require_kubectl();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut command = Command::new(env!("CARGO_BIN_EXE_tc-devcluster"));
        command.args(["--port", "0", "--kubeconfig-out"]).arg(dir.path().join("kubeconfig"));
        if let Some(data_dir) = data_dir {
            command.arg("--data-dir").arg(data_dir);
        }
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("tc-devcluster starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("a ready line");
        let address = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("https://"))
            .unwrap_or_else(|| panic!("no address in the ready line {line:?}"))
            .to_owned();
        DevCluster { child, dir, address }
    }

    /// A kubectl command against this server, run from the repository root.
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .current_dir(repo_root());
        command
    }

    /// Runs kubectl to the end.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_command(args).output().expect("kubectl runs")
    }

    /// Runs kubectl and returns its stdout, failing the test if it fails
    /// or prints anything on stderr (a warning included).
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        let (stdout, stderr) = text(&output);
        assert!(
            output.status.success() && stderr.is_empty(),
            "kubectl {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }

    /// Runs kubectl, which must succeed with nothing on stderr but
    /// `Warning:` lines; returns stdout and the warnings.
    pub fn kubectl_warned(&self, args: &[&str]) -> (String, Vec<String>) {
        let output = self.kubectl(args);
        let (stdout, stderr) = text(&output);
        let warnings: Vec<String> =
            stderr.lines().filter_map(|l| l.strip_prefix("Warning: ")).map(str::to_owned).collect();
        assert!(
            output.status.success() && warnings.len() == stderr.lines().count(),
            "kubectl {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        (stdout, warnings)
    }

    /// One HTTPS GET as the administrator, HTTP/1.1 with `Connection:
    /// close`; the whole response as text.
    pub fn http_get(&self, path: &str) -> String {
        self.client().raw_get(path, "kube-rs-shaped").expect("the server answers")
    }

    /// A raw client as the kubeconfig's user.
    pub fn client(&self) -> devcluster::socket::client::Client {
        devcluster::socket::client::Client::from_kubeconfig(&self.dir.path().join("kubeconfig"))
            .expect("the kubeconfig names the server, its CA and a token")
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(mut self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM");
        let exit = self.child.wait().expect("the server exits");
        assert!(exit.success(), "tc-devcluster exited with {exit}");
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        // Already gone after `stop`; otherwise end the process we started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// stdout and stderr as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One plain HTTP/1.1 GET with `Connection: close`; the whole response
/// (for an in-process server on plain TCP).
pub fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the server accepts");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: kube-rs-shaped\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("the response is read");
    response
}

/// The lines a child prints on stdout, as they come.
pub fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}
