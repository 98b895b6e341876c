//! The plan as text for people (`tcctl plan`, snapshots): sections
//! `# ports`, `# effective`, `# traffic controls` and `# flows`, then
//! `# mirrors` (a shared bridge) and `# port problems` when there are any,
//! in a stable order.

use std::fmt::{self, Write};

use super::{Plan, PortRole, Progress};

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl Plan {
    /// The text form; see the module documentation.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_ports(&mut out);
        self.render_effective(&mut out);
        self.render_traffic_controls(&mut out);
        out.push_str("# flows\n");
        for flow in &self.flows {
            let _ = writeln!(out, "{flow}");
        }
        if !self.mirrors.is_empty() {
            out.push_str("# mirrors\n");
            for mirror in self.mirrors.values() {
                let users: Vec<String> = mirror.users.iter().map(|u| format!("tc/{u}")).collect();
                let _ = writeln!(out, "{} used-by={}", mirror.describe(), users.join(","));
            }
        }
        if !self.port_problems.is_empty() {
            out.push_str("# port problems\n");
            for problem in &self.port_problems {
                let _ = writeln!(out, "{problem}");
            }
        }
        out
    }

    fn render_ports(&self, out: &mut String) {
        out.push_str("# ports\n");
        for port in self.ports.values() {
            let ofport = port.ofport.map_or("none".to_owned(), |p| p.to_string());
            let roles: Vec<&str> = port
                .roles
                .iter()
                .map(|r| match r {
                    PortRole::Target => "target",
                    PortRole::Return => "return",
                })
                .collect();
            let _ = write!(
                out,
                "{} type={} ofport={ofport} role={}",
                port.config.name,
                port.config.interface_type.name(),
                roles.join("+")
            );
            for (key, value) in &port.config.options {
                let _ = write!(out, " options:{key}={value}");
            }
            for (key, value) in &port.external_ids {
                let _ = write!(out, " external_ids:{key}={value}");
            }
            if port.adopted {
                out.push_str(" adopted");
            }
            let users: Vec<String> = port.users.iter().map(|u| format!("tc/{u}")).collect();
            let _ = writeln!(out, " used-by={}", users.join(","));
        }
    }

    fn render_effective(&self, out: &mut String) {
        out.push_str("# effective\n");
        for (pod, tc) in &self.effective {
            let _ = writeln!(out, "{pod} -> tc/{tc}");
        }
        for conflict in self.conflicts() {
            let losers: Vec<String> = conflict.losers.iter().map(|l| format!("tc/{l}")).collect();
            let _ = writeln!(
                out,
                "conflict: {} is controlled by tc/{}; also selected by {}",
                conflict.pod,
                conflict.winner,
                losers.join(", ")
            );
        }
    }

    fn render_traffic_controls(&self, out: &mut String) {
        out.push_str("# traffic controls\n");
        for (name, tc) in &self.traffic_controls {
            let progress = match &tc.progress {
                Progress::Realized => "realized".to_owned(),
                Progress::Pending(reason) => format!("pending: {reason}"),
                Progress::Failed(reason) => format!("failed: {reason}"),
                Progress::PortFailed(reason) => format!("port failed: {reason}"),
            };
            let _ = write!(out, "tc/{name}: {progress}; {} pods, target {}", tc.pods.len(), tc.target_port);
            if let Some(ret) = &tc.return_port {
                let _ = write!(out, ", return {ret}");
            }
            if !tc.pods_without_port.is_empty() {
                let _ = write!(out, "; {} pods have no port yet", tc.pods_without_port.len());
            }
            if !tc.lost_pods.is_empty() {
                let _ = write!(out, "; {} pods lost to older TrafficControls", tc.lost_pods.len());
            }
            out.push('\n');
        }
    }
}
