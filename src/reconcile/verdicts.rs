//! The checker's side of the reconciler: the probes a config asks for, and
//! the verdicts and weights they report.
//!
//! A probe is a distinct check ([`super::probe_index`]); one probe may
//! decide the health of many real servers ([`super::rs_probes`]). A verdict
//! that changes a probe's health marks the virtual servers it serves for
//! the next plan ([`super::dirty`]).
//!
//! The engine is given each probe with its id as key
//! ([`Reconciler::probes_except`], `Engine::set_keyed_probes`), and a
//! verdict carries it back: [`Reconciler::verdict`] finds the probe by that
//! id when the key comes from the engine call that keyed this config's
//! probes ([`Reconciler::keyed_by`]), else by its spec.

use std::collections::HashSet;

use super::Reconciler;
use crate::checker::{HealthEvent, ProbeSpec, WeightAsk};

impl Reconciler {
    /// Every distinct probe with its current health: what the engine runs.
    pub fn probes(&self) -> Vec<(ProbeSpec, bool)> {
        (0..self.probe_count())
            .map(|id| self.probes.spec(&self.config, id))
            .zip(self.health.iter().copied())
            .collect()
    }

    /// How many distinct probes the config asks for.
    pub fn probe_count(&self) -> usize {
        self.probes.len()
    }

