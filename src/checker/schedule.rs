//! keepalived's timing rules as pure logic: given a probe's result, what is
//! the health state now and when does the next probe start?
//!
//! No clock, no I/O: the engine feeds results in and sleeps for the delay that
//! comes out, so the rules can be tested against virtual time.
//!
//! The rules (keepalived 2.2.7's observable behaviour, watched side by side
//! with lvsd in a real kernel by `tests/kernel_timing.rs`: delay_loop 2 s,
//! retry 2, delay_before_retry 1 s, connect_timeout 1 s; keepalived's gaps
//! from SYN to SYN were 2011/1002/1002 ms for a refused backend and
//! 2010/2002/2002 ms for one that stopped answering):
//!
//! - A probe runs every `delay_loop`. The next probe is timed from the end of
//!   the previous one (its verdict), as keepalived re-arms its timer then.
//! - While up, a failure is retried after `delay_before_retry`; the server goes
//!   down when the `retry` retries have failed too: `retry + 1` consecutive
//!   failures.
//! - The very first probe is special: if it fails, the server goes down at
//!   once, without retries (keepalived.conf(5) retries the checks of an
//!   "alive" server; a server that never passed one is not, even though
//!   keepalived puts it in the table at start). Watched: with retry 2, one
//!   SYN, then the server left the table (10–80 ms after a refusal,
//!   `connect_timeout` after a SYN left unanswered), and the next probe
//!   came `delay_loop` after the verdict.
//! - While down, probes continue every `delay_loop`; one success brings the
//!   server up.
//! - `alpha` only sets the initial state (down); the rules are the same.
//!
//! `SMTP_CHECK` counts differently ([`RetryRule::PerCycle`], keepalived's
//! check_smtp.c): its retry count restarts at every `delay_loop` cycle, and
//! every cycle makes up to `retry + 1` attempts, `delay_before_retry`
//! apart, whatever the state: at the very first probe (no down at the first
//! failure), while up, and while down (a down server is retried too). A cycle
//! ends at its first success (up) or its `retry + 1`th failure (down).
//! `DNS_CHECK` follows the rules above, with its own defaults (`retry` 3,
//! `delay_before_retry` = `delay_loop`, set by the config).

use std::time::Duration;

use crate::config::{Check, CheckCommon};

/// How a kind of check counts failures before its server goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryRule {
    /// `retry + 1` failures in a row while up; one at the very first
    /// probe; no retries while down (TCP_CHECK and most kinds).
    Consecutive,
    /// `retry + 1` failures within one `delay_loop` cycle, in any state
    /// (SMTP_CHECK).
    PerCycle,
}

impl RetryRule {
    /// The rule a check follows.
    pub fn of(check: &Check) -> RetryRule {
        match check {
            Check::Smtp(_) => RetryRule::PerCycle,
            _ => RetryRule::Consecutive,
        }
    }
}

mod urls;
pub use urls::UrlCursor;

/// The three numbers that drive a probe's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time between two probes when nothing is being retried.
    pub delay_loop: Duration,
    /// Time before re-probing after a failure while up.
    pub delay_before_retry: Duration,
    /// Retries after the first failure before the server is declared down.
    pub retry: u32,
}

impl Timing {
    /// The timing configured for a check.
    pub fn of(common: &CheckCommon) -> Self {
        Timing {
            delay_loop: common.delay_loop.duration(),
            delay_before_retry: common.delay_before_retry.duration(),
            retry: common.retry,
        }
    }
}

/// What one result did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The health state after the result.
    pub up: bool,
    /// Whether `up` changed with this result.
    pub changed: bool,
    /// How long after this result the next probe starts.
    pub next_in: Duration,
}

/// The health state of one probe, as keepalived's retry rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthState {
    up: bool,
    has_run: bool,
    /// Failures in a row (reset by a success).
    consecutive_failures: u32,
}

