//! How a receiving socket is read: woken by each datagram while they are
//! few, polled every [`POLL_EVERY`] while they are many.
//!
//! Woken by datagrams, the thread wakes about once a datagram at high
//! rates (it reads the first of a peer's batch before the rest arrive):
//! at 1,000 sessions, ~2,000 wake-ups a second for the receiving side
//! alone. Polled, it reads whatever arrived every 2 ms (500 wake-ups a
//! second at most, most of them shared with sending). A packet is then
//! read up to 2 ms after it arrived, but counted from when the kernel took
//! it in (`socket::arrival`): the detection time does not move.
//!
//! ```text
//!   events ── ≥ POLL_ABOVE datagrams in RATE_WINDOW ──▶ polled
//!   events ◀── < POLL_BELOW datagrams in RATE_WINDOW ── polled
//! ```

use std::time::{Duration, Instant};

/// How often a polled socket is read.
pub(super) const POLL_EVERY: Duration = Duration::from_millis(2);

/// The span over which the rate is counted.
const RATE_WINDOW: Duration = Duration::from_millis(100);

/// Datagrams in a `RATE_WINDOW` from which polling wakes less often than
/// datagrams would (2,000 a second: four times `POLL_EVERY`'s rate).
const POLL_ABOVE: u32 = 200;

/// Datagrams in a `RATE_WINDOW` under which datagrams wake the thread
/// again (the gap between the two keeps the mode from flapping).
const POLL_BELOW: u32 = 100;

/// One receiving socket's pace.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    polled: bool,
    /// Datagrams read since `since`.
    count: u32,
    since: Instant,
    /// When a polled socket is read next.
    next: Instant,
    /// When the latest read began.
    began: Instant,
}

impl Pace {
    /// A socket woken by its datagrams.
    pub(super) fn new(now: Instant) -> Pace {
        Pace {
            polled: false,
            count: 0,
            since: now,
            next: now,
            began: now,
        }
    }

    /// A read begins at `now`; when the one before it began (no datagram
    /// read now arrived earlier: that read emptied the socket).
    pub(super) fn begin(&mut self, now: Instant) -> Instant {
        std::mem::replace(&mut self.began, now)
    }

    /// Whether the socket is polled (not watched by epoll).
    pub(super) fn polled(&self) -> bool {
        self.polled
    }

    /// When the socket must be read next (`None`: when epoll says so).
    pub(super) fn next_read(&self) -> Option<Instant> {
        self.polled.then_some(self.next)
    }

    /// `n` datagrams were read at `now`. Returns the new mode when it
    /// changes (`Some(true)`: polled from now on; `Some(false)`: woken by
    /// datagrams again).
    pub(super) fn read(&mut self, n: usize, now: Instant) -> Option<bool> {
        self.count = self.count.saturating_add(n as u32);
        self.next = now + POLL_EVERY;
        if now < self.since + RATE_WINDOW {
            return None;
        }
        let switch = match self.polled {
            false => self.count >= POLL_ABOVE,
            true => self.count < POLL_BELOW,
        };
        self.count = 0;
        self.since = now;
        if switch {
            self.polled = !self.polled;
            return Some(self.polled);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `per_ms` datagrams a millisecond for `ms` milliseconds.
    fn feed(p: &mut Pace, now: &mut Instant, per_ms: usize, ms: u32) -> Vec<bool> {
        let mut switches = Vec::new();
        for _ in 0..ms {
            *now += Duration::from_millis(1);
            switches.extend(p.read(per_ms, *now));
        }
        switches
    }

    #[test]
    fn many_datagrams_are_polled_and_few_wake_the_thread_again() {
        let mut now = Instant::now();
        let mut p = Pace::new(now);
        // 1 a millisecond (1,000/s): stays event-driven.
        assert!(feed(&mut p, &mut now, 1, 500).is_empty());
        assert!(!p.polled());
        assert_eq!(p.next_read(), None);
        // 20 a millisecond (20,000/s, 1,000 sessions at 50 ms): polled.
        assert_eq!(feed(&mut p, &mut now, 20, 250), vec![true]);
        assert_eq!(p.next_read(), Some(now + POLL_EVERY));
        // 1.5 a millisecond: between the thresholds, no flapping.
        let mut between = Vec::new();
        for i in 0..500 {
            between.extend(feed(&mut p, &mut now, 1 + i % 2, 1));
        }
        assert!(between.is_empty() && p.polled());
        // The peers stopped: woken by datagrams again.
        assert_eq!(feed(&mut p, &mut now, 0, 250), vec![false]);
        assert_eq!(p.next_read(), None);
    }
}
