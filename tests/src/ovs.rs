//! A private Open vSwitch for one test: its own database and
//! `ovsdb-server` in a temp dir, and `ovs-vswitchd` (userspace datapath)
//! running inside the test's "node" network namespace.
//!
//! Running the switch inside a namespace keeps everything it creates there:
//! internal ports' tap devices and `ovs-netdev` (which outlive
//! ovs-vswitchd), `br-phy`'s tunnel address and its routes. Tests run in
//! parallel without colliding, nothing touches the host's own network, and
//! dropping the namespace removes every device. Daemons are killed by PID
//! on drop, also when the test panics.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd::{run, unique, wait_until};
use crate::netns::Netns;
use crate::ovs_tool;

/// A bridge of the private switch.
#[derive(Clone, Debug)]
pub struct Bridge {
    /// Its name.
    pub name: String,
    /// Its OpenFlow socket (`<rundir>/<name>.mgmt`).
    pub mgmt: PathBuf,
}

/// A private OVS instance.
pub struct Ovs {
    dir: PathBuf,
    // Declared before `node` so the daemons die before the namespace goes.
    ovsdb_pid: Option<u32>,
    vswitchd_pid: Option<u32>,
    node: Netns,
}

impl Ovs {
    /// Starts ovsdb-server and ovs-vswitchd with a fresh database.
    ///
    /// # Panics
    /// When OVS is not installed (with the command that installs it) or a
    /// daemon does not start (with the tail of its log).
    pub fn start() -> Self {
        for tool in ["ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"] {
            ovs_tool(tool);
        }
        let dir = std::env::temp_dir().join(unique("tc-ovs-"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        crate::leftovers::record(&crate::leftovers::Owned::DaemonDir(&dir));
        let node = Netns::new("tcn");
        let mut ovs = Ovs { dir, ovsdb_pid: None, vswitchd_pid: None, node };
        let db = ovs.path("conf.db");
        let schema = Path::new("/usr/share/openvswitch/vswitch.ovsschema");
        run(ovs_tool("ovsdb-tool"), &[OsStr::new("create"), db.as_os_str(), schema.as_os_str()], &[]);
        ovs.start_ovsdb();
        ovs.vsctl(&["--no-wait", "init"]);
        ovs.start_vswitchd();
        ovs
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn envs(&self) -> Vec<(&'static str, &OsStr)> {
        ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"]
            .into_iter()
            .map(|k| (k, self.dir.as_os_str()))
            .collect()
    }

    fn start_ovsdb(&mut self) {
        let remote = format!("--remote=punix:{}", self.db_socket().display());
        let pidfile = format!("--pidfile={}", self.path("ovsdb-server.pid").display());
        let log = format!("--log-file={}", self.path("ovsdb-server.log").display());
        let db = self.path("conf.db");
        let args = [remote.as_str(), &pidfile, &log, "--detach", "--no-chdir", &db.to_string_lossy()];
        run(ovs_tool("ovsdb-server"), &args, &self.envs());
        self.ovsdb_pid = Some(self.read_pid("ovsdb-server"));
        let socket = self.db_socket();
        wait_until("the OVSDB socket", Duration::from_secs(10), || socket.exists());
    }

    fn start_vswitchd(&mut self) {
        let db = format!("unix:{}", self.db_socket().display());
        let pidfile = format!("--pidfile={}", self.path("ovs-vswitchd.pid").display());
        let log = format!("--log-file={}", self.path("ovs-vswitchd.log").display());
        let binary = ovs_tool("ovs-vswitchd");
        let command = [&*binary.to_string_lossy(), &db, &pidfile, &log, "--detach", "--no-chdir"];
        let output = self.node.try_exec_env(&command.iter().map(|s| &**s).collect::<Vec<_>>(), &self.envs());
        if !output.status.success() {
            panic!(
                "ovs-vswitchd did not start: {}\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.log_tail("ovs-vswitchd")
            );
        }
        self.vswitchd_pid = Some(self.read_pid("ovs-vswitchd"));
    }

    fn read_pid(&self, daemon: &str) -> u32 {
        crate::cmd::daemon_pid(&self.dir, daemon, Duration::from_secs(10))
    }

    /// The last lines of a daemon's log, for failure messages.
    pub fn log_tail(&self, daemon: &str) -> String {
        crate::cmd::daemon_log_tail(&self.dir, daemon)
    }

    /// The run directory (`OVS_RUNDIR`): bridges' `.mgmt` sockets and
    /// the daemons' control sockets. A controller beside ovs-vswitchd
    /// (ovn-controller) finds `<bridge>.mgmt` through it.
    pub fn run_dir(&self) -> &Path {
        &self.dir
    }

    /// The OVSDB socket.
    pub fn db_socket(&self) -> PathBuf {
        self.path("db.sock")
    }

    /// The namespace the switch runs in (its taps and routes are there).
    pub fn node(&self) -> &Netns {
        &self.node
    }

    /// `ovs-vsctl` against this database (waits for ovs-vswitchd unless
    /// told `--no-wait`).
    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.db_socket().display());
        let mut all = vec![db.as_str(), "--timeout=30"];
        all.extend_from_slice(args);
        run(ovs_tool("ovs-vsctl"), &all, &self.envs())
    }

    /// The UUID of Port `name`.
    pub fn port_uuid(&self, name: &str) -> String {
        self.vsctl(&["get", "port", name, "_uuid"]).trim().to_owned()
    }

    /// OVS's own port mirroring, set up by hand as a user would (the
    /// benchmarks' reference for the agent's mirrors): an internal port
    /// `port` and a `Mirror` row of the same name copying the Ports
    /// `selected` (UUIDs) both ways to it, in one transaction; ovs-vsctl
    /// returns once ovs-vswitchd has applied it. The port's device stays
    /// down.
    pub fn add_port_mirror(&self, bridge: &Bridge, port: &str, selected: &[String]) -> String {
        let (br, selected) = (&bridge.name, selected.join(","));
        let command = format!(
            "-- --id=@i create interface name={port} type=internal -- --id=@p create port name={port} interfaces=@i \
             -- add bridge {br} ports @p -- --id=@m create mirror name={port} select_src_port={selected} \
             select_dst_port={selected} output_port=@p -- add bridge {br} mirrors @m"
        );
        self.vsctl(&command.split_whitespace().collect::<Vec<_>>())
    }

    /// Removes what [`Ovs::add_port_mirror`] made.
    pub fn remove_port_mirror(&self, bridge: &Bridge, port: &str) {
        let br = &bridge.name;
        let command =
            format!("-- --id=@m get mirror {port} -- remove bridge {br} mirrors @m -- del-port {br} {port}");
        self.vsctl(&command.split_whitespace().collect::<Vec<_>>());
    }

    /// `ovs-appctl` to this ovs-vswitchd (its control socket is found in
    /// the private run directory).
    pub fn appctl(&self, args: &[&str]) -> String {
        let mut all = vec!["-t", "ovs-vswitchd"];
        all.extend_from_slice(args);
        run(ovs_tool("ovs-appctl"), &all, &self.envs())
    }

    /// `ovs-ofctl -O OpenFlow15` against a bridge's socket.
    pub fn ofctl(&self, bridge: &Bridge, command: &str, args: &[&str]) -> String {
        let target = format!("unix:{}", bridge.mgmt.display());
        let mut all = vec!["-O", "OpenFlow15", command, target.as_str()];
        all.extend_from_slice(args);
        run(ovs_tool("ovs-ofctl"), &all, &self.envs())
    }

    /// A netdev bridge that speaks OpenFlow 1.0 (for no-flood) and 1.5,
    /// with `fail_mode=secure` so it forwards nothing until told.
    pub fn add_bridge(&self, prefix: &str) -> Bridge {
        self.add_bridge_named(&unique(prefix))
    }

    /// [`Ovs::add_bridge`] with exactly this name (a deployed config's
    /// `ovsBridge`; the switch is private, so the name is free).
    pub fn add_bridge_named(&self, name: &str) -> Bridge {
        let name = name.to_owned();
        self.vsctl(&[
            "add-br",
            &name,
            "--",
            "set",
            "bridge",
            &name,
            "datapath_type=netdev",
            "protocols=OpenFlow10,OpenFlow15",
            "fail_mode=secure",
        ]);
        let mgmt = self.path(&format!("{name}.mgmt"));
        wait_until("the bridge's OpenFlow socket", Duration::from_secs(10), || mgmt.exists());
        Bridge { name, mgmt }
    }

    /// Packets the switch has delivered to `interface`, a device in the
    /// node namespace (its receive counter, read from ovs-vswitchd's view
    /// of the namespace, without starting a process).
    pub fn delivered_to(&self, interface: &str) -> Option<u64> {
        let dev = std::fs::read_to_string(format!("/proc/{}/net/dev", self.vswitchd_pid?)).ok()?;
        let line = dev.lines().find(|l| l.trim_start().starts_with(&format!("{interface}:")))?;
        line.split(':').nth(1)?.split_whitespace().nth(1)?.parse().ok()
    }

    /// The bridge's flows as `dump-flows --no-stats` prints them, trimmed
    /// and sorted.
    pub fn dump_flows(&self, bridge: &Bridge) -> Vec<String> {
        let mut flows: Vec<String> = self
            .ofctl(bridge, "dump-flows", &["--no-stats"])
            .lines()
            .map(str::trim)
            // Every line is a flow but a reply header; a default flow can be
            // as short as `actions=NORMAL`.
            .filter(|l| !l.is_empty() && !l.starts_with("OFPST_") && !l.starts_with("NXST_"))
            .map(str::to_owned)
            .collect();
        flows.sort();
        flows
    }

    /// The bridge's flows as [`Ovs::dump_flows`] gives them, split into
    /// (everyone else's, the agent's) by the agent's cookie bits: on a
    /// shared bridge the first are the CNI's and the second must be empty.
    pub fn flows_by_owner(&self, bridge: &Bridge) -> (Vec<String>, Vec<String>) {
        use datapath::flows::Cookie;
        self.dump_flows(bridge).into_iter().partition(|flow| {
            let cookie = flow
                .strip_prefix("cookie=0x")
                .and_then(|rest| rest.split(',').next())
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .unwrap_or(0);
            cookie & Cookie::AGENT_MASK != Cookie::AGENT
        })
    }

    /// Whether `port` is no-flood, as OpenFlow 1.0 `show` prints its
    /// config (the only version with that bit).
    pub fn is_no_flood(&self, bridge: &Bridge, port: &str) -> bool {
        let ofport = self.vsctl(&["get", "interface", port, "ofport"]);
        let show = crate::cmd::run(
            crate::ovs_tool("ovs-ofctl"),
            &["-O", "OpenFlow10", "show", &format!("unix:{}", bridge.mgmt.display())],
            &[],
        );
        // ` 3(tap0): addr:...` then `     config:     NO_FLOOD`.
        show.split(&format!(" {}({port})", ofport.trim()))
            .nth(1)
            .and_then(|rest| rest.lines().nth(1))
            .is_some_and(|config| config.contains("NO_FLOOD"))
    }

    /// A port's ofport, once OVS has assigned a valid one.
    pub fn wait_for_ofport(&self, port: &str) -> u32 {
        let mut ofport = None;
        wait_until(&format!("an ofport for {port}"), Duration::from_secs(10), || {
            let text = self.vsctl(&["--if-exists", "get", "interface", port, "ofport"]);
            ofport = text.trim().parse::<i64>().ok().filter(|p| *p > 0);
            ofport.is_some()
        });
        ofport.and_then(|p| u32::try_from(p).ok()).unwrap_or_default()
    }

    /// Kills ovsdb-server and starts it again on the same database file
    /// (clients must reconnect).
    pub fn restart_ovsdb(&mut self) {
        if let Some(pid) = self.ovsdb_pid.take() {
            kill(pid);
        }
        let _ = std::fs::remove_file(self.path("ovsdb-server.pid"));
        let _ = std::fs::remove_file(self.db_socket());
        self.start_ovsdb();
    }

    /// Stops ovs-vswitchd (SIGTERM) and starts it again on the same
    /// database: the flows are lost, the ports and their configuration are
    /// kept.
    pub fn restart_vswitchd(&mut self) {
        self.replace_vswitchd(kill);
    }

    /// `kill -9` of ovs-vswitchd, then a new one on the same database: a
    /// crash and the supervisor's restart. As [`Ovs::restart_vswitchd`],
    /// without a clean shutdown.
    pub fn crash_vswitchd(&mut self) {
        self.replace_vswitchd(|pid| {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).output();
            wait_until("ovs-vswitchd to die", Duration::from_secs(5), || !alive(pid));
        });
    }

    fn replace_vswitchd(&mut self, stop: impl FnOnce(u32)) {
        if let Some(pid) = self.vswitchd_pid.take() {
            stop(pid);
        }
        let _ = std::fs::remove_file(self.path("ovs-vswitchd.pid"));
        self.start_vswitchd();
        // Wait until it has read the database again.
        self.vsctl(&["show"]);
    }
}

/// Whether `pid` runs (a zombie waiting for its reaper does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

/// SIGTERM, then SIGKILL if the process is still there after 2 s.
pub(crate) fn kill(pid: u32) {
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).output();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).output();
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        if let Some(pid) = self.vswitchd_pid.take() {
            kill(pid);
        }
        if let Some(pid) = self.ovsdb_pid.take() {
            kill(pid);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        crate::leftovers::forget(&crate::leftovers::Owned::DaemonDir(&self.dir));
        // `node` drops next: its devices (taps, ovs-netdev) go with it.
    }
}
