//! The BFD thread: the sessions `BFD_CHECK`s follow, on timers and sockets
//! of their own, and each probe's verdict: up exactly while its session
//! is Up.
//!
//! This file: the thread, its sessions' timers and verdicts.
//!
//! - `lifecycle`: sessions made, kept, stopped and restarted as the
//!   probes change.
//! - `wire`: the sockets: datagrams read, checked and handed to their
//!   session; packets queued and sent a batch at a time.
//! - `pace`: whether a receiving socket wakes the thread at each datagram
//!   or is read every 2 ms (many datagrams).
//! - `sched`: the thread's own scheduling (`bfd_priority`,
//!   `bfd_rt_priority`), and the scheduler's view of a late wake-up
//!   (`run_delay`: kept waiting for a CPU, or not runnable).
//!
//! ```text
//!   Engine::set_probes ──(BFD_CHECK probes)──▶ BFD thread
//!                                              │ one session per bfd_instance named
//!   UDP 3784 (v4, v6) ──▶ parse, TTL 255?, ────┤ (a changed min_tx: Poll/Final,
//!                         find the session     │  the session goes on)
//!   timer heap ──▶ detection, transmit ────────┴─▶ Up ⇄ not Up ─▶ HealthEvent
//!                                                  of every probe of the session
//! ```
//!
//! Why a thread of its own rather than the prober's: BFD timers are tens of
//! milliseconds and must not wait behind a batch of 10,000 TCP probes (nor
//! make them wait); the thread sleeps in `epoll_wait` until its earliest
//! deadline or a datagram, and works in microseconds when it wakes. A
//! session's timer is an entry in a binary heap (stale entries are skipped
//! when they come up); a wake-up serves every session due within
//! `BATCH_WINDOW` that may send (`Session::transmit_early`), so packets
//! leave in batches and the thread wakes far less often than once a packet;
//! a received datagram is read into one buffer and
//! parsed in place: no allocation per packet.
//!
//! A new session is given a start grace of its slow rate × multiplier
//! (what a peer needs to bring it up): its probes hear nothing before the
//! session is Up or the grace ends, so a start does not take every BFD real
//! server down for a moment. Sessions run only for the instances
//! `BFD_CHECK`s name.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{IpAddr, UdpSocket};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use std::os::fd::{AsFd, AsRawFd};

use mio::{Events, Interest, Poll, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::sync::mpsc::UnboundedSender;

use super::bfd_status::{BfdStatus, Drops, SessionStatus};
use super::driver::Shared;
use super::file_watch::{report_at_once, Watched};
use super::side_thread::SideThread;
use super::{HealthEvent, ProbeResult};
use crate::bfd::packet::State;
use crate::bfd::session::Session;
use crate::bfd::socket;
use crate::config::{BfdInstance, BfdScheduling};
use rustc_hash::FxHashMap;

mod lifecycle;
mod pace;
mod sched;
mod wire;

const RX4: Token = Token(0);
const RX6: Token = Token(1);
const WAKE: Token = Token(2);
const TIMER: Token = Token(3);

/// A packet due within this of a wake-up goes with it (at most a tenth of
/// its session's interval, and never before 75 % of it: `transmit_early`).
const BATCH_WINDOW: Duration = Duration::from_millis(4);

/// How long before a packet is due the thread wakes for it, so that the
/// kernel's wake-up delay does not make it late.
const WAKE_LEAD: Duration = Duration::from_micros(250);

/// How long a session that cannot open its sockets waits to try again.
const RETRY: Duration = Duration::from_secs(5);

/// What the engine tells the BFD thread.
enum Command {
    /// The `BFD_CHECK` probes now in the table, and how the thread is
    /// to be scheduled.
    Probes(Vec<Watched>, BfdScheduling),
    /// Send the sessions' states back (the state dump).
    Status(mpsc::Sender<BfdStatus>),
}

/// The engine's handle on the BFD thread. Dropping it stops the thread
/// (its sessions send nothing more; peers see them time out).
#[derive(Debug)]
pub(super) struct BfdRunner(SideThread<Command>);

impl BfdRunner {
    /// Starts the thread. Fails only if epoll cannot be had.
    pub(super) fn spawn(
        shared: Arc<Shared>,
        events: UnboundedSender<HealthEvent>,
    ) -> io::Result<BfdRunner> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        poll.registry().register(
            &mut mio::unix::SourceFd(&timer.as_fd().as_raw_fd()),
            TIMER,
            Interest::READABLE,
        )?;
        let thread = SideThread::spawn("lvsd-bfd", waker, move |commands| {
            Runner {
                poll,
                shared,
                events,
                commands,
                sessions: Vec::new(),
                free: Vec::new(),
                by_disc: FxHashMap::default(),
                by_neighbor: FxHashMap::default(),
                rx4: None,
                rx6: None,
                pace: [pace::Pace::new(Instant::now()); 2],
                tx4: None,
                tx6: None,
                out4: socket::SendBatch::default(),
                out6: socket::SendBatch::default(),
                heap: BinaryHeap::new(),
                timer,
                timer_at: None,
                due: Vec::new(),
                drops: Drops::default(),
                sched: sched::Sched::at_start(),
            }
            .run()
        })?;
        Ok(BfdRunner(thread))
    }

    /// The sessions' states (`None` if the thread does not answer within
    /// a second).
    pub(super) fn status(&self) -> Option<BfdStatus> {
        let (tx, rx) = mpsc::channel();
        if !self.0.send(Command::Status(tx)) {
            return None;
        }
        rx.recv_timeout(Duration::from_secs(1)).ok()
    }

    /// The `BFD_CHECK` probes are now `probes` (every one, not a change),
    /// and the thread is scheduled as `scheduling` says.
    pub(super) fn set(&self, probes: Vec<Watched>, scheduling: BfdScheduling) {
        self.0.send(Command::Probes(probes, scheduling));
    }
}

