//! Logs of the test doubles that a long local run can bound (`Options::keep_logs`).

/// Appends `item`; with `keep`, drops the oldest entries once there are twice as many (so the
/// cost of dropping is spread over `keep` pushes), leaving the newest `keep`.
pub fn push<T>(log: &mut Vec<T>, item: T, keep: Option<usize>) {
    log.push(item);
    if let Some(keep) = keep
        && log.len() > keep.saturating_mul(2).max(1)
    {
        log.drain(..log.len() - keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_unless_bounded_then_the_newest() {
        let mut all = Vec::new();
        for i in 0..100 {
            push(&mut all, i, None);
        }
        assert_eq!(all.len(), 100);
        let mut some = Vec::new();
        for i in 0..100 {
            push(&mut some, i, Some(10));
        }
        assert!(some.len() <= 20, "{}", some.len());
        assert_eq!(some.last(), Some(&99));
        assert!(some.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(some.len() >= 10);
    }
}
