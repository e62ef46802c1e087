//! The checker's side of the reconciler: the probes a config asks for, and
//! the verdicts and weights they report.
//!
//! A probe is a distinct check ([`super::probe_index`]); one probe may
//! decide the health of many real servers ([`super::rs_probes`]). A verdict
//! that changes a probe's health marks the virtual servers it serves for
//! the next plan ([`super::dirty`]).

use std::collections::HashSet;

use super::Reconciler;
use crate::checker::{ProbeSpec, WeightAsk};

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
    /// `ha_suspend`), with their current health. Made one at a time, as the
    /// engine takes them: no list of 100,000 spec copies at once.
    pub fn probes_except<'a>(
        &'a self,
        suspended: &HashSet<usize>,
    ) -> impl Iterator<Item = (ProbeSpec, bool)> + 'a {
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
            .map(|(id, up)| (self.probes.spec(&self.config, id), *up))
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
        let id = self.probes.find(&self.config, spec);
        if let Some(id) = id {
            self.first_round.report(id);
        }
        match id {
            Some(id) if self.health[id] != up => {
                self.health[id] = up;
                self.dirty.probe(id);
                true
            }
            _ => false,
        }
    }

    /// Record what a check asked of its real servers' weight (see
    /// `dynamic_weight`). Unknown probes are ignored. Returns whether
    /// anything changed.
    pub fn set_weight(&mut self, spec: &ProbeSpec, ask: WeightAsk) -> bool {
        match self.probes.find(&self.config, spec) {
            Some(id) if self.weights.set(id, ask) => {
                self.dirty.probe(id);
                true
            }
            _ => false,
        }
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
