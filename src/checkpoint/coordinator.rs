//! The checkpoint coordinator of one job (Flink's `CheckpointCoordinator`), run by its job
//! master: triggers checkpoints and savepoints at the sources, collects every subtask's
//! acknowledgement, writes the `_metadata` when all have acknowledged, keeps the retained
//! checkpoints, aborts checkpoints that are declined or time out, and decides when too many
//! failed checkpoints fail the job. It holds no threads: the job master feeds it acks and
//! calls [`CheckpointCoordinator::tick`], and carries out the [`Action`]s it returns, which
//! keeps it the same for the embedded executor and the cluster.
//!
//! The *final* checkpoint (FLIP-147): once the data of every source ended, a checkpoint is
//! triggered at once (not at the next interval); when every subtask acknowledges it with its
//! data ended, the tasks are told it was the final one and finish. A stop-with-savepoint's
//! savepoint is final too, and stays the job's recovery point until the job is gone, since
//! its side effects (committed output) are visible.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::metadata::{CheckpointMetadata, OperatorSnapshot, SnapshotKind, SubtaskSnapshot};
use super::settings::{CheckpointRetention, CheckpointingSettings};
use super::storage::{CheckpointError, CheckpointStorage, SavepointStorage};
use super::store::CompletedCheckpointStore;
use super::{CheckpointBarrier, SnapshotType};
use crate::graph::JobGraph;
use crate::runtime::snapshots::CheckpointAck;

/// What the job master must do for the coordinator.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send the barrier to every source subtask.
    Trigger(CheckpointBarrier),
    /// Tell every task that the checkpoint completed.
    NotifyComplete(u64),
    /// Tell every task that the checkpoint completed and was the job's final one.
    NotifyFinal(u64),
    /// Tell every task that the checkpoint was abandoned.
    NotifyAborted(u64),
    /// Too many checkpoints failed in a row: fail the job with this cause.
    FailJob(String),
}

/// Where a savepoint's result goes: its path, or why it failed.
pub type SavepointReply = Sender<Result<String, String>>;

/// One checkpoint's statistics (the REST API's checkpoint history).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckpointRecord {
    pub id: u64,
    pub status: &'static str,
    pub is_savepoint: bool,
    pub trigger_timestamp: i64,
    pub latest_ack_timestamp: i64,
    pub state_size: u64,
    pub end_to_end_duration: u64,
    pub num_subtasks: usize,
    pub num_acknowledged_subtasks: usize,
    pub external_path: Option<String>,
    pub failure_message: Option<String>,
}

/// Counts and history for `/jobs/:id/checkpoints`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CheckpointStats {
    pub triggered: u64,
    pub in_progress: u64,
    pub completed: u64,
    pub failed: u64,
    pub restored: u64,
    /// Newest first, at most [`HISTORY_SIZE`].
    pub history: Vec<CheckpointRecord>,
    pub latest_completed: Option<CheckpointRecord>,
    pub latest_savepoint: Option<CheckpointRecord>,
    pub latest_failed: Option<CheckpointRecord>,
    /// (checkpoint id, path, restore time in ms since the epoch).
    pub latest_restored: Option<(u64, String, i64)>,
}

/// Checkpoints kept in the statistics history (`web.checkpoints.history`, default 10).
pub const HISTORY_SIZE: usize = 10;

struct Pending {
    barrier: CheckpointBarrier,
    started: Instant,
    waiting: BTreeSet<(usize, usize)>,
    acks: BTreeMap<(usize, usize), Vec<(String, SubtaskSnapshot)>>,
    savepoint: Option<(SavepointStorage, Option<SavepointReply>)>,
    last_ack: i64,
    /// Every source's data had ended when this checkpoint was triggered.
    after_end_of_data: bool,
    /// Every acknowledgement so far said the subtask's data had ended.
    all_ended: bool,
}

