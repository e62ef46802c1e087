//! Schedule lag: how late probes start compared with when they were due.
//!
//! The prober records, lock-free, how long after its deadline each probe
//! actually started. A growing lag means the engine cannot keep up with its
//! schedule (too many probes for the CPU it has); the benchmark reads the
//! percentiles from here, and the metrics (`lvsd_check_schedule_lag_seconds`,
//! `/healthz`) read the buckets, their sum, and when the prober means to
//! wake next (a prober that stops turning starts no probe, so records no
//! lag: its missed wake is what shows it).
//!
//! ## Overload
//!
//! When more probes are asked for than the CPU can start, the prober
//! starts them in due order, a batch a round (`timers.rs`), and each next
//! due time counts from its verdict: every probe's interval then stretches
//! by the same lag, the prober's backlog. [`ScheduleWatch`] says so in the
//! log, once a minute while it lasts, with the lag (how much longer every
//! interval is than asked), and again when the schedule is kept; the state
//! dump carries the same figures ([`LagSummary`]), and each probe's own
//! latest lag (`ProbeState::lag_us`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

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
    /// The longest lag, in µs.
    max_micros: AtomicU64,
    /// The mean lag of the latest [`ScheduleWatch`] window, in µs.
    recent_micros: AtomicU64,
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
            max_micros: AtomicU64::new(0),
            recent_micros: AtomicU64::new(0),
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
        let micros = micros.min(u64::MAX as u128) as u64;
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// What the state dump says of the schedule.
    pub fn summary(&self) -> LagSummary {
        let counts = self.counts();
        let started: u64 = counts.iter().sum();
        let ms = |micros: u64| micros as f64 / 1000.0;
        LagSummary {
            started,
            lag_mean_ms: ms(self.sum_micros.load(Ordering::Relaxed) / started.max(1)),
            recent_lag_mean_ms: ms(self.recent_micros.load(Ordering::Relaxed)),
            lag_p99_ms: quantile_of(&counts, 0.99)
                .filter(|lag| *lag != Duration::MAX)
                .map(|lag| lag.as_secs_f64() * 1000.0),
            lag_max_ms: ms(self.max_micros.load(Ordering::Relaxed)),
        }
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
        self.max_micros.store(0, Ordering::Relaxed);
    }
}

/// How late probes start, as the state dump shows it: how much longer
/// than asked every probe's interval is, on average (`recent_lag_mean_ms`
/// is the latest 10 s; the others count from the start).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LagSummary {
    /// Probe attempts started.
    pub started: u64,
    /// Mean lag of a start.
    pub lag_mean_ms: f64,
    /// Mean lag of a start over the latest 10 s window.
    pub recent_lag_mean_ms: f64,
    /// 99th percentile (to the histogram's 0.25 ms buckets); `None` beyond
    /// its 100 ms.
    pub lag_p99_ms: Option<f64>,
    /// The longest lag.
    pub lag_max_ms: f64,
}

/// Watches the lag for the log: the prober calls [`ScheduleWatch::tick`]
/// every round; every [`WINDOW`] it compares the mean lag of the window
/// with [`BEHIND`].
#[derive(Debug)]
pub struct ScheduleWatch {
    /// When the window began, and the histogram's total and sum then.
    since: Instant,
    count: u64,
    sum: Duration,
    /// Windows in a row that were behind (0: on schedule).
    behind: u32,
}

/// How often the lag is judged.
pub const WINDOW: Duration = Duration::from_secs(10);
/// A mean lag from which the prober is said to be behind its schedule:
/// well above its own resolution (epoll_wait's milliseconds), well below
/// any interval keepalived allows (1 s).
pub const BEHIND: Duration = Duration::from_millis(100);
/// While behind, the log says so every this many windows (a minute).
const REPEAT: u32 = 6;

/// What a window of [`ScheduleWatch`] found worth a line in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleNews {
    /// Probes start this late on average: every interval is that much
    /// longer than asked (`started` in the window).
    Behind {
        /// The window's mean lag.
        lag: Duration,
        /// Probes started in the window.
        started: u64,
    },
    /// The schedule is kept again.
    OnTime,
}

impl ScheduleWatch {
    /// A watch whose first window starts `now`.
    pub fn new(now: Instant) -> Self {
        ScheduleWatch {
            since: now,
            count: 0,
            sum: Duration::ZERO,
            behind: 0,
        }
    }

    /// At the end of a window, what it found, if worth saying.
    pub fn tick(&mut self, now: Instant, lag: &LagHistogram) -> Option<ScheduleNews> {
        if now.saturating_duration_since(self.since) < WINDOW {
            return None;
        }
        let (count, sum) = (lag.total(), lag.sum());
        // A reset (the benchmark's) starts the window afresh.
        let started = count.checked_sub(self.count);
        let window_sum = sum.checked_sub(self.sum);
        (self.since, self.count, self.sum) = (now, count, sum);
        let (started, window_sum) = (started?, window_sum?);
        if started == 0 {
            return None;
        }
        let mean = window_sum / started.min(u32::MAX as u64) as u32;
        lag.recent_micros
            .store(mean.as_micros() as u64, Ordering::Relaxed);
        if mean >= BEHIND {
            self.behind += 1;
            ((self.behind - 1) % REPEAT == 0).then_some(ScheduleNews::Behind { lag: mean, started })
        } else if std::mem::take(&mut self.behind) > 0 {
            Some(ScheduleNews::OnTime)
        } else {
            None
        }
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
        assert_eq!(h.summary().lag_max_ms, 1000.0);
        assert_eq!(h.summary().lag_p99_ms, Some(7.25));
        h.reset();
        assert_eq!(h.total(), 0);
    }

    #[test]
    fn the_watch_reports_a_lasting_lag_once_a_minute_and_its_end() {
        let h = LagHistogram::default();
        let t0 = Instant::now();
        let mut watch = ScheduleWatch::new(t0);
        let window = |i: u32| t0 + WINDOW * i;
        let starts = |lag: Duration| {
            for _ in 0..1000 {
                h.record(lag);
            }
        };
        starts(Duration::from_millis(1));
        assert_eq!(watch.tick(window(1) - Duration::from_millis(1), &h), None);
        assert_eq!(watch.tick(window(1), &h), None);
        assert_eq!(h.summary().recent_lag_mean_ms, 1.0);
        // Overloaded: every start 1.5 s late.
        let late = Duration::from_millis(1500);
        let behind = Some(ScheduleNews::Behind {
            lag: late,
            started: 1000,
        });
        let mut news = Vec::new();
        for i in 2..=8 {
            starts(late);
            news.push(watch.tick(window(i), &h));
        }
        assert_eq!(news, [behind, None, None, None, None, None, behind]);
        assert_eq!(h.summary().recent_lag_mean_ms, 1500.0);
        starts(Duration::from_millis(2));
        assert_eq!(watch.tick(window(9), &h), Some(ScheduleNews::OnTime));
        starts(Duration::from_millis(2));
        assert_eq!(watch.tick(window(10), &h), None);
        let summary = h.summary();
        assert_eq!(summary.started, 10_000);
        assert_eq!(summary.lag_max_ms, 1500.0);
    }
}