impl HealthState {
    /// A probe that has not run yet, starting up or (with `alpha`) down.
    pub fn new(initially_up: bool) -> Self {
        HealthState {
            up: initially_up,
            has_run: false,
            consecutive_failures: 0,
        }
    }

    /// Whether the target is currently considered up.
    pub fn up(&self) -> bool {
        self.up
    }

    /// Failures in a row since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Applies one probe result under `rule` and says when to probe next.
    pub fn record_with(&mut self, ok: bool, timing: &Timing, rule: RetryRule) -> Step {
        match rule {
            RetryRule::Consecutive => self.record(ok, timing),
            RetryRule::PerCycle => self.record_per_cycle(ok, timing),
        }
    }

    /// [`RetryRule::PerCycle`]. A cycle is `retry + 1` attempts at most and
    /// ends at its first success, so the failures of the current cycle are
    /// the failures in a row modulo `retry + 1`: no counter of its own.
    fn record_per_cycle(&mut self, ok: bool, timing: &Timing) -> Step {
        let was_up = self.up;
        self.has_run = true;
        let next_in = if ok {
            self.consecutive_failures = 0;
            self.up = true;
            timing.delay_loop
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            let attempts = timing.retry.saturating_add(1);
            if self.consecutive_failures % attempts != 0 {
                timing.delay_before_retry
            } else {
                self.up = false;
                timing.delay_loop
            }
        };
        Step {
            up: self.up,
            changed: self.up != was_up,
            next_in,
        }
    }

