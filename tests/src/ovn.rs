//! A real OVN control plane for one test's private switch, as
//! OVN-Kubernetes runs one on a node: NB and SB databases (an
//! `ovsdb-server` each), `ovn-northd`, and `ovn-controller` programming
//! `br-int` of a [`crate::ovs::Ovs`]. No system service: everything lives
//! in a temp dir and is killed by PID on drop, also when a test panics.
//!
//! `ovn-controller` runs inside the switch's node namespace, beside
//! ovs-vswitchd, as OVN-Kubernetes runs it in the host's network
//! namespace: its sockets (OVSDB, `br-int.mgmt`) are paths and would work
//! from anywhere, but what it does to devices by name (QoS on a Pod's
//! interface, tunnel endpoints) must address the node's devices, and the
//! namespace's own teardown then kills it even if its PID was lost. The
//! central parts (databases, northd) touch no device and run outside, like
//! the switch's own ovsdb-server.
//!
//! It plays OVN-Kubernetes' control plane (logical switch, logical ports
//! `<namespace>_<pod>`, ACLs); [`crate::pod::Pod::attach_as`] with
//! [`CniKeys::OvnKubernetes`] plays its CNI. It does not build routers,
//! load balancers or a second chassis.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd::{run, unique, wait_until};
use crate::ovs::{Bridge, Ovs, kill};
use crate::pod::{CniKeys, Pod};

/// How long OVN may take to start, bind a port or apply a change.
const WAIT: Duration = Duration::from_secs(30);

/// The path of an OVN tool.
///
/// # Panics
/// When it is not installed, with the command that installs it: a test
/// that needs OVN fails, it never skips.
pub fn ovn_tool(name: &str) -> PathBuf {
    crate::tool(name, "install OVN with `apt-get install -y ovn-central ovn-host` (CI's .ci/run does)")
}

/// A running OVN control plane for one chassis.
pub struct Ovn {
    dir: PathBuf,
    /// The chassis' name (`external_ids:system-id`).
    pub chassis: String,
    br_int: Bridge,
    // Killed in this order: the controller first, the databases last.
    controller_pid: Option<u32>,
    northd_pid: Option<u32>,
    sb_pid: Option<u32>,
    nb_pid: Option<u32>,
}

