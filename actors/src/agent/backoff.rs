//! Exponential backoff for reconnects and retries: doubles from `first`
//! up to `max`, starts over after a success.

use std::time::Duration;

/// A delay sequence: first, 2×first, 4×first, ... capped at max.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A sequence from `first` to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max, next: first }
    }

    /// The delay to wait now; the next one doubles.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// The API watches' backoff: kube's default shape (0.8 s, doubling to
/// 30 s) plus up to half a delay of jitter. The jitter comes from a
/// generator seeded with the node's name, not from the OS: agents on
/// different nodes still spread out after an API server restart, and a
/// simulated run replays exactly.
#[derive(Clone, Debug)]
pub struct WatchBackoff {
    delays: Backoff,
    /// xorshift64* state, never zero.
    state: u64,
}

impl WatchBackoff {
    /// The backoff of `node`'s watches.
    pub fn new(node: &str) -> Self {
        // FNV-1a of the name; `| 1` keeps the generator out of its zero state.
        let seed = node
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        WatchBackoff {
            delays: Backoff::new(Duration::from_millis(800), Duration::from_secs(30)),
            state: seed | 1,
        }
    }

    /// A number in [0, 1).
    fn next_fraction(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let bits = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        // 53 bits into a double's mantissa: exact, in [0, 1).
        bits as f64 / (1_u64 << 53) as f64
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.delays.next_delay();
        Some(delay + delay.mul_f64(self.next_fraction() / 2.0))
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.delays.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_backoff_is_kubes_shape_with_jitter_that_depends_only_on_the_node() {
        let delays = |node: &str| WatchBackoff::new(node).take(8).collect::<Vec<_>>();
        let node1 = delays("node-1");
        assert_eq!(node1, delays("node-1"), "the same node, the same delays");
        assert_ne!(node1, delays("node-2"), "other nodes spread out");
        let base = [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000];
        for (delay, base) in node1.iter().zip(base) {
            let base = Duration::from_millis(base);
            assert!(*delay >= base && *delay < base + base / 2, "{delay:?} around {base:?}");
        }
        let mut backoff = WatchBackoff::new("node-1");
        backoff.nth(5);
        kube::runtime::utils::Backoff::reset(&mut backoff);
        assert!(backoff.next().is_some_and(|d| d < Duration::from_millis(1200)));
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<u128> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }
}
