//! The probes the engine runs, shared by the engine (which changes the set
//! and reads states) and the prober thread (which runs them).
//!
//! Each probe lives in a [`Slot`], found by its index: two cache lines,
//! the first its [`Plan`] (what starting an attempt reads), the second what
//! counting a verdict reads; its latest result, read only by the state
//! dump, is kept apart. A plan's `gen` changes whenever the slot is reused,
//! so a timer or an attempt that belonged to a probe since removed is
//! recognised and ignored. A sleeping probe costs its slot and result
//! (about 190 bytes), a map entry and its spec, nothing more: no task, no
//! timer object, no lock of its own.

use rustc_hash::FxHashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use super::probe;
use super::schedule::{HealthState, RetryRule, Timing, UrlCursor};
use super::{ProbeKey, ProbeResult, ProbeSpec};
use crate::config::{Check, CloseMode, Timer};

/// What starting a probe's attempt reads (and what counting its verdict
/// reads of its check), copied from its check when the slot is filled: the
/// first cache line of its [`Slot`].
///
/// A `TCP_CHECK` without binding options starts from this line alone, and
/// its verdict reads this line and the next. Read from the slot, its spec
/// and its check, a start cost three dependent cache misses, some 78 % of
/// the prober loop's share of the CPU at 5,000 probes a second (perf,
/// `bench/floor.sh`).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub struct Plan {
    /// `connect_timeout`.
    pub connect_timeout: Timer,
    /// `delay_loop`.
    pub delay_loop: Timer,
    /// `delay_before_retry`.
    pub delay_before_retry: Timer,
    /// `retry`.
    pub retry: u32,
    /// Changes when the slot is reused.
    pub gen: u32,
    /// How late its latest attempt started, in µs (saturating).
    pub lag_micros: u32,
    /// The target's port.
    pub port: u16,
    /// Where its attempts run.
    pub runs: Runs,
    /// How a connection it opened is closed.
    pub close: CloseMode,
    /// How its failures count.
    pub rule: RetryRule,
    /// Whether the check sets `bindto`, `bind_port`, `bind_if` or
    /// `fwmark` (read from the check, out of line).
    pub bound: bool,
    /// The target's address.
    pub ip: IpAddr,
}

const _: () = assert!(std::mem::size_of::<Plan>() == 64);
const _: () = assert!(std::mem::size_of::<Option<Slot>>() == 128);

/// Where a probe's attempts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// `TCP_CHECK`: a handshake on the prober thread.
    Tcp,
    /// `HTTP_GET` and `SSL_GET`: an exchange on the prober thread
    /// (`driver/web.rs`).
    Web,
    /// `UDP_CHECK`, `PING_CHECK`, `DNS_CHECK`: a datagram on the prober
    /// thread (`datagram.rs`).
    Datagram,
    /// Other kinds: on tokio, their results sent back to the prober.
    Tokio,
}

impl Plan {
    /// The plan of `check`, in slot generation `gen`.
    fn of(check: &Check, gen: u32) -> Plan {
        let common = check.common();
        let runs = match check {
            Check::Tcp(_) => Runs::Tcp,
            Check::Http(_) => Runs::Web,
            Check::Udp(_) | Check::Ping(_) | Check::Dns(_) => Runs::Datagram,
            _ => Runs::Tokio,
        };
        Plan {
            connect_timeout: common.connect_timeout,
            delay_loop: common.delay_loop,
            delay_before_retry: common.delay_before_retry,
            retry: common.retry,
            gen,
            lag_micros: 0,
            port: common.connect_port,
            runs,
            close: common.close,
            rule: RetryRule::of(check),
            bound: common.binding.is_some(),
            ip: common.connect_ip,
        }
    }