/// The coordinator of one job.
pub struct CheckpointCoordinator {
    job: Arc<JobGraph>,
    settings: Option<CheckpointingSettings>,
    store: Option<CompletedCheckpointStore>,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    last_completed: Option<Instant>,
    last_triggered: Option<Instant>,
    consecutive_failures: u32,
    stats: Arc<Mutex<CheckpointStats>>,
    /// Subtasks (of their current attempts) whose data ended.
    ended: BTreeSet<(usize, usize)>,
    /// The final checkpoint or stop-with-savepoint, once complete: no checkpoint follows it.
    final_completed: Option<u64>,
    /// A completed stop-with-savepoint and its directory: the recovery point from then on.
    stop_point: Option<(CheckpointMetadata, String)>,
}

impl CheckpointCoordinator {
    /// A coordinator for `job`; with checkpointing settings it also owns the job's checkpoint
    /// storage (created here, so a bad `state.checkpoints.dir` fails the job at once).
    pub fn new(
        job: Arc<JobGraph>,
        stats: Arc<Mutex<CheckpointStats>>,
    ) -> Result<Self, CheckpointError> {
        let settings = job.checkpointing.clone();
        let store = match &settings {
            Some(s) => Some(CompletedCheckpointStore::new(
                CheckpointStorage::for_job(&s.checkpoints_dir, job.job_id)?,
                s.num_retained as usize,
            )),
            None => None,
        };
        Ok(CheckpointCoordinator {
            job,
            settings,
            store,
            next_id: 1,
            pending: BTreeMap::new(),
            last_completed: None,
            last_triggered: None,
            consecutive_failures: 0,
            stats,
            ended: BTreeSet::new(),
            final_completed: None,
            stop_point: None,
        })
    }

    /// The statistics the REST API shows.
    pub fn stats(&self) -> Arc<Mutex<CheckpointStats>> {
        self.stats.clone()
    }

    /// The newest completed checkpoint and the directory of its `_metadata` (a completed
    /// stop-with-savepoint counts: it is the newest state whose output was committed).
    pub fn latest_completed(&self) -> Option<(CheckpointMetadata, String)> {
        if let Some(stop_point) = &self.stop_point {
            return Some(stop_point.clone());
        }
        let store = self.store.as_ref()?;
        let latest = store.latest()?;
        let dir = store
            .storage()
            .checkpoint_dir(latest.checkpoint_id)
            .to_string();
        Some((latest.clone(), dir))
    }

    /// Whether checkpoint `id` was the job's final one: tasks restored from it finish once
    /// their data ends, without another final checkpoint.
    pub fn is_final(&self, id: u64) -> bool {
        self.final_completed == Some(id)
    }

    /// A subtask's data ended.
    pub fn end_of_data(&mut self, vertex: usize, subtask: usize) {
        self.ended.insert((vertex, subtask));
    }

    /// These subtasks were redeployed: their data flows again.
    pub fn tasks_restarted(&mut self, tasks: &[(usize, usize)]) {
        for task in tasks {
            self.ended.remove(task);
        }
    }

    fn sources_ended(&self) -> bool {
        self.job
            .source_subtasks()
            .all(|task| self.ended.contains(&task))
    }

