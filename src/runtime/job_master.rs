//! The job master: schedules a job's tasks onto slots, tracks their states, and decides the
//! job's fate (Flink's `JobMaster` with its scheduler). A failed task restarts, per the restart
//! strategy, either its pipelined region (failover strategy `region`, the default, when the
//! job has several regions: the other regions keep running) or the whole job (`full`); both
//! restore from the latest completed checkpoint. The job ends when every task is in a terminal
//! state. Where tasks run is behind [`TaskDeployer`]: threads of this process for the embedded
//! executor, worker processes on TaskManagers for a cluster.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde::{Deserialize, Serialize};

use super::network::local::LocalChannels;
use super::regions::{PipelinedRegions, TaskKey};
use super::task::{
    ExecutionState, TaskAttempt, TaskControl, TaskDeployment, TaskReport, TaskSettings,
    TaskStateUpdate,
};
use super::task_executor::TaskExecutor;
use crate::checkpoint::coordinator::{
    Action, CheckpointCoordinator, CheckpointStats, SavepointReply,
};
use crate::checkpoint::restore::{assign_state, RestorePlan};
use crate::config::{ConfigError, Configuration, FailoverStrategy};
use crate::error::TaskFailure;
use crate::graph::{JobGraph, StreamGraph};
use crate::util::ids::JobId;

/// Job states (Flink's `JobStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
}

impl JobStatus {
    pub fn is_globally_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Failed | JobStatus::Canceled | JobStatus::Finished
        )
    }
}

/// Requests to a running job master.
#[derive(Debug, Clone)]
pub enum JobControl {
    Cancel,
    /// Take a savepoint into `target` (or `state.savepoints.dir`); with `terminate`
    /// (`Some(drain)`) the job stops after it (stop-with-savepoint). The path goes to `reply`.
    TriggerSavepoint {
        target: Option<String>,
        terminate: Option<bool>,
        reply: SavepointReply,
    },
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Finished { accumulators: BTreeMap<String, i64> },
    Failed(TaskFailure),
    Canceled,
}

/// Per-subtask state, for status queries.
pub type ExecutionStates = Arc<Mutex<Vec<Vec<ExecutionState>>>>;

/// What a deployer managed to start of one deployment.
pub struct Deployed {
    /// The subtasks started: the job master waits for a terminal state update of each.
    pub started: Vec<TaskKey>,
    /// Set when not every task could be started.
    pub failure: Option<TaskFailure>,
}

/// Where a job master's tasks run: the in-process [`TaskExecutor`] of the embedded executor, or
/// TaskManagers in other processes (`crate::cluster`). The job master's scheduling, failure and
/// restart logic is the same for both.
pub trait TaskDeployer: Send + Sync {
    /// Makes sure the job holds the slots it needs (all of them at first; after a TaskManager
    /// was lost, replacements for its slots), waiting as long as the deployer's slot request
    /// timeout allows and giving up when `cancelled` says the job was cancelled meanwhile.
    fn allocate_slots(
        &self,
        job: &Arc<JobGraph>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), SlotRequestError>;
    /// Starts `tasks` (every subtask of the job, or one pipelined region: a set no exchange
    /// leaves) as deployment number `generation`, each from its state in `restore` (if any);
    /// their state updates and checkpoint acknowledgements go to `reports`.
    fn deploy(
        &self,
        job: &Arc<JobGraph>,
        generation: u32,
        tasks: &[TaskAttempt],
        restore: &RestorePlan,
        reports: Sender<TaskReport>,
    ) -> Deployed;
    /// Sends a control message (checkpoint trigger or notification) to one running subtask.
    fn task_control(&self, job: JobId, vertex: usize, subtask: usize, control: TaskControl);
    /// Asks every task of the job to stop (they report `Canceled`).
    fn cancel_job(&self, job: JobId);
    /// Asks these subtasks of the job to stop (a region restart; they report `Canceled`).
    fn cancel_tasks(&self, job: JobId, tasks: &[TaskKey]);
    /// Waits for the job's tasks to be gone and frees its slots.
    fn release_job(&self, job: JobId);
}

