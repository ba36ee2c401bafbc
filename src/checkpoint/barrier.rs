//! Checkpoint barriers: injected at the sources, they flow with the records through every
//! channel and divide the stream into the part before a snapshot and the part after it
//! (Chandy-Lamport, as Flink's asynchronous barrier snapshotting).

use serde::{Deserialize, Serialize};

/// What a barrier asks the operators to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotType {
    /// A periodic checkpoint, owned by the job.
    Checkpoint,
    /// A savepoint: keyed state in the canonical format, nothing shared with checkpoints.
    Savepoint,
    /// Stop-with-savepoint: after the savepoint the sources end (`drain` first emits the
    /// maximum watermark so every event-time window and timer fires).
    Terminate { drain: bool },
}

impl SnapshotType {
    pub fn is_savepoint(self) -> bool {
        !matches!(self, SnapshotType::Checkpoint)
    }
}

/// Flink's `CheckpointBarrier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBarrier {
    pub id: u64,
    /// When the coordinator triggered it, ms since the epoch.
    pub timestamp: i64,
    pub kind: SnapshotType,
    /// Where the tasks write their state: the savepoint directory for savepoints, `None` for
    /// the job's checkpoint storage (Flink's `CheckpointStorageLocationReference`).
    pub target: Option<String>,
}
