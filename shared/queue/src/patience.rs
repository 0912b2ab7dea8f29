//! Trying a step again in-process for a few seconds before giving up on it.
//!
//! For steps that are safe to repeat and expensive to leave undone: `dispatch` recording what
//! Viber answered (the writes are conditional on the message still being `accepted`). A blip of
//! DynamoDB shorter than the patience then costs a pause instead of a message Viber has but
//! whose token we cannot match to its callbacks.

use std::future::Future;
use std::time::{Duration, Instant};

/// The first pause; each one after doubles, up to [`LONGEST_PAUSE`]. Each pause is jittered
/// ([`jittered`]), so containers that failed together do not retry together.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Runs `step` until it succeeds or `patience` has passed (the last error is returned; no
/// attempt starts after `patience`).
pub async fn patiently<T, E, F, Fut>(patience: Duration, mut step: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(error) if start.elapsed() + pause > patience => return Err(error),
            Err(_) => {
                tokio::time::sleep(jittered(pause, rand::random::<f64>())).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

/// "Equal jitter": half of `pause` for sure, the other half scaled by `unit` (uniform in
/// `[0, 1)`), so a pause is never shorter than half its step and callers spread out.
pub fn jittered(pause: Duration, unit: f64) -> Duration {
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    let half = pause / 2;
    half + half.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn jitter_spans_the_upper_half_of_the_pause() {
        let pause = Duration::from_millis(400);
        assert_eq!(jittered(pause, 0.0), Duration::from_millis(200));
        assert_eq!(jittered(pause, 0.5), Duration::from_millis(300));
        assert_eq!(jittered(pause, 1.0), Duration::from_millis(400));
        assert_eq!(jittered(pause, 2.0), Duration::from_millis(400));
        assert_eq!(jittered(pause, f64::NAN), Duration::from_millis(200));
    }

    proptest! {
        #[test]
        fn jittered_pauses_stay_within_half_and_whole(ms in 0u64..10_000, unit in 0.0f64..1.0) {
            let pause = Duration::from_millis(ms);
            let j = jittered(pause, unit);
            prop_assert!(j >= pause / 2 && j <= pause, "{j:?} of {pause:?}");
        }
    }

    #[tokio::test]
    async fn a_step_that_recovers_is_tried_until_it_does() {
        let calls = Cell::new(0);
        let result: Result<u32, &str> = patiently(Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n < 3 { Err("down") } else { Ok(n) } }
        })
        .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test]
    async fn without_patience_a_failing_step_is_tried_once() {
        let calls = Cell::new(0);
        let result: Result<(), &str> = patiently(Duration::ZERO, || {
            calls.set(calls.get() + 1);
            async { Err("down") }
        })
        .await;
        assert_eq!((result, calls.get()), (Err("down"), 1));
    }
}