    /// Where its attempts connect or send to.
    pub fn target(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Its timing, as the retry rules take it.
    pub fn timing(&self) -> Timing {
        Timing {
            delay_loop: self.delay_loop.duration(),
            delay_before_retry: self.delay_before_retry.duration(),
            retry: self.retry,
        }
    }
}

/// One probe: its plan, then what counting a verdict reads, in two cache
/// lines side by side (the processor fetches such a pair together).
#[derive(Debug)]
#[repr(C, align(128))]
pub struct Slot {
    /// What starting an attempt reads.
    pub plan: Plan,
    /// What it probes (shared with the by-spec map and with every event).
    pub spec: Arc<ProbeSpec>,
    /// Its caller's key, from the latest [`ProbeTable::set`] that listed it.
    pub key: ProbeKey,
    /// Its health under keepalived's retry rules.
    pub state: HealthState,
    /// `HTTP_GET`: which url is probed next (see `schedule/urls.rs`).
    pub urls: UrlCursor,
    /// Results counted so far.
    pub probes_sent: u64,
    /// False for kinds lvsd does not probe (always up, never scheduled).
    pub supported: bool,
    /// The latest [`ProbeTable::set`] that listed it.
    seen: u32,
}

/// A probe the prober must arm: new since it last looked, first due then.
#[derive(Debug, Clone, Copy)]
pub struct Armed {
    /// The slot.
    pub id: u32,
    /// Its generation.
    pub gen: u32,
    /// When its first probe is due.
    pub due: Instant,
}

/// Every probe, by slot.
#[derive(Debug, Default)]
pub struct ProbeTable {
    slots: Vec<Option<Slot>>,
    /// Each slot's latest result, if it has run (apart: only the state dump
    /// reads it).
    results: Vec<Option<ProbeResult>>,
    free: Vec<u32>,
    by_spec: FxHashMap<Arc<ProbeSpec>, u32>,
    next_gen: u32,
    /// Counts [`ProbeTable::set`] calls.
    epoch: u32,
    /// New probes, for the prober to put on its timers.
    pub(super) armed: Vec<Armed>,
    /// Set when the engine is dropped: the prober thread ends.
    pub(super) stop: bool,
    /// Tests: a kind treated as one lvsd does not probe (every kind is
    /// probed now, and the engine's answer to one that is not stays tested).
    #[cfg(test)]
    pub(super) pretend_unprobed: Option<&'static str>,
}

/// What [`ProbeTable::set`] did.
#[derive(Debug, Default)]
pub struct Changes {
    /// Probes started (supported ones are in `armed`).
    pub added: Vec<u32>,
    /// Probes stopped.
    pub removed: usize,
    /// The number of this call, the `set` of every listed probe's key.
    pub set: u32,
}

impl ProbeTable {
    /// Makes the probes exactly `specs`, each `(spec, initially up, key)`
    /// (see `Engine::set_keyed_probes`), taking them one at a time: probes
    /// listed are marked seen and given their key, new ones added, and
    /// those not seen are removed at the end.
    pub fn set(
        &mut self,
        specs: impl IntoIterator<Item = (ProbeSpec, bool, u32)>,
        now: Instant,
    ) -> Changes {
        self.epoch = self.epoch.wrapping_add(1);
        let mut changes = Changes {
            set: self.epoch,
            ..Changes::default()
        };
        let mut rng = rand::rng();
        let specs = specs.into_iter();
        if self.slots.is_empty() {
            // The first set (the start) sizes the table once, exactly:
            // no doubling, no slack of up to half the table.
            let (low, high) = specs.size_hint();
            self.reserve_exact(high.unwrap_or(low));
        }
        for (spec, initially_up, key) in specs {
            let key = ProbeKey {
                set: self.epoch,
                key,
            };
            match self.by_spec.get(&spec) {
                Some(&id) => self.keep(id, spec, key),
                None => {
                    let first_delay = random_warmup(&spec.check, &mut rng);
                    changes
                        .added
                        .push(self.add(spec, initially_up, key, now + first_delay));
                }
            }
        }
        changes.removed = self.remove_unseen();
        changes
    }

    /// Room for exactly `n` probes.
    fn reserve_exact(&mut self, n: usize) {
        self.slots.reserve_exact(n);
        self.results.reserve_exact(n);
        self.by_spec.reserve(n);
        self.armed.reserve_exact(n);
    }

    /// Probe `id`, listed again: seen, under its new `key`, holding the
    /// new config's copy of its check (`spec`, equal to its own).
    fn keep(&mut self, id: u32, spec: ProbeSpec, key: ProbeKey) {
        let Some(slot) = self.slots[id as usize].as_mut() else {
            return;
        };
        slot.seen = self.epoch;
        slot.key = key;
        if !Arc::ptr_eq(&slot.spec.check, &spec.check) {
            // The same check from a new config: hold the new config's
            // copy, so the old config can be freed.
            let spec = Arc::new(spec);
            self.by_spec.remove(&spec);
            self.by_spec.insert(Arc::clone(&spec), id);
            slot.spec = spec;
        }
    }

