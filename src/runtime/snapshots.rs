//! The task side of checkpoints (Flink's `SubtaskCheckpointCoordinator`): when a barrier has
//! passed through the chain, the operators' synchronous snapshot parts are handed to a writer
//! thread, which writes them to the checkpoint or savepoint location and acknowledges the
//! checkpoint to the job master (or declines it, saying why) while the task goes on.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

use super::task::{TaskAttempt, TaskReport};
use crate::checkpoint::{
    CheckpointBarrier, CheckpointError, CheckpointStorage, SnapshotLocation, SubtaskSnapshot,
};
use crate::runtime::chain::{ChainEvent, TaskError};
use crate::state::TaskStateManager;
use crate::util::ids::JobId;

/// A subtask's answer to a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointAck {
    pub vertex: usize,
    pub subtask: usize,
    pub checkpoint_id: u64,
    /// Per operator id, the state handles; `Err` declines the checkpoint with the reason.
    pub result: Result<Vec<(String, SubtaskSnapshot)>, String>,
    /// Duration of the synchronous part (ms).
    pub sync_ms: u64,
    /// Duration of the asynchronous write-out (ms).
    pub async_ms: u64,
    /// The subtask's data had ended before it took this snapshot: a checkpoint every subtask
    /// acknowledges so is the job's final one.
    pub end_of_data: bool,
}

/// Takes the snapshots of one task.
pub struct SubtaskCheckpointer {
    job_id: JobId,
    task: TaskAttempt,
    end_of_data: bool,
    checkpoints_dir: Option<String>,
    storage: Option<Arc<CheckpointStorage>>,
    state: Arc<TaskStateManager>,
    reports: Sender<TaskReport>,
}

impl SubtaskCheckpointer {
    pub fn new(
        job_id: JobId,
        task: TaskAttempt,
        checkpoints_dir: Option<String>,
        state: Arc<TaskStateManager>,
        reports: Sender<TaskReport>,
    ) -> Self {
        SubtaskCheckpointer {
            job_id,
            task,
            end_of_data: false,
            checkpoints_dir,
            storage: None,
            state,
            reports,
        }
    }

    /// Passes the barrier through the chain (`chain` runs it: operators snapshot and record
    /// writers forward the barrier), then writes the snapshots out asynchronously.
    pub fn checkpoint(
        &mut self,
        barrier: CheckpointBarrier,
        chain: impl FnOnce(ChainEvent) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let started = Instant::now();
        let id = barrier.id;
        chain(ChainEvent::Barrier(barrier.clone()))?;
        let snapshots = self.state.take_snapshots();
        let sync_ms = started.elapsed().as_millis() as u64;
        let location = self.location(&barrier);
        let (vertex, subtask, reports) =
            (self.task.vertex, self.task.subtask, self.reports.clone());
        let end_of_data = self.end_of_data;
        let spawned = std::thread::Builder::new()
            .name(format!("checkpoint-{id}-{vertex}-{subtask}"))
            .spawn(move || {
                let started = Instant::now();
                let result = location.and_then(|location| {
                    snapshots
                        .into_iter()
                        .map(|(operator, futures)| {
                            let name = format!("{operator}-{subtask}");
                            futures.write(&location, &name).map(|s| (operator, s))
                        })
                        .collect::<Result<Vec<_>, CheckpointError>>()
                });
                let _ = reports.send(TaskReport::Checkpoint(CheckpointAck {
                    vertex,
                    subtask,
                    checkpoint_id: id,
                    result: result.map_err(|e| e.to_string()),
                    sync_ms,
                    async_ms: started.elapsed().as_millis() as u64,
                    end_of_data,
                }));
            });
        if let Err(e) = spawned {
            self.decline(id, format!("could not start the snapshot writer: {e}"));
        }
        Ok(())
    }

    /// Tells the job master this subtask cannot take checkpoint `id`.
    pub fn decline(&self, id: u64, reason: String) {
        let _ = self.reports.send(TaskReport::Checkpoint(CheckpointAck {
            vertex: self.task.vertex,
            subtask: self.task.subtask,
            checkpoint_id: id,
            result: Err(reason),
            sync_ms: 0,
            async_ms: 0,
            end_of_data: self.end_of_data,
        }));
    }

    /// The task's data ended: its later snapshots say so, and the job master learns it (with
    /// every source ended it triggers the final checkpoint at once).
    pub fn end_of_data(&mut self) {
        if !std::mem::replace(&mut self.end_of_data, true) {
            let _ = self.reports.send(TaskReport::EndOfData(self.task));
        }
    }

    fn location(
        &mut self,
        barrier: &CheckpointBarrier,
    ) -> Result<SnapshotLocation, CheckpointError> {
        if let Some(target) = &barrier.target {
            return crate::checkpoint::storage::savepoint_location(target);
        }
        let storage = match &self.storage {
            Some(storage) => storage.clone(),
            None => {
                let dir = self.checkpoints_dir.as_deref().unwrap_or_default();
                let storage = Arc::new(CheckpointStorage::for_job(dir, self.job_id)?);
                self.storage = Some(storage.clone());
                storage
            }
        };
        Ok(storage.checkpoint_location(barrier.id))
    }
}
