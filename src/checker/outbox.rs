//! The prober's verdicts on their way to the daemon: sent in batches, so a
//! busy prober wakes the daemon's thread some twenty times a second, not
//! once per verdict.
//!
//! A batch goes at once when one of its verdicts changes a health state,
//! else when [`FLUSH`] (50 ms) has passed since the oldest waiting one, or
//! [`FLUSH_SMALL`] (5 ms) for a batch of a few, or when many wait, or at
//! once when the prober has nothing to do before then (sending now costs
//! the same one wake-up, and the verdicts come on time). A busy prober
//! thus wakes the daemon rarely, and a quiet one sends its verdicts within
//! milliseconds. (A verdict that changes nothing only counts: the daemon
//! acts on changes. At 5 ms for every batch, the wake-ups, each a switch
//! to the daemon's thread and back, made lvsd's whole CPU per probe some
//! 13% dearer at 5,000 probes a second: `bench/floor.sh`.)
//!
//! The outbox only decides; the prober owns the timers, so
//! [`Outbox::flush`] answers when it wants to be asked again, and the
//! prober arms a `Timer::Flush` for then.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::HealthEvent;

/// How long a verdict that changed nothing may wait to be sent, in a
/// batch of at least [`SMALL_BATCH`].
const FLUSH: Duration = Duration::from_millis(50);
/// How long it may wait in a smaller batch: a prober doing fewer than
/// some 3,000 probes a second wakes the daemon as often as before, and its
/// verdicts come within a few milliseconds.
const FLUSH_SMALL: Duration = Duration::from_millis(5);
/// See [`FLUSH_SMALL`].
const SMALL_BATCH: usize = 16;
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
    /// Whether the prober has a `Timer::Flush` armed for us.
    armed: bool,
}

impl Outbox {
    pub(super) fn new(events: UnboundedSender<HealthEvent>) -> Self {
        Outbox {
            events,
            waiting: Vec::new(),
            since: None,
            urgent: false,
            armed: false,
        }
    }

    /// Adds a verdict; sent at the next [`Outbox::flush`] that decides so.
    pub(super) fn push(&mut self, event: HealthEvent) {
        self.urgent |= event.changed;
        self.since.get_or_insert_with(Instant::now);
        self.waiting.push(event);
    }

    /// Sends the waiting verdicts if one changed a state, if the oldest has
    /// waited long enough, if many wait, or if the prober's next timer
    /// (`next_timer`) is no sooner than they would be due anyway. Else
    /// returns when to be asked again, once: the prober arms a
    /// `Timer::Flush` for that instant and calls [`Outbox::fired`] when it
    /// comes up.
    pub(super) fn flush(&mut self, next_timer: Option<Instant>) -> Option<Instant> {
        let since = self.since?;
        let due = since
            + if self.waiting.len() < SMALL_BATCH {
                FLUSH_SMALL
            } else {
                FLUSH
            };
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
            None
        } else if !self.armed {
            self.armed = true;
            Some(due)
        } else {
            None
        }
    }

    /// The armed `Timer::Flush` came up (the prober then calls
    /// [`Outbox::flush`]: the batch may have grown past a small one's wait).
    pub(super) fn fired(&mut self) {
        self.armed = false;
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
    /// before its batch is due, and asks for one flush timer, once.
    #[test]
    fn a_plain_verdict_waits_while_the_prober_is_busy() {
        let (tx, mut rx) = unbounded_channel();
        let mut outbox = Outbox::new(tx);
        outbox.push(event(false));
        let soon = Some(Instant::now() + Duration::from_millis(1));
        let due = outbox.flush(soon).expect("a flush timer is asked for");
        assert!(due > Instant::now());
        assert_eq!(outbox.flush(soon), None, "one timer, not one per round");
        assert!(rx.try_recv().is_err(), "nothing sent yet");
        outbox.fired();
        // Nothing else to do before it is due: sent now.
        assert_eq!(outbox.flush(None), None);
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
        assert_eq!(outbox.flush(soon), None);
        assert_eq!(std::iter::from_fn(|| rx.try_recv().ok()).count(), 2);
        // Then nothing waits: nothing to arm.
        assert_eq!(outbox.flush(soon), None);
    }
}