/// Why a job got no slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRequestError {
    /// The job was cancelled while it waited.
    Cancelled,
    /// Not enough slots; the message says how many were needed and available.
    Unavailable(String),
}

/// The embedded executor's deployer: tasks are threads of this process, channels in memory.
pub struct LocalDeployer {
    pub task_executor: Arc<TaskExecutor>,
    pub user_code: Arc<StreamGraph>,
    pub settings: TaskSettings,
}

impl TaskDeployer for LocalDeployer {
    fn allocate_slots(
        &self,
        job: &Arc<JobGraph>,
        _cancelled: &dyn Fn() -> bool,
    ) -> Result<(), SlotRequestError> {
        let needed = job.required_slots();
        let available = self.task_executor.number_of_slots();
        if needed > available {
            return Err(SlotRequestError::Unavailable(format!(
                "Could not acquire the minimum required resources: the job needs {needed} slots but only {available} are available"
            )));
        }
        Ok(())
    }

    fn deploy(
        &self,
        job: &Arc<JobGraph>,
        _generation: u32,
        tasks: &[TaskAttempt],
        restore: &RestorePlan,
        reports: Sender<TaskReport>,
    ) -> Deployed {
        // No exchange leaves the deployed set, so its channels are its own.
        let channels = Arc::new(LocalChannels::default());
        let mut started = Vec::new();
        for task in tasks {
            let vertex = &job.vertices[task.vertex];
            let deployment = TaskDeployment {
                job_id: job.job_id,
                job: job.clone(),
                user_code: self.user_code.clone(),
                settings: self.settings.clone(),
                vertex: task.vertex,
                subtask: task.subtask,
                attempt: task.attempt,
                channels: channels.clone(),
                restore: restore.get(&task.key()).cloned(),
            };
            if let Err(e) = self.task_executor.submit_task(deployment, reports.clone()) {
                return Deployed {
                    started,
                    failure: Some(TaskFailure {
                        task: vertex.name.clone(),
                        operator: "task executor".into(),
                        subtask: task.subtask,
                        parallelism: vertex.parallelism,
                        message: format!("could not start the task thread: {e}"),
                    }),
                };
            }
            started.push(task.key());
        }
        Deployed {
            started,
            failure: None,
        }
    }

    fn task_control(&self, job: JobId, vertex: usize, subtask: usize, control: TaskControl) {
        self.task_executor
            .send_control(job, vertex, subtask, control);
    }

    fn cancel_job(&self, job: JobId) {
        self.task_executor.cancel_job(job);
    }

    fn cancel_tasks(&self, job: JobId, tasks: &[TaskKey]) {
        self.task_executor.cancel_tasks(job, tasks);
    }

    fn release_job(&self, job: JobId) {
        self.task_executor.release_job(job);
    }
}

/// Flink's restart strategies. They count full and region restarts alike; a restart resumes
/// from the latest completed checkpoint, or from the beginning without one (as in Flink).
#[derive(Debug, Clone)]
pub enum RestartStrategy {
    None,
    FixedDelay {
        attempts: u32,
        delay: Duration,
    },
    FailureRate {
        max_failures: u32,
        interval: Duration,
        delay: Duration,
    },
    ExponentialDelay {
        initial: Duration,
        max: Duration,
        multiplier: f64,
    },
}

