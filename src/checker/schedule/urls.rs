//! `HTTP_GET`'s own rules: one url per connection, retries per url, and a
//! failed url that must pass before the whole list is swept again
//! (keepalived 2.2.7's `check_http.c`, as its behaviour reads).
//!
//! - Each probe checks one url; the next url is probed `delay_loop` later.
//!   With N urls, each is probed every N × `delay_loop`.
//! - A url that fails while the server is up is retried (the same url)
//!   after `delay_before_retry`; after `retry` failed retries the server
//!   goes down and that url becomes the *failed url*. A pass of any url
//!   resets the retry count.
//! - The very first failure (before the first full sweep) takes the server
//!   down at once, as for `TCP_CHECK`.
//! - While down with a failed url, only that url is probed, every
//!   `max(delay_before_retry, delay_loop)`. Once it passes, the whole list
//!   is swept again from the first url, one per `delay_loop`; the server is
//!   up only after every url has passed. A url failing during that sweep is
//!   retried after `delay_before_retry`.
//! - `fast_recovery`: while the server has not completed a sweep, or is
//!   down without a failed url (the sweep), the next url is probed at once
//!   after a pass. keepalived also retries a *failing* url at once there,
//!   a reconnect loop against a server that refuses fast; lvsd waits
//!   `delay_before_retry` after a failure.

use std::time::Duration;

use super::{HealthState, Step, Timing};

/// Where a probe is in its url list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlCursor {
    /// The url probed next.
    url: u32,
    /// Whether that url is the failed url (the server is down because of it).
    failed: bool,
    /// Failures of this url in a row, counted while up.
    retries: u32,
}

impl UrlCursor {
    /// The index of the url to probe next.
    pub fn url(&self) -> usize {
        self.url as usize
    }
}

