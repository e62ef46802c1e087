//! How often drift is checked: the configured interval, stretched when a
//! check is dear.
//!
//! A drift check reads every destination lvsd owns back from the kernel,
//! and the kernel formats each one as a netlink message with its traffic
//! counters (they cannot be left out). With 100,000 real servers that took
//! about 1 s of CPU in the test guest (TCG; natively about a tenth of it),
//! three quarters of it in the kernel. Checked every 5 s regardless, that
//! would be a fifth of a slow machine's CPU, taken from the probes and the
//! backends' traffic.
//!
//! So the next check starts one interval after the last one started, or
//! [`COST_SHARE`] times as long as the last check took, whichever is later:
//! drift checking never takes more than about a tenth of a CPU. Tables of a
//! few thousand real servers are read in milliseconds and keep the
//! configured interval exactly.

use std::time::Duration;

/// A check may take at most 1/`COST_SHARE` of the time between checks.
pub const COST_SHARE: u32 = 10;

/// How long after a check started the next one starts, given the
/// configured `interval` and how long the check took.
pub fn next_after(interval: Duration, check_took: Duration) -> Duration {
    interval.max(check_took.saturating_mul(COST_SHARE))
}

/// Remembers whether checks are being spaced out, to log the change once
/// rather than at every check.
#[derive(Debug, Default)]
pub struct DriftPace {
    stretched: bool,
}

impl DriftPace {
    /// The wait before the next check (see [`next_after`]); logs when the
    /// interval starts or stops being stretched.
    pub fn next(&mut self, interval: Duration, check_took: Duration) -> Duration {
        let next = next_after(interval, check_took);
        let stretched = next > interval;
        if stretched != self.stretched {
            self.stretched = stretched;
            if stretched {
                tracing::info!(
                    check_ms = check_took.as_millis() as u64,
                    every_ms = next.as_millis() as u64,
                    interval_ms = interval.as_millis() as u64,
                    "drift checks are slow at this table size; spacing them out so they take at most a tenth of a CPU"
                );
            } else {
                tracing::info!(
                    interval_ms = interval.as_millis() as u64,
                    "drift checks are back to the configured interval"
                );
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_checks_keep_the_interval_and_dear_ones_stretch_it() {
        let five = Duration::from_secs(5);
        assert_eq!(next_after(five, Duration::from_millis(3)), five);
        assert_eq!(next_after(five, Duration::from_millis(500)), five);
        assert_eq!(
            next_after(five, Duration::from_millis(1200)),
            Duration::from_secs(12)
        );
        let mut pace = DriftPace::default();
        assert_eq!(
            pace.next(five, Duration::from_secs(2)),
            Duration::from_secs(20)
        );
        assert!(pace.stretched);
        assert_eq!(pace.next(five, Duration::from_millis(10)), five);
        assert!(!pace.stretched);
    }
}
