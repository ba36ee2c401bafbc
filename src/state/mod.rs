//! Keyed state: values kept per key (and per namespace, e.g. per window) for the current key
//! of a keyed operator, partitioned by key group so a job can later be snapshotted and
//! rescaled by key-group ranges. [`heap`] keeps state as objects in memory; [`timers`] keeps
//! event- and processing-time timers per key and namespace.
//!
//! User functions reach state through their context (`ctx.value_state(&descriptor)`), which is
//! bound to the key of the record (or timer) being processed.

pub mod descriptor;
pub mod heap;
pub mod manager;
pub mod timers;

pub use descriptor::{ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor};
pub use heap::{
    HeapKeyedStateBackend, KeyedStateSnapshot, ListState, MapState, StateError, ValueState,
};
pub use manager::{
    KeyedSnapshotWriter, OperatorSnapshotFutures, RestoredOperatorState, StateBackendSettings,
    TaskRestore, TaskStateManager,
};
pub use timers::{TimerEntries, TimerService};

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
