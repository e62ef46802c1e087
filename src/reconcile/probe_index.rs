//! The distinct probes of a config, found again by their [`ProbeSpec`]
//! without keeping a copy of every spec.
//!
//! A probe is identified by its check (location aside, see
//! [`ProbeSpec::new`]). The config already holds every check, so the index
//! stores only where each probe's first check sits (`[vs][rs][check]`) and
//! the probe ids chained by hash (`Chains`): some 36 bytes a probe
//! instead of a ~280-byte spec plus a hash map entry. A lookup hashes the
//! check, then compares it with the config's check of each probe in its
//! chain (about one).
//!
//! The index is built in one pass over the config: each check is hashed,
//! compared with the probes already in its chain, and given the id of the
//! equal one, or a new id at the head of the chain. The chains are sized
//! once, for as many probes as there are checks, so nothing grows or is
//! sorted on the way: some 230 instructions a check, 90 of them hashing
//! it, where a hash map grown insert by insert, then a sort of the
//! hashes, cost some 650.
//!
//! A verdict names its probe by the spec the engine was given, and that
//! spec shares the config's `Arc<Check>` of the probe's first check. So a
//! verdict is found by that pointer first (`by_ptr`, one multiply to hash
//! it): hashing and comparing a whole check for every verdict was ~4.5% of
//! lvsd's CPU at 5,000 probes a second. The pointer is a sound identity:
//! the config holds every check it points to, so no other allocation can
//! have its address while the index lives. A spec from an earlier config
//! (a verdict that was on its way during a reload) falls back to the
//! comparison, as before.

use std::hash::BuildHasher;
use std::sync::Arc;

use crate::checker::ProbeSpec;
use crate::config::{Check, Config};
use rustc_hash::{FxBuildHasher, FxHashMap};

/// Where a check is in a config: virtual server, real server, check.
type Position = (usize, usize, usize);

/// Distinct probes by id, each found by its spec.
#[derive(Debug, Default)]
pub struct ProbeIndex {
    /// Position of each probe's first check, by id.
    at: Vec<Position>,
    /// Probe ids by the hash of their check.
    by_hash: Chains,
    /// Probe ids by the address of their first check (see the module docs).
    by_ptr: FxHashMap<usize, u32>,
}

/// A check's hash (unkeyed: equal checks hash equal across calls). A
/// [`ProbeSpec`] hashes as its check does.
///
/// FxHash (`rustc-hash`), not std's SipHash: a check is its addresses,
/// ports, timers and options, and SipHash spent some 3,500 instructions on
/// one, for every one of 20,000 probes, several times a start. SipHash's
/// key resists hash flooding from the network; these come from the
/// administrator's own config.
fn check_hash(check: &Check) -> u64 {
    FxBuildHasher.hash_one(check)
}

/// The address of a shared check, the key of `by_ptr`.
fn check_ptr(check: &Arc<Check>) -> usize {
    Arc::as_ptr(check) as usize
}

fn check_at(config: &Config, (v, r, c): Position) -> &Arc<Check> {
    &config.virtual_servers[v].real_servers[r].checks[c]
}

/// The end of a chain.
const END: u32 = u32::MAX;

/// A hash table of numbers `0, 1, 2...` (added in that order) chained by
/// the low bits of their hashes: a power of two of chains, at least as many
/// as numbers, so that a chain holds about one.
#[derive(Debug, Default)]
struct Chains {
    /// The latest number added to each chain.
    heads: Vec<u32>,
    /// The number added to the same chain before each number.
    next: Vec<u32>,
}

impl Chains {
    /// Empty chains for up to about `n` numbers.
    fn for_up_to(n: usize) -> Self {
        Chains {
            heads: vec![END; n.next_power_of_two()],
            next: Vec::with_capacity(n),
        }
    }

    /// The chain of `hash`, if there are chains at all.
    fn chain(&self, hash: u64) -> Option<usize> {
        let mask = self.heads.len().checked_sub(1)?;
        Some(hash as usize & mask)
    }

