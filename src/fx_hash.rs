//! A fast hasher for lvsd's own maps of probes and checks.
//!
//! The standard library's SipHash is keyed against hash flooding, which
//! matters for maps filled from the network. lvsd's big maps are filled
//! from its own config, and a probe's identity is a whole check (addresses,
//! ports, timers, options): with SipHash, hashing one cost some 3,500
//! instructions, and a start hashed every one of 20,000 probes several
//! times over. This is the add-and-multiply hash rustc uses for its own
//! tables (FxHash, in the form of rustc-hash 2): a few instructions a word,
//! and a final rotation that moves the best-mixed bits to where hashbrown
//! looks (the top seven bits and the low ones).
//!
//! Hashes are not stable across lvsd versions; nothing stores them.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`FxHasher`]s: `HashMap<K, V, FxBuildHasher>`.
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;

/// A `HashMap` hashed with [`FxHasher`].
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuildHasher>;

/// FxHash: each word is folded in as `(h + word) * K`.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = self.hash.wrapping_add(word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash + ?Sized>(v: &T) -> u64 {
        FxBuildHasher::default().hash_one(v)
    }

    #[test]
    fn equal_values_hash_equal_and_near_ones_apart() {
        assert_eq!(hash(&("10.0.0.1", 80u16)), hash(&("10.0.0.1", 80u16)));
        assert_ne!(hash(&("10.0.0.1", 80u16)), hash(&("10.0.0.1", 81u16)));
        assert_ne!(hash(&"ab"), hash(&"ab\0"));
        assert_ne!(hash(&[1u8, 2][..]), hash(&[2u8, 1][..]));
        let spread: std::collections::HashSet<u64> =
            (0u32..10_000).map(|i| hash(&i) >> 52).collect();
        assert!(spread.len() > 3_000, "top bits spread: {}", spread.len());
    }
}
