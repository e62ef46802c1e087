//! Weights that checks ask for: `MISC_CHECK` with `misc_dynamic` sets one,
//! a weighted `FILE_CHECK` adds to it.
//!
//! Each ask belongs to a probe ([`WeightAsk`], the latest its results
//! carried), so every real server the probe serves takes it, until the next
//! one comes. A real server that is up gets, as keepalived's "effective
//! weight":
//!
//! ```text
//!   weight = clamp(base + Σ Add, 0, 2147483647)
//!   base   = the first Set among its probes, else the configured weight
//! ```
//!
//! so a `FILE_CHECK` whose file holds 3 with `weight 5` on a real server of
//! weight 10 gives 25, and -3 gives 0 (still in the table, at weight 0).
//! The asks are state of the probes, like their health: the table stays a
//! function of config and probe state, and a reload keeps the asks of the
//! probes that stay.
//!
//! Few configs have such checks, so the asks are kept by probe id in a map
//! that is usually empty, and a plan looks at it only when it is not.

use crate::checker::WeightAsk;
use rustc_hash::FxHashMap;

/// The latest weight ask of each probe that made one, by probe id.
#[derive(Debug, Default)]
pub struct DynamicWeights {
    by_probe: FxHashMap<usize, WeightAsk>,
}

impl DynamicWeights {
    /// Probe `id` asks `ask`; whether that changes anything.
    pub fn set(&mut self, id: usize, ask: WeightAsk) -> bool {
        self.by_probe.insert(id, ask) != Some(ask)
    }

    /// The weight of a real server whose probes are `ids()` and whose
    /// configured weight is `configured` (see the module docs). In the usual
    /// case, no probe asking anything, `ids` is not even called: the real
    /// server's probes are not looked up.
    pub fn of<I: Iterator<Item = usize>>(&self, ids: impl FnOnce() -> I, configured: i32) -> i32 {
        if self.by_probe.is_empty() {
            return configured;
        }
        let mut base = None;
        let mut added: i64 = 0;
        for ask in ids().filter_map(|id| self.by_probe.get(&id)) {
            match *ask {
                WeightAsk::Set(w) => {
                    base.get_or_insert(i64::from(w));
                }
                WeightAsk::Add(d) => added += i64::from(d),
            }
        }
        let weight = base.unwrap_or(i64::from(configured)) + added;
        weight.clamp(0, i64::from(i32::MAX)) as i32
    }

    /// The asks carried to a new config's probes: `old_id(new id)` is the
    /// probe's id under the old config, if it had one.
    pub fn carried(&self, probes: usize, old_id: impl Fn(usize) -> Option<usize>) -> Self {
        let mut out = DynamicWeights::default();
        if self.by_probe.is_empty() {
            return out;
        }
        for id in 0..probes {
            if let Some(ask) = old_id(id).and_then(|old| self.by_probe.get(&old)) {
                out.by_probe.insert(id, *ask);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WeightAsk::{Add, Set};

    #[test]
    fn a_set_weight_changes_once_and_is_found_through_any_of_its_probes() {
        let mut w = DynamicWeights::default();
        assert_eq!(w.of(|| [0, 1].into_iter(), 4), 4);
        assert!(w.set(1, Set(7)));
        assert!(!w.set(1, Set(7)), "the same weight again changes nothing");
        assert_eq!(w.of(|| [0, 1].into_iter(), 4), 7);
        assert_eq!(w.of(|| [0, 2].into_iter(), 4), 4);
        assert!(w.set(1, Set(0)));
        assert_eq!(w.of(|| [1].into_iter(), 4), 0);
        // Old probe 1 is new probe 3; new probe 0 was not there before.
        let carried = w.carried(4, |id| (id == 3).then_some(1));
        assert_eq!(carried.of(|| [3].into_iter(), 4), 0);
        assert_eq!(carried.of(|| [0, 1, 2].into_iter(), 4), 4);
    }

    #[test]
    fn additions_add_to_the_base_and_clamp_like_keepalived() {
        let mut w = DynamicWeights::default();
        w.set(0, Add(15));
        w.set(1, Add(-4));
        assert_eq!(w.of(|| [0].into_iter(), 10), 25);
        assert_eq!(w.of(|| [0, 1].into_iter(), 10), 21, "every addition counts");
        assert_eq!(w.of(|| [1].into_iter(), 3), 0, "below 0: weight 0");
        w.set(2, Set(100));
        assert_eq!(
            w.of(|| [0, 1, 2].into_iter(), 10),
            111,
            "a set weight is the base"
        );
        w.set(3, Add(i32::MAX));
        assert_eq!(
            w.of(|| [3, 0].into_iter(), 10),
            i32::MAX,
            "clamped at the top"
        );
        assert!(w.set(0, Add(0)));
        assert_eq!(w.of(|| [0].into_iter(), 10), 10, "value 0 adds nothing");
        // A reload keeps the additions of the probes that stay.
        let carried = w.carried(2, |id| Some(id + 1));
        assert_eq!(carried.of(|| [0].into_iter(), 10), 6);
        assert_eq!(carried.of(|| [1].into_iter(), 10), 100);
    }
}