impl Ovn {
    /// Starts OVN's databases, northd and ovn-controller for `ovs`, and
    /// waits until ovn-controller has created `br-int`, installed its
    /// flows and reported itself up to date.
    ///
    /// # Panics
    /// When OVN is not installed (with the command that installs it) or a
    /// daemon does not start (with the tail of its log).
    pub fn start(ovs: &Ovs) -> Ovn {
        for tool in ["ovn-northd", "ovn-controller", "ovn-nbctl", "ovn-sbctl", "ovn-appctl"] {
            ovn_tool(tool);
        }
        let dir = std::env::temp_dir().join(unique("tc-ovn-"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        crate::leftovers::record(&crate::leftovers::Owned::DaemonDir(&dir));
        let br_int = Bridge { name: "br-int".into(), mgmt: ovs.run_dir().join("br-int.mgmt") };
        let mut ovn = Ovn {
            dir,
            chassis: unique("chassis-"),
            br_int,
            controller_pid: None,
            northd_pid: None,
            sb_pid: None,
            nb_pid: None,
        };
        ovn.nb_pid = Some(ovn.start_database("nb"));
        ovn.sb_pid = Some(ovn.start_database("sb"));
        for database in ["nb", "sb"] {
            let socket = ovn.socket(database);
            wait_until(&format!("the OVN {database} database's socket"), WAIT, || socket.exists());
        }
        ovn.start_northd();
        ovn.configure_chassis(ovs);
        ovn.start_controller(ovs);
        ovn.wait_up(ovs);
        ovn
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Every run, log and database directory of OVS and OVN tools: this
    /// temp dir, so that nothing is written under /var/run or /etc.
    fn envs(&self) -> Vec<(&'static str, &OsStr)> {
        ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"]
            .into_iter()
            .chain(["OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR", "OVN_SYSCONFDIR"])
            .map(|k| (k, self.dir.as_os_str()))
            .collect()
    }

    /// `ovsdb-server` on a fresh `<name>.db` from OVN's schema, listening
    /// on `<name>.sock`; returns its PID.
    fn start_database(&self, name: &str) -> u32 {
        let db = self.path(&format!("{name}.db"));
        let schema = format!("/usr/share/ovn/ovn-{name}.ovsschema");
        assert!(
            Path::new(&schema).is_file(),
            "{schema} is missing: install OVN with `apt-get install -y ovn-central ovn-host`"
        );
        run(crate::ovs_tool("ovsdb-tool"), &[OsStr::new("create"), db.as_os_str(), OsStr::new(&schema)], &[]);
        let daemon = format!("ovsdb-server-{name}");
        let remote = format!("--remote=punix:{}", self.socket(name).display());
        let args = [remote.as_str(), &db.to_string_lossy()];
        self.start_daemon(&crate::ovs_tool("ovsdb-server"), &daemon, &args);
        self.read_pid(&daemon)
    }

    fn socket(&self, database: &str) -> PathBuf {
        self.path(&format!("{database}.sock"))
    }

    fn start_northd(&mut self) {
        let nb = format!("--ovnnb-db=unix:{}", self.socket("nb").display());
        let sb = format!("--ovnsb-db=unix:{}", self.socket("sb").display());
        self.start_daemon(&ovn_tool("ovn-northd"), "ovn-northd", &[&nb, &sb]);
        self.northd_pid = Some(self.read_pid("ovn-northd"));
    }

    /// What OVN-Kubernetes writes on the node's Open_vSwitch row.
    fn configure_chassis(&self, ovs: &Ovs) {
        let settings = [
            format!("external_ids:system-id={}", self.chassis),
            format!("external_ids:ovn-remote=\"unix:{}\"", self.socket("sb").display()),
            "external_ids:ovn-encap-type=geneve".to_owned(),
            "external_ids:ovn-encap-ip=127.0.0.1".to_owned(),
            "external_ids:ovn-bridge-datapath-type=netdev".to_owned(),
        ];
        let mut args = vec!["set", "open_vswitch", "."];
        args.extend(settings.iter().map(String::as_str));
        ovs.vsctl(&args);
    }

    /// ovn-controller in the node namespace. It has no `--unixctl`: its
    /// control socket is `$OVN_RUNDIR/ovn-controller.<pid>.ctl`; it finds
    /// `br-int.mgmt` in `$OVS_RUNDIR`, the switch's.
    fn start_controller(&mut self, ovs: &Ovs) {
        let db = format!("unix:{}", ovs.db_socket().display());
        let pidfile = format!("--pidfile={}", self.path("ovn-controller.pid").display());
        let log = format!("--log-file={}", self.path("ovn-controller.log").display());
        let binary = ovn_tool("ovn-controller");
        let command = [&*binary.to_string_lossy(), &db, &pidfile, &log, "--detach", "--no-chdir"];
        let mut envs = self.envs();
        envs.retain(|(k, _)| !k.starts_with("OVS_"));
        envs.push(("OVS_RUNDIR", ovs.run_dir().as_os_str()));
        let output = ovs.node().try_exec_env(&command, &envs);
        assert!(
            output.status.success(),
            "ovn-controller did not start: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log_tail("ovn-controller")
        );
        self.controller_pid = Some(self.read_pid("ovn-controller"));
    }

    /// Waits for the chassis in SB, `br-int` with flows, then for
    /// ovn-controller to report the NB's current configuration installed.
    fn wait_up(&self, ovs: &Ovs) {
        wait_until("ovn-controller to register its chassis and program br-int", WAIT, || {
            self.br_int.mgmt.exists()
                && self.sbctl(&["--bare", "--columns=name", "list", "chassis"]).contains(&self.chassis)
                && !ovs.dump_flows(&self.br_int).is_empty()
        });
        self.nbctl(&["--wait=hv", "sync"]);
    }

    /// Starts an OVS-style daemon detached, with a pidfile and a log file
    /// named after `daemon` in this dir.
    fn start_daemon(&self, binary: &Path, daemon: &str, args: &[&str]) {
        let pidfile = format!("--pidfile={}", self.path(&format!("{daemon}.pid")).display());
        let log = format!("--log-file={}", self.path(&format!("{daemon}.log")).display());
        let mut all = vec![pidfile.as_str(), &log, "--detach", "--no-chdir"];
        all.extend_from_slice(args);
        let output = crate::cmd::output(binary.as_os_str(), &all, &self.envs());
        assert!(
            output.status.success(),
            "{daemon} did not start: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log_tail(daemon)
        );
    }

    fn read_pid(&self, daemon: &str) -> u32 {
        crate::cmd::daemon_pid(&self.dir, daemon, WAIT)
    }

    /// The last lines of a daemon's log (`ovn-controller`, `ovn-northd`,
    /// `ovsdb-server-nb`, `ovsdb-server-sb`), for failure messages.
    pub fn log_tail(&self, daemon: &str) -> String {
        crate::cmd::daemon_log_tail(&self.dir, daemon)
    }

    /// The bridge ovn-controller programs.
    pub fn br_int(&self) -> &Bridge {
        &self.br_int
    }

    /// `ovn-nbctl` against the NB database.
    pub fn nbctl(&self, args: &[&str]) -> String {
        self.ctl("ovn-nbctl", "nb", args)
    }

    /// `ovn-sbctl` against the SB database.
    pub fn sbctl(&self, args: &[&str]) -> String {
        self.ctl("ovn-sbctl", "sb", args)
    }

    fn ctl(&self, tool: &str, database: &str, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.socket(database).display());
        let mut all = vec![db.as_str(), "--timeout=30"];
        all.extend_from_slice(args);
        run(ovn_tool(tool), &all, &self.envs())
    }

    /// `ovn-appctl` to ovn-controller, through its control socket.
    pub fn appctl_controller(&self, args: &[&str]) -> String {
        let pid = self.controller_pid.expect("ovn-controller runs");
        let socket = self.path(&format!("ovn-controller.{pid}.ctl"));
        let target = socket.to_string_lossy();
        let mut all = vec!["-t", &*target];
        all.extend_from_slice(args);
        run(ovn_tool("ovn-appctl"), &all, &self.envs())
    }

    /// How many full recomputes of its flows ovn-controller has run
    /// (`inc-engine/show-stats`, node `flow_output`).
    pub fn flow_recomputes(&self) -> u64 {
        let stats = self.appctl_controller(&["inc-engine/show-stats"]);
        // "Node: flow_output\n- recompute:            3\n- compute: ..."
        stats
            .split("Node: ")
            .find(|node| node.starts_with("flow_output\n"))
            .and_then(|node| node.lines().find_map(|l| l.strip_prefix("- recompute:")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no flow_output recompute count in:\n{stats}"))
    }

    /// Makes ovn-controller recompute every flow from scratch
    /// (`inc-engine/recompute`; plain `recompute` is its deprecated name)
    /// and waits until it has, and has reported the result installed.
    ///
    /// # Panics
    /// When the recompute does not happen within 30 s.
    pub fn recompute(&self) {
        let before = self.flow_recomputes();
        self.appctl_controller(&["inc-engine/recompute"]);
        wait_until("ovn-controller to recompute its flows", WAIT, || self.flow_recomputes() > before);
        self.nbctl(&["--wait=hv", "sync"]);
    }

    /// A logical switch (OVN-Kubernetes makes one per node).
    pub fn add_switch(&self, name: &str) {
        self.nbctl(&["ls-add", name]);
    }

    /// A Pod as OVN-Kubernetes makes one: its CNI attaches it to `br-int`
    /// with the Interface keys (`iface-id=<namespace>_<pod>`,
    /// `iface-id-ver=<uid>`, ...), its control plane adds the logical port
    /// (`addresses` and `port_security` "<mac> <ip>", bound to this
    /// chassis and this Pod UID), then ovn-controller binds it and marks
    /// the Interface `ovn-installed`.
    ///
    /// # Panics
    /// When ovn-controller does not mark the port installed in 30 s.
    pub fn attach_pod(
        &self,
        ovs: &Ovs,
        switch: &str,
        namespace: &str,
        name: &str,
        index: u8,
        uid: &str,
    ) -> Pod {
        let keys = CniKeys::OvnKubernetes { uid: uid.to_owned() };
        let pod = Pod::attach_as(ovs, &self.br_int, namespace, name, index, &keys);
        let lsp = format!("{namespace}_{name}");
        let addresses = format!("{} {}", pod.mac, pod.ip);
        self.nbctl(&[
            "lsp-add",
            switch,
            &lsp,
            "--",
            "lsp-set-addresses",
            &lsp,
            &addresses,
            "--",
            "lsp-set-port-security",
            &lsp,
            &addresses,
            "--",
            "lsp-set-options",
            &lsp,
            &format!("iface-id-ver={uid}"),
            &format!("requested-chassis={}", self.chassis),
            "--",
            "set",
            "logical_switch_port",
            &lsp,
            &format!("external_ids:namespace={namespace}"),
            "external_ids:pod=true",
        ]);
        let installed = || {
            ovs.vsctl(&["--if-exists", "get", "interface", &pod.port, "external_ids:ovn-installed"]).trim()
                == "\"true\""
        };
        let deadline = std::time::Instant::now() + WAIT;
        while !installed() {
            assert!(
                std::time::Instant::now() < deadline,
                "ovn-controller did not install {lsp} on {} in {WAIT:?}:\n{}",
                pod.port,
                self.log_tail("ovn-controller")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        pod
    }

    /// An ACL on `switch` that drops TCP to `port` on its way to every
    /// logical port, as a NetworkPolicy's deny would; returns once
    /// ovn-controller has installed it.
    pub fn drop_tcp_to_port(&self, switch: &str, port: u16) {
        let rule = format!("tcp && tcp.dst == {port}");
        self.nbctl(&["--wait=hv", "acl-add", switch, "to-lport", "1000", &rule, "drop"]);
    }
}

impl Drop for Ovn {
    fn drop(&mut self) {
        for pid in [self.controller_pid, self.northd_pid, self.sb_pid, self.nb_pid].into_iter().flatten() {
            kill(pid);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        crate::leftovers::forget(&crate::leftovers::Owned::DaemonDir(&self.dir));
    }
}
