//! Partitioners: which downstream channel(s) a record goes to (Flink's `StreamPartitioner`s).

use serde::{Deserialize, Serialize};
use std::hash::Hash;
use std::sync::Arc;

use crate::api::functions::Partitioner;
use crate::runtime::keygroup::assign_key_to_operator;

/// The partitioning of a job edge, as shown in plans (`ship_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PartitionerKind {
    /// Not chosen by the program: forward when parallelisms match, else rebalance.
    Default,
    Forward,
    Rebalance,
    Rescale,
    Shuffle,
    Broadcast,
    Global,
    Hash,
    Custom,
}

impl PartitionerKind {
    /// Flink's `toString` of the partitioner, used in plans.
    pub fn ship_strategy(self) -> &'static str {
        match self {
            PartitionerKind::Default | PartitionerKind::Forward => "FORWARD",
            PartitionerKind::Rebalance => "REBALANCE",
            PartitionerKind::Rescale => "RESCALE",
            PartitionerKind::Shuffle => "SHUFFLE",
            PartitionerKind::Broadcast => "BROADCAST",
            PartitionerKind::Global => "GLOBAL",
            PartitionerKind::Hash => "HASH",
            PartitionerKind::Custom => "CUSTOM",
        }
    }

    /// Forward and rescale connect producers to a subset of consumers (POINTWISE); every other
    /// partitioner connects each producer to all consumers.
    pub fn is_pointwise(self) -> bool {
        matches!(self, PartitionerKind::Forward | PartitionerKind::Rescale)
    }
}

/// Where one record goes.
pub enum Target {
    One(usize),
    All,
}

/// Chooses the channel for each record among `n` channels.
pub trait ChannelSelector<T>: Send {
    fn select(&mut self, record: &T, n: usize) -> Target;
}

/// Forward, rebalance, rescale, shuffle, broadcast and global: no user code involved.
pub struct StandardSelector {
    kind: PartitionerKind,
    next: usize,
    rng: crate::util::textgen::SplitMix64,
}

impl StandardSelector {
    pub fn new(kind: PartitionerKind, subtask_index: usize, n: usize) -> Self {
        let mut rng = crate::util::textgen::SplitMix64::new(rand::random());
        // Flink starts round-robin at a random channel so producers do not all hit channel 0.
        let next = if n > 0 {
            rng.below(n as u64) as usize
        } else {
            0
        };
        let _ = subtask_index;
        StandardSelector { kind, next, rng }
    }
}

impl<T> ChannelSelector<T> for StandardSelector {
    #[inline]
    fn select(&mut self, _record: &T, n: usize) -> Target {
        match self.kind {
            PartitionerKind::Broadcast => Target::All,
            PartitionerKind::Rebalance | PartitionerKind::Rescale => {
                self.next += 1;
                if self.next >= n {
                    self.next = 0;
                }
                Target::One(self.next)
            }
            PartitionerKind::Shuffle => Target::One(self.rng.below(n as u64) as usize),
            // Forward has one channel; global sends everything to subtask 0.
            _ => Target::One(0),
        }
    }
}

/// Hash partitioning by key group (`key_by`).
pub struct KeyGroupSelector<T, K> {
    key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    max_parallelism: usize,
}

impl<T, K> KeyGroupSelector<T, K> {
    pub fn new(key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>, max_parallelism: usize) -> Self {
        KeyGroupSelector {
            key_selector,
            max_parallelism,
        }
    }
}

impl<T, K: Hash> ChannelSelector<T> for KeyGroupSelector<T, K> {
    #[inline]
    fn select(&mut self, record: &T, n: usize) -> Target {
        let key = (self.key_selector)(record);
        Target::One(assign_key_to_operator(&key, self.max_parallelism, n))
    }
}

/// A user partitioner choosing one channel from the record's key (`partition_custom`).
pub struct CustomSelector<T, K, P> {
    key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    partitioner: P,
}

impl<T, K, P> CustomSelector<T, K, P> {
    pub fn new(key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>, partitioner: P) -> Self {
        CustomSelector {
            key_selector,
            partitioner,
        }
    }
}

impl<T, K, P: Partitioner<K>> ChannelSelector<T> for CustomSelector<T, K, P> {
    #[inline]
    fn select(&mut self, record: &T, n: usize) -> Target {
        let key = (self.key_selector)(record);
        Target::One(self.partitioner.partition(&key, n))
    }
}