impl RestartStrategy {
    /// The strategy `restart-strategy.*` configures. Unset, it is Flink's default: none
    /// without checkpointing, and with checkpointing fixed-delay with unlimited attempts and
    /// 1 s delay (`restart-strategy.fixed-delay.*` still apply when set).
    pub fn from_config(config: &Configuration, checkpointing: bool) -> Result<Self, ConfigError> {
        use crate::config::options::{self as o, RestartStrategyType as T};
        Ok(match config.get_optional(&o::RESTART_STRATEGY)? {
            None if checkpointing => RestartStrategy::FixedDelay {
                attempts: if config.contains(o::FIXED_DELAY_ATTEMPTS.key) {
                    config.get(&o::FIXED_DELAY_ATTEMPTS)?
                } else {
                    u32::MAX
                },
                delay: config.get(&o::FIXED_DELAY_DELAY)?,
            },
            None | Some(T::None) => RestartStrategy::None,
            Some(T::FixedDelay) => RestartStrategy::FixedDelay {
                attempts: config.get(&o::FIXED_DELAY_ATTEMPTS)?,
                delay: config.get(&o::FIXED_DELAY_DELAY)?,
            },
            Some(T::FailureRate) => RestartStrategy::FailureRate {
                max_failures: config.get(&o::FAILURE_RATE_MAX_FAILURES)?,
                interval: config.get(&o::FAILURE_RATE_INTERVAL)?,
                delay: config.get(&o::FAILURE_RATE_DELAY)?,
            },
            Some(T::ExponentialDelay) => RestartStrategy::ExponentialDelay {
                initial: config.get(&o::EXPONENTIAL_DELAY_INITIAL_BACKOFF)?,
                max: config.get(&o::EXPONENTIAL_DELAY_MAX_BACKOFF)?,
                multiplier: config.get(&o::EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER)?,
            },
        })
    }

    /// The delay before the next restart, given the times of the failures so far (the latest
    /// last); `None` when the strategy gives up.
    pub fn next_delay(&self, failures: &[Instant]) -> Option<Duration> {
        let n = failures.len() as u32;
        match self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => (n <= *attempts).then_some(*delay),
            RestartStrategy::FailureRate {
                max_failures,
                interval,
                delay,
            } => {
                let recent = failures.iter().filter(|t| t.elapsed() <= *interval).count();
                (recent as u32 <= *max_failures).then_some(*delay)
            }
            RestartStrategy::ExponentialDelay {
                initial,
                max,
                multiplier,
            } => {
                let factor = multiplier.powi(n.saturating_sub(1) as i32);
                Some(initial.mul_f64(factor).min(*max))
            }
        }
    }
}

/// Runs one job on a deployer until it ends, restarting it per its restart strategy.
pub struct JobMaster {
    pub job: Arc<JobGraph>,
    pub deployer: Arc<dyn TaskDeployer>,
    pub restart: RestartStrategy,
    /// `jobmanager.execution.failover-strategy`: what a task failure restarts.
    pub failover: FailoverStrategy,
    pub status: Arc<Mutex<JobStatus>>,
    pub states: ExecutionStates,
    /// Told of every job status change (the cluster records Flink's per-state timestamps).
    pub on_status: Option<StatusListener>,
    /// Checkpoint counts and history, shared with whoever reports on the job (REST).
    pub checkpoint_stats: Arc<Mutex<CheckpointStats>>,
}

/// Callback for job status changes.
pub type StatusListener = Box<dyn Fn(JobStatus) + Send + Sync>;

/// How one attempt of a job ended.
enum AttemptOutcome {
    Done(JobOutcome),
    Failed(TaskFailure),
}

/// What survives from one attempt of the job to the next: failure history, attempt numbers,
/// the state to restore from.
struct Recovery {
    /// When each restart-worthy failure happened (full and region restarts alike), as the
    /// restart strategy counts them.
    failures: Vec<Instant>,
    /// Deployments so far; the next one gets this number.
    generation: u32,
    /// Per subtask, how often it was deployed before.
    attempts: HashMap<TaskKey, u32>,
    /// The state the next deployment starts from.
    restore: RestorePlan,
}

impl Recovery {
    fn attempt_of(&self, task: TaskKey) -> u32 {
        self.attempts.get(&task).copied().unwrap_or(0)
    }

    fn next_attempt_of(&mut self, task: TaskKey) {
        *self.attempts.entry(task).or_insert(0) += 1;
    }
}

/// The bookkeeping of one attempt: which subtasks run, which finished, which regions wait to
/// be restarted.
#[derive(Default)]
struct AttemptProgress {
    /// Deployed and not yet in a terminal state.
    live: HashSet<TaskKey>,
    finished: HashSet<TaskKey>,
    /// Accumulators per finished subtask (a restarted subtask's earlier values are dropped).
    accumulators: HashMap<TaskKey, BTreeMap<String, i64>>,
    /// Regions cancelled for a restart, each with the earliest time to redeploy it.
    restarting: BTreeMap<usize, Instant>,
}

