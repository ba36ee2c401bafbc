//! The state of one task (Flink's `TaskStateManager`): what each of its operators was restored
//! from, and the snapshots they hand over at a checkpoint barrier.
//!
//! At a barrier every stateful operator of the chain does the synchronous part of its snapshot
//! (a consistent copy of its state, or a RocksDB checkpoint) and registers an
//! [`OperatorSnapshotFutures`] here under its operator id; the task then writes them out on
//! another thread ([`OperatorSnapshotFutures::write`]) and acknowledges the checkpoint with
//! the resulting handles, while the operators go on processing records.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    CheckpointError, KeyedStateHandle, OperatorStateSnapshot, SnapshotLocation, StateReader,
    SubtaskSnapshot,
};
use crate::runtime::keygroup::KeyGroupRange;

/// Which keyed state backend a job uses, and how (`state.backend.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateBackendSettings {
    pub kind: crate::config::options::StateBackendType,
    /// `state.backend.incremental`.
    pub incremental: bool,
    /// Where RocksDB keeps its working files (`state.backend.rocksdb.localdir`, else
    /// `io.tmp.dirs`, else the system temp dir).
    pub local_dirs: Vec<std::path::PathBuf>,
    /// `state.backend.rocksdb.write-cache.size` in bytes (0: no cache).
    pub rocksdb_write_cache_bytes: usize,
}

impl StateBackendSettings {
    /// The settings `state.backend`, `state.backend.incremental`,
    /// `state.backend.rocksdb.localdir` and `io.tmp.dirs` give.
    pub fn from_config(
        config: &crate::config::Configuration,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::options as o;
        let mut local_dirs = config
            .get_optional(&o::ROCKSDB_LOCAL_DIR)?
            .unwrap_or_default();
        if local_dirs.is_empty() {
            local_dirs = config.get_optional(&o::IO_TMP_DIRS)?.unwrap_or_default();
        }
        let mut local_dirs: Vec<std::path::PathBuf> = local_dirs
            .into_iter()
            .map(std::path::PathBuf::from)
            .collect();
        if local_dirs.is_empty() {
            local_dirs.push(std::env::temp_dir());
        }
        Ok(StateBackendSettings {
            kind: config.get(&o::STATE_BACKEND)?,
            incremental: config.get(&o::STATE_BACKEND_INCREMENTAL)?,
            local_dirs,
            rocksdb_write_cache_bytes: config.get(&o::ROCKSDB_WRITE_CACHE_SIZE)?.bytes() as usize,
        })
    }
}

/// The default of `state.backend.rocksdb.write-cache.size`.
pub const DEFAULT_ROCKSDB_WRITE_CACHE_BYTES: usize = 64 << 20;

impl Default for StateBackendSettings {
    fn default() -> Self {
        StateBackendSettings {
            kind: crate::config::options::StateBackendType::HashMap,
            incremental: false,
            local_dirs: vec![std::env::temp_dir()],
            rocksdb_write_cache_bytes: DEFAULT_ROCKSDB_WRITE_CACHE_BYTES,
        }
    }
}

/// The state one operator subtask restores from: keyed state handles that overlap its
/// key-group range (from any old subtask: rescaling), and its share of the operator state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredOperatorState {
    pub keyed: Vec<KeyedStateHandle>,
    pub raw_keyed: Vec<KeyedStateHandle>,
    pub operator: OperatorStateSnapshot,
}

/// What one task restores from: per operator id, plus where relative paths resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRestore {
    pub checkpoint_id: u64,
    /// Directory of the `_metadata` the state comes from.
    pub base: String,
    pub operators: BTreeMap<String, RestoredOperatorState>,
    /// The checkpoint is the job's final one (taken after every task's data ended): the task
    /// finishes once its data ends again, without waiting for another final checkpoint
    /// (Flink's `FINISHED_ON_RESTORE`).
    #[serde(default)]
    pub finished_on_restore: bool,
}

/// Writes out the keyed part of a snapshot after its synchronous part is done.
pub trait KeyedSnapshotWriter: Send {
    /// Writes the state to `location` (files named with the `name` prefix) and returns the
    /// handles that go into the checkpoint metadata.
    fn write(
        self: Box<Self>,
        location: &SnapshotLocation,
        name: &str,
    ) -> Result<Vec<KeyedStateHandle>, CheckpointError>;
}

