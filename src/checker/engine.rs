//! The engine: every probe on one prober thread, each on its own schedule.
//!
//! ```text
//!   set_probes(specs) ──diff──▶ unchanged: keep state and timer
//!                               removed:   forget (a running attempt ends
//!                                          unreported; its socket closes
//!                                          politely all the same)
//!                               new:       first probe after a random warmup
//!
//!   prober thread (driver.rs): timers + epoll ─▶ attempt ─▶ schedule rules
//!                                   ▲                            │
//!                                   └── delay_loop / retry ◀─────┴─▶ HealthEvent
//! ```
//!
//! The engine owns the [`ProbeTable`] (shared with the prober under a lock)
//! and the prober thread. `TCP_CHECK` probes run entirely on that thread;
//! `HTTP_GET`, `MISC_CHECK`, `SMTP_CHECK` and `DNS_CHECK` attempts run on the
//! tokio runtime the engine was made in, and only their scheduling is the
//! prober's. `FILE_CHECK` probes have no schedule: the file watcher
//! (`file_watch.rs`, a thread of its own, started with the first one)
//! reports them when their file changes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedSender;

use super::bfd_runner::BfdRunner;
use super::driver::{lock, Driver, Shared};
use super::epoll::{Epoll, Waker};
use super::file_watch::FileWatcher;
use super::lag::LagHistogram;
use super::probe;
use super::probe_table::ProbeTable;
use super::schedule::HealthState;
use super::{HealthEvent, ProbeKey, ProbeResult, ProbeSpec};
use crate::config::Check;
use crate::script_policy::ScriptPolicy;

/// A probe's state, as the state dump shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeState {
    /// Which probe.
    pub spec: ProbeSpec,
    /// Whether its target is considered up.
    pub up: bool,
    /// The latest result, if it has run.
    pub last: Option<ProbeResult>,
    /// Failures in a row since the last success.
    pub consecutive_failures: u32,
    /// Probes done so far (counted when their result is in).
    pub probes_sent: u64,
    /// How late its latest attempt started (µs): an overloaded prober
    /// stretches every probe's interval by about this much (see
    /// `checker/lag.rs`).
    pub lag_us: u32,
    /// False for check kinds lvsd does not probe (refused by the config;
    /// reported down should one reach the engine).
    pub supported: bool,
}

/// The checker engine. Dropping it stops every probe.
#[derive(Debug)]
pub struct Engine {
    shared: Arc<Shared>,
    events: UnboundedSender<HealthEvent>,
    prober: Option<JoinHandle<()>>,
    /// The thread that watches `FILE_CHECK` files, from the first one on.
    files: Option<FileWatcher>,
    /// The thread that runs `BFD_CHECK`s' sessions, from the first one on.
    bfd: Option<BfdRunner>,
    /// How the BFD thread is scheduled (`global_defs`).
    bfd_scheduling: crate::config::BfdScheduling,
    warned: HashSet<&'static str>,
}

impl Engine {
    /// An engine with no probes, sending every probe's results to `events`.
    ///
    /// Drain the receiver promptly: it is unbounded, so a receiver that falls
    /// behind holds the events in memory (one per probe result).
    ///
    /// Must be called from within a tokio runtime (`HTTP_GET` and
    /// `MISC_CHECK` attempts run there), like `tokio::spawn`; see
    /// [`Engine::with_runtime`] otherwise. Fails only if the prober thread
    /// or its epoll cannot be created.
    pub fn new(events: UnboundedSender<HealthEvent>) -> std::io::Result<Engine> {
        Engine::with_runtime(Handle::current(), events)
    }

    /// An engine whose tokio-based attempts run on `runtime`.
    pub fn with_runtime(
        runtime: Handle,
        events: UnboundedSender<HealthEvent>,
    ) -> std::io::Result<Engine> {
        let epoll = Epoll::new()?;
        let waker = Waker::new(&epoll)?;
        let shared = Arc::new(Shared {
            table: Mutex::new(ProbeTable::default()),
            waker,
            lag: LagHistogram::default(),
            script_policy: Mutex::new(ScriptPolicy::default()),
        });
        let driver = Driver::new(epoll, Arc::clone(&shared), events.clone(), runtime);
        let prober = std::thread::Builder::new()
            .name("lvsd-prober".into())
            .spawn(move || driver.run())?;
        Ok(Engine {
            shared,
            events,
            prober: Some(prober),
            files: None,
            bfd: None,
            bfd_scheduling: crate::config::BfdScheduling::default(),
            warned: HashSet::new(),
        })
    }

    /// Makes the running probes exactly `specs`, each with its initial state
    /// (`true` = up) used only if the probe is new.
    ///
    /// Probes already running with an equal spec keep their state and
    /// schedule; probes not listed stop; new probes start after a random
    /// delay within their `warmup`, so a start or reload never fires every
    /// probe at once. A spec listed twice is one probe (the first state wins).
    ///
    /// A check whose settings changed on reload is a new spec: give it the
    /// health its target had (not `true` blindly), so a reload never flaps.
    ///
    /// The verdicts' keys are [`ProbeKey::NONE`]: see
    /// [`Engine::set_keyed_probes`] for a caller that numbers its probes.
    pub fn set_probes(&mut self, specs: impl IntoIterator<Item = (ProbeSpec, bool)>) {
        self.set_keyed_probes(
            specs
                .into_iter()
                .map(|(spec, up)| (spec, up, ProbeKey::NONE)),
        );
    }

