//! Schedule lag: how late probes start compared with when they were due.
//!
//! The prober records, lock-free, how long after its deadline each probe
//! actually started. A growing lag means the engine cannot keep up with its
//! schedule (too many probes for the CPU it has); the benchmark reads the
//! percentiles from here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Width of one bucket.
const BUCKET: Duration = Duration::from_micros(250);
/// Buckets: 0–250 µs, 250–500 µs, … up to 100 ms, then one overflow bucket.
const BUCKETS: usize = 401;

/// A histogram of probe start lags, shared by the prober and the engine.
#[derive(Debug)]
pub struct LagHistogram {
    counts: Box<[AtomicU64]>,
}

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LagHistogram {
    /// Counts one probe that started `lag` after its deadline.
    pub fn record(&self, lag: Duration) {
        let index = (lag.as_micros() / BUCKET.as_micros()).min(BUCKETS as u128 - 1) as usize;
        self.counts[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Probes counted so far.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The lag below which `fraction` (0.0–1.0) of the probes started: the
    /// upper edge of the bucket, so it errs on the late side. `None` when
    /// nothing was counted; `Duration::MAX` when it is beyond the last bucket.
    pub fn quantile(&self, fraction: f64) -> Option<Duration> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let wanted = ((total as f64) * fraction.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= wanted {
                if index == BUCKETS - 1 {
                    return Some(Duration::MAX);
                }
                return Some(BUCKET * (index as u32 + 1));
            }
        }
        Some(Duration::MAX)
    }

    /// Forgets everything counted so far.
    pub fn reset(&self) {
        for count in self.counts.iter() {
            count.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_round_up_to_the_bucket_edge() {
        let h = LagHistogram::default();
        assert_eq!(h.quantile(0.99), None);
        for _ in 0..99 {
            h.record(Duration::from_micros(100));
        }
        h.record(Duration::from_millis(7));
        assert_eq!(h.total(), 100);
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(250)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_micros(250)));
        assert_eq!(h.quantile(1.0), Some(Duration::from_micros(7250)));
        h.record(Duration::from_secs(1));
        assert_eq!(h.quantile(1.0), Some(Duration::MAX));
        h.reset();
        assert_eq!(h.total(), 0);
    }
}
