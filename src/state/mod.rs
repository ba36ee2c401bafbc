//! Keyed state: values kept per key (and per namespace, e.g. per window) for the current key
//! of a keyed operator, partitioned by key group so a job can be snapshotted and rescaled by
//! key-group ranges.
//!
//! [`backend::KeyedStateBackend`] is the one abstraction keyed operators use, over [`heap`]
//! (objects in memory) and [`rocksdb`] (bytes on local disk); [`canonical`] is the snapshot
//! format both read and write; [`user`] holds the state types user functions get
//! (`ctx.value_state(&descriptor)`), bound to the key of the record or timer being processed,
//! with optional [`ttl`]; [`timers`] keeps event- and processing-time timers per key and
//! namespace; [`operator`] is what every keyed operator does at open, barriers and completion.

pub mod backend;
pub mod canonical;
pub mod descriptor;
pub mod heap;
pub mod manager;
pub mod operator;
pub mod rocksdb;
pub mod timers;
pub mod ttl;
pub mod user;
pub mod write_cache;

pub use backend::{KeyedStateBackend, Namespace};
pub use descriptor::{
    AggregatingStateDescriptor, ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor,
    ValueStateDescriptor,
};
pub use heap::{HeapKeyedStateBackend, StateError};
pub use manager::{
    KeyedSnapshotWriter, OperatorSnapshotFutures, RestoredOperatorState, StateBackendSettings,
    TaskRestore, TaskStateManager,
};
pub use timers::{TimerEntries, TimerService};
pub use ttl::{StateTtlConfig, StateVisibility, UpdateType};
pub use user::{AggregatingState, ListState, MapState, ReducingState, StateAccess, ValueState};

/// Bounds for keys of keyed state: hashable, and serialisable for snapshots.
pub trait StateKey:
    std::hash::Hash + Eq + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static
{
}
impl<
        K: std::hash::Hash
            + Eq
            + Clone
            + Send
            + serde::Serialize
            + serde::de::DeserializeOwned
            + 'static,
    > StateKey for K
{
}

/// Bounds for state values and namespaces: serialisable for snapshots.
pub trait StateValue: Send + serde::Serialize + serde::de::DeserializeOwned + 'static {}
impl<V: Send + serde::Serialize + serde::de::DeserializeOwned + 'static> StateValue for V {}
