//! CPU time, for "what does this call cost us" apart from waiting on the network.

use std::time::Duration;

use rustix::time::{ClockId, clock_gettime};

/// CPU time this thread has used so far. On a current-thread tokio runtime everything a call
/// does (the handler, the SDK, its connections) runs on this thread, so the difference around
/// one call is that call's CPU.
pub fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or_default(),
        u32::try_from(t.tv_nsec).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_moves_with_work_only() {
        let before = thread_cpu();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let busy = thread_cpu() - before;
        let before = thread_cpu();
        std::thread::sleep(Duration::from_millis(50));
        let idle = thread_cpu() - before;
        assert!(busy > idle, "busy {busy:?} <= asleep {idle:?} ({x})");
    }
}
