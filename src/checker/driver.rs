//! The prober thread: every probe's timer and every probe socket in one
//! loop, around one epoll.
//!
//! ```text
//!   ┌──────────── loop ─────────────────────────────────────────────┐
//!   │ epoll_wait(until the earliest timer)                          │
//!   │ new probes (from set_probes)   ─▶ timers                      │
//!   │ socket events: handshake done  ─▶ verdict ─▶ close (FIN, wait)│
//!   │ results from tokio (HTTP, MISC) ─▶ verdict                    │
//!   │ timers due: probe              ─▶ start an attempt            │
//!   │             connect_timeout    ─▶ verdict "no answer"         │
//!   │             close sweep        ─▶ drain to EOF ─▶ close()     │
//!   │ verdicts of this round          ─▶ the events channel         │
//!   └───────────────────────────────────────────────────────────────┘
//! ```
//!
//! A `TCP_CHECK` attempt is a non-blocking socket registered here; nothing
//! else runs for it: no task, no future, no per-probe timer object. That is
//! what keeps a probe as cheap as a minimal epoll loop (`benches/checker`)
//! and a sleeping probe a few hundred bytes. `UDP_CHECK` and `PING_CHECK`
//! attempts are sockets here too, registered for reading (`datagram.rs`).
//! Other kinds are handed to the tokio runtime, and their results come back
//! through a channel.
//!
//! Timers are a binary heap of `(instant, what)` and a queue per
//! `connect_timeout` (`timers.rs`). Entries are never removed: an entry
//! whose probe or connection has moved on (its generation or serial
//! changed) is skipped when it comes up.
//!
//! ## Cheap in system calls and wake-ups
//!
//! A probe socket is registered once, `EPOLLONESHOT`: the handshake's end is
//! its only event. A successful probe's socket then waits for the backend's
//! FIN (see `tcp.rs`) without epoll: the closing sockets are swept every
//! `SWEEP`, each read until end of file or its budget runs out. A probe thus
//! costs one wake-up, like the minimal loop in `benches/checker`, not two.
//! Verdicts are sent in batches: at once when one changes a health state,
//! else when `FLUSH` (50 ms) has passed since the oldest waiting one, or
//! `FLUSH_SMALL` (5 ms) for a batch of a few, or when many wait, or at once
//! when the prober has nothing to do before then. A busy prober thus
//! wakes the daemon's thread some twenty times a second, not once per
//! verdict, and a quiet one sends its verdicts within milliseconds. (A
//! verdict that changes nothing only counts: the daemon acts on changes.
//! At 5 ms for every batch, the wake-ups, each a switch to the daemon's
//! thread and back, made lvsd's whole CPU per probe some 13% dearer at
//! 5,000 probes a second: `bench/floor.sh`.)

use std::os::fd::AsRawFd;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use rustc_hash::FxHashMap;
use socket2::Socket;
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedSender;

use super::datagram::{self, Datagram};
use super::lag::{LagHistogram, ScheduleNews, ScheduleWatch};
use super::probe_table::{ProbeTable, Slot};
use super::schedule::{RetryRule, Step, Timing};
use super::timers::{next_due, Timer, Timers, START_BATCH};
use super::{probe, tcp, HealthEvent, ProbeResult, ProbeSpec};
use crate::config::{Check, CloseMode};
use crate::script_policy::ScriptPolicy;

/// The token of the waker: set_probes, Drop and tokio's results use it.
pub(super) const WAKE: Token = Token(usize::MAX);

/// What the engine and the prober thread share.
#[derive(Debug)]
pub(super) struct Shared {
    /// The probes; the prober holds the lock while it works on a batch.
    pub table: Mutex<ProbeTable>,
    /// Wakes the prober from epoll_wait.
    pub waker: mio::Waker,
    /// How late probes start.
    pub lag: LagHistogram,
    /// Who runs `MISC_CHECK` commands (`script_user`,
    /// `enable_script_security`); each attempt reads it as it starts.
    pub script_policy: Mutex<ScriptPolicy>,
}

