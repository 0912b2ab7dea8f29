//! Where "now" comes from. The rules take time as an argument; functions get it from a [`Clock`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use session_rules::Timestamp;

/// The port: what time it is.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp::from_millis(millis)
    }
}

/// System time plus an offset that only moves forward through [`OffsetClock::advance`]: the
/// local stack's clock, so a developer can see a 24 h session expire in a second. Never used in
/// a deployment.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_millis: AtomicI64,
}

impl OffsetClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock forward by `by`; returns the total offset.
    pub fn advance(&self, by: Duration) -> Duration {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let total = self
            .offset_millis
            .fetch_add(by, Ordering::SeqCst)
            .saturating_add(by);
        Duration::from_millis(total.max(0).unsigned_abs())
    }

    /// How far ahead of the system clock this clock is.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(
            self.offset_millis
                .load(Ordering::SeqCst)
                .max(0)
                .unsigned_abs(),
        )
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(
            SystemClock
                .now()
                .as_millis()
                .saturating_add(self.offset_millis.load(Ordering::SeqCst)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now() > Timestamp::from_secs(1_704_067_200));
    }

    #[test]
    fn offset_clock_moves_forward_by_what_it_is_told() {
        let clock = OffsetClock::new();
        let before = clock.now();
        assert_eq!(
            clock.advance(Duration::from_secs(24 * 3600)),
            Duration::from_secs(86_400)
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.offset(), Duration::from_secs(86_401));
        let ahead = clock.now().as_millis() - before.as_millis();
        assert!((86_401_000..86_411_000).contains(&ahead), "{ahead}");
    }
}