    /// The probes that serve at least one virtual server not in
    /// `suspended` (indices into the config's virtual servers; see
    /// `ha_suspend`), with their current health and their id (the key for
    /// `Engine::set_keyed_probes`; tell [`Reconciler::keyed_by`] the call's
    /// number). Made one at a time, as the engine takes them: no list of
    /// 100,000 spec copies at once.
    pub fn probes_except<'a>(
        &'a self,
        suspended: &HashSet<usize>,
    ) -> impl Iterator<Item = (ProbeSpec, bool, u32)> + 'a {
        let active: Option<Vec<bool>> = (!suspended.is_empty()).then(|| {
            let mut active = vec![false; self.probes.len()];
            for v in 0..self.rs_probes.vs_count() {
                if !suspended.contains(&v) {
                    for id in self.rs_probes.of_vs(v) {
                        active[id] = true;
                    }
                }
            }
            active
        });
        self.health
            .iter()
            .enumerate()
            .filter(move |(id, _)| active.as_ref().is_none_or(|a| a[*id]))
            .map(|(id, up)| (self.probes.spec(&self.config, id), *up, id as u32))
    }

    /// The engine's probes are this config's, keyed by their ids, from its
    /// `set_keyed_probes` call number `set` on.
    pub fn keyed_by(&mut self, set: u32) {
        self.keyed_set = Some(set);
    }

    /// Record a probe's verdict: its health, and what it asks of the
    /// weight (`misc_dynamic`, a weighted `FILE_CHECK`). Unknown probes
    /// (from a config since replaced) are ignored. Returns whether anything
    /// changed.
    pub fn verdict(&mut self, event: &HealthEvent) -> bool {
        let keyed =
            Some(event.key.set) == self.keyed_set && (event.key.key as usize) < self.probes.len();
        let id = if keyed {
            Some(event.key.key as usize)
        } else {
            self.probes.find(&self.config, &event.probe)
        };
        let Some(id) = id else {
            return false;
        };
        let mut changed = self.health_of(id, event.up);
        if let Some(ask) = event.result.weight {
            changed |= self.weight_of(id, ask);
        }
        changed
    }

    /// How many real servers (over all virtual servers) each probe serves.
    pub fn probe_fanout(&self) -> Vec<usize> {
        let mut n = vec![0; self.probes.len()];
        for id in self.rs_probes.all() {
            n[id] += 1;
        }
        n
    }

    /// [`Self::probe_fanout`] by probe, for views that list the engine's
    /// probes (the state dump, `ctl show probes`).
    pub fn probe_fanout_by_spec(&self) -> std::collections::HashMap<ProbeSpec, usize> {
        self.probes()
            .into_iter()
            .map(|(spec, _)| spec)
            .zip(self.probe_fanout())
            .collect()
    }

    /// Record a probe's verdict. Unknown probes (from a config since
    /// replaced) are ignored. Returns whether anything changed.
    pub fn set_health(&mut self, spec: &ProbeSpec, up: bool) -> bool {
        self.probes
            .find(&self.config, spec)
            .is_some_and(|id| self.health_of(id, up))
    }

    /// Probe `id` is `up` (or not); whether that changed its health.
    fn health_of(&mut self, id: usize, up: bool) -> bool {
        self.first_round.report(id);
        if self.health[id] == up {
            return false;
        }
        self.health[id] = up;
        self.dirty.probe(id);
        true
    }

    /// Record what a check asked of its real servers' weight (see
    /// `dynamic_weight`). Unknown probes are ignored. Returns whether
    /// anything changed.
    pub fn set_weight(&mut self, spec: &ProbeSpec, ask: WeightAsk) -> bool {
        self.probes
            .find(&self.config, spec)
            .is_some_and(|id| self.weight_of(id, ask))
    }

    /// Probe `id` asks `ask` of the weight; whether that changed it.
    fn weight_of(&mut self, id: usize, ask: WeightAsk) -> bool {
        if !self.weights.set(id, ask) {
            return false;
        }
        self.dirty.probe(id);
        true
    }

    /// True once per config, when the last of its probes has given its
    /// first verdict (see `first_round`).
    pub fn first_round_just_completed(&mut self) -> bool {
        self.first_round.just_completed()
    }

    /// How many probes have not given their first verdict yet.
    pub fn probes_without_verdict(&self) -> usize {
        self.first_round.missing()
    }

    /// How many probes are up now.
    pub fn probes_up(&self) -> usize {
        self.health.iter().filter(|up| **up).count()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{spec, two_by_three};
    use super::*;
    use crate::checker::{ProbeKey, ProbeResult};
    use std::sync::Arc;
    use std::time::Duration;

    fn event(spec: ProbeSpec, key: ProbeKey, up: bool) -> HealthEvent {
        HealthEvent {
            probe: Arc::new(spec),
            key,
            up,
            changed: true,
            result: ProbeResult {
                ok: up,
                reason: "test".into(),
                latency: Duration::ZERO,
                weight: None,
            },
        }
    }

    fn up_of(r: &Reconciler, s: &ProbeSpec) -> bool {
        r.probes().into_iter().any(|(p, up)| p == *s && up)
    }

    /// A verdict keyed by the engine call that keyed this config's probes
    /// is found by its id; any other by its spec, so a verdict sent before
    /// a reload, whose id may now be another probe's, lands on its own.
    #[test]
    fn a_verdict_is_found_by_its_key_when_the_key_is_this_configs() {
        let mut r = Reconciler::new(two_by_three());
        let keyed: Vec<_> = r.probes_except(&HashSet::new()).collect();
        assert_eq!(keyed.len(), 6);
        assert!(keyed.iter().enumerate().all(|(i, p)| p.2 == i as u32));
        let second = keyed[1].0.clone();
        r.keyed_by(7);
        // The key decides: a spec this config has not is still probe 1's
        // verdict when its key says so (no spec is looked at).
        let stranger = spec("192.0.2.99", 80);
        assert!(r.verdict(&event(stranger.clone(), ProbeKey { set: 7, key: 1 }, false)));
        assert!(!up_of(&r, &second));
        // A key from another call: found by spec (unknown: ignored).
        assert!(!r.verdict(&event(stranger, ProbeKey { set: 6, key: 2 }, false)));
        let third = keyed[2].0.clone();
        assert!(up_of(&r, &third));
        assert!(r.verdict(&event(third.clone(), ProbeKey { set: 6, key: 0 }, false)));
        assert!(!up_of(&r, &third) && up_of(&r, &keyed[0].0));
        // A reload renumbers the probes: the old call's keys are not
        // trusted, even with the same call number, until told again.
        let mut reordered = two_by_three();
        reordered.virtual_servers.reverse();
        assert!(r.reload(reordered).changed);
        let first_now = r.probes_except(&HashSet::new()).next().unwrap().0;
        assert!(up_of(&r, &first_now));
        assert!(r.verdict(&event(second.clone(), ProbeKey { set: 7, key: 0 }, true)));
        assert!(up_of(&r, &second) && up_of(&r, &first_now));
    }
}
