//! The agent's footprint over the soak: its RSS and open descriptors,
//! read once a minute at a quiet point (after a step converged), and the
//! "flat after warm-up" verdict. It reads `/proc` only (through
//! `tests::proc_stats`); it does not decide when the soak ends.

use std::time::{Duration, Instant};

use tests::proc_stats::ProcStats;

/// RSS may grow this much over the warm-up baseline (KiB), or
/// [`RSS_GROWTH_PERCENT`] of it, whichever is larger. Why 8 MiB: the
/// soak's world is bounded (at most 12 Pods, 5 TrafficControls), so a
/// leak-free agent's heap is bounded by its largest working set; but
/// glibc's malloc keeps freed memory in its arenas and grows a new one
/// when a burst (a relist after a switch restart, a pass over every Pod)
/// lands on a fresh thread-local arena, which shows up as a step of a few
/// MiB that then stays flat. A leak of a few KiB per step would stay under
/// it in a 2-minute run but not in a 30-minute one (400+ steps), which is
/// what the long run is for.
const RSS_GROWTH_KIB: u64 = 8 * 1024;
/// See [`RSS_GROWTH_KIB`].
const RSS_GROWTH_PERCENT: u64 = 20;
/// Open descriptors may grow this much over the baseline: a sample can
/// land while an OVSDB or OpenFlow reconnection, or an HTTP request of the
/// soak itself, briefly holds one more socket. A leak per step or per
/// restart grows without bound and crosses it.
const FD_GROWTH: usize = 3;

/// One reading.
pub struct Sample {
    /// The minute it was due at.
    pub minute: u64,
    /// What it read.
    pub stats: ProcStats,
}

/// Takes a sample each minute and judges the series.
pub struct Sampler {
    pid: u32,
    started: Instant,
    /// The samples so far, minute 0 first.
    pub samples: Vec<Sample>,
}

/// The verdict on a series.
pub struct Verdict {
    /// The warm-up baseline.
    pub baseline: ProcStats,
    /// The last sample.
    pub last: ProcStats,
    /// Why it is not flat, if it is not.
    pub failure: Option<String>,
}

impl Sampler {
    /// A sampler of `pid`, minute 0 taken now.
    pub fn start(pid: u32) -> Sampler {
        let mut sampler = Sampler { pid, started: Instant::now(), samples: Vec::new() };
        sampler.take(0);
        sampler
    }

    /// Takes the next sample if its minute has come.
    pub fn tick(&mut self) {
        let minute = self.samples.len() as u64;
        if self.started.elapsed() >= Duration::from_secs(60 * minute) {
            self.take(minute);
        }
    }

    /// Takes the final sample (at the end of the churn), as the minute
    /// it is due at, unless that minute's was just taken.
    pub fn finish(&mut self) {
        let minute = self.samples.len() as u64;
        if self.started.elapsed() + Duration::from_secs(5) >= Duration::from_secs(60 * minute) {
            self.take(minute);
        }
    }

    fn take(&mut self, minute: u64) {
        let Some(stats) = ProcStats::read(self.pid) else { return };
        let at = self.started.elapsed();
        println!(
            "sample minute {minute} (+{:.0}s): agent RSS {:.1} MiB, fds {}",
            at.as_secs_f64(),
            stats.rss_mib(),
            stats.fds
        );
        self.samples.push(Sample { minute, stats });
    }

    /// The series, one line.
    pub fn series(&self) -> String {
        let rss: Vec<String> = self.samples.iter().map(|s| format!("{:.1}", s.stats.rss_mib())).collect();
        let fds: Vec<String> = self.samples.iter().map(|s| s.stats.fds.to_string()).collect();
        format!("RSS MiB by minute [{}], fds by minute [{}]", rss.join(", "), fds.join(", "))
    }

    /// Flat after warm-up: the baseline is the sample at minute
    /// `max(1, minutes / 4)` (the first minute, or the first 25% of a long
    /// run); the last sample may exceed it by the bounds above.
    pub fn verdict(&self, minutes: u64) -> Option<Verdict> {
        let warm_up = (minutes / 4).max(1);
        let baseline = self.samples.iter().find(|s| s.minute >= warm_up).or(self.samples.last())?.stats;
        let last = self.samples.last()?.stats;
        let allowed_kib = RSS_GROWTH_KIB.max(baseline.rss_kib * RSS_GROWTH_PERCENT / 100);
        let grown_kib = last.rss_kib.saturating_sub(baseline.rss_kib);
        let failure = if grown_kib > allowed_kib {
            Some(format!(
                "RSS grew {:.1} MiB after warm-up (bound {:.1} MiB)",
                grown_kib as f64 / 1024.0,
                allowed_kib as f64 / 1024.0
            ))
        } else if last.fds > baseline.fds + FD_GROWTH {
            Some(format!("fds grew {} → {} after warm-up (bound +{FD_GROWTH})", baseline.fds, last.fds))
        } else {
            None
        };
        Some(Verdict { baseline, last, failure })
    }
}
