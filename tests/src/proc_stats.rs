//! What a running process costs, read from `/proc`: its resident memory
//! (`VmRSS`) and its open file descriptors, for benches that watch a
//! long-running agent for leaks. Reads only; it neither stops nor traces
//! the process, and says nothing about CPU (see realize-bench for that).

/// One reading of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStats {
    /// Resident set size, KiB (`VmRSS` of `/proc/PID/status`).
    pub rss_kib: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fds: usize,
    /// The most it ever had resident, KiB (`VmHWM`).
    pub peak_rss_kib: u64,
    /// CPU time used so far (user + system), in clock ticks of 10 ms.
    pub cpu_ticks: u64,
}

impl ProcStats {
    /// Reads `pid`'s; `None` when it has exited (or is a zombie, which has
    /// no memory and no descriptors left to read).
    pub fn read(pid: u32) -> Option<ProcStats> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = |key: &str| -> Option<u64> {
            status.lines().find_map(|l| l.strip_prefix(key))?.split_whitespace().next()?.parse().ok()
        };
        let (rss_kib, peak_rss_kib) = (kib("VmRSS:")?, kib("VmHWM:")?);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields 14 and 15 of stat(5), utime and stime; the name (field 2)
        // may hold spaces, so count from its closing parenthesis.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let cpu_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ProcStats { rss_kib, fds, peak_rss_kib, cpu_ticks })
    }

    /// The RSS in MiB, for people.
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_descriptors_and_a_dead_one_has_none() {
        let own = ProcStats::read(std::process::id()).expect("our own /proc entry");
        assert!(own.rss_kib > 0 && own.fds >= 3, "{own:?}");
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id();
        let _ = child.wait();
        assert_eq!(ProcStats::read(pid), None);
    }
}
