//! Backing off a failed delivery: its visibility timeout grows with each receive, so a business
//! endpoint that is down is retried at 30 s, 2 min, 8 min, 32 min (then hourly) instead of every
//! 3 minutes, before the queue's redrive policy moves it to the dead-letter queue
//! (`MaxReceiveCount`). The same shape as `dispatch`'s, with a slower schedule.

use std::time::Duration;

use vbm_queue::Backoff;

/// The visibility timeout after the `receive_count`-th failed receive: 30 s × 4^(n−1), at most
/// an hour.
pub const SCHEDULE: Backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(60 * 60));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_stays_at_its_ceiling() {
        let secs: Vec<u64> = (0..=7).map(|n| SCHEDULE.after(n).as_secs()).collect();
        assert_eq!(secs, [30, 30, 120, 480, 1920, 3600, 3600, 3600]);
        assert_eq!(SCHEDULE.after(u32::MAX), SCHEDULE.longest);
    }
}
