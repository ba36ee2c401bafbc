//! Checkpoints: where they are stored and which are kept. [`storage`] writes a checkpoint's
//! files under `<state.checkpoints.dir>/<job-id>/` through the file system trait and commits
//! its `_metadata` last and atomically; [`store`] keeps the `state.checkpoints.num-retained`
//! latest completed checkpoints and deletes a shared (incremental) file only when no retained
//! checkpoint references it; [`barrier`] is what travels through the dataflow to take one.

pub mod barrier;
pub mod coordinator;
pub mod metadata;
pub mod restore;
pub mod settings;
pub mod storage;
pub mod store;

pub use barrier::{CheckpointBarrier, SnapshotType};
pub use metadata::{
    CheckpointMetadata, KeyedStateHandle, OperatorSnapshot, OperatorStateMode,
    OperatorStateSnapshot, SnapshotKind, StateHandle, SubtaskSnapshot,
};
pub use settings::{CheckpointRetention, CheckpointingSettings, SavepointRestoreSettings};
pub use storage::{
    CheckpointError, CheckpointStorage, SavepointStorage, SnapshotLocation, SnapshotOutput,
    StateReader,
};
pub use store::CompletedCheckpointStore;
