//! Checkpoints: where they are stored and which are kept. [`storage`] writes a checkpoint's
//! files under `<state.checkpoints.dir>/<job-id>/` through the file system trait and commits
//! its `_metadata` last and atomically; [`store`] keeps the `state.checkpoints.num-retained`
//! latest completed checkpoints and deletes a shared (incremental) file only when no retained
//! checkpoint references it.
//!
//! The checkpoint coordinator (barriers, acknowledgements, recovery) builds on these.

pub mod metadata;
pub mod storage;
pub mod store;

pub use metadata::{CheckpointMetadata, OperatorSnapshot, StateHandle, SubtaskSnapshot};
pub use storage::{CheckpointError, CheckpointStorage};
pub use store::CompletedCheckpointStore;
