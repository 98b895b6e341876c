//! Running the system tools the harness drives (`ip`, `ovs-*`), failing
//! loudly with the command and its stderr.

use std::ffi::OsStr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `program args`, with `envs`; panics with the command line and its
/// output when it fails.
pub fn run<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S], envs: &[(&str, &OsStr)]) -> String {
    let output = output(program.as_ref(), args, envs);
    if !output.status.success() {
        panic!("{}", describe_failure(program.as_ref(), args, &output));
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a command and returns its output, whatever its exit status.
pub fn output<S: AsRef<OsStr>>(program: &OsStr, args: &[S], envs: &[(&str, &OsStr)]) -> Output {
    let mut command = Command::new(program);
    command.args(args);
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", program.to_string_lossy()))
}

fn describe_failure<S: AsRef<OsStr>>(program: &OsStr, args: &[S], output: &Output) -> String {
    let line: Vec<String> = std::iter::once(program)
        .chain(args.iter().map(AsRef::as_ref))
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!(
        "`{}` failed ({}):\n{}{}",
        line.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Polls `condition` until it holds or `timeout` passes; panics with
/// `what` on timeout. For conditions the harness cannot be told about.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A name unique to this process and call, short enough for Linux
/// interface names when prefixed by at most 6 characters.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{n:x}", std::process::id() % 0xffff)
}

/// The PID an OVS-style daemon wrote to `<dir>/<daemon>.pid`, waiting up
/// to `timeout` for the file.
///
/// # Panics
/// When the file never appears or holds no PID, with the log's tail.
pub fn daemon_pid(dir: &std::path::Path, daemon: &str, timeout: Duration) -> u32 {
    let file = dir.join(format!("{daemon}.pid"));
    wait_until(&format!("{daemon}'s pid file"), timeout, || file.exists());
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    text.trim().parse().unwrap_or_else(|_| panic!("{daemon} wrote no pid:\n{}", daemon_log_tail(dir, daemon)))
}

/// The last lines of `<dir>/<daemon>.log`, for failure messages.
pub fn daemon_log_tail(dir: &std::path::Path, daemon: &str) -> String {
    let log = std::fs::read_to_string(dir.join(format!("{daemon}.log"))).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