    /// [`Engine::set_probes`], each probe with a key of the caller's that
    /// its verdicts carry (see [`ProbeKey`]). Returns this call's number,
    /// the `set` of those keys.
    pub fn set_keyed_probes(
        &mut self,
        specs: impl IntoIterator<Item = (ProbeSpec, bool, u32)>,
    ) -> u32 {
        let mut unsupported = Vec::new();
        let watched;
        let bfd;
        let set;
        {
            let mut table = lock(&self.shared.table);
            let changes = table.set(specs, Instant::now());
            set = changes.set;
            // The watcher and the BFD thread hear of every change to their
            // probes (none in most configs: then nothing is looked at).
            let mut added = |kind: fn(&Check) -> bool| {
                changes.added.iter().any(|&id| {
                    table
                        .slot_mut(id)
                        .is_some_and(|s| s.supported && kind(&s.spec.check))
                })
            };
            let (file_added, bfd_added) = (added(is_file), added(is_bfd));
            watched = (file_added || self.files.is_some()).then(|| table.watched(is_file));
            bfd = (bfd_added || self.bfd.is_some()).then(|| table.watched(is_bfd));
            for id in changes.added {
                let Some(slot) = table.slot_mut(id) else {
                    continue;
                };
                if slot.supported {
                    continue;
                }
                // The config refuses kinds lvsd does not probe; one that
                // reaches the engine anyway is down from the start: one
                // event, one warning per kind and engine, and never a probe.
                let initially_up = slot.state.up();
                let result = ProbeResult {
                    ok: false,
                    reason: probe::unsupported_reason(&slot.spec.check).into(),
                    latency: Duration::ZERO,
                    weight: None,
                };
                slot.state = HealthState::new(false);
                let event = HealthEvent {
                    probe: Arc::clone(&slot.spec),
                    key: slot.key,
                    up: false,
                    changed: initially_up,
                    result: result.clone(),
                };
                table.set_result(id, result);
                unsupported.push(event);
            }
        }
        if let Some(watched) = watched {
            self.watch_files(watched);
        }
        if let Some(bfd) = bfd {
            self.run_bfd(bfd);
        }
        for event in unsupported {
            let keyword = event.probe.check.keyword();
            if self.warned.insert(keyword) {
                tracing::warn!(check = keyword, "{}", event.result.reason);
            }
            let _ = self.events.send(event);
        }
        // The prober arms the new probes' timers when it wakes.
        if let Err(e) = self.shared.waker.wake() {
            tracing::error!(error = %e, "cannot wake the prober thread");
        }
        set
    }