/// One session and the probes that follow it.
struct Entry {
    instance: BfdInstance,
    session: Session,
    /// Why it cannot run, if it cannot (its probes are then down): its
    /// family's sockets could not be opened.
    tx: Result<(), String>,
    probes: Vec<Watched>,
    /// Changes when the entry's slot is reused (stale heap entries).
    gen: u32,
    /// The verdict last given to the probes (`None`: within the start grace).
    reported: Option<bool>,
    /// When the start grace ends.
    grace_until: Instant,
    /// The deadline this session has on the heap (others of its entries
    /// there are stale, skipped when they come up).
    armed: Option<Instant>,
    /// Packets sent and accepted.
    sent: u64,
    received: u64,
}

struct Runner {
    poll: Poll,
    shared: Arc<Shared>,
    events: UnboundedSender<HealthEvent>,
    commands: mpsc::Receiver<Command>,
    sessions: Vec<Option<Entry>>,
    free: Vec<usize>,
    by_disc: FxHashMap<u32, usize>,
    by_neighbor: FxHashMap<IpAddr, usize>,
    rx4: Option<UdpSocket>,
    rx6: Option<UdpSocket>,
    /// How each receiving socket is read (v4, v6).
    pace: [pace::Pace; 2],
    /// The sending socket of each family, and the packets waiting on it.
    tx4: Option<UdpSocket>,
    tx6: Option<UdpSocket>,
    out4: socket::SendBatch,
    out6: socket::SendBatch,
    /// (deadline, slot, generation), earliest first.
    heap: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// The thread's alarm clock (epoll_wait counts in milliseconds; a
    /// timerfd in nanoseconds), and what it is set to.
    timer: TimerFd,
    timer_at: Option<Instant>,
    /// The sessions a wake-up serves (kept to allocate once).
    due: Vec<usize>,
    drops: Drops,
    /// The thread's scheduling (`bfd_priority`, `bfd_rt_priority`).
    sched: sched::Sched,
}

/// Milliseconds, for the log.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A wake-up, read or send this much later than due is logged (a warning:
/// at 50 ms intervals and 3 × 50 ms detection, this eats into the margin).
const LATE: Duration = Duration::from_millis(20);

/// The thread woke `late` after its alarm: a warning, with how long of
/// that it waited for a CPU (`queued`, from schedstat).
fn warn_late(late: Duration, queued: Option<sched::Queued>) {
    tracing::warn!(
        late_ms = ms(late),
        run_delay_ms = queued.map(|q| ms(q.run_delay)),
        over_ms = queued.map(|q| ms(q.over)),
        "BFD thread woke late: its timers and reads are late (run_delay_ms: how long of the \
         last over_ms it was runnable but not running; as much as late_ms or more: the CPU \
         was busy with others, bfd_rt_priority helps; near 0: it was not runnable: stopped, \
         blocked in the kernel, or the machine paused)"
    );
}

