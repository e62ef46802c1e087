//! The distinct probes of a config, found again by their [`ProbeSpec`]
//! without keeping a copy of every spec.
//!
//! A probe is identified by its check (location aside, see
//! [`ProbeSpec::new`]). The config already holds every check, so the index
//! stores only where each probe's first check sits (`[vs][rs][check]`) and
//! the probe ids in a `hashbrown::HashTable` keyed by their check's hash,
//! the check itself read from the config when needed: some 36 bytes a
//! probe instead of a ~280-byte spec plus a hash map entry. A lookup hashes
//! the check, then compares it with the config's check of each probe whose
//! hash matches (about one).
//!
//! The index is built in one pass over the config: each check is hashed,
//! compared with the probes already under that hash, and given the id of
//! the equal one, or a new id. The table is sized once, for as many probes
//! as there are checks, so nothing is hashed again on the way.
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
use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

/// Where a check is in a config: virtual server, real server, check.
type Position = (usize, usize, usize);

/// Distinct probes by id, each found by its spec.
#[derive(Debug, Default)]
pub struct ProbeIndex {
    /// Position of each probe's first check, by id.
    at: Vec<Position>,
    /// Probe ids by the hash of their check.
    by_hash: HashTable<u32>,
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
        // Sized once for every check, so nothing is hashed again as it fills.
        let mut by_hash = HashTable::with_capacity(count);
        for (v, vs) in config.virtual_servers.iter().enumerate() {
            for (r, rs) in vs.real_servers.iter().enumerate() {
                for (c, check) in rs.checks.iter().enumerate() {
                    let hash = check_hash(check);
                    let id = match by_hash.find(hash, |id: &u32| *first[*id as usize] == **check) {
                        Some(&id) => id,
                        None => {
                            let id = at.len() as u32;
                            by_hash.insert_unique(hash, id, |id: &u32| {
                                check_hash(first[*id as usize])
                            });
                            at.push((v, r, c));
                            first.push(check);
                            id
                        }
                    };
                    ids.push(id);
                }
            }
        }
        at.shrink_to_fit();
        // Far fewer probes than checks (a check shared by many real
        // servers): room for the probes alone.
        by_hash.shrink_to_fit(|id: &u32| check_hash(first[*id as usize]));
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
            .find(check_hash(check), |id| {
                **check_at(config, self.at[*id as usize]) == *check
            })
            .map(|&id| id as usize)
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
}
