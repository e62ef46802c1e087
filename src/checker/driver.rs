//! The prober thread: every probe's timer and every probe socket in one
//! loop, around one epoll.
//!
//! ```text
//!   ┌──────────── loop ─────────────────────────────────────────────┐
//!   │ epoll_wait(until the earliest timer)                          │
//!   │ new probes (from set_probes)   ─▶ timers                      │
//!   │ socket events: handshake done  ─▶ verdict ─▶ close (FIN, wait)│
//!   │ results from tokio (SSL, MISC)  ─▶ verdict                    │
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
//! attempts are sockets here too, registered for reading (`datagram.rs`),
//! and so are `HTTP_GET`'s: connect, request, answer to the server's end
//! (`driver/web.rs`, the machine of `http.rs`). Other kinds are handed to
//! the tokio runtime, and their results come back through a channel.
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
//! Verdicts are sent in batches (`outbox.rs`): a busy prober wakes the
//! daemon's thread some twenty times a second, not once per verdict.

use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use socket2::Socket;
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedSender;

use super::conns::{Conns, Owner, Phase, HANDSHAKE_EVENTS, READ_EVENTS};
use super::datagram::{self, Datagram};
use super::epoll::{Epoll, EventFlags, Ready, Waker, WAKE};
use super::lag::{LagHistogram, ScheduleNews, ScheduleWatch};
use super::outbox::Outbox;
use super::probe_table::{Plan, ProbeTable, Runs, Slot};
use super::schedule::Step;
use super::timers::{next_due, Alarm, Timers, START_BATCH};
use super::{probe, tcp, HealthEvent, ProbeResult, ProbeSpec};
use crate::config::{Check, CloseMode};
use crate::script_policy::ScriptPolicy;

mod web;

/// How often at most the log says probes were put off (see
/// [`Driver::postpone`]).
const SHORTAGE_WARN_EVERY: Duration = Duration::from_secs(60);

/// What the engine and the prober thread share.
#[derive(Debug)]
pub(super) struct Shared {
    /// The probes; the prober holds the lock while it works on a batch.
    pub table: Mutex<ProbeTable>,
    /// Wakes the prober from epoll_wait.
    pub waker: Waker,
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

/// A result computed on tokio.
#[derive(Debug)]
struct Done {
    owner: Owner,
    result: ProbeResult,
}

/// The prober thread's state.
pub(super) struct Driver {
    epoll: Epoll,
    shared: Arc<Shared>,
    runtime: Handle,
    timers: Timers,
    conns: Conns,
    /// Connections in [`Phase::Closing`], read at each sweep.
    closing: Vec<u32>,
    /// Whether a [`Alarm::Sweep`] is in the heap.
    sweep_armed: bool,
    /// Verdicts not sent yet.
    outbox: Outbox,
    /// Probes put off for want of files or memory since the last warning
    /// (see [`Driver::postpone`]), and when that was.
    postponed: u64,
    postponed_warned: Option<Instant>,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    /// The kept datagram socket of a probe (by probe id): its connection.
    kept: FxHashMap<u32, u32>,
    /// The `HTTP_GET` exchanges under way (`driver/web.rs`).
    exchanges: web::Exchanges,
}

impl Driver {
    pub(super) fn new(
        epoll: Epoll,
        shared: Arc<Shared>,
        events: UnboundedSender<HealthEvent>,
        runtime: Handle,
    ) -> Driver {
        let (done_tx, done_rx) = mpsc::channel();
        Driver {
            epoll,
            shared,
            runtime,
            timers: Timers::default(),
            conns: Conns::default(),
            closing: Vec::new(),
            sweep_armed: false,
            outbox: Outbox::new(events),
            postponed: 0,
            postponed_warned: None,
            done_tx,
            done_rx,
            kept: FxHashMap::default(),
            exchanges: web::Exchanges::default(),
        }
    }