impl Runner {
    fn run(&mut self) {
        let mut events = Events::with_capacity(16);
        let mut batch = socket::Batch::default();
        let mut run_delay = sched::RunDelay::of_this_thread(Instant::now());
        loop {
            self.set_timer();
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "BFD thread: epoll_wait failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let now = Instant::now();
            match self
                .timer_at
                .and_then(|at| now.checked_duration_since(at))
                .filter(|late| *late > LATE)
            {
                Some(late) => warn_late(late, run_delay.late(now)),
                None => run_delay.on_time(now),
            }
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Probes(probes, scheduling)) => {
                        self.sched.apply(scheduling);
                        self.set(probes);
                    }
                    Ok(Command::Status(reply)) => {
                        let _ = reply.send(self.status());
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            for event in events.iter() {
                match event.token() {
                    RX4 => self.read(false, &mut batch),
                    RX6 => self.read(true, &mut batch),
                    _ => {}
                }
            }
            // A polled socket is read at every wake-up (every 2 ms at least).
            for v6 in [false, true] {
                if self.pace[usize::from(v6)].polled() {
                    self.read(v6, &mut batch);
                }
            }
            self.expire(Instant::now());
            // What this wake-up made goes out together.
            self.flush();
        }
    }

    /// Serves every session whose deadline falls within the batch window
    /// of `now`: those that may send now do (one batch), the others are
    /// armed again for later (after the heap is walked, so none comes up
    /// twice).
    fn expire(&mut self, now: Instant) {
        let horizon = now + BATCH_WINDOW.saturating_sub(WAKE_LEAD);
        let mut due = std::mem::take(&mut self.due);
        while let Some(&Reverse((at, slot, gen))) = self.heap.peek() {
            if at > horizon {
                break;
            }
            self.heap.pop();
            // Only the session's armed deadline counts; others are stale.
            if let Some(e) = self
                .entry(slot)
                .filter(|e| e.gen == gen && e.armed == Some(at))
            {
                e.armed = None;
                due.push(slot);
            }
        }
        for slot in due.drain(..) {
            self.service(slot, now);
        }
        self.due = due;
    }

