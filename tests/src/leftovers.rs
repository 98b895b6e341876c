//! What a killed test run leaves behind, swept by the next one.
//!
//! A test that panics cleans up on drop; one that is killed (SIGKILL, a
//! timeout, a lost terminal) cannot, and its daemons, namespaces and
//! processes would outlive it. So each of them is recorded, while it
//! exists, as a file in a registry directory naming the test process that
//! owns it, and the first harness call of every test process sweeps what
//! dead owners left: it kills the processes, deletes the namespaces and
//! removes the directories. What a live process owns is never touched, so
//! tests running in parallel (nextest runs each in its own process) are
//! safe from each other.

use std::path::{Path, PathBuf};
use std::sync::Once;

use crate::cmd::output;

/// Something a test process owns.
pub enum Owned<'a> {
    /// A network namespace, by name.
    Netns(&'a str),
    /// A directory of OVS-style daemons: every `*.pid` file in it names a
    /// daemon to kill.
    DaemonDir(&'a Path),
    /// A process the test spawned.
    Process(u32),
}

/// The registry: one file per owned thing, holding the owner's PID.
fn registry() -> PathBuf {
    std::env::temp_dir().join("tc-tests-owned")
}

fn entry(owned: &Owned<'_>) -> PathBuf {
    let name = match owned {
        Owned::Netns(name) => format!("netns-{name}"),
        Owned::DaemonDir(dir) => format!("dir-{}", dir.to_string_lossy().replace('/', "%")),
        Owned::Process(pid) => format!("process-{pid}"),
    };
    registry().join(name)
}

/// Records that this process owns `owned` (sweeping dead runs' leftovers
/// first, once per process). A process is recorded with its start time,
/// so that a later process that got its PID is never taken for it.
pub fn record(owned: &Owned<'_>) {
    sweep_once();
    let _ = std::fs::create_dir_all(registry());
    let started = match owned {
        Owned::Process(pid) => start_time(*pid).map(|t| format!(" {t}")).unwrap_or_default(),
        _ => String::new(),
    };
    let _ = std::fs::write(entry(owned), format!("{}{started}", std::process::id()));
}

/// When `pid` started (clock ticks after boot, stat(5) field 22).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Forgets `owned`: it was cleaned up by its owner.
pub fn forget(owned: &Owned<'_>) {
    let _ = std::fs::remove_file(entry(owned));
}

/// What this process still owns (the registry's names for it): empty
/// once everything it made has been dropped.
pub fn owned_by_this_process() -> Vec<String> {
    let own = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir(registry()) else { return Vec::new() };
    let mut owned: Vec<String> = entries
        .flatten()
        .filter(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            text.split_whitespace().next() == Some(own.as_str())
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    owned.sort();
    owned
}

fn sweep_once() {
    static SWEPT: Once = Once::new();
    SWEPT.call_once(sweep);
}

/// Cleans up everything whose owner is dead.
pub fn sweep() {
    let Ok(entries) = std::fs::read_dir(registry()) else { return };
    for file in entries.flatten().map(|e| e.path()) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut fields = text.split_whitespace();
        let owner = fields.next().and_then(|t| t.parse::<u32>().ok());
        if owner.is_some_and(alive) {
            continue;
        }
        let started: Option<u64> = fields.next().and_then(|t| t.parse().ok());
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(netns) = name.strip_prefix("netns-") {
            delete_netns(netns);
        } else if let Some(dir) = name.strip_prefix("dir-") {
            clean_daemon_dir(Path::new(&dir.replace('%', "/")));
        } else if let Some(pid) = name.strip_prefix("process-").and_then(|p| p.parse().ok()) {
            // Only the process that was recorded, not a later one with its PID.
            if started.is_some() && start_time(pid) == started {
                kill(pid);
            }
        }
        let _ = std::fs::remove_file(&file);
    }
}

/// Whether `pid` runs (a zombie, which only waits for its parent to
/// reap it, does not).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    state.is_some_and(|s| s != "Z" && s != "X")
}

fn kill(pid: u32) {
    if alive(pid) {
        let _ = output("kill".as_ref(), &["-KILL", &pid.to_string()], &[]);
    }
}

fn delete_netns(name: &str) {
    let pids = output("ip".as_ref(), &["netns", "pids", name], &[]);
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace().filter_map(|p| p.parse().ok()) {
        kill(pid);
    }
    let _ = output("ip".as_ref(), &["netns", "del", name], &[]);
}

fn clean_daemon_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for pidfile in
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pid"))
        {
            if let Some(pid) = std::fs::read_to_string(&pidfile).ok().and_then(|t| t.trim().parse().ok()) {
                kill(pid);
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon and a namespace whose owner died are cleaned up; those of
    /// a live owner are not.
    #[test]
    fn a_dead_owners_daemon_and_namespace_are_swept_and_a_live_ones_are_kept() {
        let dir = std::env::temp_dir().join(crate::cmd::unique("tc-leftover-"));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut daemon = std::process::Command::new("sleep").arg("60").spawn().expect("sleep");
        std::fs::write(dir.join("sleeper.pid"), daemon.id().to_string()).expect("pidfile");
        let netns = crate::cmd::unique("tcl");
        crate::cmd::run("ip", &["netns", "add", &netns], &[]);
        // A dead owner: a process that has exited.
        let mut dead = std::process::Command::new("true").spawn().expect("true");
        let _ = dead.wait();
        std::fs::create_dir_all(registry()).expect("registry");
        for owned in [Owned::DaemonDir(&dir), Owned::Netns(&netns)] {
            std::fs::write(entry(&owned), dead.id().to_string()).expect("entry");
        }
        // A live owner's process: this test's.
        let mut kept = std::process::Command::new("sleep").arg("60").spawn().expect("sleep");
        record(&Owned::Process(kept.id()));
        sweep();
        let _ = daemon.wait();
        assert!(!dir.exists(), "the dead owner's directory is removed");
        let namespaces = crate::cmd::run("ip", &["netns", "list"], &[]);
        assert!(!namespaces.contains(&netns), "the dead owner's namespace is deleted: {namespaces}");
        assert!(alive(kept.id()), "a live owner's process is kept");
        forget(&Owned::Process(kept.id()));
        let _ = kept.kill();
        let _ = kept.wait();
    }
}