    /// A new probe of `spec`, in a free slot or a new one, armed to start
    /// at `first` if it runs on a schedule; returns its slot.
    fn add(&mut self, spec: ProbeSpec, initially_up: bool, key: ProbeKey, first: Instant) -> u32 {
        let spec = Arc::new(spec);
        let supported = probe::is_supported(&spec.check);
        #[cfg(test)]
        let supported = supported && self.pretend_unprobed != Some(spec.check.keyword());
        self.next_gen = self.next_gen.wrapping_add(1);
        let slot = Slot {
            plan: Plan::of(&spec.check, self.next_gen),
            state: HealthState::new(initially_up),
            urls: UrlCursor::default(),
            spec: Arc::clone(&spec),
            key,
            probes_sent: 0,
            supported,
            seen: self.epoch,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(slot);
                self.results[id as usize] = None;
                id
            }
            None => {
                self.slots.push(Some(slot));
                self.results.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        // FILE_CHECK and BFD_CHECK have no schedule: the file watcher and
        // the BFD thread report them.
        let timed = supported && !matches!(*spec.check, Check::File(_) | Check::Bfd(_));
        self.by_spec.insert(spec, id);
        if timed {
            self.armed.push(Armed {
                id,
                gen: self.next_gen,
                due: first,
            });
        }
        id
    }

    /// Removes the probes the latest [`ProbeTable::set`] did not list;
    /// returns how many.
    fn remove_unseen(&mut self) -> usize {
        let mut removed = 0;
        for (id, entry) in self.slots.iter_mut().enumerate() {
            let Some(slot) = entry else { continue };
            if slot.seen == self.epoch {
                continue;
            }
            tracing::debug!(
                check = slot.spec.check.keyword(),
                target = %probe::target(&slot.spec.check),
                "probe stopped"
            );
            self.by_spec.remove(&slot.spec);
            *entry = None;
            self.free.push(id as u32);
            removed += 1;
        }
        removed
    }

    /// The probe in slot `id` if it is still generation `gen`.
    pub fn get_mut(&mut self, id: u32, gen: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .filter(|slot| slot.plan.gen == gen)
    }

    /// Keeps `result` as the latest of the probe in slot `id`.
    pub fn set_result(&mut self, id: u32, result: ProbeResult) {
        if let Some(last) = self.results.get_mut(id as usize) {
            *last = Some(result);
        }
    }

    /// The probe in slot `id`, whatever its generation.
    pub fn slot_mut(&mut self, id: u32) -> Option<&mut Slot> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// The probes of the checks `kind` picks (the `FILE_CHECK`s for the
    /// file watcher, the `BFD_CHECK`s for the BFD thread).
    pub fn watched(&self, kind: fn(&Check) -> bool) -> Vec<(u32, u32, Arc<ProbeSpec>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, slot)| {
                let slot = slot.as_ref()?;
                (slot.supported && kind(&slot.spec.check))
                    .then(|| (id as u32, slot.plan.gen, Arc::clone(&slot.spec)))
            })
            .collect()
    }

    /// Every probe, with its latest result.
    pub fn iter(&self) -> impl Iterator<Item = (&Slot, Option<&ProbeResult>)> {
        self.slots
            .iter()
            .zip(&self.results)
            .filter_map(|(slot, last)| Some((slot.as_ref()?, last.as_ref())))
    }

    /// How many probes.
    pub fn len(&self) -> usize {
        self.by_spec.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_spec.is_empty()
    }
}

/// When a new probe of `check` first starts, after now: at random within
/// its `warmup` (at once without one).
fn random_warmup(check: &Check, rng: &mut impl Rng) -> Duration {
    let warmup = check.common().warmup.duration();
    if warmup.is_zero() {
        Duration::ZERO
    } else {
        rng.random_range(Duration::ZERO..=warmup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckCommon, TcpCheck};

    fn check(port: u16) -> Arc<Check> {
        Arc::new(Check::Tcp(TcpCheck {
            common: CheckCommon::new("127.0.0.1".parse().unwrap(), port),
        }))
    }

    #[test]
    fn set_keeps_equal_probes_and_takes_the_new_configs_copy() {
        let mut table = ProbeTable::default();
        let now = Instant::now();
        let (a, b) = (check(1), check(2));
        let added = table.set(
            [
                (ProbeSpec::shared(&a), true, 10),
                (ProbeSpec::shared(&b), true, 11),
            ],
            now,
        );
        let first = added.set;
        assert_eq!(
            table.slot_mut(1).unwrap().key,
            ProbeKey {
                set: first,
                key: 11
            }
        );
        assert_eq!((added.added.len(), added.removed), (2, 0));
        table.slot_mut(0).unwrap().probes_sent = 7;
        // A reload: an equal check for port 1 (another Arc), port 2 gone.
        let a2 = check(1);
        let changes = table.set([(ProbeSpec::shared(&a2), false, 3)], now);
        assert_eq!((changes.added.len(), changes.removed), (0, 1));
        assert_eq!(table.len(), 1);
        let slot = table.slot_mut(0).unwrap();
        // The probe kept its state, and holds the new config's check: the
        // old one is referenced by nobody else now.
        assert_eq!(slot.probes_sent, 7);
        // ... and the key of the latest call.
        assert_ne!(changes.set, first);
        assert_eq!(
            slot.key,
            ProbeKey {
                set: changes.set,
                key: 3
            }
        );
        assert!(Arc::ptr_eq(&slot.spec.check, &a2));
        assert_eq!(Arc::strong_count(&a), 1);
        assert!(table.by_spec.keys().all(|k| Arc::ptr_eq(&k.check, &a2)));
    }
}
