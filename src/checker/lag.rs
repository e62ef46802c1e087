//! Schedule lag: how late probes start compared with when they were due.
//!
//! The prober records, lock-free, how long after its deadline each probe
//! actually started. A growing lag means the engine cannot keep up with its
//! schedule (too many probes for the CPU it has); the benchmark reads the
//! percentiles from here, and the metrics (`lvsd_check_schedule_lag_seconds`,
//! `/healthz`) read the buckets, their sum, and when the prober means to
//! wake next (a prober that stops turning starts no probe, so records no
//! lag: its missed wake is what shows it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Width of one bucket.
const BUCKET: Duration = Duration::from_micros(250);
/// Buckets: 0–250 µs, 250–500 µs, … up to 100 ms, then one overflow bucket.
pub const BUCKETS: usize = 401;

/// No wake planned (the prober sleeps until something wakes it).
const NO_WAKE: u64 = u64::MAX;

/// A histogram of probe start lags, shared by the prober and the engine.
#[derive(Debug)]
pub struct LagHistogram {
    counts: Box<[AtomicU64]>,
    /// Every lag added up, in µs.
    sum_micros: AtomicU64,
    /// What `next_wake` counts from.
    base: Instant,
    /// When the prober means to wake next, in ns after `base`; [`NO_WAKE`].
    next_wake: AtomicU64,
}

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            base: Instant::now(),
            next_wake: AtomicU64::new(NO_WAKE),
        }
    }
}

impl LagHistogram {
    /// Counts one probe that started `lag` after its deadline.
    pub fn record(&self, lag: Duration) {
        let micros = lag.as_micros();
        let index = (micros / BUCKET.as_micros()).min(BUCKETS as u128 - 1) as usize;
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(micros.min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// The prober is about to sleep until `at` (`None`: until woken).
    pub fn expect_wake(&self, at: Option<Instant>) {
        let ns = at.map_or(NO_WAKE, |at| {
            at.saturating_duration_since(self.base)
                .as_nanos()
                .min(NO_WAKE as u128 - 1) as u64
        });
        self.next_wake.store(ns, Ordering::Relaxed);
    }

    /// How far past its planned wake the prober is at `now` (zero while it
    /// sleeps as planned or has no wake planned).
    pub fn wake_overdue(&self, now: Instant) -> Duration {
        match self.next_wake.load(Ordering::Relaxed) {
            NO_WAKE => Duration::ZERO,
            ns => now
                .saturating_duration_since(self.base)
                .saturating_sub(Duration::from_nanos(ns)),
        }
    }

    /// The count of each bucket, in order.
    pub fn counts(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The upper edge of bucket `index` (`None` for the overflow bucket).
    pub fn bucket_edge(index: usize) -> Option<Duration> {
        (index < BUCKETS - 1).then(|| BUCKET * (index as u32 + 1))
    }

    /// Every lag counted so far, added up.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_micros.load(Ordering::Relaxed))
    }

    /// Probes counted so far.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The lag below which `fraction` (0.0–1.0) of the probes started: the
    /// upper edge of the bucket, so it errs on the late side. `None` when
    /// nothing was counted; `Duration::MAX` when it is beyond the last bucket.
    pub fn quantile(&self, fraction: f64) -> Option<Duration> {
        quantile_of(&self.counts(), fraction)
    }

    /// Forgets everything counted so far.
    pub fn reset(&self) {
        for count in self.counts.iter() {
            count.store(0, Ordering::Relaxed);
        }
        self.sum_micros.store(0, Ordering::Relaxed);
    }
}

/// [`LagHistogram::quantile`] of bucket counts (from [`LagHistogram::counts`],
/// or the difference of two such readings: the lag of a recent window).
pub fn quantile_of(counts: &[u64], fraction: f64) -> Option<Duration> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let wanted = ((total as f64) * fraction.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= wanted {
            return Some(LagHistogram::bucket_edge(index).unwrap_or(Duration::MAX));
        }
    }
    Some(Duration::MAX)
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
