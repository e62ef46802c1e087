//! One BFD session's state machine (RFC 5880 §6), as pure code: it is told
//! the time, given the packets its socket received, and asked for the
//! packets to send. No socket, no clock, no allocation: the tests drive it
//! on a fake clock.
//!
//! ```text
//!             rx Down                rx Init|Up
//!   Down ───────────────▶ Init ───────────────────▶ Up
//!    │ ▲  rx Init ─────────────────────────────────▲ │
//!    │ └────── detection time expired (diag 1), ─────┘
//!    │         rx Down or rx AdminDown (diag 3)
//!   AdminDown: only by lvsd itself (never entered on receipt)
//! ```
//!
//! Timing, as §6.8.2–§6.8.7 ask:
//! - while not Up, Desired Min TX is at least 1 s (`idle_tx`); at Up it
//!   becomes `min_tx`, announced with a Poll Sequence. A change the peer
//!   asks for with a Poll is answered at once with Final;
//! - the transmit interval is max(our Desired Min TX, the peer's Required
//!   Min RX), each gap jittered to 75–100 % of it (75–90 % when our Detect
//!   Mult is 1); a passive session sends nothing until it has heard the peer;
//! - the detection time is the peer's Detect Mult × max(our Required Min
//!   RX, the peer's Desired Min TX), restarted by every accepted packet.
//!   While our own Desired Min TX grows through a Poll, the old (faster)
//!   interval is used until the Final.

use std::time::{Duration, Instant};

use super::packet::{micros, Control, Diag, State};

/// One session's configured timing (from its `bfd_instance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Desired Min TX Interval while Up (`min_tx`).
    pub min_tx: Duration,
    /// Desired Min TX Interval while not Up (`idle_tx`, at least 1 s).
    pub idle_tx: Duration,
    /// Required Min RX Interval (`min_rx`).
    pub min_rx: Duration,
    /// Detect Mult (`multiplier`).
    pub detect_mult: u8,
    /// Wait for the peer before sending (`passive`).
    pub passive: bool,
}

/// The slowest rate of §6.8.3: at least one second while not Up.
const SLOW: Duration = Duration::from_secs(1);

/// A state change, as the session reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The state before.
    pub from: State,
    /// The state now.
    pub to: State,
    /// Why (the diagnostic the session now sends).
    pub diag: Diag,
}

/// What became of one received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Accepted; the state may have changed.
    Accepted(Option<Change>),
    /// Dropped: the session is AdminDown (§6.8.6).
    Ignored,
}

/// One BFD session.
#[derive(Debug, Clone)]
pub struct Session {
    timing: Timing,
    /// bfd.SessionState.
    state: State,
    /// bfd.RemoteSessionState.
    remote_state: State,
    /// bfd.LocalDiscr (never 0).
    local_disc: u32,
    /// bfd.RemoteDiscr (0 until heard, and again after detection expires).
    remote_disc: u32,
    /// bfd.LocalDiag.
    diag: Diag,
    /// bfd.RemoteMinRxInterval (µs; 1 until heard, as §6.8.1 asks).
    remote_min_rx: u32,
    /// The peer's last Desired Min TX Interval (µs).
    remote_desired_tx: u32,
    /// The peer's Detect Mult.
    remote_detect_mult: u8,
    /// bfd.RemoteDemandMode.
    remote_demand: bool,
    /// Desired Min TX we announce now.
    desired_tx: Duration,
    /// The interval our transmit timer uses (may lag `desired_tx` while a
    /// Poll for a slower rate is outstanding).
    tx_basis: Duration,
    /// A Poll Sequence is outstanding: every packet carries P until a Final.
    polling: bool,
    /// A Final is owed for a received Poll: sent at once.
    owe_final: bool,
    /// When the last packet went.
    last_tx: Option<Instant>,
    /// When the last periodic packet went (a Final goes between them).
    last_periodic: Option<Instant>,
    /// When the next periodic packet goes.
    next_tx: Option<Instant>,
    /// When the peer is declared gone (Init or Up only).
    detect_at: Option<Instant>,
    /// When the last packet was accepted.
    last_rx: Instant,
}