impl HealthState {
    /// Applies the result of probing `cursor.url()` of a check with `urls`
    /// urls, under `HTTP_GET`'s rules, and says when to probe next.
    pub fn record_url(
        &mut self,
        cursor: &mut UrlCursor,
        ok: bool,
        timing: &Timing,
        urls: usize,
        fast_recovery: bool,
    ) -> Step {
        let was_up = self.up;
        let next_in = if ok {
            self.consecutive_failures = 0;
            cursor.retries = 0;
            let next = cursor.url.saturating_add(1);
            if cursor.failed {
                // The failed url passes: sweep the whole list again.
                cursor.failed = false;
                cursor.url = 0;
            } else if next as usize >= urls {
                // A sweep without failure is complete.
                self.up = true;
                self.has_run = true;
                cursor.url = 0;
            } else {
                cursor.url = next;
            }
            if fast_recovery && (!self.has_run || !self.up) {
                Duration::ZERO
            } else {
                timing.delay_loop
            }
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            if self.up || !self.has_run {
                if !self.has_run {
                    // keepalived starts with its retry count used up.
                    cursor.retries = timing.retry;
                }
                self.has_run = true;
                cursor.retries = cursor.retries.saturating_add(1);
                if cursor.retries > timing.retry {
                    self.up = false;
                    cursor.failed = true;
                }
            }
            if cursor.failed {
                timing.delay_before_retry.max(timing.delay_loop)
            } else {
                timing.delay_before_retry
            }
        };
        Step {
            up: self.up,
            changed: self.up != was_up,
            next_in,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DL: u64 = 10_000;
    const DBR: u64 = 3_000;

    fn timing(retry: u32) -> Timing {
        Timing {
            delay_loop: Duration::from_millis(DL),
            delay_before_retry: Duration::from_millis(DBR),
            retry,
        }
    }

    /// Runs on virtual time (probes take no time): `pass(t, url)` says
    /// whether url `url` passes at `t`. Returns (t, url, ok, up after).
    fn simulate(
        initially_up: bool,
        retry: u32,
        urls: usize,
        fast: bool,
        pass: impl Fn(u64, usize) -> bool,
        until: u64,
    ) -> Vec<(u64, usize, bool, bool)> {
        let (mut state, mut cursor, t) = (
            HealthState::new(initially_up),
            UrlCursor::default(),
            timing(retry),
        );
        let mut now = 0;
        let mut out = Vec::new();
        while now <= until {
            let url = cursor.url();
            let ok = pass(now, url);
            let step = state.record_url(&mut cursor, ok, &t, urls, fast);
            out.push((now, url, ok, step.up));
            now += step.next_in.as_millis() as u64;
        }
        out
    }

    #[test]
    fn one_url_per_delay_loop_in_order() {
        let got = simulate(true, 1, 3, false, |_, _| true, 40_000);
        let urls: Vec<(u64, usize)> = got.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(
            urls,
            [(0, 0), (10_000, 1), (20_000, 2), (30_000, 0), (40_000, 1)]
        );
        assert!(got.iter().all(|p| p.3));
    }

    #[test]
    fn second_url_fails_while_up_retried_then_down_then_only_it() {
        // url 1 dies at 15 s; retry 1: one retry after dbr, then down.
        let got = simulate(true, 1, 2, false, |t, u| u == 0 || t < 15_000, 60_000);
        let expected = [
            (0, 0, true, true),
            (10_000, 1, true, true),
            (20_000, 0, true, true),
            (30_000, 1, false, true),
            (33_000, 1, false, false),
            // Down: only the failed url, every max(dbr, delay_loop).
            (43_000, 1, false, false),
            (53_000, 1, false, false),
        ];
        assert_eq!(got[..expected.len()], expected);
    }

    #[test]
    fn failed_url_passing_restarts_the_sweep_and_up_only_at_its_end() {
        // url 1 fails 25-45 s; comes back at 45 s.
        let got = simulate(
            true,
            0,
            3,
            false,
            |t, u| u != 1 || !(25_000..45_000).contains(&t),
            100_000,
        );
        let expected = [
            (0, 0, true, true),
            (10_000, 1, true, true),
            (20_000, 2, true, true),
            (30_000, 0, true, true),
            (40_000, 1, false, false), // retry 0: down at the first failure
            (50_000, 1, true, false),  // the failed url passes: sweep from url 0
            (60_000, 0, true, false),
            (70_000, 1, true, false),
            (80_000, 2, true, true), // the sweep completes: up
            (90_000, 0, true, true),
        ];
        assert_eq!(got[..expected.len()], expected);
    }

    #[test]
    fn a_failure_during_the_sweep_is_retried_after_dbr_without_counting() {
        // Down on url 0 at start; url 0 back at 5 s, url 1 fails until 35 s.
        let got = simulate(
            true,
            1,
            2,
            false,
            |t, u| if u == 0 { t >= 5_000 } else { t >= 35_000 },
            40_000,
        );
        let expected = [
            (0, 0, false, false),     // first failure: down at once, url 0 failed
            (10_000, 0, true, false), // it passes: the sweep starts from url 0
            (20_000, 0, true, false),
            (30_000, 1, false, false), // no failed url now: retried after dbr
            (33_000, 1, false, false),
            (36_000, 1, true, true),
        ];
        assert_eq!(got[..expected.len()], expected);
    }

    #[test]
    fn fast_recovery_sweeps_at_once_but_never_loops_on_failure() {
        let got = simulate(false, 1, 3, true, |t, u| u != 2 || t >= 1, 20_000);
        let expected = [
            (0, 0, true, false),
            (0, 1, true, false),
            (0, 2, false, false), // alpha start, first failure: failed url
            (10_000, 2, true, false),
            (10_000, 0, true, false),
            (10_000, 1, true, false),
            (10_000, 2, true, true),
            (20_000, 0, true, true),
        ];
        assert_eq!(got[..expected.len()], expected);
        // Down without a failed url (the sweep) and a url that keeps failing:
        // retried after dbr, not at once.
        let (mut s, mut c, t) = (HealthState::new(true), UrlCursor::default(), timing(1));
        s.record_url(&mut c, false, &t, 2, true); // down, url 0 failed
        s.record_url(&mut c, true, &t, 2, true); // sweep restarts
        let step = s.record_url(&mut c, true, &t, 2, true);
        assert_eq!(step.next_in, Duration::ZERO);
        let step = s.record_url(&mut c, false, &t, 2, true);
        assert_eq!(step.next_in, t.delay_before_retry);
    }
}
