//! The distinct probes of a config, found again by their [`ProbeSpec`]
//! without keeping a copy of every spec.
//!
//! A probe is identified by its check (location aside, see
//! [`ProbeSpec::new`]). The config already holds every check, so the index
//! stores only where each probe's first check sits (`[vs][rs][check]`) and
//! the probe ids grouped by hash ([`Buckets`]): some 32 bytes a probe
//! instead of a ~280-byte spec plus a hash map entry. A lookup hashes the
//! check, then compares it with the config's check of each probe in its
//! bucket (about one).
//!
//! The index is built in passes over the whole config rather than probe by
//! probe: hash every check, group the checks by hash, then give each check
//! the id of the first equal check before it, or a new one. Grouping is a
//! counting sort (count, then place), a few instructions a check where a
//! hash map grown insert by insert, then a sort, cost some 600.

use std::hash::BuildHasher;
use std::sync::Arc;

use crate::checker::ProbeSpec;
use crate::config::{Check, Config};
use crate::fx_hash::FxBuildHasher;

/// Where a check is in a config: virtual server, real server, check.
type Position = (usize, usize, usize);

/// Distinct probes by id, each found by its spec.
#[derive(Debug, Default)]
pub struct ProbeIndex {
    /// Position of each probe's first check, by id.
    at: Vec<Position>,
    /// Probe ids by the hash of their check.
    by_hash: Buckets,
}

/// A check's hash (unkeyed: equal checks hash equal across calls). A
/// [`ProbeSpec`] hashes as its check does.
fn check_hash(check: &Check) -> u64 {
    FxBuildHasher::default().hash_one(check)
}

fn check_at(config: &Config, (v, r, c): Position) -> &Arc<Check> {
    &config.virtual_servers[v].real_servers[r].checks[c]
}

/// A hash table laid out flat: numbers `0..n` grouped by the low bits of
/// their hashes, a power of two of groups (buckets), at least as many as
/// numbers, so a bucket holds about one. Each bucket lists its numbers in
/// increasing order.
#[derive(Debug, Default)]
struct Buckets {
    /// Bucket `b`'s numbers are `members[starts[b]..starts[b + 1]]`.
    starts: Vec<u32>,
    members: Vec<u32>,
}

impl Buckets {
    /// Numbers `0..hashes.len()`, number `i` with hash `hashes[i]`.
    fn new(hashes: &[u64]) -> Self {
        let count = hashes.len().next_power_of_two();
        let mask = count - 1;
        // Count each bucket's numbers, then where each bucket starts.
        let mut starts = vec![0u32; count + 1];
        for hash in hashes {
            starts[(*hash as usize & mask) + 1] += 1;
        }
        for b in 1..=count {
            starts[b] += starts[b - 1];
        }
        // Place the numbers, in increasing order, at each bucket's cursor.
        let mut cursor = starts[..count].to_vec();
        let mut members = vec![0u32; hashes.len()];
        for (i, hash) in hashes.iter().enumerate() {
            let at = &mut cursor[*hash as usize & mask];
            members[*at as usize] = i as u32;
            *at += 1;
        }
        Buckets { starts, members }
    }

    /// The numbers whose hash falls in the bucket of `hash` (some may
    /// have another hash).
    fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let b = hash as usize & self.starts.len().saturating_sub(2);
        let range = match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(from), Some(to)) => *from as usize..*to as usize,
            _ => 0..0,
        };
        self.members[range].iter().map(|i| *i as usize)
    }
}

impl ProbeIndex {
    /// The distinct probes of `config`, and the probe id of each of its
    /// checks, in config order. Ids are given in order of first appearance.
    pub fn build(config: &Config) -> (ProbeIndex, Vec<u32>) {
        let count = config
            .virtual_servers
            .iter()
            .flat_map(|vs| &vs.real_servers)
            .map(|rs| rs.checks.len())
            .sum();
        let mut all: Vec<&Check> = Vec::with_capacity(count);
        let mut hashes = Vec::with_capacity(count);
        for vs in &config.virtual_servers {
            for rs in &vs.real_servers {
                for check in &rs.checks {
                    all.push(check);
                    hashes.push(check_hash(check));
                }
            }
        }
        let by_check = Buckets::new(&hashes);
        let mut ids = Vec::with_capacity(all.len());
        let mut at = Vec::new();
        let mut i = 0;
        for (v, vs) in config.virtual_servers.iter().enumerate() {
            for (r, rs) in vs.real_servers.iter().enumerate() {
                for c in 0..rs.checks.len() {
                    // The first check equal to this one: an earlier one in
                    // its bucket, else itself (a bucket is in order).
                    let first = by_check
                        .candidates(hashes[i])
                        .find(|j| *j == i || all[*j] == all[i])
                        .unwrap_or(i);
                    let id = if first == i {
                        at.push((v, r, c));
                        at.len() - 1
                    } else {
                        ids[first] as usize
                    };
                    ids.push(id as u32);
                    i += 1;
                }
            }
        }
        // Every check its own probe (the usual case): the probes' buckets
        // are the checks'.
        let by_hash = if at.len() == all.len() {
            by_check
        } else {
            // A probe's hash is its first check's: the check where its id
            // first appears (ids appear in increasing order).
            let mut next = 0;
            let probe_hashes: Vec<u64> = hashes
                .iter()
                .zip(&ids)
                .filter(|(_, id)| {
                    let first = **id == next;
                    next += u32::from(first);
                    first
                })
                .map(|(hash, _)| *hash)
                .collect();
            Buckets::new(&probe_hashes)
        };
        let index = ProbeIndex { at, by_hash };
        (index, ids)
    }

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
        self.find_check(config, &spec.check)
    }

    /// The id of the probe of `check` in `config`, if it is one of its probes.
    #[inline]
    pub fn find_check(&self, config: &Config, check: &Check) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        self.by_hash
            .candidates(check_hash(check))
            .find(|id| **check_at(config, self.at[*id]) == *check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_every_number_once_in_order() {
        // Colliding and repeated hashes, and more numbers than one bucket.
        let hashes = [7, 3, 7, 0, 15, 7, 1];
        let b = Buckets::new(&hashes);
        let mut seen = Vec::new();
        for (i, hash) in hashes.iter().enumerate() {
            let candidates: Vec<usize> = b.candidates(*hash).collect();
            assert!(candidates.contains(&i));
            assert!(candidates.windows(2).all(|w| w[0] < w[1]));
            seen.extend(candidates);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..hashes.len()).collect::<Vec<_>>());
        assert_eq!(Buckets::new(&[]).candidates(5).count(), 0);
        assert_eq!(Buckets::default().candidates(5).count(), 0);
    }
}