/// One operator's snapshot after its synchronous part.
#[derive(Default)]
pub struct OperatorSnapshotFutures {
    pub keyed: Option<Box<dyn KeyedSnapshotWriter>>,
    /// Keyed state the operator keeps itself (timers).
    pub raw_keyed: Option<Box<dyn KeyedSnapshotWriter>>,
    pub operator: OperatorStateSnapshot,
}

impl OperatorSnapshotFutures {
    /// The asynchronous part: writes everything to `location`; `name` (operator id and
    /// subtask) prefixes the file names.
    pub fn write(
        self,
        location: &SnapshotLocation,
        name: &str,
    ) -> Result<SubtaskSnapshot, CheckpointError> {
        let keyed = match self.keyed {
            Some(writer) => writer.write(location, &format!("{name}-keyed"))?,
            None => Vec::new(),
        };
        let raw_keyed = match self.raw_keyed {
            Some(writer) => writer.write(location, &format!("{name}-raw"))?,
            None => Vec::new(),
        };
        let operator = if self.operator.states.is_empty() {
            None
        } else {
            let bytes = bincode::serde::encode_to_vec(&self.operator, bincode::config::standard())
                .map_err(|e| CheckpointError::Encode {
                    path: name.to_string(),
                    reason: e.to_string(),
                })?;
            Some(location.write(&format!("{name}-op"), &bytes)?)
        };
        Ok(SubtaskSnapshot {
            keyed,
            raw_keyed,
            operator,
        })
    }
}

/// The state of one running task.
pub struct TaskStateManager {
    restore: Option<TaskRestore>,
    reader: Option<StateReader>,
    backend: StateBackendSettings,
    /// Snapshots registered by operators at the barrier being processed.
    taken: Mutex<Vec<(String, OperatorSnapshotFutures)>>,
}

impl Default for TaskStateManager {
    fn default() -> Self {
        TaskStateManager::new(None, StateBackendSettings::default())
    }
}

impl std::fmt::Debug for TaskStateManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskStateManager")
            .field("restore", &self.restore.as_ref().map(|r| r.checkpoint_id))
            .field("backend", &self.backend)
            .finish()
    }
}

impl TaskStateManager {
    pub fn new(restore: Option<TaskRestore>, backend: StateBackendSettings) -> Self {
        let reader = restore.as_ref().map(|r| StateReader::new(&r.base));
        TaskStateManager {
            restore,
            reader,
            backend,
            taken: Mutex::new(Vec::new()),
        }
    }

    /// The state operator `operator_id` restores from; `None` on a fresh start (or when the
    /// snapshot had nothing for it).
    pub fn restored(&self, operator_id: &str) -> Option<&RestoredOperatorState> {
        self.restore.as_ref()?.operators.get(operator_id)
    }

    /// True when the task was started from a checkpoint or savepoint (even one without state
    /// for some of its operators).
    pub fn is_restored(&self) -> bool {
        self.restore.is_some()
    }

    /// The id of the checkpoint restored from.
    pub fn restored_checkpoint_id(&self) -> Option<u64> {
        self.restore.as_ref().map(|r| r.checkpoint_id)
    }

    /// Reads the files of the restored snapshot.
    pub fn reader(&self) -> Option<&StateReader> {
        self.reader.as_ref()
    }

    pub fn backend_settings(&self) -> &StateBackendSettings {
        &self.backend
    }

    /// Registers an operator's snapshot taken at the current barrier.
    pub fn add_snapshot(&self, operator_id: &str, snapshot: OperatorSnapshotFutures) {
        self.lock().push((operator_id.to_string(), snapshot));
    }

    /// The snapshots registered since the last call (the task takes them after the barrier
    /// passed through its chain).
    pub fn take_snapshots(&self) -> Vec<(String, OperatorSnapshotFutures)> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, OperatorSnapshotFutures)>> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Picks the keyed state handles relevant to `range` (those whose key groups overlap it).
pub fn handles_for_range(
    handles: impl IntoIterator<Item = KeyedStateHandle>,
    range: KeyGroupRange,
) -> Vec<KeyedStateHandle> {
    handles
        .into_iter()
        .filter(|h| {
            let r = h.key_group_range();
            r.start <= range.end && range.start <= r.end
        })
        .collect()
}
