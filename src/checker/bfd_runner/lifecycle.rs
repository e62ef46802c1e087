//! The BFD thread's sessions as the probes come and go: made for each
//! `bfd_instance` a `BFD_CHECK` names, kept across a reload (a changed
//! `min_tx` alone goes through a Poll), stopped with one AdminDown, and
//! started again when their sockets could not be opened.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use super::{Entry, Runner, RETRY};
use crate::bfd::session::{Session, Timing};
use crate::checker::file_watch::Watched;
use crate::config::{BfdInstance, Check};

fn timing(i: &BfdInstance) -> Timing {
    Timing {
        min_tx: i.min_tx,
        idle_tx: i.idle_tx,
        min_rx: i.min_rx,
        detect_mult: i.multiplier,
        passive: i.passive,
    }
}

/// Whether `a` and `b` are one session whose Up rate alone differs (a
/// change the session takes with a Poll, without starting again).
fn same_but_min_tx(a: &BfdInstance, b: &BfdInstance) -> bool {
    BfdInstance {
        min_tx: b.min_tx,
        ..a.clone()
    } == *b
}

impl Runner {
    /// Makes the sessions exactly those `probes` name.
    pub(super) fn set(&mut self, probes: Vec<Watched>) {
        let now = Instant::now();
        let mut wanted: Vec<(BfdInstance, Vec<Watched>)> = Vec::new();
        for probe in probes {
            let Check::Bfd(check) = &*probe.2.check else {
                continue;
            };
            match wanted.iter_mut().find(|(i, _)| *i == check.instance) {
                Some((_, list)) => list.push(probe),
                None => wanted.push((check.instance.clone(), vec![probe])),
            }
        }
        // Sessions that stay (or change only their Up rate) keep running.
        for slot in 0..self.sessions.len() {
            let Some(entry) = self.sessions[slot].as_mut() else {
                continue;
            };
            // A session that could not run is started again (it may now).
            let runs = entry.tx.is_ok();
            let found = wanted
                .iter()
                .position(|(i, _)| runs && *i == entry.instance)
                .or_else(|| {
                    wanted
                        .iter()
                        .position(|(i, _)| runs && same_but_min_tx(&entry.instance, i))
                });
            match found {
                Some(at) => {
                    let (instance, probes) = wanted.swap_remove(at);
                    if instance.min_tx != entry.instance.min_tx {
                        tracing::info!(bfd = %instance.name, min_tx = ?instance.min_tx, "BFD session: new min_tx, announced with a Poll");
                        entry.session.set_min_tx(instance.min_tx);
                    }
                    entry.instance = instance;
                    let new: Vec<Watched> = probes
                        .iter()
                        .filter(|p| !entry.probes.iter().any(|q| q.0 == p.0 && q.1 == p.1))
                        .cloned()
                        .collect();
                    entry.probes = probes;
                    if entry.reported.is_some() {
                        // New probes of a running session hear its state now.
                        self.report(slot, &new, None);
                    }
                    self.service(slot, now);
                }
                None => self.remove(slot, now),
            }
        }
        for (instance, probes) in wanted {
            self.add(instance, probes, now);
        }
    }

    /// Starts a session for `instance`.
    fn add(&mut self, instance: BfdInstance, probes: Vec<Watched>, now: Instant) {
        let v6 = instance.neighbor.is_ipv6();
        let tx = self.listen(v6).and_then(|()| self.sender(v6));
        let mut disc = 0;
        while disc == 0 || self.by_disc.contains_key(&disc) {
            disc = rand::random::<u32>();
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.sessions.push(None);
            self.sessions.len() - 1
        });
        let grace = instance.idle_tx.max(Duration::from_secs(1)) * u32::from(instance.multiplier);
        let gen = rand::random::<u32>();
        tracing::info!(bfd = %instance.name, neighbor = %instance.neighbor, disc, "BFD session started");
        self.by_disc.insert(disc, slot);
        self.by_neighbor.insert(instance.neighbor, slot);
        let failed = tx.is_err();
        self.sessions[slot] = Some(Entry {
            session: Session::new(timing(&instance), disc, now),
            instance,
            tx,
            probes,
            gen,
            reported: None,
            grace_until: now + grace,
            armed: None,
            sent: 0,
            received: 0,
        });
        if failed {
            // No session can run: its probes are down at once, with why;
            // it tries again every RETRY.
            let probes = self.sessions[slot]
                .as_ref()
                .map(|e| e.probes.clone())
                .unwrap_or_default();
            self.report(slot, &probes, None);
            if let Some(e) = self.entry(slot) {
                e.reported = Some(false);
                e.armed = Some(now + RETRY);
                self.heap.push(Reverse((now + RETRY, slot, gen)));
            }
            return;
        }
        self.service(slot, now);
    }

    /// Stops a session no probe names any more: one AdminDown packet tells
    /// the peer (RFC 5880 §6.8.16), then it is gone.
    fn remove(&mut self, slot: usize, now: Instant) {
        let Some(mut entry) = self.sessions[slot].take() else {
            return;
        };
        entry.session.admin_down(now);
        if let (Ok(()), Some(p)) = (&entry.tx, entry.session.transmit(now, || 1.0)) {
            self.queue(&entry.instance, &p);
            self.flush();
        }
        tracing::info!(bfd = %entry.instance.name, neighbor = %entry.instance.neighbor, "BFD session stopped");
        self.by_disc.remove(&entry.session.local_disc());
        self.by_neighbor.remove(&entry.instance.neighbor);
        self.free.push(slot);
    }

    /// Tries again to open the sockets of a session that could not run
    /// (the port was taken...); on failure, again in `RETRY`.
    pub(super) fn reopen(&mut self, slot: usize, now: Instant) -> bool {
        let Some(entry) = self.entry(slot) else {
            return false;
        };
        let v6 = entry.instance.neighbor.is_ipv6();
        let opened = self.listen(v6).and_then(|()| self.sender(v6));
        let Some(entry) = self.entry(slot) else {
            return false;
        };
        match opened {
            Ok(tx) => {
                tracing::info!(bfd = %entry.instance.name, "BFD session can run now");
                entry.tx = Ok(tx);
                let disc = entry.session.local_disc();
                entry.session = Session::new(timing(&entry.instance), disc, now);
                true
            }
            Err(why) => {
                entry.tx = Err(why);
                let (at, gen) = (now + RETRY, entry.gen);
                if entry.armed != Some(at) {
                    entry.armed = Some(at);
                    self.heap.push(Reverse((at, slot, gen)));
                }
                false
            }
        }
    }
}