    /// Checkpoint ids continue after the checkpoint or savepoint the job restored from.
    pub fn restored_from(&mut self, checkpoint_id: u64, path: &str) {
        self.next_id = self.next_id.max(checkpoint_id + 1);
        let mut stats = self.lock_stats();
        stats.restored += 1;
        stats.latest_restored = Some((checkpoint_id, path.to_string(), now_ms()));
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, CheckpointStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Periodic work: aborts expired checkpoints and triggers the next one when it is due.
    /// `all_running` says whether every task runs (no checkpoint otherwise, as in Flink).
    pub fn tick(&mut self, all_running: bool) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(settings) = self.settings.clone() else {
            // Savepoints may still time out.
            self.expire(Duration::from_secs(600), &mut actions);
            return actions;
        };
        self.expire(settings.timeout, &mut actions);
        if self.final_completed.is_some() || actions.iter().any(|a| matches!(a, Action::FailJob(_)))
        {
            return actions;
        }
        let periodic = self
            .pending
            .values()
            .filter(|p| p.savepoint.is_none())
            .count();
        // With every source's data ended, the final checkpoint goes at once, unless one is
        // already on its way (or a stop-with-savepoint, which ends the job itself).
        let final_due = settings.final_checkpoint
            && self.sources_ended()
            && !self.pending.values().any(|p| {
                p.after_end_of_data || matches!(p.barrier.kind, SnapshotType::Terminate { .. })
            });
        let due = (final_due
            || self
                .last_triggered
                .is_none_or(|t| t.elapsed() >= settings.interval))
            && self
                .last_completed
                .is_none_or(|t| t.elapsed() >= settings.min_pause)
            && periodic < settings.max_concurrent as usize
            && (settings.min_pause.is_zero() || periodic == 0);
        if due && all_running {
            actions.push(Action::Trigger(self.start(SnapshotType::Checkpoint, None)));
        }
        actions
    }