/// How a region restart went.
enum RegionRestart {
    Deployed,
    Cancelled,
    Failed(TaskFailure),
}

impl JobMaster {
    fn set_status(&self, status: JobStatus) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
        if let Some(listener) = &self.on_status {
            listener(status);
        }
    }

    fn scheduler_failure(&self, message: String) -> TaskFailure {
        TaskFailure {
            task: self.job.job_name.clone(),
            operator: "scheduler".into(),
            subtask: 0,
            parallelism: 1,
            message,
        }
    }

    /// Runs attempts until the job finishes, is cancelled, or fails beyond its restart strategy.
    /// Every attempt after a failure restores from the latest completed checkpoint (the first
    /// from the savepoint given with `-s`, if any).
    pub fn run(self, control: Receiver<JobControl>) -> JobOutcome {
        let mut coordinator =
            match CheckpointCoordinator::new(self.job.clone(), self.checkpoint_stats.clone()) {
                Ok(c) => c,
                Err(e) => {
                    self.set_status(JobStatus::Failed);
                    return JobOutcome::Failed(
                        self.scheduler_failure(format!("could not set up checkpoint storage: {e}")),
                    );
                }
            };
        let restore = match self.initial_restore(&mut coordinator) {
            Ok(plan) => plan,
            Err(message) => {
                self.set_status(JobStatus::Failed);
                return JobOutcome::Failed(self.scheduler_failure(message));
            }
        };
        let regions = PipelinedRegions::of_job(&self.job);
        let mut recovery = Recovery {
            failures: Vec::new(),
            generation: 0,
            attempts: HashMap::new(),
            restore,
        };
        let outcome = loop {
            let failure =
                match self.run_attempt(&control, &mut coordinator, &mut recovery, &regions) {
                    AttemptOutcome::Done(outcome) => break outcome,
                    AttemptOutcome::Failed(failure) => failure,
                };
            recovery.failures.push(Instant::now());
            let Some(delay) = self.restart.next_delay(&recovery.failures) else {
                break JobOutcome::Failed(failure);
            };
            tracing::warn!(
                "job {} failed, restarting in {delay:?} (restart {}): {failure}",
                self.job.job_id,
                recovery.failures.len()
            );
            self.set_status(JobStatus::Restarting);
            // A cancel during the restart delay ends the job at once.
            if let Ok(JobControl::Cancel) = control.recv_timeout(delay) {
                break JobOutcome::Canceled;
            }
            if let Err(message) = self.restore_latest(&mut coordinator, &mut recovery) {
                break JobOutcome::Failed(self.scheduler_failure(message));
            }
            let all: Vec<TaskKey> = self.job.subtasks().collect();
            for &task in &all {
                recovery.next_attempt_of(task);
            }
            coordinator.tasks_restarted(&all);
        };
        let status = match &outcome {
            JobOutcome::Finished { .. } => JobStatus::Finished,
            JobOutcome::Failed(_) => JobStatus::Failed,
            JobOutcome::Canceled => JobStatus::Canceled,
        };
        coordinator.shutdown(status);
        self.set_status(status);
        outcome
    }

    /// Points the next deployment at the latest completed checkpoint, if there is one (else it
    /// keeps what it had: the savepoint of `-s`, or nothing).
    fn restore_latest(
        &self,
        coordinator: &mut CheckpointCoordinator,
        recovery: &mut Recovery,
    ) -> Result<(), String> {
        let Some((metadata, dir)) = coordinator.latest_completed() else {
            return Ok(());
        };
        recovery.restore = assign_state(&self.job, &metadata, &dir, false)?;
        if coordinator.is_final(metadata.checkpoint_id) {
            for restore in recovery.restore.values_mut() {
                restore.finished_on_restore = true;
            }
        }
        tracing::info!(
            "Restoring job {} from Checkpoint {} @ {} for {}.",
            self.job.job_id,
            metadata.checkpoint_id,
            metadata.timestamp,
            dir
        );
        coordinator.restored_from(metadata.checkpoint_id, &dir);
        Ok(())
    }

    /// The restore plan of the first attempt: the savepoint of `-s`, or nothing.
    fn initial_restore(
        &self,
        coordinator: &mut CheckpointCoordinator,
    ) -> Result<RestorePlan, String> {
        let Some(settings) = &self.job.savepoint_restore else {
            return Ok(RestorePlan::new());
        };
        let metadata = crate::checkpoint::storage::read_metadata(&settings.path).map_err(|e| {
            format!(
                "Failed to restore the job from savepoint {}: {e}",
                settings.path
            )
        })?;
        let dir = settings
            .path
            .strip_suffix(crate::checkpoint::storage::METADATA_FILE)
            .map(|d| d.trim_end_matches('/').to_string())
            .unwrap_or_else(|| settings.path.trim_end_matches('/').to_string());
        let plan = assign_state(
            &self.job,
            &metadata,
            &dir,
            settings.allow_non_restored_state,
        )?;
        tracing::info!(
            "Starting job {} from savepoint {} ({})",
            self.job.job_id,
            settings.path,
            if settings.allow_non_restored_state {
                "allowing non restored state"
            } else {
                "not allowing non restored state"
            }
        );
        coordinator.restored_from(metadata.checkpoint_id, &dir);
        Ok(plan)
    }

    fn broadcast(&self, control: TaskControl) {
        for (vertex, subtask) in self.job.subtasks() {
            self.deployer
                .task_control(self.job.job_id, vertex, subtask, control.clone());
        }
    }

    fn all_running(&self) -> bool {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flatten()
            .all(|s| *s == ExecutionState::Running)
    }

    /// Carries out the coordinator's decisions; returns a cause when the job must fail.
    fn perform(&self, actions: Vec<Action>) -> Option<String> {
        let mut fail = None;
        for action in actions {
            match action {
                Action::Trigger(barrier) => {
                    for (vertex, subtask) in self.job.source_subtasks() {
                        self.deployer.task_control(
                            self.job.job_id,
                            vertex,
                            subtask,
                            TaskControl::TriggerCheckpoint(barrier.clone()),
                        );
                    }
                }
                Action::NotifyComplete(id) => {
                    self.broadcast(TaskControl::NotifyCheckpointComplete(id))
                }
                Action::NotifyFinal(id) => {
                    self.broadcast(TaskControl::NotifyFinalCheckpointComplete(id))
                }
                Action::NotifyAborted(id) => {
                    self.broadcast(TaskControl::NotifyCheckpointAborted(id))
                }
                Action::FailJob(cause) => fail = Some(cause),
            }
        }
        fail
    }

    /// Enters `status` (failing or cancelling): every task of the job is asked to stop and no
    /// region waits for a restart any more.
    fn stop_all(&self, status: JobStatus, progress: &mut AttemptProgress) {
        progress.restarting.clear();
        self.set_status(status);
        self.deployer.cancel_job(self.job.job_id);
    }

    /// Deploys `tasks` as their current attempts; they join `progress.live`.
    fn deploy_tasks(
        &self,
        tasks: &[TaskKey],
        recovery: &mut Recovery,
        reports: &Sender<TaskReport>,
        progress: &mut AttemptProgress,
    ) -> Option<TaskFailure> {
        let attempts: Vec<TaskAttempt> = tasks
            .iter()
            .map(|&(vertex, subtask)| TaskAttempt {
                vertex,
                subtask,
                attempt: recovery.attempt_of((vertex, subtask)),
            })
            .collect();
        let generation = recovery.generation;
        recovery.generation += 1;
        let Deployed { started, failure } = self.deployer.deploy(
            &self.job,
            generation,
            &attempts,
            &recovery.restore,
            reports.clone(),
        );
        progress.live.extend(started);
        failure
    }

    /// The region a failure of `task` restarts, when the failover strategy restarts regions
    /// and the job has more than one (with one region, a region restart is a full restart).
    fn region_to_restart(&self, regions: &PipelinedRegions, task: TaskKey) -> Option<usize> {
        (self.failover == FailoverStrategy::Region && regions.len() > 1)
            .then(|| regions.region_of(task))
            .flatten()
    }

    /// Cancels the failed subtask's region and schedules its redeployment after `delay`.
    fn begin_region_restart(
        &self,
        region: usize,
        regions: &PipelinedRegions,
        delay: Duration,
        failure: &TaskFailure,
        coordinator: &mut CheckpointCoordinator,
        progress: &mut AttemptProgress,
    ) -> Option<TaskFailure> {
        let tasks = regions.tasks(region);
        tracing::warn!(
            "job {}: {failure}; restarting its pipelined region ({} of {} subtasks) in {delay:?}",
            self.job.job_id,
            tasks.len(),
            self.job.subtasks().count()
        );
        let running: Vec<TaskKey> = tasks
            .iter()
            .copied()
            .filter(|t| progress.live.contains(t))
            .collect();
        self.deployer.cancel_tasks(self.job.job_id, &running);
        progress.restarting.insert(region, Instant::now() + delay);
        // Checkpoints in flight can no longer complete: the region's tasks will not ack them.
        let actions = coordinator.abort_pending("a pipelined region of the job is restarting");
        self.perform(actions)
            .map(|cause| self.scheduler_failure(cause))
    }

    /// Redeploys a cancelled region from the latest completed checkpoint.
    fn restart_region(
        &self,
        tasks: &[TaskKey],
        control: &Receiver<JobControl>,
        coordinator: &mut CheckpointCoordinator,
        recovery: &mut Recovery,
        reports: &Sender<TaskReport>,
        progress: &mut AttemptProgress,
    ) -> RegionRestart {
        if let Err(message) = self.restore_latest(coordinator, recovery) {
            return RegionRestart::Failed(self.scheduler_failure(message));
        }
        coordinator.tasks_restarted(tasks);
        {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            for &(vertex, subtask) in tasks {
                recovery.next_attempt_of((vertex, subtask));
                progress.finished.remove(&(vertex, subtask));
                progress.accumulators.remove(&(vertex, subtask));
                if let Some(s) = states.get_mut(vertex).and_then(|v| v.get_mut(subtask)) {
                    *s = ExecutionState::Deploying;
                }
            }
        }
        // A lost TaskManager took slots with it: the region needs replacements.
        let cancelled = || cancel_arrived(control);
        match self.deployer.allocate_slots(&self.job, &cancelled) {
            Ok(()) => {}
            Err(SlotRequestError::Cancelled) => return RegionRestart::Cancelled,
            Err(SlotRequestError::Unavailable(message)) => {
                return RegionRestart::Failed(self.scheduler_failure(message))
            }
        }
        match self.deploy_tasks(tasks, recovery, reports, progress) {
            Some(failure) => RegionRestart::Failed(failure),
            None => RegionRestart::Deployed,
        }
    }

    /// Allocates slots, deploys every task, then follows their state updates until all are
    /// done, restarting failed regions on the way when the failover strategy says so.
    fn run_attempt(
        &self,
        control: &Receiver<JobControl>,
        coordinator: &mut CheckpointCoordinator,
        recovery: &mut Recovery,
        regions: &PipelinedRegions,
    ) -> AttemptOutcome {
        let job_id = self.job.job_id;
        let cancelled = || cancel_arrived(control);
        match self.deployer.allocate_slots(&self.job, &cancelled) {
            Ok(()) => {}
            Err(SlotRequestError::Cancelled) => return AttemptOutcome::Done(JobOutcome::Canceled),
            Err(SlotRequestError::Unavailable(message)) => {
                return AttemptOutcome::Failed(self.scheduler_failure(message))
            }
        }
        *self.states.lock().unwrap_or_else(|e| e.into_inner()) = self
            .job
            .vertices
            .iter()
            .map(|v| vec![ExecutionState::Deploying; v.parallelism])
            .collect();
        self.set_status(JobStatus::Running);

        let (reports, updates) = unbounded();
        let all: Vec<TaskKey> = self.job.subtasks().collect();
        let mut progress = AttemptProgress::default();
        let mut failure = self.deploy_tasks(&all, recovery, &reports, &mut progress);
        let mut cancel_requested = false;
        if failure.is_some() {
            self.stop_all(JobStatus::Failing, &mut progress);
        }
        let fail_with = |failure: &mut Option<TaskFailure>,
                         progress: &mut AttemptProgress,
                         cause: TaskFailure| {
            if failure.is_none() {
                *failure = Some(cause);
                self.stop_all(JobStatus::Failing, progress);
            }
        };
        let mut last_tick = Instant::now();
        while !progress.live.is_empty() || !progress.restarting.is_empty() {
            crossbeam_channel::select! {
                recv(updates) -> report => {
                    let Ok(report) = report else { break };
                    let update = match report {
                        TaskReport::State(update) => update,
                        TaskReport::Checkpoint(ack) => {
                            if failure.is_none() && !cancel_requested {
                                let actions = coordinator.receive(ack);
                                if let Some(cause) = self.perform(actions) {
                                    fail_with(&mut failure, &mut progress, self.scheduler_failure(cause));
                                }
                            }
                            continue;
                        }
                        TaskReport::EndOfData(task) => {
                            if task.attempt == recovery.attempt_of(task.key()) {
                                coordinator.end_of_data(task.vertex, task.subtask);
                            }
                            continue;
                        }
                    };
                    let task = (update.vertex, update.subtask);
                    // A report of an attempt that a region restart has since replaced.
                    if update.attempt != recovery.attempt_of(task) {
                        continue;
                    }
                    self.record(&update);
                    if update.state.is_terminal() {
                        progress.live.remove(&task);
                    }
                    match update.state {
                        ExecutionState::Finished => {
                            progress.finished.insert(task);
                            progress.accumulators.insert(task, update.accumulators);
                            let actions = coordinator.task_finished(update.vertex, update.subtask);
                            self.perform(actions);
                        }
                        ExecutionState::Failed if failure.is_none() && !cancel_requested => {
                            let cause = update.failure.unwrap_or_else(|| self.scheduler_failure(
                                "a task failed without a cause".into()));
                            match self.region_to_restart(regions, task) {
                                // Already going down: a consequence of the first failure.
                                Some(region) if progress.restarting.contains_key(&region) => {}
                                Some(region) => {
                                    recovery.failures.push(Instant::now());
                                    match self.restart.next_delay(&recovery.failures) {
                                        Some(delay) => {
                                            if let Some(f) = self.begin_region_restart(
                                                region, regions, delay, &cause, coordinator, &mut progress,
                                            ) {
                                                fail_with(&mut failure, &mut progress, f);
                                            }
                                        }
                                        None => fail_with(&mut failure, &mut progress, cause),
                                    }
                                }
                                None => fail_with(&mut failure, &mut progress, cause),
                            }
                        }
                        _ => {}
                    }
                }
                recv(control) -> msg => {
                    match msg {
                        Ok(JobControl::Cancel) => {
                            if !cancel_requested && failure.is_none() {
                                cancel_requested = true;
                                self.stop_all(JobStatus::Cancelling, &mut progress);
                            }
                        }
                        Ok(JobControl::TriggerSavepoint { target, terminate, reply }) => {
                            let running = failure.is_none() && !cancel_requested && self.all_running();
                            match coordinator.trigger_savepoint(target, terminate, reply.clone(), running) {
                                Ok(action) => {
                                    if let Some(cause) = self.perform(vec![action]) {
                                        fail_with(&mut failure, &mut progress, self.scheduler_failure(cause));
                                    }
                                }
                                Err(message) => {
                                    let _ = reply.send(Err(message));
                                }
                            }
                        }
                        Err(_) => {}
                    }
                }
                default(Duration::from_millis(50)) => {}
            }
            // Regions whose subtasks are all down and whose restart delay passed go back up.
            let now = Instant::now();
            let due: Vec<usize> = progress
                .restarting
                .iter()
                .filter(|(region, at)| {
                    **at <= now
                        && regions
                            .tasks(**region)
                            .iter()
                            .all(|t| !progress.live.contains(t))
                })
                .map(|(region, _)| *region)
                .collect();
            for region in due {
                progress.restarting.remove(&region);
                match self.restart_region(
                    regions.tasks(region),
                    control,
                    coordinator,
                    recovery,
                    &reports,
                    &mut progress,
                ) {
                    RegionRestart::Deployed => {}
                    RegionRestart::Cancelled => {
                        cancel_requested = true;
                        self.stop_all(JobStatus::Cancelling, &mut progress);
                    }
                    RegionRestart::Failed(cause) => fail_with(&mut failure, &mut progress, cause),
                }
            }
            if last_tick.elapsed() >= Duration::from_millis(20)
                && failure.is_none()
                && !cancel_requested
            {
                last_tick = Instant::now();
                let actions = coordinator.tick(self.all_running());
                if let Some(cause) = self.perform(actions) {
                    fail_with(&mut failure, &mut progress, self.scheduler_failure(cause));
                }
            }
        }
        let reason = match &failure {
            Some(f) => format!("the job failed: {f}"),
            None => "the job's tasks ended".to_string(),
        };
        coordinator.abort_pending(&reason);
        self.deployer.release_job(job_id);
        match failure {
            Some(f) => AttemptOutcome::Failed(f),
            None if cancel_requested || progress.finished.len() < all.len() => {
                AttemptOutcome::Done(JobOutcome::Canceled)
            }
            None => {
                let mut accumulators = BTreeMap::new();
                for values in progress.accumulators.into_values() {
                    for (k, v) in values {
                        *accumulators.entry(k).or_insert(0) += v;
                    }
                }
                AttemptOutcome::Done(JobOutcome::Finished { accumulators })
            }
        }
    }

    /// Records a state update in the per-subtask states.
    fn record(&self, update: &TaskStateUpdate) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = states
            .get_mut(update.vertex)
            .and_then(|v| v.get_mut(update.subtask))
        {
            *s = update.state;
        }
    }
}

