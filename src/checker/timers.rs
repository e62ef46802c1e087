//! The prober's timers: when each probe is next due, when each attempt runs
//! out of time, and the prober's own chore (the sweep of closing sockets).
//!
//! Two structures, because deadlines come in two kinds of order:
//!
//! - **Sorted queues**, one per interval, for what is due a fixed time
//!   after now. An attempt runs out of time its probe's `connect_timeout`
//!   after it started; a probe is next due its interval after its verdict
//!   (give or take the few milliseconds [`next_due`] absorbs). For one
//!   interval those moments nearly only grow, so a new entry goes at the
//!   back of its queue, or a few places before it: no sifting through a
//!   heap of 20,000 probes (its levels beyond the cache were the prober's
//!   dearest loads) or of the 25,000 attempt deadlines that wait there to
//!   be dropped (5,000 attempts a second, 5 s each, nearly all over long
//!   before). A config has a handful of distinct intervals; past
//!   [`MAX_QUEUES`] of them, or an entry that would go far from the back,
//!   the heap takes it.
//! - **A binary heap** for the rest: a probe's first start (spread at
//!   random over its warmup), the prober's sweep, and what the queues
//!   leave.
//!
//! Entries are never removed: an entry whose probe or connection has moved
//! on (its generation or serial changed) is skipped when it comes up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// What one of the prober's alarms is for (named apart from
/// [`crate::config::Timer`], a timer setting of the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Alarm {
    /// Probe `id` (generation `gen`) is due.
    Probe { id: u32, gen: u32 },
    /// Connection `idx` (serial `serial`) ran out of time.
    Conn { idx: u32, serial: u32 },
    /// Read the closing sockets.
    Sweep,
}

/// How many probes a round of the prober starts at most (see
/// [`Timers::pop_due`]); as many as the socket events it handles.
pub(super) const START_BATCH: usize = 64;

/// Distinct intervals that get a queue of their own (each for attempts
/// and for probes).
const MAX_QUEUES: usize = 32;

/// How far from the back of its queue an entry may go; farther, it goes to
/// the heap.
const MAX_SCAN: usize = 64;

/// Every timer of the prober.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Alarm)>>,
    /// Sorted FIFOs, by interval and kind.
    queues: Vec<Queue>,
}

/// The timers of one interval and kind, in due order.
#[derive(Debug)]
struct Queue {
    interval: Duration,
    /// Probes (else attempt deadlines).
    probes: bool,
    entries: VecDeque<(Instant, Alarm)>,
}

impl Timers {
    /// `timer` fires at `at` (in the heap).
    pub(super) fn push(&mut self, at: Instant, timer: Alarm) {
        self.heap.push(Reverse((at, timer)));
    }

    /// Connection `idx` (serial `serial`) runs out of time `limit` after
    /// `now`.
    pub(super) fn push_deadline(&mut self, now: Instant, limit: Duration, idx: u32, serial: u32) {
        self.push_sorted(limit, false, now + limit, Alarm::Conn { idx, serial });
    }

    /// Probe `id` (generation `gen`) is due at `at`, `interval` after its
    /// verdict (see [`next_due`]).
    pub(super) fn push_probe(&mut self, at: Instant, interval: Duration, id: u32, gen: u32) {
        self.push_sorted(interval, true, at, Alarm::Probe { id, gen });
    }

    /// Puts `timer` in the queue of `interval` and kind, in order, if it
    /// goes near the back; else in the heap.
    fn push_sorted(&mut self, interval: Duration, probes: bool, at: Instant, timer: Alarm) {
        let found = self
            .queues
            .iter()
            .position(|q| q.interval == interval && q.probes == probes);
        let index = match found {
            Some(i) => i,
            None if self.queues.len() < MAX_QUEUES => {
                self.queues.push(Queue {
                    interval,
                    probes,
                    entries: VecDeque::new(),
                });
                self.queues.len() - 1
            }
            None => return self.push(at, timer),
        };
        let entries = &mut self.queues[index].entries;
        // How many entries from the back are due later: nearly always none.
        let later = entries
            .iter()
            .rev()
            .take(MAX_SCAN)
            .take_while(|(due, _)| *due > at)
            .count();
        if later == MAX_SCAN {
            self.push(at, timer);
        } else {
            entries.insert(entries.len() - later, (at, timer));
        }
    }