    fn expire(&mut self, timeout: Duration, actions: &mut Vec<Action>) {
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.started.elapsed() >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.abort(id, "Checkpoint expired before completing.".into(), actions);
        }
    }

    fn start(
        &mut self,
        kind: SnapshotType,
        savepoint: Option<(SavepointStorage, Option<SavepointReply>)>,
    ) -> CheckpointBarrier {
        let id = self.next_id;
        self.next_id += 1;
        self.last_triggered = Some(Instant::now());
        let barrier = CheckpointBarrier {
            id,
            timestamp: now_ms(),
            kind,
            target: savepoint.as_ref().map(|(s, _)| s.dir().to_string()),
        };
        let waiting = self.job.subtasks().collect();
        let after_end_of_data = self.sources_ended();
        self.pending.insert(
            id,
            Pending {
                barrier: barrier.clone(),
                started: Instant::now(),
                waiting,
                acks: BTreeMap::new(),
                savepoint,
                last_ack: barrier.timestamp,
                after_end_of_data,
                all_ended: true,
            },
        );
        let mut stats = self.lock_stats();
        stats.triggered += 1;
        stats.in_progress += 1;
        barrier
    }

    /// Triggers a savepoint into `target` (or `state.savepoints.dir`); `terminate` makes it a
    /// stop-with-savepoint (`Some(drain)`). The reply carries the savepoint's path.
    pub fn trigger_savepoint(
        &mut self,
        target: Option<String>,
        terminate: Option<bool>,
        reply: SavepointReply,
        all_running: bool,
    ) -> Result<Action, String> {
        if !all_running {
            return Err("Not all required tasks are currently running.".into());
        }
        if self.final_completed.is_some() {
            return Err("The job is finishing: its final checkpoint has completed.".into());
        }
        let target = target
            .or_else(|| {
                self.settings
                    .as_ref()
                    .and_then(|s| s.savepoints_dir.clone())
            })
            .ok_or_else(|| {
                "No savepoint directory configured. You can either specify a directory while \
                 triggering the savepoint or configure a cluster-wide default via key \
                 'state.savepoints.dir'."
                    .to_string()
            })?;
        let storage =
            SavepointStorage::create(&target, self.job.job_id).map_err(|e| e.to_string())?;
        let kind = match terminate {
            Some(drain) => SnapshotType::Terminate { drain },
            None => SnapshotType::Savepoint,
        };
        Ok(Action::Trigger(
            self.start(kind, Some((storage, Some(reply)))),
        ))
    }

    /// A subtask's acknowledgement (or decline).
    pub fn receive(&mut self, ack: CheckpointAck) -> Vec<Action> {
        let mut actions = Vec::new();
        let id = ack.checkpoint_id;
        let Some(pending) = self.pending.get_mut(&id) else {
            // A late ack of an abandoned checkpoint: its writer may have added files to the
            // directory after it was discarded.
            if let (Ok(_), Some(store)) = (&ack.result, &self.store) {
                if id < self.next_id && self.store_has_no(id) {
                    let _ = store.storage().discard(id);
                }
            }
            return actions;
        };
        let key = (ack.vertex, ack.subtask);
        match ack.result {
            Err(reason) => {
                let message = format!(
                    "Checkpoint {id} was declined by subtask {} of vertex {}: {reason}",
                    ack.subtask, ack.vertex
                );
                self.abort(id, message, &mut actions);
            }
            Ok(states) => {
                if pending.waiting.remove(&key) {
                    pending.acks.insert(key, states);
                    pending.last_ack = now_ms();
                    pending.all_ended &= ack.end_of_data;
                }
                if pending.waiting.is_empty() {
                    self.complete(id, &mut actions);
                }
            }
        }
        actions
    }

    fn complete(&mut self, id: u64, actions: &mut Vec<Action>) {
        let Some(mut pending) = self.pending.remove(&id) else {
            return;
        };
        let metadata = CheckpointMetadata {
            job_id: self.job.job_id,
            checkpoint_id: id,
            timestamp: pending.barrier.timestamp,
            kind: if pending.savepoint.is_some() {
                SnapshotKind::Savepoint
            } else {
                SnapshotKind::Checkpoint
            },
            operators: operator_snapshots(&self.job, &mut pending.acks),
        };
        let committed = match (&pending.savepoint, &mut self.store) {
            (Some((storage, _)), _) => storage
                .commit_metadata(&metadata)
                .map(|_| storage.dir().to_string()),
            (None, Some(store)) => store
                .storage()
                .commit_metadata(&metadata)
                .map(|path| path.parent().map(|p| p.to_string()).unwrap_or_default())
                .and_then(|dir| store.add(metadata.clone()).map(|_| dir)),
            (None, None) => Err(CheckpointError::Encode {
                path: String::new(),
                reason: "checkpointing is not configured".into(),
            }),
        };
        match committed {
            Ok(path) => {
                self.consecutive_failures = 0;
                self.last_completed = Some(Instant::now());
                let record = self.record(
                    &pending,
                    "COMPLETED",
                    metadata.state_size(),
                    Some(path.clone()),
                    None,
                );
                {
                    let mut stats = self.lock_stats();
                    stats.in_progress = stats.in_progress.saturating_sub(1);
                    stats.completed += 1;
                    if pending.savepoint.is_some() {
                        stats.latest_savepoint = Some(record.clone());
                    } else {
                        stats.latest_completed = Some(record.clone());
                    }
                    push_history(&mut stats, record);
                }
                tracing::info!(
                    "Completed checkpoint {id} for job {} ({} bytes, {} ms).",
                    self.job.job_id,
                    metadata.state_size(),
                    pending.started.elapsed().as_millis()
                );
                let stop = matches!(pending.barrier.kind, SnapshotType::Terminate { .. });
                if stop {
                    self.stop_point = Some((metadata.clone(), path.clone()));
                }
                if let Some((_, Some(reply))) = pending.savepoint.take() {
                    let _ = reply.send(Ok(path));
                }
                let last = stop
                    || (pending.all_ended
                        && self.settings.as_ref().is_some_and(|s| s.final_checkpoint));
                if last {
                    self.final_completed = Some(id);
                    actions.push(Action::NotifyFinal(id));
                } else {
                    actions.push(Action::NotifyComplete(id));
                }
            }
            Err(e) => {
                self.pending.insert(id, pending);
                self.abort(
                    id,
                    format!("could not complete checkpoint {id}: {e}"),
                    actions,
                );
            }
        }
    }

    fn record(
        &self,
        pending: &Pending,
        status: &'static str,
        state_size: u64,
        external_path: Option<String>,
        failure_message: Option<String>,
    ) -> CheckpointRecord {
        let total: usize = self.job.vertices.iter().map(|v| v.parallelism).sum();
        CheckpointRecord {
            id: pending.barrier.id,
            status,
            is_savepoint: pending.savepoint.is_some(),
            trigger_timestamp: pending.barrier.timestamp,
            latest_ack_timestamp: pending.last_ack,
            state_size,
            end_to_end_duration: pending.started.elapsed().as_millis() as u64,
            num_subtasks: total,
            num_acknowledged_subtasks: pending.acks.len(),
            external_path,
            failure_message,
        }
    }

    fn abort(&mut self, id: u64, reason: String, actions: &mut Vec<Action>) {
        let Some(mut pending) = self.pending.remove(&id) else {
            return;
        };
        tracing::warn!(
            "checkpoint {id} of job {} failed: {reason}",
            self.job.job_id
        );
        let record = self.record(&pending, "FAILED", 0, None, Some(reason.clone()));
        {
            let mut stats = self.lock_stats();
            stats.in_progress = stats.in_progress.saturating_sub(1);
            stats.failed += 1;
            stats.latest_failed = Some(record.clone());
            push_history(&mut stats, record);
        }
        actions.push(Action::NotifyAborted(id));
        match pending.savepoint.take() {
            Some((storage, reply)) => {
                let _ = storage.discard();
                if let Some(reply) = reply {
                    let _ = reply.send(Err(reason));
                }
            }
            None => {
                if let Some(store) = &self.store {
                    let _ = store.storage().discard(id);
                }
                self.consecutive_failures += 1;
                let tolerable = self.settings.as_ref().map_or(0, |s| s.tolerable_failures);
                if self.consecutive_failures > tolerable {
                    actions.push(Action::FailJob(format!(
                        "Exceeded checkpoint tolerable failure threshold. The latest checkpoint failure: {reason}"
                    )));
                }
            }
        }
    }

    fn store_has_no(&self, id: u64) -> bool {
        self.store
            .as_ref()
            .is_some_and(|store| !store.retained_ids().contains(&id))
    }

    /// A subtask finished: checkpoints still waiting for it can never complete (it takes no
    /// more barriers), so they are abandoned without counting as failures.
    pub fn task_finished(&mut self, vertex: usize, subtask: usize) -> Vec<Action> {
        let mut actions = Vec::new();
        let waiting: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.waiting.contains(&(vertex, subtask)))
            .map(|(id, _)| *id)
            .collect();
        let failures = self.consecutive_failures;
        for id in waiting {
            self.abort(
                id,
                format!("subtask {subtask} of vertex {vertex} finished before acknowledging it"),
                &mut actions,
            );
        }
        self.consecutive_failures = failures;
        actions.retain(|a| !matches!(a, Action::FailJob(_)));
        actions
    }

    /// The job's tasks failed or were cancelled: every pending checkpoint is abandoned (this
    /// does not count towards the tolerable failures).
    pub fn abort_pending(&mut self, reason: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        let tolerable = self.consecutive_failures;
        for id in self.pending.keys().copied().collect::<Vec<_>>() {
            self.abort(id, reason.to_string(), &mut actions);
        }
        self.consecutive_failures = tolerable;
        actions.retain(|a| !matches!(a, Action::FailJob(_)));
        actions
    }

    /// The job ended with `status`: keeps or deletes its checkpoints per the retention policy.
    pub fn shutdown(&mut self, status: crate::runtime::job_master::JobStatus) {
        use crate::runtime::job_master::JobStatus;
        self.abort_pending("the job ended");
        let (Some(settings), Some(store)) = (&self.settings, &mut self.store) else {
            return;
        };
        let keep = !settings.temporary_storage
            && match (status, settings.retention) {
                (JobStatus::Finished, _) => false,
                (_, CheckpointRetention::NoExternalizedCheckpoints) => false,
                (JobStatus::Canceled, CheckpointRetention::DeleteOnCancellation) => false,
                _ => true,
            };
        if !keep {
            if let Err(e) = store.discard_all() {
                tracing::warn!(
                    "could not delete the checkpoints of job {}: {e}",
                    self.job.job_id
                );
            }
            if settings.temporary_storage {
                let _ = store.storage().delete_job_dir();
            }
        }
    }
}

