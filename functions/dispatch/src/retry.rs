//! Backing off a failed record: its visibility timeout grows with each receive, so a Viber
//! outage is retried at 20 s, 80 s, 5 min and 15 min instead of every 3 minutes, before the
//! queue's redrive policy moves it to the dead-letter queue (`MaxReceiveCount`).

use std::time::Duration;

use vbm_queue::Backoff;

/// The visibility timeout after the `receive_count`-th failed receive: 20 s × 4^(n−1), at most
/// 15 minutes.
pub const SCHEDULE: Backoff = Backoff::new(Duration::from_secs(20), Duration::from_secs(15 * 60));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_stays_at_its_ceiling() {
        let secs: Vec<u64> = (0..=7).map(|n| SCHEDULE.after(n).as_secs()).collect();
        assert_eq!(secs, [20, 20, 80, 320, 900, 900, 900, 900]);
        assert_eq!(SCHEDULE.after(u32::MAX), SCHEDULE.longest);
    }
}