    /// The earliest deadline, if any.
    pub(super) fn next(&self) -> Option<Instant> {
        let heap = self.heap.peek().map(|Reverse((at, _))| *at);
        self.queues
            .iter()
            .filter_map(|q| q.entries.front().map(|(at, _)| *at))
            .chain(heap)
            .min()
    }

    /// The earliest timer due at `now` or before (a probe: at most
    /// [`EARLY_START`] after `now`), taken out; a probe only while `starts`
    /// (what is left of this round's [`START_BATCH`]) is not spent, and it
    /// counts one off.
    ///
    /// Bounding the starts of a round is what keeps an overloaded prober
    /// fair and efficient: it alternates between at most a batch of
    /// verdicts (the events of one epoll_wait) and a batch of starts, so
    /// the attempts in flight stay few, none times out in the ready list
    /// for want of being read, and the probes wait their turn here, in due
    /// order: every probe's interval stretches by the same lag (see
    /// [`next_due`]), none starves.
    pub(super) fn pop_due(&mut self, now: Instant, starts: &mut usize) -> Option<(Instant, Alarm)> {
        let mut earliest = self.heap.peek().map(|Reverse(entry)| (*entry, None));
        for (i, queue) in self.queues.iter().enumerate() {
            if let Some(&(at, timer)) = queue.entries.front() {
                if earliest.is_none_or(|((e, _), _)| at < e) {
                    earliest = Some(((at, timer), Some(i)));
                }
            }
        }
        let ((at, timer), from) = earliest?;
        if let Alarm::Probe { .. } = timer {
            if *starts == 0 || at > now + EARLY_START {
                return None;
            }
            *starts -= 1;
        } else if at > now {
            return None;
        }
        match from {
            None => self.heap.pop().map(|Reverse(entry)| entry),
            Some(i) => self.queues[i].entries.pop_front(),
        }
    }
}

/// How long before its due time a probe may start, when the prober is
/// awake anyway for an earlier timer: probes due close together then share
/// one wake-up. At 200 probes a second spread over the second (their
/// warmup), a wake-up per probe start was half the prober's wake-ups, and
/// each is dear in the guest. The next due time is counted from the due
/// time, not the early start (see [`next_due`]), so the schedule keeps its
/// interval on average; a start is at most this early, as it may be up to
/// a millisecond late (epoll_wait counts in milliseconds).
pub(super) const EARLY_START: Duration = Duration::from_millis(5);

/// How much lateness of a probe's start is not carried into the next due
/// time (see [`next_due`]).
const ABSORBED_LATENESS: Duration = Duration::from_millis(10);

