//! The distinct probes of a config, found again by their [`ProbeSpec`]
//! without keeping a copy of every spec.
//!
//! A probe is identified by its check (location aside, see
//! [`ProbeSpec::new`]). The config already holds every check, so the index
//! stores only where each probe's first check sits (`[vs][rs][check]`) and a
//! sorted list of spec hashes: 40 bytes a probe instead of a ~280-byte spec
//! plus a hash map entry. A lookup hashes the spec, then compares it with the
//! config's check at each position that has the same hash.

use std::hash::BuildHasher;
use std::sync::Arc;

use crate::checker::ProbeSpec;
use crate::config::{Check, Config};
use crate::fx_hash::{FxBuildHasher, FxHashMap};

/// Where a check is in a config: virtual server, real server, check.
type Position = (usize, usize, usize);

/// Distinct probes by id, each found by its spec.
#[derive(Debug, Default)]
pub struct ProbeIndex {
    /// Position of each probe's first check, by id.
    at: Vec<Position>,
    /// `(hash of the spec, id)`, sorted.
    by_hash: Vec<(u64, usize)>,
}

/// A spec's hash (unkeyed: equal specs hash equal across calls).
fn spec_hash(spec: &ProbeSpec) -> u64 {
    FxBuildHasher::default().hash_one(spec)
}

fn check_at(config: &Config, (v, r, c): Position) -> &Arc<Check> {
    &config.virtual_servers[v].real_servers[r].checks[c]
}

/// Index being built: lookups while probes are still being added.
#[derive(Debug, Default)]
pub struct Builder {
    index: ProbeIndex,
    /// The latest id with each hash; `earlier[id]` is the one before it.
    latest: FxHashMap<u64, usize>,
    earlier: Vec<Option<usize>>,
}

impl Builder {
    /// The id of `spec` (the check at `pos` of `config`): an existing
    /// probe's, or a new one's. Returns the id and whether it is new.
    pub fn add(&mut self, config: &Config, pos: Position, spec: &ProbeSpec) -> (usize, bool) {
        let hash = spec_hash(spec);
        let latest = self.latest.get(&hash).copied();
        let mut candidate = latest;
        while let Some(id) = candidate {
            if **check_at(config, self.index.at[id]) == *spec.check {
                return (id, false);
            }
            candidate = self.earlier[id];
        }
        let id = self.index.at.len();
        self.index.at.push(pos);
        self.index.by_hash.push((hash, id));
        self.earlier.push(latest);
        self.latest.insert(hash, id);
        (id, true)
    }

    /// The finished index.
    pub fn finish(self) -> ProbeIndex {
        let mut index = self.index;
        index.by_hash.sort_unstable();
        index.at.shrink_to_fit();
        index.by_hash.shrink_to_fit();
        index
    }
}

impl ProbeIndex {
    /// How many probes.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// The spec of probe `id` in `config` (the config the index was built from).
    pub fn spec(&self, config: &Config, id: usize) -> ProbeSpec {
        ProbeSpec::shared(check_at(config, self.at[id]))
    }

    /// The id of `spec` in `config`, if it is one of its probes.
    pub fn find(&self, config: &Config, spec: &ProbeSpec) -> Option<usize> {
        let hash = spec_hash(spec);
        let start = self.by_hash.partition_point(|(h, _)| *h < hash);
        self.by_hash[start..]
            .iter()
            .take_while(|(h, _)| *h == hash)
            .map(|(_, id)| *id)
            .find(|id| self.spec(config, *id) == *spec)
    }
}