/// Whether a cancel request arrived while the job waits for slots. A savepoint request
/// meanwhile is refused, as it is whenever not every task runs.
fn cancel_arrived(control: &Receiver<JobControl>) -> bool {
    match control.try_recv() {
        Ok(JobControl::Cancel) => true,
        Ok(JobControl::TriggerSavepoint { reply, .. }) => {
            let _ = reply.send(Err("Not all required tasks are currently running.".into()));
            false
        }
        Err(_) => false,
    }
}

/// Wall-clock helper for net runtime.
pub fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_delay_gives_up_after_its_attempts() {
        let strategy = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(10),
        };
        let now = Instant::now();
        assert_eq!(strategy.next_delay(&[now]), Some(Duration::from_millis(10)));
        assert_eq!(
            strategy.next_delay(&[now, now]),
            Some(Duration::from_millis(10))
        );
        assert_eq!(strategy.next_delay(&[now, now, now]), None);
        assert_eq!(RestartStrategy::None.next_delay(&[now]), None);
    }

    #[test]
    fn failure_rate_counts_only_failures_inside_the_interval() {
        let strategy = RestartStrategy::FailureRate {
            max_failures: 1,
            interval: Duration::from_secs(60),
            delay: Duration::ZERO,
        };
        let now = Instant::now();
        assert_eq!(strategy.next_delay(&[now]), Some(Duration::ZERO));
        assert_eq!(strategy.next_delay(&[now, now]), None);
        if let Some(old) = now.checked_sub(Duration::from_secs(120)) {
            assert_eq!(strategy.next_delay(&[old, now]), Some(Duration::ZERO));
        }
    }

    #[test]
    fn exponential_delay_grows_up_to_its_maximum() {
        let strategy = RestartStrategy::ExponentialDelay {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5),
            multiplier: 2.0,
        };
        let now = Instant::now();
        let delays: Vec<_> = (1..=4)
            .map(|n| strategy.next_delay(&vec![now; n]).unwrap().as_secs())
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 5]);
    }

    #[test]
    fn restart_strategy_comes_from_flink_keys() {
        let mut config = Configuration::new();
        assert!(matches!(
            RestartStrategy::from_config(&config, false).unwrap(),
            RestartStrategy::None
        ));
        config.set("restart-strategy", "fixed-delay");
        config.set("restart-strategy.fixed-delay.attempts", "3");
        config.set("restart-strategy.fixed-delay.delay", "100 ms");
        assert!(matches!(
            RestartStrategy::from_config(&config, false).unwrap(),
            RestartStrategy::FixedDelay { attempts: 3, delay } if delay == Duration::from_millis(100)
        ));
    }
}