impl Session {
    /// A session in Down with `local_disc` (non-zero), which sends its
    /// first packet at once unless it is passive.
    pub fn new(timing: Timing, local_disc: u32, now: Instant) -> Session {
        let idle = timing.idle_tx.max(SLOW);
        Session {
            timing,
            state: State::Down,
            remote_state: State::Down,
            local_disc: local_disc.max(1),
            remote_disc: 0,
            diag: Diag::None,
            remote_min_rx: 1,
            remote_desired_tx: 0,
            remote_detect_mult: 0,
            remote_demand: false,
            desired_tx: idle,
            tx_basis: idle,
            polling: false,
            owe_final: false,
            last_tx: None,
            last_periodic: None,
            next_tx: (!timing.passive).then_some(now),
            detect_at: None,
            last_rx: now,
        }
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// The peer's last state.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// bfd.LocalDiag: why the session last went down.
    pub fn diag(&self) -> Diag {
        self.diag
    }

    /// bfd.LocalDiscr.
    pub fn local_disc(&self) -> u32 {
        self.local_disc
    }

    /// bfd.RemoteDiscr.
    pub fn remote_disc(&self) -> u32 {
        self.remote_disc
    }

    /// When the last packet was accepted (its arrival).
    pub fn last_rx(&self) -> Instant {
        self.last_rx
    }

    /// The peer's timing as last heard: its Detect Mult and Desired Min TX
    /// (what the detection time is made of; a Down names them).
    pub fn remote_timing(&self) -> (u8, Duration) {
        (
            self.remote_detect_mult,
            Duration::from_micros(u64::from(self.remote_desired_tx)),
        )
    }

    /// When the next periodic packet is due (`None`: none scheduled).
    pub fn next_tx(&self) -> Option<Instant> {
        self.next_tx
    }

    /// Whether a Poll Sequence is outstanding.
    pub fn polling(&self) -> bool {
        self.polling
    }

    /// The Desired Min TX Interval announced now.
    pub fn desired_tx(&self) -> Duration {
        self.desired_tx
    }

    /// The detection time now (`None` until the peer was heard).
    pub fn detection_time(&self) -> Option<Duration> {
        if self.remote_detect_mult == 0 {
            return None;
        }
        let rx = micros(self.timing.min_rx).max(self.remote_desired_tx);
        Some(Duration::from_micros(u64::from(rx)) * u32::from(self.remote_detect_mult))
    }

    /// The transmit interval before jitter: max(our Desired Min TX, the
    /// peer's Required Min RX); `None` when the peer asks for nothing
    /// (Required Min RX 0) or in Demand mode.
    pub fn tx_interval(&self) -> Option<Duration> {
        if self.remote_min_rx == 0 {
            return None;
        }
        if self.remote_demand && self.state == State::Up && self.remote_state == State::Up {
            return None;
        }
        Some(
            self.tx_basis
                .max(Duration::from_micros(u64::from(self.remote_min_rx))),
        )
    }

    /// The earliest instant the session needs to be called back
    /// ([`Session::on_timer`], [`Session::transmit`]).
    pub fn deadline(&self) -> Option<Instant> {
        self.wake_at(Duration::ZERO)
    }

    /// When a caller that batches transmissions ([`Session::transmit_early`])
    /// should call back: `lead` before the next packet is due (so that a
    /// late wake-up does not make it late), but not before the packet may
    /// go; detection and an owed Final exactly when due.
    pub fn wake_at(&self, lead: Duration) -> Option<Instant> {
        if self.owe_final {
            // At once: the Poll's receipt time has passed already.
            return Some(self.last_rx);
        }
        // Never more than the window of `transmit_early`: woken, it sends.
        let lead = self
            .tx_interval()
            .map_or(Duration::ZERO, |i| lead.min(i / 10));
        let tx = self.next_tx.map(|due| {
            let early = due.checked_sub(lead).unwrap_or(due);
            early.max(self.earliest_tx().unwrap_or(early)).min(due)
        });
        match (tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest instant the next periodic packet may go: 75 % of the
    /// transmit interval after the last one (§6.8.7), whatever the jitter
    /// drew (`None`: no packet sent yet, any time).
    fn earliest_tx(&self) -> Option<Instant> {
        Some(self.last_periodic? + three_quarters(self.tx_interval()?))
    }

    /// Takes a packet the socket accepted for this session.
    pub fn receive(&mut self, p: &Control, now: Instant) -> Received {
        if self.state == State::AdminDown {
            return Received::Ignored;
        }
        let interval_before = self.tx_interval();
        self.last_rx = now;
        self.remote_disc = p.my_disc;
        self.remote_state = p.state;
        self.remote_demand = p.demand;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_tx = p.desired_min_tx;
        self.remote_detect_mult = p.detect_mult;
        if p.fin && self.polling {
            // The Poll is answered: the announced rate is now the one we use.
            self.polling = false;
            self.tx_basis = self.desired_tx;
        }
        if p.poll {
            self.owe_final = true;
        }
        let before = self.state;
        match (self.state, p.state) {
            (State::Down, State::AdminDown) => {}
            (_, State::AdminDown) => self.down(Diag::NeighborDown),
            (State::Down, State::Down) => self.state = State::Init,
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => self.up(),
            (State::Up, State::Down) => self.down(Diag::NeighborDown),
            _ => {}
        }
        // Every accepted packet restarts detection while Init or Up.
        self.detect_at = match self.state {
            State::Init | State::Up => self.detection_time().map(|d| now + d),
            _ => None,
        };
        if self.next_tx.is_none() {
            // A passive session speaks once it has heard the peer; a
            // session whose peer asked for nothing resumes when it asks.
            self.schedule(now, None);
        } else if let (Some(last), Some(interval)) = (self.last_tx, self.tx_interval()) {
            // Faster from now on (we went Up, or the peer asks for more):
            // the next packet goes no later than the new interval after
            // the last one.
            if interval_before.is_none_or(|i| interval < i) {
                let sooner = (last + three_quarters(interval)).max(now);
                self.next_tx = self.next_tx.map(|at| at.min(sooner));
            }
        }
        let change = (before != self.state).then_some(Change {
            from: before,
            to: self.state,
            diag: self.diag,
        });
        Received::Accepted(change)
    }

    /// Detection: the peer went silent for a detection time. Returns the
    /// change to Down, if that is what happened.
    pub fn on_timer(&mut self, now: Instant) -> Option<Change> {
        match self.detect_at {
            Some(at) if at <= now && matches!(self.state, State::Init | State::Up) => {
                let from = self.state;
                self.down(Diag::DetectionExpired);
                // §6.8.1: RemoteDiscr is zeroed when the detection time expires.
                self.remote_disc = 0;
                self.remote_state = State::Down;
                self.remote_detect_mult = 0;
                self.remote_min_rx = 1;
                Some(Change {
                    from,
                    to: State::Down,
                    diag: self.diag,
                })
            }
            _ => None,
        }
    }

    /// The packet to send now, if one is due (a periodic one, or the Final
    /// a Poll asked for), with the next transmission scheduled. `jitter`
    /// gives a number in 0..1 for the §6.8.7 jitter.
    pub fn transmit(&mut self, now: Instant, jitter: impl FnOnce() -> f64) -> Option<Control> {
        self.transmit_early(now, Duration::ZERO, jitter)
    }

    /// As [`Session::transmit`], but a periodic packet due within `window`
    /// (at most a tenth of the transmit interval) goes now if it may: 75 %
    /// of the interval after the last one has passed. Packets of many
    /// sessions then leave in one batch, at one wake-up. A gap is never
    /// longer than the jittered one, nor shorter than 75 % of the interval,
    /// so §6.8.7 holds; the average gap shrinks by half the window at most.
    pub fn transmit_early(
        &mut self,
        now: Instant,
        window: Duration,
        jitter: impl FnOnce() -> f64,
    ) -> Option<Control> {
        let window = self
            .tx_interval()
            .map_or(Duration::ZERO, |i| window.min(i / 10));
        // Due: it goes. Early: only within the window, and only once 75 %
        // of the interval has passed.
        let periodic = self.next_tx.is_some_and(|at| {
            at <= now || (at <= now + window && self.earliest_tx().is_none_or(|first| first <= now))
        });
        if !periodic && !self.owe_final {
            return None;
        }
        if self.timing.passive && self.remote_disc == 0 {
            // §6.8.7: a passive system is silent until it knows the peer.
            self.next_tx = None;
            self.owe_final = false;
            return None;
        }
        let fin = std::mem::take(&mut self.owe_final);
        self.last_tx = Some(now);
        if periodic || self.next_tx.is_none() {
            self.last_periodic = Some(now);
            self.schedule(now, Some(jitter()));
        }
        Some(Control {
            diag: self.diag,
            state: self.state,
            // P and F are never set together: a Final goes without the Poll.
            poll: self.polling && !fin,
            fin,
            cpi: false,
            demand: false,
            detect_mult: self.timing.detect_mult,
            my_disc: self.local_disc,
            your_disc: self.remote_disc,
            desired_min_tx: micros(self.desired_tx),
            required_min_rx: micros(self.timing.min_rx),
            required_min_echo_rx: 0,
        })
    }

    /// Takes the session to AdminDown (lvsd stops it): it keeps sending
    /// AdminDown, with diag 7, at its current rate.
    pub fn admin_down(&mut self, now: Instant) {
        self.state = State::AdminDown;
        self.diag = Diag::AdminDown;
        self.detect_at = None;
        self.next_tx = Some(now);
        // The news goes at once, whatever the last packet's time.
        self.last_periodic = None;
    }

    /// Schedules the next periodic packet: the interval, jittered by
    /// `jitter` (0..1; none given: the whole interval).
    fn schedule(&mut self, now: Instant, jitter: Option<f64>) {
        self.next_tx = self.tx_interval().map(|interval| {
            // 75–100 %, or 75–90 % with a Detect Mult of 1 (§6.8.7).
            let span = if self.timing.detect_mult == 1 {
                0.15
            } else {
                0.25
            };
            let fraction = match jitter {
                Some(j) => 0.75 + span * j.clamp(0.0, 1.0),
                None => 0.75,
            };
            now + interval.mul_f64(fraction)
        });
    }

    fn up(&mut self) {
        self.state = State::Up;
        self.diag = Diag::None;
        self.change_desired_tx(self.timing.min_tx);
    }

    fn down(&mut self, diag: Diag) {
        self.state = State::Down;
        self.diag = diag;
        self.detect_at = None;
        // Not Up: back to the slow rate at once (no Poll outside Up).
        let idle = self.timing.idle_tx.max(SLOW);
        self.desired_tx = idle;
        self.tx_basis = idle;
        self.polling = false;
    }

    /// A new Desired Min TX while Up: announced with a Poll; a faster rate
    /// is used at once, a slower one only after the Final (§6.8.3).
    fn change_desired_tx(&mut self, to: Duration) {
        if to == self.desired_tx {
            return;
        }
        self.desired_tx = to;
        self.polling = true;
        if to < self.tx_basis {
            self.tx_basis = to;
        }
    }

    /// Changes the Up rate (`min_tx`) of a running session, with a Poll
    /// Sequence if it is Up.
    pub fn set_min_tx(&mut self, to: Duration) {
        self.timing.min_tx = to;
        if self.state == State::Up {
            self.change_desired_tx(to);
        }
    }
}

/// 75 % of `d`, the shortest gap §6.8.7 allows, in integer arithmetic:
/// it is reckoned at every wake-up of every session (`mul_f64` went
/// through `from_secs_f64`, ~1 % of the BFD thread at 1,000 sessions).
fn three_quarters(d: Duration) -> Duration {
    d - d / 4
}

#[cfg(test)]
mod tests;
