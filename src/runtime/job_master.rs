//! The job master: schedules a job's tasks onto slots, tracks their states, and decides the
//! job's fate (Flink's `JobMaster` with its scheduler). A failed task cancels every other task
//! of the job; the job ends when every task is in a terminal state, and a failed job is
//! restarted per its restart strategy. Where tasks run is behind [`TaskDeployer`]: threads of
//! this process for the embedded executor, worker processes on TaskManagers for a cluster.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde::{Deserialize, Serialize};

use super::network::local::LocalChannels;
use super::task::{
    ExecutionState, TaskControl, TaskDeployment, TaskReport, TaskSettings, TaskStateUpdate,
};
use super::task_executor::TaskExecutor;
use crate::checkpoint::coordinator::{
    Action, CheckpointCoordinator, CheckpointStats, SavepointReply,
};
use crate::checkpoint::restore::{assign_state, RestorePlan};
use crate::config::{ConfigError, Configuration};
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

/// What a deployer managed to start for one attempt of a job.
pub struct Deployed {
    /// Tasks started: the job master waits for this many terminal state updates.
    pub tasks: usize,
    /// Set when not every task could be started.
    pub failure: Option<TaskFailure>,
}

/// Where a job master's tasks run: the in-process [`TaskExecutor`] of the embedded executor, or
/// TaskManagers in other processes (`crate::cluster`). The job master's scheduling, failure and
/// restart logic is the same for both.
pub trait TaskDeployer: Send + Sync {
    /// Acquires the slots the job needs, waiting as long as the deployer's slot request timeout
    /// allows and giving up when `cancelled` says the job was cancelled meanwhile.
    fn allocate_slots(
        &self,
        job: &Arc<JobGraph>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), SlotRequestError>;
    /// Starts every subtask of the job as attempt `attempt`, each from its state in `restore`
    /// (if any); their state updates and checkpoint acknowledgements go to `reports`.
    fn deploy(
        &self,
        job: &Arc<JobGraph>,
        attempt: u32,
        restore: &RestorePlan,
        reports: Sender<TaskReport>,
    ) -> Deployed;
    /// Sends a control message (checkpoint trigger or notification) to one running subtask.
    fn task_control(&self, job: JobId, vertex: usize, subtask: usize, control: TaskControl);
    /// Asks every task of the job to stop (they report `Canceled`).
    fn cancel_job(&self, job: JobId);
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
        attempt: u32,
        restore: &RestorePlan,
        reports: Sender<TaskReport>,
    ) -> Deployed {
        let channels = Arc::new(LocalChannels::default());
        let mut tasks = 0;
        for vertex in &job.vertices {
            for subtask in 0..vertex.parallelism {
                let deployment = TaskDeployment {
                    job_id: job.job_id,
                    job: job.clone(),
                    user_code: self.user_code.clone(),
                    settings: self.settings.clone(),
                    vertex: vertex.id,
                    subtask,
                    attempt,
                    channels: channels.clone(),
                    restore: restore.get(&(vertex.id, subtask)).cloned(),
                };
                if let Err(e) = self.task_executor.submit_task(deployment, reports.clone()) {
                    return Deployed {
                        tasks,
                        failure: Some(TaskFailure {
                            task: vertex.name.clone(),
                            operator: "task executor".into(),
                            subtask,
                            parallelism: vertex.parallelism,
                            message: format!("could not start the task thread: {e}"),
                        }),
                    };
                }
                tasks += 1;
            }
        }
        Deployed {
            tasks,
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

    fn release_job(&self, job: JobId) {
        self.task_executor.release_job(job);
    }
}

/// Flink's restart strategies, applied to whole-job restarts (no checkpoints yet, so a restart
/// re-runs the job from the beginning, as Flink does without checkpointing).
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
        let mut restore = match self.initial_restore(&mut coordinator) {
            Ok(plan) => plan,
            Err(message) => {
                self.set_status(JobStatus::Failed);
                return JobOutcome::Failed(self.scheduler_failure(message));
            }
        };
        let mut failures = Vec::new();
        let mut attempt = 0;
        let outcome = loop {
            let failure = match self.run_attempt(attempt, &control, &mut coordinator, &restore) {
                AttemptOutcome::Done(outcome) => break outcome,
                AttemptOutcome::Failed(failure) => failure,
            };
            failures.push(Instant::now());
            let Some(delay) = self.restart.next_delay(&failures) else {
                break JobOutcome::Failed(failure);
            };
            tracing::warn!(
                "job {} failed (attempt {attempt}), restarting in {delay:?}: {failure}",
                self.job.job_id
            );
            self.set_status(JobStatus::Restarting);
            // A cancel during the restart delay ends the job at once.
            if let Ok(JobControl::Cancel) = control.recv_timeout(delay) {
                break JobOutcome::Canceled;
            }
            if let Some((metadata, dir)) = coordinator.latest_completed() {
                match assign_state(&self.job, &metadata, &dir, false) {
                    Ok(plan) => {
                        tracing::info!(
                            "Restoring job {} from Checkpoint {} @ {} for {}.",
                            self.job.job_id,
                            metadata.checkpoint_id,
                            metadata.timestamp,
                            dir
                        );
                        coordinator.restored_from(metadata.checkpoint_id, &dir);
                        restore = plan;
                    }
                    Err(message) => break JobOutcome::Failed(self.scheduler_failure(message)),
                }
            }
            attempt += 1;
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
        for vertex in &self.job.vertices {
            for subtask in 0..vertex.parallelism {
                self.deployer
                    .task_control(self.job.job_id, vertex.id, subtask, control.clone());
            }
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
                    for vertex in self.job.vertices.iter().filter(|v| v.is_source()) {
                        for subtask in 0..vertex.parallelism {
                            self.deployer.task_control(
                                self.job.job_id,
                                vertex.id,
                                subtask,
                                TaskControl::TriggerCheckpoint(barrier.clone()),
                            );
                        }
                    }
                }
                Action::NotifyComplete(id) => {
                    self.broadcast(TaskControl::NotifyCheckpointComplete(id))
                }
                Action::NotifyAborted(id) => {
                    self.broadcast(TaskControl::NotifyCheckpointAborted(id))
                }
                Action::FailJob(cause) => fail = Some(cause),
            }
        }
        fail
    }

    /// Allocates slots, deploys every task, then follows their state updates until all are done.
    fn run_attempt(
        &self,
        attempt: u32,
        control: &Receiver<JobControl>,
        coordinator: &mut CheckpointCoordinator,
        restore: &RestorePlan,
    ) -> AttemptOutcome {
        let job_id = self.job.job_id;
        let cancelled = || matches!(control.try_recv(), Ok(JobControl::Cancel));
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
        let total: usize = self.job.vertices.iter().map(|v| v.parallelism).sum();
        let Deployed {
            tasks: deployed,
            mut failure,
        } = self.deployer.deploy(&self.job, attempt, restore, reports);

        let mut accumulators = BTreeMap::new();
        let mut terminal = 0;
        let mut finished = 0;
        let mut cancel_requested = false;
        if failure.is_some() {
            self.set_status(JobStatus::Failing);
            self.deployer.cancel_job(job_id);
        }
        let fail_with = |failure: &mut Option<TaskFailure>, cause: TaskFailure| {
            if failure.is_none() {
                *failure = Some(cause);
                self.set_status(JobStatus::Failing);
                self.deployer.cancel_job(job_id);
            }
        };
        let mut last_tick = Instant::now();
        while terminal < deployed {
            crossbeam_channel::select! {
                recv(updates) -> report => {
                    let Ok(report) = report else { break };
                    let update = match report {
                        TaskReport::State(update) => update,
                        TaskReport::Checkpoint(ack) => {
                            if failure.is_none() && !cancel_requested {
                                let actions = coordinator.receive(ack);
                                if let Some(cause) = self.perform(actions) {
                                    fail_with(&mut failure, self.scheduler_failure(cause));
                                }
                            }
                            continue;
                        }
                    };
                    if self.record(&update) {
                        terminal += 1;
                    }
                    match update.state {
                        ExecutionState::Finished => {
                            finished += 1;
                            let actions = coordinator.task_finished(update.vertex, update.subtask);
                            self.perform(actions);
                            for (k, v) in update.accumulators {
                                *accumulators.entry(k).or_insert(0) += v;
                            }
                        }
                        ExecutionState::Failed if failure.is_none() => {
                            let cause = update.failure.unwrap_or_else(|| self.scheduler_failure(
                                "a task failed without a cause".into()));
                            fail_with(&mut failure, cause);
                        }
                        _ => {}
                    }
                }
                recv(control) -> msg => {
                    match msg {
                        Ok(JobControl::Cancel) => {
                            if !cancel_requested && failure.is_none() {
                                cancel_requested = true;
                                self.set_status(JobStatus::Cancelling);
                                self.deployer.cancel_job(job_id);
                            }
                        }
                        Ok(JobControl::TriggerSavepoint { target, terminate, reply }) => {
                            let running = failure.is_none() && !cancel_requested && self.all_running();
                            match coordinator.trigger_savepoint(target, terminate, reply.clone(), running) {
                                Ok(action) => {
                                    if let Some(cause) = self.perform(vec![action]) {
                                        fail_with(&mut failure, self.scheduler_failure(cause));
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
            if last_tick.elapsed() >= Duration::from_millis(20)
                && failure.is_none()
                && !cancel_requested
            {
                last_tick = Instant::now();
                let actions = coordinator.tick(self.all_running());
                if let Some(cause) = self.perform(actions) {
                    fail_with(&mut failure, self.scheduler_failure(cause));
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
            None if cancel_requested || finished < total => {
                AttemptOutcome::Done(JobOutcome::Canceled)
            }
            None => AttemptOutcome::Done(JobOutcome::Finished { accumulators }),
        }
    }

    /// Records a state update; true when the task reached a terminal state.
    fn record(&self, update: &TaskStateUpdate) -> bool {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = states
            .get_mut(update.vertex)
            .and_then(|v| v.get_mut(update.subtask))
        {
            *s = update.state;
        }
        update.state.is_terminal()
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
