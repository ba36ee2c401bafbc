//! A fast hasher whose output never changes between processes, machines or Rust releases.
//!
//! Key-group assignment must be identical in every process of a job and across savepoint
//! restores, so it cannot use `std`'s randomly seeded hasher. The same hasher backs the heap
//! state maps, where its speed matters more than DoS resistance (keys come from the job itself).

use std::hash::{BuildHasher, Hash, Hasher};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Multiply-rotate hasher over 8-byte words with a murmur-style finaliser.
#[derive(Clone, Copy, Default)]
pub struct StableHasher {
    state: u64,
}

impl StableHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for StableHasher {
    #[inline]
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
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // fmix64 from MurmurHash3: spreads low-entropy inputs over all bits.
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// `BuildHasher` for maps keyed by record keys.
#[derive(Clone, Copy, Default)]
pub struct BuildStableHasher;

impl BuildHasher for BuildStableHasher {
    type Hasher = StableHasher;
    fn build_hasher(&self) -> StableHasher {
        StableHasher::default()
    }
}

/// A `HashMap` using the stable hasher.
pub type StableHashMap<K, V> = std::collections::HashMap<K, V, BuildStableHasher>;

/// The stable 64-bit hash of a value.
pub fn stable_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = StableHasher::default();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_pinned_so_key_groups_survive_restarts_and_upgrades() {
        // These values are part of the savepoint format: changing them moves keys between
        // key groups and breaks restores of existing savepoints.
        assert_eq!(stable_hash("hello"), stable_hash(&"hello".to_string()));
        assert_eq!(stable_hash(&42u64), stable_hash(&42u64));
        assert_ne!(stable_hash("hello"), stable_hash("hellp"));
        let pinned = [
            stable_hash("hello"),
            stable_hash(&7i64),
            stable_hash(&("a", 1u32)),
        ];
        assert_eq!(
            pinned,
            [
                0x20e3_81bb_7cb0_b91c,
                0x3e27_8dca_8801_4e2a,
                0x3604_1351_bc93_d21b
            ],
            "{pinned:x?}"
        );
    }
}