impl Shared {
    /// The script policy as it is now.
    pub fn script_policy(&self) -> ScriptPolicy {
        // A Copy value behind the lock: never half-written, even if poisoned.
        *self
            .script_policy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

pub(super) fn lock(table: &Mutex<ProbeTable>) -> MutexGuard<'_, ProbeTable> {
    // Nothing panics while holding the lock; if something did, the table is
    // still a consistent snapshot.
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How often closing sockets are read for the backend's FIN.
const SWEEP: Duration = Duration::from_millis(5);

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

/// The probe an attempt belongs to.
#[derive(Debug, Clone, Copy)]
struct Owner {
    id: u32,
    gen: u32,
    /// When the probe was due.
    due: Instant,
    /// When the attempt started.
    started: Instant,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Handshake under way, bounded by `limit` (connect_timeout).
    Connecting { limit: Duration, close: CloseMode },
    /// A `UDP_CHECK`, `PING_CHECK` or `DNS_CHECK` datagram is sent;
    /// waiting for what comes back, bounded by connect_timeout (see
    /// `datagram.rs`).
    Datagram(Datagram),
    /// A datagram probe's socket, kept between attempts after `Datagram`
    /// (its last attempt) passed; in `Driver::kept` under its probe.
    Kept(Datagram),
    /// Our FIN is sent; reading to the backend's FIN until `deadline`.
    Closing { deadline: Instant },
}

#[derive(Debug)]
struct Conn {
    socket: Socket,
    /// Changes with every phase, so an old timer is recognised.
    serial: u32,
    owner: Owner,
    phase: Phase,
}

/// A result computed on tokio.
#[derive(Debug)]
struct Done {
    owner: Owner,
    result: ProbeResult,
}

/// The prober thread's state.
pub(super) struct Driver {
    poll: Poll,
    shared: Arc<Shared>,
    events: UnboundedSender<HealthEvent>,
    runtime: Handle,
    timers: Timers,
    conns: Vec<Option<Conn>>,
    free_conns: Vec<u32>,
    serial: u32,
    /// Connections in [`Phase::Closing`], read at each sweep.
    closing: Vec<u32>,
    /// Whether a [`Timer::Sweep`] is in the heap.
    sweep_armed: bool,
    /// Verdicts not sent yet, and since when the oldest waits.
    outbox: Vec<HealthEvent>,
    outbox_since: Option<Instant>,
    /// Whether an outbox verdict changed a health state.
    outbox_urgent: bool,
    /// Whether a [`Timer::Flush`] is in the heap.
    flush_armed: bool,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    /// The kept datagram socket of a probe (by probe id): its connection.
    kept: FxHashMap<u32, u32>,
}

impl Driver {
    pub(super) fn new(
        poll: Poll,
        shared: Arc<Shared>,
        events: UnboundedSender<HealthEvent>,
        runtime: Handle,
    ) -> Driver {
        let (done_tx, done_rx) = mpsc::channel();
        Driver {
            poll,
            shared,
            events,
            runtime,
            timers: Timers::default(),
            conns: Vec::new(),
            free_conns: Vec::new(),
            serial: 0,
            closing: Vec::new(),
            sweep_armed: false,
            outbox: Vec::new(),
            outbox_since: None,
            outbox_urgent: false,
            flush_armed: false,
            done_tx,
            done_rx,
            kept: FxHashMap::default(),
        }
    }

    /// Runs until the engine is dropped.
    pub(super) fn run(mut self) {
        // A round handles at most this many socket events before it starts
        // the probes that are due, and starts at most `START_BATCH`: a
        // bounded round keeps the schedule's lag small under load (a
        // thousand handshakes would take ~10 ms), and fair under overload
        // (see `Timers::pop_due`).
        let mut events = Events::with_capacity(64);
        let shared = Arc::clone(&self.shared);
        let mut watch = ScheduleWatch::new(Instant::now());
        loop {
            let wake = self.timers.next();
            shared.lag.expect_wake(wake);
            let timeout = wake.map(|due| due.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "prober: epoll_wait failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let mut table = lock(&shared.table);
            if table.stop {
                self.close_all();
                return;
            }
            // Taken, not drained: the start's 20,000 entries leave no
            // capacity behind.
            for armed in std::mem::take(&mut table.armed) {
                let timer = Timer::Probe {
                    id: armed.id,
                    gen: armed.gen,
                };
                self.timers.push(armed.due, timer);
            }
            for event in events.iter() {
                if event.token() != WAKE {
                    self.on_io(&mut table, event);
                }
            }
            while let Ok(done) = self.done_rx.try_recv() {
                self.complete(&mut table, done.owner, done.result);
            }
            let now = Instant::now();
            let mut starts = START_BATCH;
            while let Some((due, timer)) = self.timers.pop_due(now, &mut starts) {
                self.on_timer(&mut table, due, timer);
            }
            drop(table);
            self.flush(false);
            log_schedule(watch.tick(now, &shared.lag));
        }
    }

    /// Sends the waiting verdicts if one changed a state, if the oldest has
    /// waited [`FLUSH`], if many wait, if the prober would sleep past then
    /// anyway (a quiet prober: sending now costs the same one wake-up, and
    /// the verdicts come on time), or if `now`; else makes sure a
    /// [`Timer::Flush`] will.
    fn flush(&mut self, now: bool) {
        let Some(since) = self.outbox_since else {
            return;
        };
        let due = since
            + if self.outbox.len() < SMALL_BATCH {
                FLUSH_SMALL
            } else {
                FLUSH
            };
        let idle_till_due = self.timers.next().is_none_or(|next| next >= due);
        if now
            || idle_till_due
            || self.outbox_urgent
            || self.outbox.len() >= FLUSH_COUNT
            || due <= Instant::now()
        {
            for event in self.outbox.drain(..) {
                // The receiver is gone only while lvsd shuts down.
                let _ = self.events.send(event);
            }
            self.outbox_since = None;
            self.outbox_urgent = false;
        } else if !self.flush_armed {
            self.flush_armed = true;
            self.timers.push(due, Timer::Flush);
        }
    }

    fn on_timer(&mut self, table: &mut ProbeTable, due: Instant, timer: Timer) {
        match timer {
            Timer::Probe { id, gen } => {
                let Some(slot) = table.get_mut(id, gen) else {
                    self.unkeep(id, gen);
                    return; // the probe was removed
                };
                let started = Instant::now();
                let lag = started.saturating_duration_since(due);
                self.shared.lag.record(lag);
                slot.lag_micros = lag.as_micros().min(u32::MAX.into()) as u32;
                let owner = Owner {
                    id,
                    gen,
                    due,
                    started,
                };
                let spec = Arc::clone(&slot.spec);
                let url = slot.urls.url();
                match &*spec.check {
                    Check::Tcp(_) => self.start_tcp(table, owner, &spec),
                    Check::Udp(_) | Check::Ping(_) | Check::Dns(_) => {
                        self.start_datagram(table, owner, &spec)
                    }
                    _ => self.dispatch(owner, spec, url),
                }
            }
            Timer::Conn { idx, serial } => {
                let Some(conn) = self.conn_if(idx, serial) else {
                    return;
                };
                match conn.phase {
                    Phase::Connecting { limit, .. } => {
                        let owner = conn.owner;
                        self.free_conn(idx);
                        let reason = format!("no answer within {}", probe::seconds(limit));
                        self.complete(table, owner, probe::result(false, reason, owner.started));
                    }
                    Phase::Datagram(waiting) => {
                        let owner = conn.owner;
                        let Some(slot) = table.get_mut(owner.id, owner.gen) else {
                            self.free_conn(idx);
                            return;
                        };
                        let (ok, reason) = datagram::on_timeout(waiting, &slot.spec.check);
                        self.end_datagram(idx, waiting, ok);
                        self.complete(table, owner, probe::result(ok, reason, owner.started));
                    }
                    // Closing and kept sockets have no timer of their own.
                    Phase::Closing { .. } | Phase::Kept(_) => {}
                }
            }
            Timer::Sweep => {
                self.sweep_armed = false;
                self.sweep();
            }
            Timer::Flush => {
                self.flush_armed = false;
                // The batch may have grown past a small one's wait since.
                self.flush(false);
            }
        }
    }

    /// Reads every closing socket: closed at end of file or past its budget.
    fn sweep(&mut self) {
        let now = Instant::now();
        let mut closing = std::mem::take(&mut self.closing);
        closing.retain(|&idx| {
            let Some(Some(conn)) = self.conns.get(idx as usize) else {
                return false;
            };
            let Phase::Closing { deadline } = conn.phase else {
                return false;
            };
            if tcp::drain(&conn.socket) || deadline <= now {
                self.free_conn(idx);
                false
            } else {
                true
            }
        });
        self.closing = closing;
        self.arm_sweep();
    }

    fn arm_sweep(&mut self) {
        if !self.sweep_armed && !self.closing.is_empty() {
            self.sweep_armed = true;
            let at = Instant::now() + SWEEP;
            self.timers.push(at, Timer::Sweep);
        }
    }

    /// Opens the socket and starts the handshake; the verdict comes from
    /// [`Driver::on_io`] or the connect_timeout timer.
    fn start_tcp(&mut self, table: &mut ProbeTable, owner: Owner, spec: &ProbeSpec) {
        let common = spec.check.common();
        match tcp::start(common) {
            Ok(socket) => {
                let limit = common.connect_timeout.duration();
                let phase = Phase::Connecting {
                    limit,
                    close: common.close,
                };
                self.watch(table, owner, (socket, phase, HANDSHAKE_EVENTS), limit);
            }
            Err(e) => {
                let result = probe::result(false, e.to_string(), owner.started);
                self.complete(table, owner, result);
            }
        }
    }

    /// Opens the socket of a `UDP_CHECK` or `PING_CHECK` and sends its
    /// datagram; the verdict comes from [`Driver::on_io`] or the
    /// connect_timeout timer.
    fn start_datagram(&mut self, table: &mut ProbeTable, owner: Owner, spec: &Arc<ProbeSpec>) {
        if self.resend_kept(owner, spec) {
            return;
        }
        match datagram::start(&spec.check) {
            Some(Ok((socket, waiting))) => {
                let limit = spec.check.common().connect_timeout.duration();
                let attempt = (socket, Phase::Datagram(waiting), READ_EVENTS);
                self.watch(table, owner, attempt, limit);
            }
            Some(Err(reason)) => {
                self.complete(table, owner, probe::result(false, reason, owner.started));
            }
            // Not a datagram kind after all: tokio runs it (no urls).
            None => self.dispatch(owner, Arc::clone(spec), 0),
        }
    }

    /// Registers an attempt's socket (`events`, one shot) and its timer,
    /// `limit` (connect_timeout) after now: after the connect (or the
    /// datagram) went out, as keepalived arms its timer, so that the time
    /// the socket's setup took on a busy machine is not taken from the
    /// backend's `connect_timeout`.
    fn watch(
        &mut self,
        table: &mut ProbeTable,
        owner: Owner,
        (socket, phase, events): (Socket, Phase, libc::c_int),
        limit: Duration,
    ) {
        let idx = match self.free_conns.pop() {
            Some(idx) => idx,
            None => {
                self.conns.push(None);
                (self.conns.len() - 1) as u32
            }
        };
        if let Err(e) = epoll_oneshot(&self.poll, &socket, idx, libc::EPOLL_CTL_ADD, events) {
            self.free_conns.push(idx);
            let reason = format!("cannot set up the probe socket (epoll): {e}");
            self.complete(table, owner, probe::result(false, reason, owner.started));
            return;
        }
        let serial = self.next_serial();
        self.conns[idx as usize] = Some(Conn {
            socket,
            serial,
            owner,
            phase,
        });
        self.timers
            .push_deadline(Instant::now(), limit, idx, serial);
    }

    fn on_io(&mut self, table: &mut ProbeTable, event: &mio::event::Event) {
        let idx = event.token().0 as u32;
        let Some(Some(conn)) = self.conns.get(idx as usize) else {
            return;
        };
        match conn.phase {
            Phase::Connecting { limit, close } => {
                if !(event.is_writable() || event.is_error() || event.is_write_closed()) {
                    // Not the handshake's end (cannot happen before it):
                    // listen again; connect_timeout still bounds it.
                    let (op, events) = (libc::EPOLL_CTL_MOD, HANDSHAKE_EVENTS);
                    let _ = epoll_oneshot(&self.poll, &conn.socket, idx, op, events);
                    return;
                }
                let owner = conn.owner;
                match tcp::handshake_outcome(&conn.socket) {
                    Ok(()) => {
                        let result = probe::result(true, "connected", owner.started);
                        let next_in = self.complete(table, owner, result).unwrap_or(limit);
                        self.close(idx, close, event.is_read_closed(), limit.min(next_in));
                    }
                    Err(e) => {
                        self.free_conn(idx);
                        self.complete(
                            table,
                            owner,
                            probe::result(false, e.to_string(), owner.started),
                        );
                    }
                }
            }
            Phase::Datagram(waiting) => {
                let owner = conn.owner;
                let Some(slot) = table.get_mut(owner.id, owner.gen) else {
                    self.free_conn(idx);
                    return;
                };
                let spec = Arc::clone(&slot.spec);
                // None: nothing for us yet; the socket stays registered
                // (level-triggered), still bounded by its timer.
                let verdict =
                    datagram::on_ready(waiting, &conn.socket, &spec.check, event.is_error());
                if let Some((ok, reason)) = verdict {
                    self.end_datagram(idx, waiting, ok);
                    self.complete(table, owner, probe::result(ok, reason, owner.started));
                }
            }
            Phase::Kept(_) => {
                if !datagram::drain(&conn.socket) {
                    let owner = conn.owner;
                    self.unkeep(owner.id, owner.gen);
                }
            }
            // Not registered any more (one shot): swept instead.
            Phase::Closing { .. } => {}
        }
    }

    /// A datagram attempt on connection `idx` ended (`ok`: it passed): its
    /// socket is kept for the probe's next attempt or closed
    /// (`datagram::keeps`).
    fn end_datagram(&mut self, idx: u32, waiting: Datagram, ok: bool) {
        let serial = self.next_serial();
        let Some(Some(conn)) = self.conns.get_mut(idx as usize) else {
            return;
        };
        if !datagram::keeps(waiting, ok) {
            self.free_conn(idx);
            return;
        }
        // A new serial: the attempt's timer, if still queued, is stale.
        (conn.phase, conn.serial) = (Phase::Kept(waiting), serial);
        if let Some(old) = self.kept.insert(conn.owner.id, idx) {
            if old != idx {
                self.free_conn(old);
            }
        }
    }

    /// Starts the attempt of `owner` on its probe's kept socket, if it has
    /// one that still works: true when the datagram is sent.
    fn resend_kept(&mut self, owner: Owner, spec: &ProbeSpec) -> bool {
        let Some(idx) = self.kept.remove(&owner.id) else {
            return false;
        };
        let serial = self.next_serial();
        let sent = match self.conns.get_mut(idx as usize) {
            Some(Some(conn)) if conn.owner.gen == owner.gen => match conn.phase {
                Phase::Kept(last) => datagram::resend(last, &conn.socket, &spec.check)
                    .ok()
                    .map(|waiting| {
                        (conn.phase, conn.serial, conn.owner) =
                            (Phase::Datagram(waiting), serial, owner)
                    })
                    .is_some(),
                _ => false,
            },
            _ => false,
        };
        if sent {
            let limit = spec.check.common().connect_timeout.duration();
            self.timers
                .push_deadline(Instant::now(), limit, idx, serial);
        } else {
            // Failed to send: closed, and the attempt starts afresh.
            self.free_conn(idx);
        }
        sent
    }

    /// Closes the kept socket of probe `id` (of generation `gen`), if any.
    fn unkeep(&mut self, id: u32, gen: u32) {
        if let Some(&idx) = self.kept.get(&id) {
            let owned = matches!(self.conns.get(idx as usize), Some(Some(c)) if c.owner.gen == gen);
            if owned {
                self.kept.remove(&id);
                self.free_conn(idx);
            }
        }
    }

    /// Starts closing connection `idx`; it waits for the backend's FIN for
    /// at most `budget`, read at each sweep.
    fn close(&mut self, idx: u32, mode: CloseMode, peer_closed: bool, budget: Duration) {
        let serial = self.next_serial();
        let Some(Some(conn)) = self.conns.get_mut(idx as usize) else {
            return;
        };
        if tcp::begin_close(&conn.socket, mode, peer_closed) {
            self.free_conn(idx);
            return;
        }
        conn.phase = Phase::Closing {
            deadline: Instant::now() + budget,
        };
        conn.serial = serial;
        self.closing.push(idx);
        self.arm_sweep();
    }

    /// Hands an attempt of another kind to tokio (`url`: which url of an
    /// `HTTP_GET`).
    fn dispatch(&self, owner: Owner, spec: Arc<ProbeSpec>, url: usize) {
        let done = self.done_tx.clone();
        let shared = Arc::clone(&self.shared);
        let policy = self.shared.script_policy();
        self.runtime.spawn(async move {
            let result = probe::attempt_url(&spec.check, url, &policy).await;
            // Gone only when the engine stopped.
            if done.send(Done { owner, result }).is_ok() {
                let _ = shared.waker.wake();
            }
        });
    }

    /// Applies a result to its probe (if it still exists): health, the next
    /// timer, the log and the event. Returns the time to the next probe.
    fn complete(
        &mut self,
        table: &mut ProbeTable,
        owner: Owner,
        result: ProbeResult,
    ) -> Option<Duration> {
        let slot = table.get_mut(owner.id, owner.gen)?;
        let timing = Timing::of(slot.spec.check.common());
        let step = match &*slot.spec.check {
            Check::Http(h) => {
                let (urls, fast) = (h.urls.len(), h.fast_recovery);
                slot.state
                    .record_url(&mut slot.urls, result.ok, &timing, urls, fast)
            }
            check => slot
                .state
                .record_with(result.ok, &timing, RetryRule::of(check)),
        };
        let due = next_due(owner.due, result.latency, step.next_in, Instant::now());
        self.timers
            .push_probe(due, step.next_in, owner.id, owner.gen);
        if step.changed {
            log_change(slot, &step, &result);
        }
        slot.probes_sent += 1;
        let event = HealthEvent {
            probe: Arc::clone(&slot.spec),
            up: step.up,
            changed: step.changed,
            result: result.clone(),
        };
        slot.last = Some(result);
        self.outbox_urgent |= step.changed;
        self.outbox_since.get_or_insert_with(Instant::now);
        self.outbox.push(event);
        Some(step.next_in)
    }

    fn conn_if(&self, idx: u32, serial: u32) -> Option<&Conn> {
        self.conns
            .get(idx as usize)
            .and_then(Option::as_ref)
            .filter(|conn| conn.serial == serial)
    }

    /// Closes connection `idx` (closing the fd also takes it out of epoll).
    fn free_conn(&mut self, idx: u32) {
        if let Some(entry) = self.conns.get_mut(idx as usize) {
            if entry.take().is_some() {
                self.free_conns.push(idx);
            }
        }
    }

    fn next_serial(&mut self) -> u32 {
        self.serial = self.serial.wrapping_add(1);
        self.serial
    }

    /// At stop: read what is there (unread data would make close() reset),
    /// then close every socket.
    fn close_all(&mut self) {
        for conn in self.conns.iter_mut().filter_map(Option::take) {
            tcp::drain(&conn.socket);
        }
    }
}

/// What a TCP probe socket waits for: its handshake's end only: writable
/// (connected), an error (refused…), or readable / the backend's FIN if they
/// come with it.
const HANDSHAKE_EVENTS: libc::c_int =
    libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLONESHOT | libc::EPOLLET;

/// What a datagram probe socket waits for: something to read, or an error
/// (`EPOLLERR` is always reported: an ICMP error on a UDP socket).
/// Level-triggered and for good: a kept socket is read between attempts
/// too (see `datagram.rs`).
const READ_EVENTS: libc::c_int = libc::EPOLLIN;

/// Registers a probe socket for `events`. `EPOLLONESHOT` disables it after
/// one event, so a closing socket never wakes the prober; closing the fd
/// removes it. `op` is `EPOLL_CTL_ADD`, or `EPOLL_CTL_MOD` to arm it again.
fn epoll_oneshot(
    poll: &Poll,
    socket: &Socket,
    idx: u32,
    op: libc::c_int,
    events: libc::c_int,
) -> std::io::Result<()> {
    let mut event = libc::epoll_event {
        events: events as u32,
        u64: u64::from(idx),
    };
    // SAFETY: both fds are open, and the event is a valid epoll_event. The
    // data word is the token mio hands back in its events.
    let rc = unsafe { libc::epoll_ctl(poll.as_raw_fd(), op, socket.as_raw_fd(), &mut event) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Says in the log when the prober falls behind its schedule, while it
/// stays behind (once a minute), and when it keeps it again.
fn log_schedule(news: Option<ScheduleNews>) {
    match news {
        Some(ScheduleNews::Behind { lag, started }) => tracing::warn!(
            lag_ms = lag.as_millis() as u64,
            started,
            "probes start late: more checks are asked for than this machine can start on time; \
             every probe's interval is stretched by the lag (probes are started in turn, none skipped)"
        ),
        Some(ScheduleNews::OnTime) => tracing::info!("probes start on time again"),
        None => {}
    }
}

pub(super) fn log_change(slot: &Slot, step: &Step, result: &ProbeResult) {
    let check = slot.spec.check.keyword();
    let target = probe::target(&slot.spec.check);
    if step.up {
        tracing::info!(check, %target, reason = %result.reason, "up");
    } else {
        let failures = slot.state.consecutive_failures();
        tracing::warn!(check, %target, reason = %result.reason, failures, "down");
    }
}