    /// Hands the `FILE_CHECK` probes to the file watcher, started on first
    /// use. If it cannot start, they are reported down: lvsd never reports
    /// up a check it does not perform.
    fn watch_files(&mut self, watched: Vec<super::file_watch::Watched>) {
        if self.files.is_none() {
            match FileWatcher::spawn(Arc::clone(&self.shared), self.events.clone()) {
                Ok(watcher) => self.files = Some(watcher),
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch tracked files (inotify)");
                    let mut table = lock(&self.shared.table);
                    for (id, gen, spec) in &watched {
                        let Some(slot) = table.get_mut(*id, *gen) else {
                            continue;
                        };
                        let result = ProbeResult {
                            ok: false,
                            reason: format!("cannot watch tracked files: {e}").into(),
                            latency: Duration::ZERO,
                            weight: None,
                        };
                        let was_up = slot.state.up();
                        slot.state = HealthState::new(false);
                        let key = slot.key;
                        table.set_result(*id, result.clone());
                        let _ = self.events.send(HealthEvent {
                            probe: Arc::clone(spec),
                            key,
                            up: false,
                            changed: was_up,
                            result,
                        });
                    }
                    return;
                }
            }
        }
        if let Some(files) = &self.files {
            files.set(watched);
        }
    }

    /// Hands the `BFD_CHECK` probes to the BFD thread, started on first
    /// use. If it cannot start, they are reported down.
    fn run_bfd(&mut self, probes: Vec<super::file_watch::Watched>) {
        if self.bfd.is_none() {
            match BfdRunner::spawn(Arc::clone(&self.shared), self.events.clone()) {
                Ok(runner) => self.bfd = Some(runner),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the BFD thread");
                    let why = format!("cannot start the BFD thread: {e}");
                    super::file_watch::report_at_once(&self.shared, &self.events, &probes, |_| {
                        Some(ProbeResult {
                            ok: false,
                            reason: why.clone().into(),
                            latency: Duration::ZERO,
                            weight: None,
                        })
                    });
                    return;
                }
            }
        }
        if let Some(bfd) = &self.bfd {
            bfd.set(probes, self.bfd_scheduling);
        }
    }

    /// Sets who runs `MISC_CHECK` commands: global_defs' `script_user` and
    /// `enable_script_security` (a check's own `user` still comes first).
    /// The default is lvsd's own user, unchecked. Attempts that start from
    /// now on use it; a running one finishes as it began.
    pub fn set_script_policy(&self, policy: ScriptPolicy) {
        *self
            .shared
            .script_policy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = policy;
    }

    /// Sets how the BFD thread is scheduled (`bfd_priority`,
    /// `bfd_rt_priority`): applied with the next probes set.
    pub fn set_bfd_scheduling(&mut self, scheduling: crate::config::BfdScheduling) {
        self.bfd_scheduling = scheduling;
    }

    /// Every probe's state, in no particular order.
    pub fn states(&self) -> Vec<ProbeState> {
        let table = lock(&self.shared.table);
        table
            .iter()
            .map(|(slot, last)| ProbeState {
                spec: (*slot.spec).clone(),
                up: slot.state.up(),
                last: last.cloned(),
                consecutive_failures: slot.state.consecutive_failures(),
                probes_sent: slot.probes_sent,
                lag_us: slot.plan.lag_micros,
                supported: slot.supported,
            })
            .collect()
    }

    /// The BFD sessions `BFD_CHECK`s follow, and the packets dropped
    /// (empty when the config has no `BFD_CHECK`).
    pub fn bfd_status(&self) -> super::bfd_status::BfdStatus {
        self.bfd
            .as_ref()
            .and_then(BfdRunner::status)
            .unwrap_or_default()
    }

    /// Probes done so far by every probe, summed.
    pub fn probes_sent(&self) -> u64 {
        lock(&self.shared.table)
            .iter()
            .map(|(slot, _)| slot.probes_sent)
            .sum()
    }

    /// How late probes started compared with their schedule, since the
    /// engine was made (or [`LagHistogram::reset`]).
    pub fn lag(&self) -> &LagHistogram {
        &self.shared.lag
    }

    /// The prober thread's pthread id, for `pthread_getcpuclockid`.
    pub fn prober_pthread(&self) -> Option<libc::pthread_t> {
        use std::os::unix::thread::JoinHandleExt;
        self.prober.as_ref().map(JoinHandleExt::as_pthread_t)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.files = None;
        self.bfd = None;
        lock(&self.shared.table).stop = true;
        let _ = self.shared.waker.wake();
        if let Some(prober) = self.prober.take() {
            // The prober ends at its next wake, within a loop iteration.
            let _ = prober.join();
        }
    }
}

fn is_file(check: &Check) -> bool {
    matches!(check, Check::File(_))
}

fn is_bfd(check: &Check) -> bool {
    matches!(check, Check::Bfd(_))
}

/// The engine's behaviour with real sockets on loopback lives in
/// `tests/checker_*.rs`; these cover what needs no network.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BfdCheck, BfdInstance, Check, CheckCommon, Location};
    use tokio::sync::mpsc::unbounded_channel;

    fn common() -> CheckCommon {
        CheckCommon {
            warmup: Duration::ZERO.into(),
            ..CheckCommon::new("127.0.0.1".parse().unwrap(), 9)
        }
    }

    /// Every kind is probed now: the test makes the table treat
    /// BFD_CHECK as a kind lvsd does not probe, and checks the engine's
    /// answer to one: down, one warning, never a probe.
    #[tokio::test]
    async fn unsupported_kinds_are_down_with_one_warning_and_no_probe() {
        let (tx, mut rx) = unbounded_channel();
        let mut engine = Engine::new(tx).unwrap();
        lock(&engine.shared.table).pretend_unprobed = Some("BFD_CHECK");
        let bfd = |port| {
            let mut c = common();
            c.connect_port = port;
            ProbeSpec::new(&Check::Bfd(Box::new(BfdCheck {
                common: c,
                instance: BfdInstance {
                    name: "b".into(),
                    neighbor: "127.0.0.1".parse().unwrap(),
                    source: None,
                    min_rx: Duration::from_millis(10),
                    min_tx: Duration::from_millis(10),
                    idle_tx: Duration::from_secs(1),
                    multiplier: 3,
                    passive: false,
                    ttl: 255,
                    max_hops: Some(0),
                    to_checker: true,
                    location: Location::default(),
                },
            })))
        };
        let set = engine.set_keyed_probes(vec![(bfd(53), false, 5), (bfd(54), true, 6)]);
        let mut events = [rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        events.sort_by_key(|e| e.changed);
        assert!(!events[0].up && !events[0].changed);
        assert!(!events[1].up && events[1].changed);
        // Each verdict names its probe by the key it was given.
        let keys = events.map(|e| (e.key.set, e.key.key));
        assert_eq!(keys, [(set, 5), (set, 6)]);
        assert_eq!(engine.warned.len(), 1);
        let states = engine.states();
        assert_eq!(states.len(), 2);
        assert!(states
            .iter()
            .all(|s| !s.up && !s.supported && s.probes_sent == 0));
    }
}
