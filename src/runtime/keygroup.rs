//! Key groups: how keys are spread over parallel subtasks, exactly as Flink does it.
//!
//! A key hashes into one of `max_parallelism` key groups; each subtask owns a contiguous range
//! of key groups. State is stored per key group, so a job can later be restored at another
//! parallelism by handing out the ranges again (rescaling).

use serde::{Deserialize, Serialize};
use std::hash::Hash;

use crate::util::hash::stable_hash;

/// Flink's lower bound for the automatically chosen max parallelism.
pub const DEFAULT_LOWER_BOUND_MAX_PARALLELISM: usize = 128;
/// Flink's upper bound for max parallelism (key groups are addressed with 15 bits).
pub const UPPER_BOUND_MAX_PARALLELISM: usize = 1 << 15;

/// Flink's `MathUtils.murmurHash(int)`: one MurmurHash3 round plus finaliser, made non-negative.
pub fn murmur_hash(code: i32) -> i32 {
    let mut h = code.wrapping_mul(0xcc9e_2d51_u32 as i32);
    h = h.rotate_left(15);
    h = h.wrapping_mul(0x1b87_3593);
    h = h.rotate_left(13);
    h = h.wrapping_mul(5).wrapping_add(0xe654_6b64_u32 as i32);
    h ^= 4;
    h = bit_mix(h);
    if h >= 0 {
        h
    } else if h != i32::MIN {
        -h
    } else {
        0
    }
}

fn bit_mix(mut h: i32) -> i32 {
    h ^= ((h as u32) >> 16) as i32;
    h = h.wrapping_mul(0x85eb_ca6b_u32 as i32);
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(0xc2b2_ae35_u32 as i32);
    h ^= ((h as u32) >> 16) as i32;
    h
}

/// The 32-bit key hash Flink feeds into key-group assignment (Java's `hashCode` in Flink;
/// Strato's stable hash folded to 32 bits).
pub fn key_hash<K: Hash + ?Sized>(key: &K) -> i32 {
    let h = stable_hash(key);
    (h ^ (h >> 32)) as u32 as i32
}

/// `KeyGroupRangeAssignment.computeKeyGroupForKeyHash`.
pub fn key_group_for_hash(key_hash: i32, max_parallelism: usize) -> usize {
    murmur_hash(key_hash) as usize % max_parallelism
}

/// `KeyGroupRangeAssignment.assignToKeyGroup`.
pub fn assign_to_key_group<K: Hash + ?Sized>(key: &K, max_parallelism: usize) -> usize {
    key_group_for_hash(key_hash(key), max_parallelism)
}

/// `KeyGroupRangeAssignment.computeOperatorIndexForKeyGroup`.
pub fn operator_index_for_key_group(
    max_parallelism: usize,
    parallelism: usize,
    key_group: usize,
) -> usize {
    key_group * parallelism / max_parallelism
}

/// `KeyGroupRangeAssignment.assignKeyToParallelOperator`.
pub fn assign_key_to_operator<K: Hash + ?Sized>(
    key: &K,
    max_parallelism: usize,
    parallelism: usize,
) -> usize {
    operator_index_for_key_group(
        max_parallelism,
        parallelism,
        assign_to_key_group(key, max_parallelism),
    )
}

/// Flink's default max parallelism for an operator of the given parallelism:
/// `roundUpToPowerOfTwo(p + p/2)` clamped to [128, 32768].
pub fn default_max_parallelism(parallelism: usize) -> usize {
    (parallelism + parallelism / 2).next_power_of_two().clamp(
        DEFAULT_LOWER_BOUND_MAX_PARALLELISM,
        UPPER_BOUND_MAX_PARALLELISM,
    )
}

/// An inclusive range of key groups owned by one subtask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGroupRange {
    pub start: usize,
    /// Inclusive end; `end < start` means empty.
    pub end: usize,
}

impl KeyGroupRange {
    /// `KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex`.
    pub fn for_operator_index(
        max_parallelism: usize,
        parallelism: usize,
        operator_index: usize,
    ) -> Self {
        let start = (operator_index * max_parallelism).div_ceil(parallelism);
        let end = ((operator_index + 1) * max_parallelism - 1) / parallelism;
        KeyGroupRange { start, end }
    }

    pub fn contains(&self, key_group: usize) -> bool {
        key_group >= self.start && key_group <= self.end
    }

    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            self.end - self.start + 1
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_hash_matches_flinks_math_utils() {
        // Reference values from running Flink's MathUtils.murmurHash(int) algorithm on a JVM.
        let vectors = [
            (0, 593_689_054),
            (1, 68_075_478),
            (2, 1_085_422_463),
            (-1, 1_982_413_648),
            (42, 1_134_849_565),
            (i32::MAX, 1_653_689_534),
            (i32::MIN, 1_718_298_732),
            (99_162_322, 1_715_862_179), // "hello".hashCode()
        ];
        for (code, expected) in vectors {
            assert_eq!(murmur_hash(code), expected, "murmurHash({code})");
        }
        // Key group of Java's "hello" at the default max parallelism, as Flink computes it.
        assert_eq!(key_group_for_hash(99_162_322, 128), 35);
    }

    #[test]
    fn key_group_ranges_partition_all_key_groups_contiguously() {
        for (max_p, p) in [(128, 1), (128, 2), (128, 3), (128, 7), (4096, 13), (7, 7)] {
            let mut next = 0;
            for i in 0..p {
                let r = KeyGroupRange::for_operator_index(max_p, p, i);
                assert_eq!(r.start, next, "max_p {max_p} p {p} index {i}");
                for kg in r.start..=r.end {
                    assert_eq!(operator_index_for_key_group(max_p, p, kg), i);
                }
                next = r.end + 1;
            }
            assert_eq!(next, max_p);
        }
    }

    #[test]
    fn a_key_is_sent_to_the_subtask_owning_its_key_group() {
        for word in ["hello", "world", "strato", "flink", ""] {
            for p in 1..=8 {
                let kg = assign_to_key_group(word, 128);
                let idx = assign_key_to_operator(word, 128, p);
                assert!(KeyGroupRange::for_operator_index(128, p, idx).contains(kg));
            }
        }
    }

    #[test]
    fn default_max_parallelism_follows_flink() {
        assert_eq!(default_max_parallelism(1), 128);
        assert_eq!(default_max_parallelism(100), 256);
        assert_eq!(default_max_parallelism(1000), 2048);
        assert_eq!(default_max_parallelism(100_000), 32768);
    }
}