    /// Applies one probe result ([`RetryRule::Consecutive`]) and says when
    /// to probe next.
    pub fn record(&mut self, ok: bool, timing: &Timing) -> Step {
        let was_up = self.up;
        let first = !self.has_run;
        self.has_run = true;
        let next_in = if ok {
            self.consecutive_failures = 0;
            self.up = true;
            timing.delay_loop
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            if !self.up {
                timing.delay_loop
            } else if first || self.consecutive_failures > timing.retry {
                self.up = false;
                timing.delay_loop
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

    fn timing(delay_loop_ms: u64, retry_ms: u64, retry: u32) -> Timing {
        Timing {
            delay_loop: Duration::from_millis(delay_loop_ms),
            delay_before_retry: Duration::from_millis(retry_ms),
            retry,
        }
    }

    /// Runs a probe on virtual time: the backend answers while `alive(t)`;
    /// every probe takes `latency`. Returns (start instant, ok, up after,
    /// changed) for every probe until `until`.
    fn simulate(
        initially_up: bool,
        t: Timing,
        latency_ms: u64,
        alive: impl Fn(u64) -> bool,
        until_ms: u64,
    ) -> Vec<(u64, bool, bool, bool)> {
        simulate_rule(
            RetryRule::Consecutive,
            initially_up,
            t,
            latency_ms,
            alive,
            until_ms,
        )
    }

    fn simulate_rule(
        rule: RetryRule,
        initially_up: bool,
        t: Timing,
        latency_ms: u64,
        alive: impl Fn(u64) -> bool,
        until_ms: u64,
    ) -> Vec<(u64, bool, bool, bool)> {
        let mut state = HealthState::new(initially_up);
        let mut now = 0;
        let mut out = Vec::new();
        while now <= until_ms {
            let ok = alive(now);
            let done = now + latency_ms;
            let step = state.record_with(ok, &t, rule);
            out.push((now, ok, step.up, step.changed));
            now = done + step.next_in.as_millis() as u64;
        }
        out
    }

    struct Case {
        name: &'static str,
        initially_up: bool,
        timing: Timing,
        latency_ms: u64,
        /// The backend is dead in [from, to), alive otherwise.
        dead: (u64, u64),
        until_ms: u64,
        /// Expected (start instant ms, up after) of every probe.
        expected: &'static [(u64, bool)],
    }

    #[test]
    fn keepalived_sequences() {
        let cases = [
            Case {
                name: "death while up: retry=1 means two failures, 200 ms apart",
                initially_up: true,
                timing: timing(1000, 200, 1),
                latency_ms: 0,
                dead: (2500, u64::MAX),
                until_ms: 4200,
                expected: &[
                    (0, true),
                    (1000, true),
                    (2000, true),
                    (3000, true),
                    (3200, false),
                    (4200, false),
                ],
            },
            Case {
                name: "retry=3: four failures before down, then delay_loop",
                initially_up: true,
                timing: timing(1000, 200, 3),
                latency_ms: 0,
                dead: (500, u64::MAX),
                until_ms: 3600,
                expected: &[
                    (0, true),
                    (1000, true),
                    (1200, true),
                    (1400, true),
                    (1600, false),
                    (2600, false),
                    (3600, false),
                ],
            },
            Case {
                name: "retry=0: the first failure while up is final",
                initially_up: true,
                timing: timing(1000, 200, 0),
                latency_ms: 0,
                dead: (500, u64::MAX),
                until_ms: 2000,
                expected: &[(0, true), (1000, false), (2000, false)],
            },
            Case {
                name: "the very first probe failing marks down at once",
                initially_up: true,
                timing: timing(1000, 200, 3),
                latency_ms: 0,
                dead: (0, 1500),
                until_ms: 2000,
                expected: &[(0, false), (1000, false), (2000, true)],
            },
            Case {
                name: "as watched in the guest: refused, delay_loop 2 s, retry 2, retry delay 1 s",
                initially_up: true,
                timing: timing(2000, 1000, 2),
                latency_ms: 0,
                dead: (2500, u64::MAX),
                until_ms: 8000,
                expected: &[
                    (0, true),
                    (2000, true),
                    (4000, true),
                    (5000, true),
                    (6000, false),
                    (8000, false),
                ],
            },
            Case {
                name: "as watched in the guest: dead at start, retry 2: one probe, down",
                initially_up: true,
                timing: timing(2000, 1000, 2),
                latency_ms: 0,
                dead: (0, u64::MAX),
                until_ms: 2000,
                expected: &[(0, false), (2000, false)],
            },
            Case {
                name: "alpha: starts down, one success brings it up",
                initially_up: false,
                timing: timing(1000, 200, 1),
                latency_ms: 0,
                dead: (0, 0),
                until_ms: 1000,
                expected: &[(0, true), (1000, true)],
            },
            Case {
                name: "recovery mid-retry: a success resets the failure count",
                initially_up: true,
                timing: timing(1000, 200, 1),
                latency_ms: 0,
                dead: (1500, 2100),
                until_ms: 3500,
                // 2000 fails, the retry at 2200 succeeds: never down, back to delay_loop.
                expected: &[
                    (0, true),
                    (1000, true),
                    (2000, true),
                    (2200, true),
                    (3200, true),
                ],
            },
            Case {
                name: "timeouts: the next probe is timed from the verdict",
                initially_up: true,
                timing: timing(1000, 200, 1),
                latency_ms: 300,
                dead: (1000, u64::MAX),
                until_ms: 3100,
                // 0 ok (ends 300) → 1300 fails (ends 1600) → 1800 fails (ends 2100) → down.
                expected: &[(0, true), (1300, true), (1800, false), (3100, false)],
            },
        ];
        for case in cases {
            let got = simulate(
                case.initially_up,
                case.timing,
                case.latency_ms,
                |t| !(t >= case.dead.0 && t < case.dead.1),
                case.until_ms,
            );
            let got: Vec<(u64, bool)> = got.iter().map(|p| (p.0, p.2)).collect();
            assert_eq!(got, case.expected, "{}", case.name);
        }
    }

    /// SMTP_CHECK (keepalived's smtp_final / smtp_start_check_thread):
    /// delay_loop 1 s, delay_before_retry 200 ms, retry 2 unless said.
    #[test]
    fn smtp_per_cycle_sequences() {
        /// (name, initially up, timing, latency, dead from..to, until, expected).
        type Row = (
            &'static str,
            bool,
            Timing,
            u64,
            (u64, u64),
            u64,
            &'static [(u64, bool)],
        );
        let cases: [Row; 6] = [
            (
                "dead at start: three attempts in the first cycle before down",
                true,
                timing(1000, 200, 2),
                0,
                (0, u64::MAX),
                1800,
                &[
                    (0, true),
                    (200, true),
                    (400, false),
                    (1400, false),
                    (1600, false),
                    (1800, false),
                ],
            ),
            (
                "while down every cycle still makes retry + 1 attempts",
                false,
                timing(1000, 200, 1),
                0,
                (0, u64::MAX),
                2400,
                &[
                    (0, false),
                    (200, false),
                    (1200, false),
                    (1400, false),
                    (2400, false),
                ],
            ),
            (
                "death while up: retry + 1 failures, as TCP_CHECK",
                true,
                timing(1000, 200, 2),
                0,
                (1500, u64::MAX),
                3400,
                &[
                    (0, true),
                    (1000, true),
                    (2000, true),
                    (2200, true),
                    (2400, false),
                    (3400, false),
                ],
            ),
            (
                "a success mid-cycle ends the cycle: up, next at delay_loop",
                true,
                timing(1000, 200, 2),
                0,
                (900, 1300),
                3000,
                &[
                    (0, true),
                    (1000, true),
                    (1200, true),
                    (1400, true),
                    (2400, true),
                ],
            ),
            (
                "recovery while down: the first success of a cycle brings it up",
                true,
                timing(1000, 200, 1),
                0,
                (0, 1300),
                2500,
                &[
                    (0, true),
                    (200, false),
                    (1200, false),
                    (1400, true),
                    (2400, true),
                ],
            ),
            (
                "retry 0: one attempt per cycle",
                true,
                timing(1000, 200, 0),
                0,
                (500, u64::MAX),
                2000,
                &[(0, true), (1000, false), (2000, false)],
            ),
        ];
        for (name, initially_up, t, latency, dead, until, expected) in cases {
            let got = simulate_rule(
                RetryRule::PerCycle,
                initially_up,
                t,
                latency,
                |at| !(at >= dead.0 && at < dead.1),
                until,
            );
            let got: Vec<(u64, bool)> = got.iter().map(|p| (p.0, p.2)).collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn the_rule_follows_the_kind() {
        use crate::config::{SmtpCheck, TcpCheck};
        let common = CheckCommon::new("127.0.0.1".parse().unwrap(), 25);
        let smtp = Check::Smtp(Box::new(SmtpCheck {
            common: common.clone(),
            helo_name: "h".into(),
        }));
        assert_eq!(RetryRule::of(&smtp), RetryRule::PerCycle);
        let tcp = Check::Tcp(TcpCheck { common });
        assert_eq!(RetryRule::of(&tcp), RetryRule::Consecutive);
    }

    #[test]
    fn changed_is_set_only_on_transitions() {
        let t = timing(1000, 200, 1);
        let mut s = HealthState::new(true);
        assert!(!s.record(true, &t).changed);
        assert!(!s.record(false, &t).changed);
        let down = s.record(false, &t);
        assert!(down.changed && !down.up);
        assert!(!s.record(false, &t).changed);
        let up = s.record(true, &t);
        assert!(up.changed && up.up);
        assert_eq!(s.consecutive_failures(), 0);
    }

    #[test]
    fn failures_while_down_are_counted_but_do_not_retry() {
        let t = timing(1000, 200, 1);
        let mut s = HealthState::new(false);
        for n in 1..=3 {
            let step = s.record(false, &t);
            assert_eq!(step.next_in, t.delay_loop);
            assert_eq!(s.consecutive_failures(), n);
        }
    }
}
