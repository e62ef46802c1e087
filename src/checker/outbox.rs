//! The prober's verdicts on their way to the daemon: sent in batches, so a
//! busy prober wakes the daemon's thread some twenty times a second, not
//! once per verdict.
//!
//! A batch goes at once when one of its verdicts changes a health state,
//! or when many wait. Else it waits [`FLUSH_SMALL`] (5 ms) from its oldest
//! verdict, and [`FLUSH`] (50 ms) from the last batch sent: a quiet
//! prober's verdicts come within milliseconds, a busy one wakes the daemon
//! at most twenty times a second. It goes sooner when the prober has
//! nothing to do before then (sending now costs the same one wake-up, and
//! the verdicts come on time). A verdict that changes nothing only counts
//! (the daemon acts on changes), so it may wait. Each wake-up of the daemon
//! is a switch to its thread and back: at 5 ms for every batch, they made
//! lvsd's whole CPU per probe some 13% dearer at 5,000 probes a second
//! (`bench/floor.sh`); at 5 ms for a batch of fewer than 16 (the rule
//! before), a prober doing 200 datagram probes a second woke the daemon
//! for nearly every verdict, a sixth of lvsd's CPU per probe in the guest
//! (`bench/udp_ping.sh`).
//!
//! The outbox needs no timer of its own: the prober asks [`Outbox::flush`]
//! at the end of every round, with its next timer. While that timer comes
//! before the batch is due, the prober wakes for it and asks again; once
//! it does not, the batch goes. So a batch never waits past its due time,
//! and sending it never costs the prober a wake-up.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::HealthEvent;

/// How long after the last batch the next one waits, unless it must go.
const FLUSH: Duration = Duration::from_millis(50);
/// How long a verdict that changed nothing waits at least, unless the
/// prober has nothing else to do.
const FLUSH_SMALL: Duration = Duration::from_millis(5);
/// How many verdicts may wait at most.
const FLUSH_COUNT: usize = 1024;

/// Verdicts not sent yet.
#[derive(Debug)]
pub(super) struct Outbox {
    /// The daemon's end.
    events: UnboundedSender<HealthEvent>,
    waiting: Vec<HealthEvent>,
    /// Since when the oldest waits.
    since: Option<Instant>,
    /// Whether a waiting verdict changed a health state.
    urgent: bool,
    /// When the last batch was sent.
    sent: Option<Instant>,
}

impl Outbox {
    pub(super) fn new(events: UnboundedSender<HealthEvent>) -> Self {
        Outbox {
            events,
            waiting: Vec::new(),
            since: None,
            urgent: false,
            sent: None,
        }
    }

    /// Adds a verdict; sent at the next [`Outbox::flush`] that decides so.
    pub(super) fn push(&mut self, event: HealthEvent) {
        self.urgent |= event.changed;
        self.since.get_or_insert_with(Instant::now);
        self.waiting.push(event);
    }

    /// Sends the waiting verdicts if one changed a state, if they are due
    /// ([`FLUSH_SMALL`] after the oldest, [`FLUSH`] after the last batch),
    /// if many wait, or if the prober's next timer (`next_timer`) is no
    /// sooner than they would be due anyway (the prober calls this at the
    /// end of every round: see the module docs).
    pub(super) fn flush(&mut self, next_timer: Option<Instant>) {
        let Some(since) = self.since else {
            return;
        };
        let due = (since + FLUSH_SMALL).max(self.sent.map_or(since, |sent| sent + FLUSH));
        let idle_till_due = next_timer.is_none_or(|next| next >= due);
        if idle_till_due
            || self.urgent
            || self.waiting.len() >= FLUSH_COUNT
            || due <= Instant::now()
        {
            for event in self.waiting.drain(..) {
                // The receiver is gone only while lvsd shuts down.
                let _ = self.events.send(event);
            }
            self.since = None;
            self.urgent = false;
            self.sent = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{ProbeKey, ProbeResult, ProbeSpec};
    use crate::config::{Check, CheckCommon, TcpCheck};
    use std::sync::Arc;
    use tokio::sync::mpsc::unbounded_channel;

    fn event(changed: bool) -> HealthEvent {
        let common = CheckCommon::new("127.0.0.1".parse().unwrap(), 9);
        HealthEvent {
            probe: Arc::new(ProbeSpec::new(&Check::Tcp(TcpCheck { common }))),
            key: ProbeKey {
                set: 1,
                key: ProbeKey::NONE,
            },
            up: true,
            changed,
            result: ProbeResult {
                ok: true,
                reason: "connected".into(),
                latency: Duration::ZERO,
                weight: None,
            },
        }
    }

    /// A verdict that changes nothing waits while the prober has work
    /// before its batch is due, and goes once it has none.
    #[test]
    fn a_plain_verdict_waits_while_the_prober_is_busy() {
        let (tx, mut rx) = unbounded_channel();
        let mut outbox = Outbox::new(tx);
        outbox.push(event(false));
        outbox.push(event(false));
        let soon = Some(Instant::now() + Duration::from_millis(1));
        outbox.flush(soon);
        assert!(rx.try_recv().is_err(), "nothing sent yet");
        // The prober's next timer comes after the batch is due: sent now.
        outbox.flush(Some(Instant::now() + FLUSH_SMALL * 2));
        assert_eq!(std::iter::from_fn(|| rx.try_recv().ok()).count(), 2);
    }

    /// A first batch goes [`FLUSH_SMALL`] after its oldest verdict, the
    /// next one no sooner than [`FLUSH`] after the first, however busy the
    /// prober is: a busy prober wakes the daemon twenty times a second.
    #[test]
    fn batches_go_when_due_and_no_oftener_than_the_flush_interval() {
        let (tx, mut rx) = unbounded_channel();
        let mut outbox = Outbox::new(tx);
        let busy = || Some(Instant::now() + Duration::from_millis(1));
        outbox.push(event(false));
        std::thread::sleep(FLUSH_SMALL);
        outbox.flush(busy());
        assert!(rx.try_recv().is_ok(), "a quiet start's verdict goes soon");
        let first = Instant::now();
        outbox.push(event(false));
        std::thread::sleep(FLUSH_SMALL * 2);
        outbox.flush(busy());
        if first.elapsed() < FLUSH {
            assert!(rx.try_recv().is_err(), "waits for the flush interval");
        }
        std::thread::sleep(FLUSH.saturating_sub(first.elapsed()));
        outbox.flush(busy());
        assert!(rx.try_recv().is_ok());
    }

    /// A verdict that changes a health state goes at once, and takes the
    /// waiting ones with it.
    #[test]
    fn a_change_goes_at_once() {
        let (tx, mut rx) = unbounded_channel();
        let mut outbox = Outbox::new(tx);
        let soon = Some(Instant::now() + Duration::from_millis(1));
        outbox.push(event(false));
        outbox.push(event(true));
        outbox.flush(soon);
        assert_eq!(std::iter::from_fn(|| rx.try_recv().ok()).count(), 2);
    }
}