fn push_history(stats: &mut CheckpointStats, record: CheckpointRecord) {
    stats.history.insert(0, record);
    stats.history.truncate(HISTORY_SIZE);
}

/// The metadata's operators: every chained operator with state, subtask by subtask.
fn operator_snapshots(
    job: &JobGraph,
    acks: &mut BTreeMap<(usize, usize), Vec<(String, SubtaskSnapshot)>>,
) -> Vec<OperatorSnapshot> {
    let mut operators = Vec::new();
    for vertex in &job.vertices {
        for op in &vertex.operators {
            let subtasks: Vec<SubtaskSnapshot> = (0..vertex.parallelism)
                .map(|s| {
                    acks.get_mut(&(vertex.id, s))
                        .and_then(|states| {
                            let i = states.iter().position(|(id, _)| *id == op.operator_id)?;
                            Some(states.swap_remove(i).1)
                        })
                        .unwrap_or_default()
                })
                .collect();
            if subtasks.iter().all(SubtaskSnapshot::is_empty) {
                continue; // stateless: nothing to map on restore
            }
            operators.push(OperatorSnapshot {
                operator_id: op.operator_id.clone(),
                uid: op.uid.clone(),
                name: op.name.clone(),
                parallelism: vertex.parallelism,
                max_parallelism: vertex.max_parallelism,
                subtasks,
            });
        }
    }
    operators
}

