//! `tc-agent` as a user starts it: a bad configuration is one clear error
//! and exit code 2; with the feature gate off it runs, is ready, realizes
//! nothing and says so once; SIGTERM stops it with exit code 0.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tc-agent-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("antrea-agent.conf");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(config: &std::path::Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tc-agent"))
        .arg("--config")
        .arg(config)
        .args(["--node-name", "node-1", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_bad_configuration_is_one_clear_error_and_exit_code_2() {
    let config = temp_file("bad", "featureGates:\n  TrafficControl: yes please\n");
    let (code, stderr) = run(&config);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    assert!(stderr.contains("featureGates.TrafficControl"), "{stderr}");
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");

    let (code, stderr) = run(std::path::Path::new("/nonexistent/antrea-agent.conf"));
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read /nonexistent/antrea-agent.conf"), "{stderr}");
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

fn get(address: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, response.split_once("\r\n\r\n")?.1.to_owned()))
}

/// The agent's process, killed when the test ends, also when it fails.
struct AgentChild(std::process::Child);

impl Drop for AgentChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn with_the_feature_gate_off_it_is_ready_realizes_nothing_and_says_so_once() {
    let config = temp_file("off", "featureGates:\n  TrafficControl: false\novsBridge: br-int\n");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = AgentChild(
        Command::new(env!("CARGO_BIN_EXE_tc-agent"))
            .arg("--config")
            .arg(&config)
            .args(["--node-name", "node-1", "--listen", &listen])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = loop {
        if let Some(answer) = get(&listen, "/readyz") {
            break answer;
        }
        assert!(Instant::now() < deadline, "the agent never listened");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(ready.0, 200);
    assert_eq!(get(&listen, "/healthz").map(|a| a.0), Some(200));
    let (code, body) = get(&listen, "/status").expect("/status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!((&status["featureGate"], &status["ready"]), (&"off".into(), &true.into()), "{body}");
    let tcctl = Command::new(env!("CARGO_BIN_EXE_tcctl"))
        .args(["status", "--agent", &format!("http://{listen}")])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&tcctl.stdout);
    assert_eq!(tcctl.status.code(), Some(0), "nothing to differ from: {said}");
    assert!(said.contains("feature gate is off"), "{said}");
    Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    let status = child.0.wait().unwrap();
    let mut stderr = String::new();
    child.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("feature gate is off").count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}
