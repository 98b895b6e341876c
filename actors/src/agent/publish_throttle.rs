//! When a whole set goes out (a watcher's to the reconciler, a plan's
//! statuses to the API server): the first change goes out at once, and
//! the changes that follow within the interval go out together at its
//! end. A burst of 10,000 new
//! TrafficControls is then a few dozen copies of the set, not 10,000
//! (each copy is the whole set, so per-event sending made a burst cost the
//! square of its size); a lone change waits for nothing.
//!
//! Time is the caller's (tokio's clock: virtual in the simulation).

use std::time::Duration;

use actix::{Actor, AsyncContext, Context};
use tokio::time::Instant;

/// The shortest time between two publications of one set.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(50);

/// One set's publication schedule.
#[derive(Debug)]
pub struct PublishThrottle {
    interval: Duration,
    last: Option<Instant>,
    scheduled: bool,
}

impl Default for PublishThrottle {
    /// A watcher's: [`PUBLISH_INTERVAL`].
    fn default() -> Self {
        Self::every(PUBLISH_INTERVAL)
    }
}

impl PublishThrottle {
    /// At most one publication per `interval`.
    pub fn every(interval: Duration) -> Self {
        PublishThrottle { interval, last: None, scheduled: false }
    }

    /// A change at `now`: how long until the publication that takes it,
    /// or `None` when one is already scheduled (it will).
    pub fn change(&mut self, now: Instant) -> Option<Duration> {
        if self.scheduled {
            return None;
        }
        self.scheduled = true;
        let since = self.last.map_or(self.interval, |last| now.saturating_duration_since(last));
        Some(self.interval.saturating_sub(since))
    }

    /// The scheduled publication happens at `now`.
    pub fn published(&mut self, now: Instant) {
        self.scheduled = false;
        self.last = Some(now);
    }
}

/// A change on `actor`: runs `publish` when `throttle` (one of its
/// fields) says, unless a run is already scheduled.
pub fn publish_soon<A>(
    actor: &mut A,
    ctx: &mut Context<A>,
    throttle: fn(&mut A) -> &mut PublishThrottle,
    publish: fn(&mut A, &mut Context<A>),
) where
    A: Actor<Context = Context<A>>,
{
    if let Some(wait) = throttle(actor).change(Instant::now()) {
        ctx.run_later(wait, move |actor, ctx| {
            throttle(actor).published(Instant::now());
            publish(actor, ctx);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_change_goes_at_once_and_a_burst_waits_for_the_interval() {
        let start = Instant::now();
        let mut throttle = PublishThrottle::default();
        assert_eq!(throttle.change(start), Some(Duration::ZERO), "the first change goes at once");
        assert_eq!(throttle.change(start), None, "the scheduled publication takes the next");
        throttle.published(start);
        let soon = start + Duration::from_millis(10);
        assert_eq!(throttle.change(soon), Some(Duration::from_millis(40)), "then the rest of the interval");
        assert_eq!(throttle.change(soon + Duration::from_millis(5)), None);
        throttle.published(start + PUBLISH_INTERVAL);
        let later = start + Duration::from_secs(1);
        assert_eq!(throttle.change(later), Some(Duration::ZERO), "quiet since: at once again");
    }
}