/// When the next probe is due: `next_in` after the verdict, like keepalived.
///
/// The verdict is taken as "when the probe was due + how long it took", so
/// that the timer's lateness (epoll_wait counts in milliseconds) does not
/// add up over a retry sequence. Lateness beyond [`ABSORBED_LATENESS`] (an
/// overloaded prober) is carried: probes then drift, as keepalived's do,
/// rather than bunching up to catch up.
pub(super) fn next_due(
    due: Instant,
    latency: Duration,
    next_in: Duration,
    now: Instant,
) -> Instant {
    let ideal = due + latency + next_in;
    let floor = (now + next_in)
        .checked_sub(ABSORBED_LATENESS)
        .unwrap_or(now);
    ideal.max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_due_absorbs_small_lateness_only() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Started 1 ms late, took 2 ms: next is 1 s after the ideal verdict.
        let due = next_due(t0, ms(2), ms(1000), t0 + ms(3));
        assert_eq!(due, t0 + ms(1002));
        // Started 500 ms late: the schedule drifts instead of catching up.
        let due = next_due(t0, ms(2), ms(1000), t0 + ms(502));
        assert_eq!(due, t0 + ms(1492));
    }

    /// A probe due within [`EARLY_START`] starts with what is due now
    /// (one wake-up for both); a later one, and any other timer not yet
    /// due, waits.
    #[test]
    fn probes_due_soon_start_early_other_timers_never() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        timers.push_probe(t0, ms(1000), 1, 1);
        timers.push_probe(t0 + EARLY_START - ms(1), ms(1000), 2, 1);
        timers.push_probe(t0 + EARLY_START + ms(1), ms(1000), 3, 1);
        let mut starts = START_BATCH;
        let popped: Vec<Alarm> = std::iter::from_fn(|| timers.pop_due(t0, &mut starts))
            .map(|(_, timer)| timer)
            .collect();
        assert_eq!(
            popped,
            [
                Alarm::Probe { id: 1, gen: 1 },
                Alarm::Probe { id: 2, gen: 1 }
            ]
        );
        let mut timers = Timers::default();
        timers.push(t0 + ms(1), Alarm::Sweep);
        timers.push_deadline(t0, ms(2), 7, 1);
        assert_eq!(timers.pop_due(t0, &mut starts), None);
    }

    #[test]
    fn heap_and_queues_come_out_in_deadline_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        timers.push(t0 + ms(30), Alarm::Probe { id: 1, gen: 1 });
        timers.push_deadline(t0, ms(20), 7, 1);
        timers.push_deadline(t0 + ms(5), ms(20), 8, 2);
        timers.push_deadline(t0, ms(40), 9, 3);
        timers.push(t0 + ms(10), Alarm::Sweep);
        // Probes of one interval, one out of order: sorted in its queue.
        timers.push_probe(t0 + ms(35), ms(1000), 3, 1);
        timers.push_probe(t0 + ms(33), ms(1000), 4, 1);
        timers.push_probe(t0 + ms(36), ms(1000), 5, 1);
        // More timeouts than queues: the rest go to the heap.
        for i in 0..MAX_QUEUES as u64 {
            timers.push_deadline(t0, ms(100 + i), 100 + i as u32, 0);
        }
        assert_eq!(timers.next(), Some(t0 + ms(10)));
        let mut batch = START_BATCH;
        let starts = &mut batch;
        assert_eq!(timers.pop_due(t0 + ms(9), starts), None);
        let order: Vec<(Instant, Alarm)> =
            std::iter::from_fn(|| timers.pop_due(t0 + ms(200), starts)).collect();
        let expected = [
            (ms(10), Alarm::Sweep),
            (ms(20), Alarm::Conn { idx: 7, serial: 1 }),
            (ms(25), Alarm::Conn { idx: 8, serial: 2 }),
            (ms(30), Alarm::Probe { id: 1, gen: 1 }),
            (ms(33), Alarm::Probe { id: 4, gen: 1 }),
            (ms(35), Alarm::Probe { id: 3, gen: 1 }),
            (ms(36), Alarm::Probe { id: 5, gen: 1 }),
            (ms(40), Alarm::Conn { idx: 9, serial: 3 }),
        ];
        for (i, (at, timer)) in expected.iter().enumerate() {
            assert_eq!(order[i], (t0 + *at, *timer));
        }
        assert_eq!(order.len(), expected.len() + MAX_QUEUES);
        assert!(order.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(timers.next(), None);
        assert_eq!(*starts, START_BATCH - 4);
        // Far out of order: the heap takes it, and the order holds.
        for id in 0..MAX_SCAN as u32 {
            timers.push_probe(t0 + ms(500 + u64::from(id)), ms(1000), id, 2);
        }
        timers.push_probe(t0 + ms(499), ms(1000), 99, 2);
        let firsts: Vec<Alarm> = std::iter::from_fn(|| timers.pop_due(t0 + ms(600), &mut 2))
            .map(|(_, timer)| timer)
            .take(2)
            .collect();
        assert_eq!(
            firsts,
            [
                Alarm::Probe { id: 99, gen: 2 },
                Alarm::Probe { id: 0, gen: 2 }
            ]
        );
        timers = Timers::default();
        // A spent batch holds probes back, and only them.
        timers.push(t0 + ms(1), Alarm::Probe { id: 2, gen: 1 });
        timers.push(t0 + ms(2), Alarm::Sweep);
        assert_eq!(timers.pop_due(t0 + ms(5), &mut 0), None);
        assert_eq!(timers.next(), Some(t0 + ms(1)));
        let mut one = 1;
        assert_eq!(
            timers.pop_due(t0 + ms(5), &mut one),
            Some((t0 + ms(1), Alarm::Probe { id: 2, gen: 1 }))
        );
        assert_eq!(
            timers.pop_due(t0 + ms(5), &mut one),
            Some((t0 + ms(2), Alarm::Sweep))
        );
    }

    /// An overloaded prober, simulated as `Driver::run` turns: each round
    /// reads at most a batch of verdicts (an epoll_wait's events), then
    /// starts what [`Timers::pop_due`] gives. 2,000 probes every second;
    /// a start costs 0.6 ms of the clock and a verdict 0.4 ms, so there is
    /// time for 1,000 probes a second; a handshake takes 0.1 ms, the
    /// connect_timeout is 2 s.
    #[test]
    fn overload_stretches_every_interval_alike() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        let (probes, interval) = (2000u32, Duration::from_secs(1));
        let (start_cost, verdict_cost, rtt, timeout) = (us(600), us(400), us(100), interval * 2);
        let mut timers = Timers::default();
        for id in 0..probes {
            timers.push(t0 + interval * id / probes, Alarm::Probe { id, gen: 1 });
        }
        // Attempts by idx (= probe id): (due, serial) while in flight.
        let mut attempts: Vec<Option<(Instant, u32)>> = vec![None; probes as usize];
        // Handshakes done, in the order their events queue up.
        let mut ready: VecDeque<(Instant, u32, u32)> = VecDeque::new();
        let mut starts: Vec<Vec<Instant>> = vec![Vec::new(); probes as usize];
        let (mut now, end) = (t0, t0 + Duration::from_secs(60));
        let (mut serial, mut timed_out, mut most_in_flight) = (0u32, 0, 0);
        while now < end {
            let mut busy = false;
            // The round's events.
            for _ in 0..START_BATCH {
                match ready.front() {
                    Some(&(at, idx, s)) if at <= now => {
                        ready.pop_front();
                        if let Some((due, live)) = attempts[idx as usize] {
                            if live == s {
                                attempts[idx as usize] = None;
                                now += verdict_cost;
                                let next = next_due(due, rtt, interval, now);
                                timers.push_probe(next, interval, idx, 1);
                                busy = true;
                            }
                        }
                    }
                    _ => break,
                }
            }
            // The round's timers.
            let mut batch = START_BATCH;
            while let Some((due, timer)) = timers.pop_due(now, &mut batch) {
                busy = true;
                match timer {
                    Alarm::Probe { id, .. } => {
                        starts[id as usize].push(now);
                        now += start_cost;
                        serial += 1;
                        attempts[id as usize] = Some((due, serial));
                        timers.push_deadline(now, timeout, id, serial);
                        ready.push_back((now + rtt, id, serial));
                    }
                    Alarm::Conn { idx, serial: s } => {
                        if let Some((due, live)) = attempts[idx as usize] {
                            if live == s {
                                // Its verdict waited unread past the timeout.
                                timed_out += 1;
                                attempts[idx as usize] = None;
                                let next = next_due(due, timeout, interval, now);
                                timers.push_probe(next, interval, idx, 1);
                            }
                        }
                    }
                    Alarm::Sweep => {}
                }
            }
            most_in_flight = most_in_flight.max(attempts.iter().flatten().count());
            if !busy {
                let event = ready.front().map(|(at, ..)| *at);
                now = [timers.next(), event]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap()
                    .max(now);
            }
        }
        // No verdict is lost to the backlog, few attempts are in flight,
        // and the prober stays busy: ~1,000 probes a second.
        assert_eq!(timed_out, 0);
        assert!(
            most_in_flight <= 2 * START_BATCH,
            "{most_in_flight} in flight"
        );
        let started: usize = starts.iter().map(Vec::len).sum();
        assert!(started >= 58_000, "{started} starts in 60 s");
        // Every probe's interval stretched alike: asked 1 s, room for half.
        let mut gaps: Vec<Duration> = starts
            .iter()
            .flat_map(|s| s.windows(2).map(|w| w[1] - w[0]))
            .collect();
        gaps.sort_unstable();
        let median = gaps[gaps.len() / 2];
        let longest = *gaps.last().unwrap();
        assert!(
            median >= Duration::from_millis(1900) && median <= Duration::from_millis(2100),
            "median interval {median:?}"
        );
        assert!(
            longest <= median * 11 / 10,
            "longest {longest:?}, median {median:?}"
        );
        let fewest = starts.iter().map(Vec::len).min().unwrap();
        let most = starts.iter().map(Vec::len).max().unwrap();
        assert!(
            most - fewest <= 1,
            "starts per probe from {fewest} to {most}"
        );
    }
}
