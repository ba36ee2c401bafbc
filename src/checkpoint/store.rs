//! Completed checkpoints kept for recovery (`state.checkpoints.num-retained`), with reference
//! counting of shared files: incremental checkpoints share files (e.g. RocksDB SST files), and
//! a shared file is deleted only when no retained checkpoint references it any more.

use std::collections::{HashMap, VecDeque};

use super::metadata::CheckpointMetadata;
use super::storage::{CheckpointError, CheckpointStorage};

/// The latest completed checkpoints of one job.
pub struct CompletedCheckpointStore {
    storage: CheckpointStorage,
    max_retained: usize,
    retained: VecDeque<CheckpointMetadata>,
    /// Shared file -> number of retained checkpoints using it.
    references: HashMap<String, usize>,
}

impl CompletedCheckpointStore {
    pub fn new(storage: CheckpointStorage, max_retained: usize) -> Self {
        CompletedCheckpointStore {
            storage,
            max_retained: max_retained.max(1),
            retained: VecDeque::new(),
            references: HashMap::new(),
        }
    }

    pub fn storage(&self) -> &CheckpointStorage {
        &self.storage
    }

    /// The newest completed checkpoint, to recover from.
    pub fn latest(&self) -> Option<&CheckpointMetadata> {
        self.retained.back()
    }

    pub fn retained_ids(&self) -> Vec<u64> {
        self.retained.iter().map(|m| m.checkpoint_id).collect()
    }

    /// Adds a completed checkpoint and discards the oldest beyond the retention limit. Shared
    /// files are counted before anything is released, so a file the new checkpoint reuses is
    /// never deleted with the checkpoint it replaces.
    pub fn add(&mut self, checkpoint: CheckpointMetadata) -> Result<(), CheckpointError> {
        for file in checkpoint.shared_files() {
            *self.references.entry(file.to_string()).or_insert(0) += 1;
        }
        self.retained.push_back(checkpoint);
        while self.retained.len() > self.max_retained {
            if let Some(oldest) = self.retained.pop_front() {
                self.release(&oldest)?;
            }
        }
        Ok(())
    }

    /// Discards every retained checkpoint (job cancelled with DELETE_ON_CANCELLATION).
    pub fn discard_all(&mut self) -> Result<(), CheckpointError> {
        while let Some(checkpoint) = self.retained.pop_front() {
            self.release(&checkpoint)?;
        }
        Ok(())
    }

    fn release(&mut self, checkpoint: &CheckpointMetadata) -> Result<(), CheckpointError> {
        self.storage.discard(checkpoint.checkpoint_id)?;
        for file in checkpoint.shared_files() {
            let unused = match self.references.get_mut(file) {
                Some(count) => {
                    *count -= 1;
                    *count == 0
                }
                None => false,
            };
            if unused {
                self.references.remove(file);
                self.storage.discard_shared(file)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metadata::{
        KeyedStateHandle, OperatorSnapshot, SnapshotKind, SubtaskSnapshot,
    };
    use crate::util::ids::JobId;

    fn checkpoint(storage: &CheckpointStorage, id: u64, shared: &[&str]) -> CheckpointMetadata {
        let shared = shared
            .iter()
            .map(|name| {
                let handle = storage.write_shared(name, name.as_bytes()).unwrap();
                (name.to_string(), handle)
            })
            .collect();
        storage.write_state(id, "private", b"x").unwrap();
        let metadata = CheckpointMetadata {
            job_id: JobId(1),
            checkpoint_id: id,
            timestamp: 0,
            kind: SnapshotKind::Checkpoint,
            operators: vec![OperatorSnapshot {
                operator_id: "op".into(),
                uid: None,
                name: "op".into(),
                parallelism: 1,
                max_parallelism: 128,
                subtasks: vec![SubtaskSnapshot {
                    keyed: vec![KeyedStateHandle::Incremental {
                        range: crate::runtime::keygroup::KeyGroupRange { start: 0, end: 127 },
                        backend_id: "b".into(),
                        checkpoint_id: id,
                        shared,
                        private: vec![],
                        meta: vec![],
                    }],
                    ..Default::default()
                }],
            }],
        };
        storage.commit_metadata(&metadata).unwrap();
        metadata
    }

    #[test]
    fn retention_keeps_the_newest_and_deletes_shared_files_only_when_unreferenced() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join(JobId(1).to_string());
        let storage = CheckpointStorage::for_job(dir.path().to_str().unwrap(), JobId(1)).unwrap();
        let (c1, c2, c3) = (
            checkpoint(&storage, 1, &["sst-1", "sst-2"]),
            checkpoint(&storage, 2, &["sst-2", "sst-3"]),
            checkpoint(&storage, 3, &["sst-3", "sst-4"]),
        );
        let mut store = CompletedCheckpointStore::new(storage, 2);
        store.add(c1).unwrap();
        store.add(c2).unwrap();
        assert_eq!(store.retained_ids(), vec![1, 2]);
        store.add(c3).unwrap();
        assert_eq!(store.retained_ids(), vec![2, 3]);
        assert_eq!(store.latest().unwrap().checkpoint_id, 3);
        let shared = |name: &str| job.join("shared").join(name).exists();
        assert!(
            !job.join("chk-1").exists(),
            "the subsumed checkpoint is deleted"
        );
        assert!(!shared("sst-1"), "only checkpoint 1 used sst-1");
        assert!(
            shared("sst-2") && shared("sst-3") && shared("sst-4"),
            "files retained checkpoints use stay"
        );
        store.discard_all().unwrap();
        assert!(!shared("sst-2") && !shared("sst-3") && !shared("sst-4"));
        assert!(!job.join("chk-2").exists() && !job.join("chk-3").exists());
    }
}
