//! `/healthz`: is lvsd checking on schedule?
//!
//! Healthy means three things, each with its reason when it fails (503):
//!
//! 1. the event loop turns: `/healthz` is answered *by* the loop, so a loop
//!    that does not answer within [`LOOP_ANSWER`] fails (the listener says so);
//! 2. the prober thread turns: it is never more than [`PROBER_OVERDUE`] past
//!    the wake it planned (a frozen checker, keepalived #2523, starts no
//!    probe and so records no lag: its missed wake is what shows it);
//! 3. probes start on time: the 99th percentile of how late probes started
//!    over the last one to two minutes is under [`LAG_P99_BOUND`].

use std::time::{Duration, Instant};

use crate::checker::lag::{quantile_of, LagHistogram};

/// How long the event loop has to answer a request of the listener.
pub const LOOP_ANSWER: Duration = Duration::from_secs(5);
/// How far past its planned wake the prober may be.
pub const PROBER_OVERDUE: Duration = Duration::from_secs(5);
/// The schedule lag p99 above which lvsd is unhealthy.
pub const LAG_P99_BOUND: Duration = Duration::from_secs(1);
/// How often the lag window moves on: the window is one to two of these.
const WINDOW_STEP: Duration = Duration::from_secs(60);

/// A verdict of `/healthz`: the text of its answer.
pub type Health = Result<String, String>;

/// Keeps the lag readings that make the recent window.
#[derive(Debug, Default)]
pub struct HealthJudge {
    /// The reading the window starts at (none: since start).
    older: Option<Vec<u64>>,
    /// The next start, and when it was read.
    newer: Option<(Instant, Vec<u64>)>,
}

impl HealthJudge {
    /// Judge now, from the prober's lag histogram.
    pub fn judge(&mut self, lag: &LagHistogram, now: Instant) -> Health {
        let overdue = lag.wake_overdue(now);
        if overdue > PROBER_OVERDUE {
            return Err(format!(
                "the prober thread is {:.1} s past its planned wake",
                overdue.as_secs_f64()
            ));
        }
        let counts = lag.counts();
        match &self.newer {
            Some((at, _)) if now.saturating_duration_since(*at) < WINDOW_STEP => {}
            _ => {
                self.older = self.newer.take().map(|(_, c)| c);
                self.newer = Some((now, counts.clone()));
            }
        }
        let window: Vec<u64> = match &self.older {
            Some(old) => counts
                .iter()
                .zip(old)
                .map(|(n, o)| n.saturating_sub(*o))
                .collect(),
            None => counts,
        };
        let started: u64 = window.iter().sum();
        match quantile_of(&window, 0.99) {
            Some(p99) if p99 > LAG_P99_BOUND => Err(format!(
                "probes start late: schedule lag p99 {} over the last {started} probes (bound {} s)",
                shown(p99),
                LAG_P99_BOUND.as_secs()
            )),
            Some(p99) => Ok(format!(
                "ok: schedule lag p99 {} over the last {started} probes",
                shown(p99)
            )),
            None => Ok("ok: no probe started recently".to_owned()),
        }
    }
}

fn shown(d: Duration) -> String {
    if d == Duration::MAX {
        "over 100 ms".to_owned()
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_until_the_recent_lag_p99_passes_the_bound() {
        let lag = LagHistogram::default();
        let mut judge = HealthJudge::default();
        let t0 = Instant::now();
        assert!(judge.judge(&lag, t0).unwrap().contains("no probe"));
        for _ in 0..1000 {
            lag.record(Duration::from_micros(100));
        }
        assert!(judge.judge(&lag, t0).is_ok());
        for _ in 0..20 {
            lag.record(Duration::from_secs(2));
        }
        let why = judge.judge(&lag, t0).unwrap_err();
        assert!(why.contains("schedule lag p99"), "{why}");
        // Two window steps later, the late probes have left the window.
        for _ in 0..1000 {
            lag.record(Duration::from_micros(100));
        }
        let _ = judge.judge(&lag, t0 + WINDOW_STEP);
        for _ in 0..1000 {
            lag.record(Duration::from_micros(100));
        }
        assert!(judge.judge(&lag, t0 + WINDOW_STEP * 2).is_ok());
    }

    #[test]
    fn a_prober_past_its_planned_wake_is_unhealthy() {
        let lag = LagHistogram::default();
        let mut judge = HealthJudge::default();
        let now = Instant::now();
        lag.expect_wake(Some(now));
        assert!(judge.judge(&lag, now + Duration::from_secs(1)).is_ok());
        let why = judge.judge(&lag, now + Duration::from_secs(6)).unwrap_err();
        assert!(why.contains("prober thread"), "{why}");
        lag.expect_wake(None);
        assert!(judge.judge(&lag, now + Duration::from_secs(60)).is_ok());
    }
}