    /// Sets the alarm to the earliest live deadline (stale ones on top are
    /// dropped first); unchanged, it is left alone.
    fn set_timer(&mut self) {
        let next = loop {
            let Some(&Reverse((at, slot, gen))) = self.heap.peek() else {
                break None;
            };
            let live = self
                .sessions
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|e| e.gen == gen && e.armed == Some(at));
            if live {
                break Some(at);
            }
            self.heap.pop();
        };
        let next = self
            .pace
            .iter()
            .filter_map(|p| p.next_read())
            .chain(next)
            .min();
        let now = Instant::now();
        if next == self.timer_at && next.is_none_or(|at| at > now) {
            return;
        }
        self.timer_at = next;
        let set = match next {
            // A zero time would disarm the timer: one nanosecond at least.
            Some(at) => self.timer.set(
                Expiration::OneShot(TimeSpec::from_duration(
                    at.saturating_duration_since(now)
                        .max(Duration::from_nanos(1)),
                )),
                TimerSetTimeFlags::empty(),
            ),
            None => self.timer.unset(),
        };
        if let Err(e) = set {
            tracing::error!(error = %e, "BFD thread: cannot set its timer");
        }
    }

    fn status(&self) -> BfdStatus {
        let sessions = self
            .sessions
            .iter()
            .flatten()
            .map(|e| SessionStatus {
                name: e.instance.name.clone(),
                neighbor: e.instance.neighbor,
                state: e.session.state(),
                remote_state: e.session.remote_state(),
                diag: e.session.diag(),
                local_disc: e.session.local_disc(),
                remote_disc: e.session.remote_disc(),
                detection_time: e.session.detection_time(),
                tx_interval: e.session.tx_interval(),
                sent: e.sent,
                received: e.received,
                fault: e.tx.as_ref().err().cloned(),
            })
            .collect();
        BfdStatus {
            sessions,
            drops: self.drops,
        }
    }

    fn entry(&mut self, slot: usize) -> Option<&mut Entry> {
        self.sessions.get_mut(slot).and_then(Option::as_mut)
    }

    /// Runs a session's timers: detection, transmission, its verdict, and
    /// its next deadline on the heap.
    fn service(&mut self, slot: usize, now: Instant) {
        let Some(entry) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if entry.tx.is_err() && !self.reopen(slot, now) {
            return;
        }
        let Some(mut entry) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        // What the detection time was made of (on_timer forgets the peer).
        let (heard, detection, (mult, remote_tx)) = (
            entry.session.last_rx(),
            entry.session.detection_time().unwrap_or_default(),
            entry.session.remote_timing(),
        );
        let expired = entry.session.on_timer(now).map(|_| {
            let silent = now.saturating_duration_since(heard);
            format!(
                "detection time expired: the peer's last packet arrived {:.1} ms ago \
                 (detection time {:.1} ms: its Detect Mult {mult} × max(its Desired Min TX \
                 {:.1} ms, our Required Min RX {:.1} ms)), noticed {:.2} ms after it expired; \
                 {} packets received",
                ms(silent),
                ms(detection),
                ms(remote_tx),
                ms(entry.instance.min_rx),
                ms(silent.saturating_sub(detection)),
                entry.received,
            )
        });
        if let Some(late) = entry
            .session
            .next_tx()
            .and_then(|due| now.checked_duration_since(due))
            .filter(|late| *late > LATE)
        {
            // Debug: when the thread itself woke late (a warning), every
            // session due meanwhile is late with it.
            tracing::debug!(bfd = %entry.instance.name, neighbor = %entry.instance.neighbor, late_ms = ms(late), "BFD packet sent late");
        }
        while let Some(p) = entry
            .session
            .transmit_early(now, BATCH_WINDOW, rand::random::<f64>)
        {
            tracing::trace!(bfd = %entry.instance.name, state = %p.state, poll = p.poll, fin = p.fin, tx = p.desired_min_tx, "BFD: sent");
            let (neighbor, source, ttl) = (
                entry.instance.neighbor,
                entry.instance.source,
                entry.instance.ttl,
            );
            entry.sent += 1;
            let again = entry.session.deadline().is_some_and(|d| d <= now);
            self.queue_to(neighbor, source, ttl, &p);
            if !again {
                break;
            }
            let Some(e) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            entry = e;
        }
        let Some(entry) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let up = entry.session.state() == State::Up;
        let verdict_due = match entry.reported {
            Some(was) => was != up,
            None => up || now >= entry.grace_until,
        };
        let mut deadline = entry.session.wake_at(WAKE_LEAD);
        if entry.reported.is_none() && !verdict_due {
            deadline = Some(deadline.map_or(entry.grace_until, |d| d.min(entry.grace_until)));
        }
        if deadline != entry.armed {
            entry.armed = deadline;
            if let Some(at) = deadline {
                self.heap.push(Reverse((at, slot, entry.gen)));
            }
        }
        if verdict_due {
            let probes = std::mem::take(&mut entry.probes);
            self.report(slot, &probes, expired.as_deref());
            if let Some(entry) = self.entry(slot) {
                entry.probes = probes;
            }
        }
    }

    /// Gives `probes` their session's verdict, with why it went down when
    /// the caller knows more than the session's state says (`cause`).
    fn report(&mut self, slot: usize, probes: &[Watched], cause: Option<&str>) {
        let Some(entry) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let result = match &entry.tx {
            Err(why) => ProbeResult {
                ok: false,
                reason: why.clone().into(),
                latency: Duration::ZERO,
                weight: None,
            },
            Ok(_) => {
                let s = &entry.session;
                let up = s.state() == State::Up;
                entry.reported = Some(up);
                let reason = match cause {
                    Some(cause) => format!(
                        "BFD session {} to {} is {}: {cause}",
                        entry.instance.name,
                        entry.instance.neighbor,
                        s.state()
                    ),
                    None => format!(
                        "BFD session {} to {} is {} (diag {:?}, peer {}, detection {:?})",
                        entry.instance.name,
                        entry.instance.neighbor,
                        s.state(),
                        s.diag(),
                        s.remote_state(),
                        s.detection_time().unwrap_or_default()
                    ),
                };
                ProbeResult {
                    ok: up,
                    reason: reason.into(),
                    latency: Duration::ZERO,
                    weight: None,
                }
            }
        };
        report_at_once(&self.shared, &self.events, probes, |_| Some(result.clone()));
    }
}
