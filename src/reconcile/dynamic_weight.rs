//! Weights that checks ask for: `MISC_CHECK` with `misc_dynamic`.
//!
//! A dynamic check's command says how loaded its real server is through its
//! exit status: 2–255 asks for weight `status - 2` (see
//! [`crate::checker::ProbeResult::weight`]). The weight belongs to the probe,
//! so every real server the check serves takes it, in place of the weight
//! the config gives, until the next one comes; exit 0 leaves it as it is.
//! A reload keeps the weight of a probe that stays.
//!
//! Few configs have dynamic checks, so the weights are kept by probe id in
//! a map that is usually empty, and a plan looks at it only when it is not.

use crate::fx_hash::FxHashMap;

/// The latest weight each dynamic probe asked for, by probe id.
#[derive(Debug, Default)]
pub struct DynamicWeights {
    by_probe: FxHashMap<usize, u32>,
}

impl DynamicWeights {
    /// Probe `id` asks for `weight`; whether that changes anything.
    pub fn set(&mut self, id: usize, weight: u32) -> bool {
        self.by_probe.insert(id, weight) != Some(weight)
    }

    /// Whether no probe has asked for a weight (the usual case).
    pub fn is_empty(&self) -> bool {
        self.by_probe.is_empty()
    }

    /// The weight asked for by the first of `ids` (a real server's probes)
    /// that asked for one.
    pub fn of(&self, ids: impl Iterator<Item = usize>) -> Option<i32> {
        if self.by_probe.is_empty() {
            return None;
        }
        ids.into_iter()
            .find_map(|id| self.by_probe.get(&id))
            .map(|w| *w as i32)
    }

    /// The weights carried to a new config's probes: `old_id(new id)` is
    /// the probe's id under the old config, if it had one.
    pub fn carried(&self, probes: usize, old_id: impl Fn(usize) -> Option<usize>) -> Self {
        let mut out = DynamicWeights::default();
        if self.by_probe.is_empty() {
            return out;
        }
        for id in 0..probes {
            if let Some(w) = old_id(id).and_then(|old| self.by_probe.get(&old)) {
                out.by_probe.insert(id, *w);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weight_changes_once_and_is_found_through_any_of_its_probes() {
        let mut w = DynamicWeights::default();
        assert_eq!(w.of([0, 1].into_iter()), None);
        assert!(w.set(1, 7));
        assert!(!w.set(1, 7), "the same weight again changes nothing");
        assert_eq!(w.of([0, 1].into_iter()), Some(7));
        assert_eq!(w.of([0, 2].into_iter()), None);
        assert!(w.set(1, 0));
        assert_eq!(w.of([1].into_iter()), Some(0));
        // Old probe 1 is new probe 3; new probe 0 was not there before.
        let carried = w.carried(4, |id| (id == 3).then_some(1));
        assert_eq!(carried.of([3].into_iter()), Some(0));
        assert_eq!(carried.of([0, 1, 2].into_iter()), None);
    }
}
