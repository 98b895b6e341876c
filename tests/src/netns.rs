//! A network namespace that exists as long as its value: created on
//! `new`, deleted (with every process and device in it) on drop, also when
//! a test panics.

use std::ffi::OsStr;

use crate::cmd::{output, run, unique};
use crate::leftovers::Owned;

/// A network namespace.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace named `<prefix><unique>`, with loopback up.
    pub fn new(prefix: &str) -> Self {
        let name = unique(prefix);
        crate::leftovers::record(&Owned::Netns(&name));
        run("ip", &["netns", "add", &name], &[]);
        let netns = Netns { name };
        netns.exec(&["ip", "link", "set", "lo", "up"]);
        netns
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside; panics when it fails.
    pub fn exec(&self, command: &[&str]) -> String {
        self.exec_env(command, &[])
    }

    /// Runs a command inside with extra environment; panics when it fails.
    pub fn exec_env(&self, command: &[&str], envs: &[(&str, &OsStr)]) -> String {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(command);
        run("ip", &args, envs)
    }

    /// Runs a command inside and returns its output whatever its status.
    pub fn try_exec(&self, command: &[&str]) -> std::process::Output {
        self.try_exec_env(command, &[])
    }

    /// Runs a command inside, with extra environment, and returns its
    /// output whatever its status.
    pub fn try_exec_env(&self, command: &[&str], envs: &[(&str, &OsStr)]) -> std::process::Output {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(command);
        output(OsStr::new("ip"), &args, envs)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes left inside would keep the namespace's devices alive.
        let pids = output(OsStr::new("ip"), &["netns", "pids", &self.name], &[]);
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let _ = output(OsStr::new("kill"), &["-KILL", pid], &[]);
        }
        let _ = output(OsStr::new("ip"), &["netns", "del", &self.name], &[]);
        crate::leftovers::forget(&Owned::Netns(&self.name));
    }
}