fn now_ms() -> i64 {
    crate::runtime::chain::processing_time_now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metadata::StateHandle;
    use crate::StreamExecutionEnvironment;

    /// A two-vertex job (source p=2 -> rebalance -> sink p=2) checkpointing into `dir`.
    fn job(dir: &std::path::Path, tolerable: u32) -> Arc<JobGraph> {
        job_every(dir, tolerable, Duration::from_millis(1))
    }

    fn job_every(dir: &std::path::Path, tolerable: u32, interval: Duration) -> Arc<JobGraph> {
        let env = StreamExecutionEnvironment::create_local_environment();
        env.set_parallelism(2);
        env.enable_checkpointing(interval);
        env.get_checkpoint_config()
            .set_checkpoint_storage(dir.to_str().unwrap())
            .set_tolerable_checkpoint_failure_number(tolerable);
        env.from_sequence(1, 10).rebalance().add_sink(|_: i64| {});
        Arc::new(env.get_job_graph().unwrap())
    }

    fn ack(id: u64, vertex: usize, subtask: usize, result: Result<(), &str>) -> CheckpointAck {
        CheckpointAck {
            end_of_data: false,
            vertex,
            subtask,
            checkpoint_id: id,
            result: result
                .map(|_| {
                    vec![(
                        format!("op-{vertex}"),
                        SubtaskSnapshot {
                            operator: Some(StateHandle::Inline(vec![subtask as u8])),
                            ..Default::default()
                        },
                    )]
                })
                .map_err(str::to_string),
            sync_ms: 0,
            async_ms: 0,
        }
    }

    fn triggered(actions: &[Action]) -> CheckpointBarrier {
        match actions {
            [Action::Trigger(b)] => b.clone(),
            other => panic!("expected one trigger, got {other:?}"),
        }
    }

    #[test]
    fn a_checkpoint_completes_when_every_subtask_acknowledged_and_metadata_comes_last() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), 0);
        let mut c = CheckpointCoordinator::new(job.clone(), Arc::default()).unwrap();
        assert!(
            c.tick(false).is_empty(),
            "no checkpoint while tasks are not all running"
        );
        let barrier = triggered(&c.tick(true));
        assert_eq!((barrier.id, barrier.kind), (1, SnapshotType::Checkpoint));
        let chk = dir.path().join(job.job_id.to_string()).join("chk-1");
        for (v, s) in [(0, 0), (0, 1), (1, 0)] {
            assert!(c.receive(ack(1, v, s, Ok(()))).is_empty());
            assert!(!chk.join("_metadata").exists(), "not complete yet");
        }
        assert_eq!(
            c.receive(ack(1, 1, 1, Ok(()))),
            vec![Action::NotifyComplete(1)]
        );
        assert!(chk.join("_metadata").is_file());
        let (latest, path) = c.latest_completed().unwrap();
        assert_eq!(latest.checkpoint_id, 1);
        assert!(path.ends_with("chk-1"), "{path}");
        let stats = c.stats();
        let stats = stats.lock().unwrap();
        assert_eq!((stats.triggered, stats.completed, stats.failed), (1, 1, 0));
    }

    #[test]
    fn a_declined_checkpoint_is_aborted_and_too_many_failures_fail_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = CheckpointCoordinator::new(job(dir.path(), 1), Arc::default()).unwrap();
        let first = triggered(&c.tick(true));
        assert_eq!(
            c.receive(ack(first.id, 0, 1, Err("disk full"))),
            vec![Action::NotifyAborted(first.id)],
            "one failure is tolerated"
        );
        std::thread::sleep(Duration::from_millis(2));
        let second = triggered(&c.tick(true));
        let actions = c.receive(ack(second.id, 1, 0, Err("disk full")));
        assert!(
            matches!(&actions[..], [Action::NotifyAborted(_), Action::FailJob(cause)]
                if cause.contains("Exceeded checkpoint tolerable failure threshold") && cause.contains("disk full")),
            "{actions:?}"
        );
        // A late ack of an aborted checkpoint changes nothing.
        assert!(c.receive(ack(first.id, 0, 0, Ok(()))).is_empty());
    }

    #[test]
    fn a_finished_task_abandons_the_checkpoints_still_waiting_for_it_without_failing_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = CheckpointCoordinator::new(job(dir.path(), 0), Arc::default()).unwrap();
        let barrier = triggered(&c.tick(true));
        c.receive(ack(barrier.id, 0, 0, Ok(())));
        assert!(c.task_finished(0, 0).is_empty(), "it had acknowledged");
        assert_eq!(
            c.task_finished(0, 1),
            vec![Action::NotifyAborted(barrier.id)]
        );
    }

    #[test]
    fn savepoints_need_a_target_and_go_into_a_savepoint_directory() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), 0);
        let mut c = CheckpointCoordinator::new(job.clone(), Arc::default()).unwrap();
        let (reply, result) = crossbeam_channel::bounded(1);
        let err = c
            .trigger_savepoint(None, None, reply.clone(), true)
            .unwrap_err();
        assert!(err.contains("state.savepoints.dir"), "{err}");
        let target = dir.path().join("savepoints");
        let action = c
            .trigger_savepoint(Some(target.to_str().unwrap().into()), None, reply, true)
            .unwrap();
        let Action::Trigger(barrier) = action else {
            panic!("{action:?}")
        };
        assert_eq!(barrier.kind, SnapshotType::Savepoint);
        for (v, s) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            c.receive(ack(barrier.id, v, s, Ok(())));
        }
        let path = result.recv().unwrap().unwrap();
        let name = path.rsplit('/').next().unwrap();
        let prefix = format!("savepoint-{}-", &job.job_id.to_string()[..6]);
        assert!(
            name.starts_with(&prefix) && name.len() == prefix.len() + 12,
            "{name}"
        );
        assert!(target.join(name).join("_metadata").is_file());
        assert!(
            c.latest_completed().is_none(),
            "savepoints are not retained checkpoints"
        );
    }

    /// A coordinator of `job` checkpointing every hour: only the first checkpoint, savepoints
    /// and the final checkpoint are triggered in a test.
    fn hourly(dir: &std::path::Path) -> CheckpointCoordinator {
        let job = job_every(dir, 0, Duration::from_secs(3600));
        CheckpointCoordinator::new(job, Arc::default()).unwrap()
    }

    /// Every subtask of `job` (source p=2, sink p=2).
    const ALL: [(usize, usize); 4] = [(0, 0), (0, 1), (1, 0), (1, 1)];

    fn ack_all(c: &mut CheckpointCoordinator, id: u64, end_of_data: bool) -> Vec<Action> {
        ALL.iter()
            .flat_map(|&(v, s)| {
                c.receive(CheckpointAck {
                    end_of_data,
                    ..ack(id, v, s, Ok(()))
                })
            })
            .collect()
    }

    #[test]
    fn once_every_source_ended_the_final_checkpoint_goes_at_once_and_is_announced_as_final() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = hourly(dir.path());
        let first = triggered(&c.tick(true));
        assert_eq!(
            ack_all(&mut c, first.id, false),
            vec![Action::NotifyComplete(first.id)]
        );
        assert!(c.tick(true).is_empty(), "the interval has not passed");
        c.end_of_data(0, 0);
        assert!(c.tick(true).is_empty(), "source subtask 1 still reads");
        c.end_of_data(0, 1);
        let last = triggered(&c.tick(true));
        assert!(c.tick(true).is_empty(), "the final checkpoint is in flight");
        assert_eq!(
            ack_all(&mut c, last.id, true),
            vec![Action::NotifyFinal(last.id)]
        );
        assert!(c.is_final(last.id));
        assert!(
            c.tick(true).is_empty(),
            "nothing follows the final checkpoint"
        );
        let (reply, _) = crossbeam_channel::bounded(1);
        let refused = c
            .trigger_savepoint(Some(dir.path().display().to_string()), None, reply, true)
            .unwrap_err();
        assert!(refused.contains("final checkpoint"), "{refused}");
    }

    #[test]
    fn a_checkpoint_a_subtask_took_before_its_data_ended_is_not_final() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = hourly(dir.path());
        c.end_of_data(0, 0);
        c.end_of_data(0, 1);
        let barrier = triggered(&c.tick(true));
        let mut actions = Vec::new();
        for (i, &(v, s)) in ALL.iter().enumerate() {
            actions.extend(c.receive(CheckpointAck {
                end_of_data: i != 3,
                ..ack(barrier.id, v, s, Ok(()))
            }));
        }
        assert_eq!(actions, vec![Action::NotifyComplete(barrier.id)]);
        assert!(!c.is_final(barrier.id));
        // A restarted source reads again: no final checkpoint until it ends once more.
        c.tasks_restarted(&[(0, 1)]);
        assert!(c.tick(true).is_empty());
        c.end_of_data(0, 1);
        assert!(matches!(&c.tick(true)[..], [Action::Trigger(_)]));
    }

    #[test]
    fn a_completed_stop_with_savepoint_is_final_and_the_recovery_point() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = hourly(dir.path());
        let first = triggered(&c.tick(true));
        ack_all(&mut c, first.id, false);
        let (reply, result) = crossbeam_channel::bounded(1);
        let Ok(Action::Trigger(stop)) = c.trigger_savepoint(
            Some(dir.path().join("sp").display().to_string()),
            Some(false),
            reply,
            true,
        ) else {
            panic!("no savepoint triggered")
        };
        assert_eq!(stop.kind, SnapshotType::Terminate { drain: false });
        assert_eq!(
            ack_all(&mut c, stop.id, false),
            vec![Action::NotifyFinal(stop.id)]
        );
        let path = result.recv().unwrap().unwrap();
        let (latest, dir) = c.latest_completed().unwrap();
        assert_eq!((latest.checkpoint_id, dir), (stop.id, path));
        assert!(c.is_final(stop.id));
    }
}
