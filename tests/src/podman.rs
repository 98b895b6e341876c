//! Debian's podman as the container runtime of one test: its own storage
//! (vfs) under a temporary directory, so nothing is left in the machine's
//! and a killed run leaves only a directory the next sweeps.
//!
//! Two settings differ from podman's defaults because this sandbox needs
//! them, and neither changes what the container may do:
//! - `--runtime runc`: crun 1.8 refuses the sandbox's hybrid cgroup
//!   layout ("cgroups in hybrid mode not supported");
//! - `--ulimit` nofile/nproc set to this process's own limits: podman's
//!   defaults are above what the sandbox lets even root raise, and a
//!   kubelet's runtime (containerd) also passes its own limits on.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::cmd::unique;

/// How to install what this module drives.
pub const INSTALL: &str = "apt-get install -y podman runc (Debian 12's podman 4.3 and runc 1.1)";

/// A private podman store.
pub struct Podman {
    dir: PathBuf,
    podman: PathBuf,
}

/// A running container, removed on drop.
pub struct Container<'a> {
    podman: &'a Podman,
    /// Its name.
    pub name: String,
}

impl Podman {
    /// A store under a fresh temporary directory.
    ///
    /// # Panics
    /// When podman or runc is missing, saying how to install them.
    pub fn new() -> Podman {
        let podman = crate::tool("podman", INSTALL);
        crate::tool("runc", INSTALL);
        let dir = std::env::temp_dir().join(unique("tc-podman-"));
        std::fs::create_dir_all(&dir).expect("podman dir");
        crate::leftovers::record(&crate::leftovers::Owned::DaemonDir(&dir));
        Podman { dir, podman }
    }

    /// The store's options, then `args`.
    fn with_store(&self, args: &[&str]) -> Vec<String> {
        let store = [
            format!("--root={}", self.dir.join("root").display()),
            format!("--runroot={}", self.dir.join("run").display()),
            format!("--tmpdir={}", self.dir.join("tmp").display()),
        ];
        let settings =
            ["--storage-driver=vfs", "--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime=runc"];
        store.into_iter().chain(settings.into_iter().chain(args.iter().copied()).map(str::to_owned)).collect()
    }

    /// Runs podman; its output whatever the exit status.
    pub fn output(&self, args: &[&str]) -> Output {
        crate::cmd::output(self.podman.as_os_str(), &self.with_store(args), &[])
    }

    /// Runs podman; panics with its output when it fails.
    pub fn run(&self, args: &[&str]) -> String {
        crate::cmd::run(&self.podman, &self.with_store(args), &[])
    }

    /// Loads the image tagged `tag` in the OCI layout `layout` and names
    /// it `reference` (what a registry pull would have stored).
    pub fn load(&self, layout: &Path, tag: &str, reference: &str) {
        // podman names an image pulled from a layout after the layout's
        // path, which is no valid name when a component starts with a dot
        // (`~/.cache/...`): pull from a copy in the store's directory.
        let copy = self.dir.join("layout");
        crate::cmd::run("cp", &[OsStr::new("-a"), layout.as_os_str(), copy.as_os_str()], &[]);
        let source = format!("oci:{}:{tag}", copy.display());
        let pulled = self.run(&["pull", "--quiet", &source]);
        let id = pulled.lines().last().unwrap_or_default().trim().to_owned();
        self.run(&["tag", &id, reference]);
    }

    /// Starts a detached container: `options`, then `image` and `args`.
    pub fn start(&self, name: &str, options: &[String], image: &str, args: &[String]) -> Container<'_> {
        let mut all: Vec<String> = vec!["run".into(), "--detach".into()];
        all.extend(limits());
        all.extend(options.iter().cloned());
        all.push(image.into());
        all.extend(args.iter().cloned());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.run(&all);
        let container = Container { podman: self, name: name.into() };
        // conmon and the container outlive a killed test: the next run's
        // sweep ends them.
        for pid in container.processes() {
            crate::leftovers::record(&crate::leftovers::Owned::Process(pid));
        }
        container
    }
}

impl Default for Podman {
    fn default() -> Self {
        Podman::new()
    }
}

/// This process's open-file and process limits, as `--ulimit` options.
fn limits() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = |label: &str, cap: u64| {
        text.lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split_whitespace().rev().nth(1).and_then(|n| n.parse::<u64>().ok()))
            .map_or(cap, |n| n.min(cap))
    };
    // podman itself refuses more than 32768 processes.
    let files = hard("Max open files", 1 << 20);
    let processes = hard("Max processes", 32_768);
    vec![format!("--ulimit=nofile={files}:{files}"), format!("--ulimit=nproc={processes}:{processes}")]
}

impl Container<'_> {
    /// Its log (stdout and stderr).
    pub fn logs(&self) -> String {
        let output = self.podman.output(&["logs", &self.name]);
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    }

    /// `podman inspect --format FORMAT`.
    pub fn inspect(&self, format: &str) -> String {
        self.podman.run(&["inspect", "--format", format, &self.name]).trim().to_owned()
    }

    /// Whether it still runs.
    pub fn is_running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// The host pid of its first process.
    pub fn pid(&self) -> u32 {
        self.inspect("{{.State.Pid}}").parse().unwrap_or_default()
    }

    /// Its first process and its conmon.
    fn processes(&self) -> Vec<u32> {
        let pids = self.inspect("{{.State.Pid}} {{.State.ConmonPid}}");
        pids.split_whitespace().filter_map(|p| p.parse().ok()).filter(|p| *p != 0).collect()
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let processes = self.processes();
        let _ = self.podman.output(&["rm", "--force", "--time=0", &self.name]);
        for pid in processes {
            crate::leftovers::forget(&crate::leftovers::Owned::Process(pid));
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.output(&["rm", "--all", "--force", "--time=0"]);
        let _ = std::fs::remove_dir_all(&self.dir);
        crate::leftovers::forget(&crate::leftovers::Owned::DaemonDir(&self.dir));
    }
}