    /// Runs until the engine is dropped.
    pub(super) fn run(mut self) {
        // A round handles at most this many socket events before it starts
        // the probes that are due, and starts at most `START_BATCH`: a
        // bounded round keeps the schedule's lag small under load (a
        // thousand handshakes would take ~10 ms), and fair under overload
        // (see `Timers::pop_due`).
        let mut events = Vec::with_capacity(64);
        let shared = Arc::clone(&self.shared);
        let mut watch = ScheduleWatch::new(Instant::now());
        loop {
            let wake = self.timers.next();
            shared.lag.expect_wake(wake);
            let timeout = wake.map(|due| due.saturating_duration_since(Instant::now()));
            if let Err(e) = self.epoll.wait(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "prober: epoll_wait failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let mut table = lock(&shared.table);
            if table.stop {
                self.conns.close_all();
                return;
            }
            // Taken, not drained: the start's 20,000 entries leave no
            // capacity behind.
            for armed in std::mem::take(&mut table.armed) {
                let timer = Alarm::Probe {
                    id: armed.id,
                    gen: armed.gen,
                };
                self.timers.push(armed.due, timer);
            }
            for event in events.iter().map(Ready::of) {
                if event.token != WAKE {
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
            self.flush();
            log_schedule(watch.tick(now, &shared.lag));
        }
    }

    /// Sends the waiting verdicts if they are due before the next timer
    /// (see `outbox.rs`).
    fn flush(&mut self) {
        self.outbox.flush(self.timers.next());
    }

    fn on_timer(&mut self, table: &mut ProbeTable, due: Instant, timer: Alarm) {
        match timer {
            Alarm::Probe { id, gen } => {
                let Some(slot) = table.get_mut(id, gen) else {
                    self.unkeep(id, gen);
                    return; // the probe was removed
                };
                let started = Instant::now();
                let lag = started.saturating_duration_since(due);
                self.shared.lag.record(lag);
                slot.plan.lag_micros = lag.as_micros().min(u32::MAX.into()) as u32;
                let plan = slot.plan;
                let owner = Owner {
                    id,
                    gen,
                    due,
                    started,
                };
                if plan.runs == Runs::Tcp {
                    return self.start_tcp(table, owner, &plan);
                }
                let spec = Arc::clone(&slot.spec);
                let url = slot.urls.url();
                match (&*spec.check, plan.runs) {
                    (Check::Http(check), Runs::Web) => self.start_http(table, owner, check, url),
                    (_, Runs::Datagram) => self.start_datagram(table, owner, &spec),
                    _ => self.dispatch(owner, spec, url),
                }
            }
            Alarm::Conn { idx, serial } => {
                let Some(conn) = self.conns.get_if(idx, serial) else {
                    return;
                };
                match conn.phase {
                    Phase::Connecting { limit, .. } => {
                        let owner = conn.owner;
                        self.conns.free(idx);
                        let reason = format!("no answer within {}", probe::seconds(limit));
                        self.complete(table, owner, probe::result(false, reason, owner.started));
                    }
                    Phase::Datagram(waiting) => {
                        let owner = conn.owner;
                        let Some(slot) = table.get_mut(owner.id, owner.gen) else {
                            self.conns.free(idx);
                            return;
                        };
                        let (ok, reason) = datagram::on_timeout(waiting, &slot.spec.check);
                        self.end_datagram(idx, waiting, ok);
                        self.complete(table, owner, probe::result(ok, reason, owner.started));
                    }
                    Phase::Web => {
                        let owner = conn.owner;
                        self.on_web_timeout(table, idx, owner);
                    }
                    // Closing and kept sockets have no timer of their own.
                    Phase::Closing { .. } | Phase::Kept(_) => {}
                }
            }
            Alarm::Sweep => {
                self.sweep_armed = false;
                self.sweep();
            }
        }
    }

    /// Reads every closing socket: closed at end of file or past its budget.
    fn sweep(&mut self) {
        let now = Instant::now();
        let mut closing = std::mem::take(&mut self.closing);
        closing.retain(|&idx| {
            let Some(conn) = self.conns.get(idx) else {
                return false;
            };
            let Phase::Closing { deadline } = conn.phase else {
                return false;
            };
            if tcp::drain(&conn.socket) || deadline <= now {
                self.conns.free(idx);
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
            self.timers.push(at, Alarm::Sweep);
        }
    }

    /// Opens the socket and starts the handshake; the verdict comes from
    /// [`Driver::on_io`] or the connect_timeout timer.
    /// Reads only the probe's `plan`, unless its check sets binding options.
    fn start_tcp(&mut self, table: &mut ProbeTable, owner: Owner, plan: &Plan) {
        let started = if plan.bound {
            let Some(slot) = table.get_mut(owner.id, owner.gen) else {
                return;
            };
            tcp::start(plan.target(), slot.spec.check.common().binding.as_deref())
        } else {
            tcp::start(plan.target(), None)
        };
        match started {
            Ok(socket) => {
                let limit = plan.connect_timeout.duration();
                let phase = Phase::Connecting {
                    limit,
                    close: plan.close,
                };
                self.watch(table, owner, (socket, phase, HANDSHAKE_EVENTS), limit);
            }
            Err(e) if e.is_local_shortage() => self.postpone(owner, plan.delay_loop.duration(), &e),
            Err(e) => {
                let result = probe::result(false, e.to_string(), owner.started);
                self.complete(table, owner, result);
            }
        }
    }

    /// The machine, not the target, lacked what an attempt needs (open
    /// files, memory): no verdict, the target's health stays as it was, and
    /// the probe is tried again one `delay_loop` later, as keepalived
    /// reschedules a check whose socket it cannot create. (Reported as a
    /// failure, an overloaded guest out of open files took down 14,839
    /// healthy real servers in a minute: `bench/daemon.sh`, overload.) The
    /// log says so at most once a minute, with how many were put off.
    /// `TCP_CHECK`, `HTTP_GET` and the datagram kinds alike (their socket
    /// errors: [`tcp::TcpProbeError::is_local_shortage`],
    /// [`tcp::NotStarted::is_local_shortage`]).
    fn postpone(&mut self, owner: Owner, delay_loop: Duration, error: &dyn std::fmt::Display) {
        let now = Instant::now();
        self.timers.push(
            now + delay_loop,
            Alarm::Probe {
                id: owner.id,
                gen: owner.gen,
            },
        );
        self.postponed += 1;
        if self
            .postponed_warned
            .is_none_or(|at| now >= at + SHORTAGE_WARN_EVERY)
        {
            tracing::warn!(
                error = %error,
                postponed = self.postponed,
                "probes put off: this machine is short of open files or memory for their sockets \
                 (no verdict: their real servers keep their state; raise LimitNOFILE / ulimit -Hn)"
            );
            self.postponed_warned = Some(now);
            self.postponed = 0;
        }
    }

    /// Opens the socket of a `UDP_CHECK` or `PING_CHECK` and sends its
    /// datagram; the verdict comes from [`Driver::on_io`] or the
    /// connect_timeout timer.
    fn start_datagram(&mut self, table: &mut ProbeTable, owner: Owner, spec: &Arc<ProbeSpec>) {
        if self.resend_kept(table, owner, spec) {
            return;
        }
        match datagram::start(&spec.check) {
            Some(Ok((socket, waiting))) => {
                let limit = spec.check.common().connect_timeout.duration();
                let attempt = (socket, Phase::Datagram(waiting), READ_EVENTS);
                self.watch(table, owner, attempt, limit);
            }
            Some(Err(e)) if e.is_local_shortage() => {
                self.postpone(owner, spec.check.common().delay_loop.duration(), &e)
            }
            Some(Err(e)) => {
                let result = probe::result(false, e.to_string(), owner.started);
                self.complete(table, owner, result);
            }
            // Not a datagram kind after all: tokio runs it (no urls).
            None => self.dispatch(owner, Arc::clone(spec), 0),
        }
    }

    /// Registers an attempt's socket (`events`, one shot) and its timer,
    /// `limit` (connect_timeout) after now: after the connect (or the
    /// datagram) went out, as keepalived arms its timer, so that the time
    /// the socket's setup took on a busy machine is not taken from the
    /// backend's `connect_timeout`. Returns the connection's index, or
    /// `None` when the socket could not be registered (the attempt failed).
    fn watch(
        &mut self,
        table: &mut ProbeTable,
        owner: Owner,
        (socket, phase, events): (Socket, Phase, EventFlags),
        limit: Duration,
    ) -> Option<u32> {
        match self.conns.open(&self.epoll, socket, owner, phase, events) {
            Ok((idx, serial)) => {
                self.timers
                    .push_deadline(Instant::now(), limit, idx, serial);
                Some(idx)
            }
            Err(e) => {
                let reason = format!("cannot set up the probe socket (epoll): {e}");
                self.complete(table, owner, probe::result(false, reason, owner.started));
                None
            }
        }
    }

    fn on_io(&mut self, table: &mut ProbeTable, event: Ready) {
        let idx = event.token as u32;
        let Some(conn) = self.conns.get(idx) else {
            return;
        };
        match conn.phase {
            Phase::Connecting { limit, close } => {
                if !(event.is_writable() || event.is_error() || event.is_write_closed()) {
                    // Not the handshake's end (cannot happen before it):
                    // listen again; connect_timeout still bounds it.
                    let token = u64::from(idx);
                    let _ = self.epoll.modify(&conn.socket, token, HANDSHAKE_EVENTS);
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
                        self.conns.free(idx);
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
                    self.conns.free(idx);
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
            Phase::Web => {
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                self.on_web_io(table, idx, readable);
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
        let Some(id) = self.conns.get(idx).map(|conn| conn.owner.id) else {
            return;
        };
        if !datagram::keeps(waiting, ok) {
            self.conns.free(idx);
            return;
        }
        // A new serial: the attempt's timer, if still queued, is stale.
        self.conns.enter(idx, Phase::Kept(waiting));
        if let Some(old) = self.kept.insert(id, idx) {
            if old != idx {
                self.conns.free(old);
            }
        }
    }

    /// Starts the attempt of `owner` on its probe's kept socket, if it has
    /// one that still works: true when the datagram is sent. An answer that
    /// may already be there (`datagram::answered_in_send`) is read at once:
    /// then the attempt ends without waking the prober again.
    fn resend_kept(&mut self, table: &mut ProbeTable, owner: Owner, spec: &ProbeSpec) -> bool {
        let Some(idx) = self.kept.remove(&owner.id) else {
            return false;
        };
        let sent = match self.conns.get(idx) {
            Some(conn) if conn.owner.gen == owner.gen => match conn.phase {
                Phase::Kept(last) => datagram::resend(last, &conn.socket, &spec.check).ok(),
                _ => None,
            },
            _ => None,
        };
        let Some(waiting) = sent else {
            // Failed to send: closed, and the attempt starts afresh.
            self.conns.free(idx);
            return false;
        };
        let serial = self.conns.enter_as(idx, Phase::Datagram(waiting), owner);
        if datagram::answered_in_send(waiting) {
            let verdict = self
                .conns
                .get(idx)
                .and_then(|conn| datagram::on_ready(waiting, &conn.socket, &spec.check, false));
            if let Some((ok, reason)) = verdict {
                self.end_datagram(idx, waiting, ok);
                self.complete(table, owner, probe::result(ok, reason, owner.started));
                return true;
            }
        }
        let limit = spec.check.common().connect_timeout.duration();
        self.timers
            .push_deadline(Instant::now(), limit, idx, serial);
        true
    }

    /// Closes the kept socket of probe `id` (of generation `gen`), if any.
    fn unkeep(&mut self, id: u32, gen: u32) {
        if let Some(&idx) = self.kept.get(&id) {
            if self.conns.get(idx).is_some_and(|c| c.owner.gen == gen) {
                self.kept.remove(&id);
                self.conns.free(idx);
            }
        }
    }

    /// Starts closing connection `idx`; it waits for the backend's FIN for
    /// at most `budget`, read at each sweep.
    fn close(&mut self, idx: u32, mode: CloseMode, peer_closed: bool, budget: Duration) {
        let Some(conn) = self.conns.get(idx) else {
            return;
        };
        if tcp::begin_close(&conn.socket, mode, peer_closed) {
            self.conns.free(idx);
            return;
        }
        let deadline = Instant::now() + budget;
        self.conns.enter(idx, Phase::Closing { deadline });
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
        let plan = &slot.plan;
        let timing = plan.timing();
        // Only an HTTP_GET or SSL_GET counts by url: the check itself is
        // read only then.
        let http = match plan.runs {
            Runs::Web => match &*slot.spec.check {
                Check::Http(h) => Some((h.urls.len(), h.fast_recovery)),
                _ => None,
            },
            Runs::Tcp | Runs::Datagram | Runs::Tokio => None,
        };
        let step = match http {
            Some((urls, fast)) => {
                slot.state
                    .record_url(&mut slot.urls, result.ok, &timing, urls, fast)
            }
            None => slot.state.record_with(result.ok, &timing, slot.plan.rule),
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
            key: slot.key,
            up: step.up,
            changed: step.changed,
            result: result.clone(),
        };
        table.set_result(owner.id, result);
        self.outbox.push(event);
        Some(step.next_in)
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