    /// The numbers whose hash falls in the chain of `hash` (some may have
    /// another hash), latest first.
    fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let link = |i: u32| (i != END).then_some(i as usize);
        let head = self.chain(hash).and_then(|c| link(self.heads[c]));
        std::iter::successors(head, move |i| link(self.next[*i]))
    }

    /// Add the next number, with `hash`. Ignored without chains (none was
    /// made for [`Chains::default`]).
    fn push(&mut self, hash: u64) {
        if let Some(c) = self.chain(hash) {
            self.next.push(self.heads[c]);
            self.heads[c] = (self.next.len() - 1) as u32;
        }
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
        let mut ids = Vec::with_capacity(count);
        let mut at = Vec::with_capacity(count);
        // Each probe's check, by id, for the comparisons.
        let mut first: Vec<&Check> = Vec::with_capacity(count);
        let mut by_hash = Chains::for_up_to(count);
        for (v, vs) in config.virtual_servers.iter().enumerate() {
            for (r, rs) in vs.real_servers.iter().enumerate() {
                for (c, check) in rs.checks.iter().enumerate() {
                    let hash = check_hash(check);
                    let same = by_hash.candidates(hash).find(|id| *first[*id] == **check);
                    let id = same.unwrap_or_else(|| {
                        at.push((v, r, c));
                        first.push(check);
                        by_hash.push(hash);
                        at.len() - 1
                    });
                    ids.push(id as u32);
                }
            }
        }
        at.shrink_to_fit();
        // Far fewer probes than checks (a check shared by many real
        // servers): chains for the probes alone.
        if at.len().next_power_of_two() < by_hash.heads.len() {
            by_hash = Chains::for_up_to(at.len());
            for check in &first {
                by_hash.push(check_hash(check));
            }
        }
        let mut by_ptr = FxHashMap::with_capacity_and_hasher(first.len(), FxBuildHasher);
        for (id, position) in at.iter().enumerate() {
            by_ptr.insert(check_ptr(check_at(config, *position)), id as u32);
        }
        (
            ProbeIndex {
                at,
                by_hash,
                by_ptr,
            },
            ids,
        )
    }

    /// How many probes.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// The check of probe `id` in `config` (the config the index was built from).
    pub fn check<'c>(&self, config: &'c Config, id: usize) -> &'c Arc<Check> {
        check_at(config, self.at[id])
    }

    /// The spec of probe `id` in `config` (the config the index was built from).
    pub fn spec(&self, config: &Config, id: usize) -> ProbeSpec {
        ProbeSpec::shared(check_at(config, self.at[id]))
    }

    /// The id of `spec` in `config`, if it is one of its probes: by the
    /// address of its check when it is the config's own (the engine's specs
    /// are), else by comparing checks.
    #[inline]
    pub fn find(&self, config: &Config, spec: &ProbeSpec) -> Option<usize> {
        match self.by_ptr.get(&check_ptr(&spec.check)) {
            Some(&id) => Some(id as usize),
            None => self.find_check(config, &spec.check),
        }
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

    fn loaded(text: &str) -> Config {
        crate::config::load_bytes(
            std::path::Path::new("k.conf"),
            text.as_bytes().to_vec(),
            &crate::config::LoadOptions::default(),
        )
        .unwrap()
        .config
    }

    #[test]
    fn find_knows_the_configs_checks_by_address_and_others_by_value() {
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n\
             real_server 127.0.0.2 80 {\n  TCP_CHECK {\n  }\n }\n\
             real_server 127.0.0.3 80 {\n  TCP_CHECK {\n  }\n }\n\
             real_server 127.0.0.2 81 {\n  TCP_CHECK {\n   connect_port 80\n  }\n }\n}\n";
        let config = loaded(text);
        let (index, ids) = ProbeIndex::build(&config);
        // Two probes: the third real server's check is the first's.
        assert_eq!((index.len(), ids), (2, vec![0, 1, 0]));
        for id in 0..index.len() {
            // The engine's spec (the config's own check) ...
            let spec = index.spec(&config, id);
            assert_eq!(index.find(&config, &spec), Some(id));
            // ... and an equal check from elsewhere (a verdict sent before
            // a reload) are both found.
            let copy = ProbeSpec::new(index.check(&config, id));
            assert!(!Arc::ptr_eq(&copy.check, index.check(&config, id)));
            assert_eq!(index.find(&config, &copy), Some(id));
        }
        // The same text parsed again: other allocations, same probes.
        let again = loaded(text);
        let (other, _) = ProbeIndex::build(&again);
        assert_eq!(index.find(&config, &other.spec(&again, 1)), Some(1));
        // A check this config does not have.
        let absent = loaded(&text.replace("127.0.0.3", "127.0.0.4"));
        let (absent_index, _) = ProbeIndex::build(&absent);
        assert_eq!(index.find(&config, &absent_index.spec(&absent, 1)), None);
    }

    #[test]
    fn chains_hold_every_number_once_latest_first() {
        // Colliding and repeated hashes, and more numbers than chains.
        let hashes = [7, 3, 7, 0, 15, 7, 1];
        let mut chains = Chains::for_up_to(4);
        for hash in hashes {
            chains.push(hash);
        }
        let mut seen = Vec::new();
        for (i, hash) in hashes.iter().enumerate() {
            let candidates: Vec<usize> = chains.candidates(*hash).collect();
            assert!(candidates.contains(&i));
            assert!(candidates.windows(2).all(|w| w[0] > w[1]));
            seen.extend(candidates);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..hashes.len()).collect::<Vec<_>>());
        assert_eq!(Chains::for_up_to(0).candidates(5).count(), 0);
        let mut none = Chains::default();
        none.push(5);
        assert_eq!(none.candidates(5).count(), 0);
    }
}
