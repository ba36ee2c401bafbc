//! The job master: schedules a job's tasks onto slots, tracks their states, and decides the
//! job's fate (Flink's `JobMaster` with its scheduler). A failed task cancels every other task
//! of the job; the job ends when every task is in a terminal state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use serde::{Deserialize, Serialize};

use super::network::local::LocalChannels;
use super::task::{ExecutionState, TaskDeployment, TaskSettings, TaskStateUpdate};
use super::task_executor::TaskExecutor;
use crate::error::TaskFailure;
use crate::graph::{JobGraph, StreamGraph};

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

/// Runs one job on a task executor until it ends.
pub struct JobMaster {
    pub job: Arc<JobGraph>,
    pub user_code: Arc<StreamGraph>,
    pub settings: TaskSettings,
    pub task_executor: Arc<TaskExecutor>,
    pub status: Arc<Mutex<JobStatus>>,
    pub states: ExecutionStates,
}

impl JobMaster {
    fn set_status(&self, status: JobStatus) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// Deploys every task, then follows their state updates until the job is done.
    pub fn run(self, control: Receiver<JobControl>) -> JobOutcome {
        let job_id = self.job.job_id;
        let needed = self.job.required_slots();
        if needed > self.task_executor.number_of_slots() {
            self.set_status(JobStatus::Failed);
            return JobOutcome::Failed(TaskFailure {
                task: self.job.job_name.clone(),
                operator: "scheduler".into(),
                subtask: 0,
                parallelism: 1,
                message: format!(
                    "Could not acquire the minimum required resources: the job needs {needed} slots but only {} are available",
                    self.task_executor.number_of_slots()
                ),
            });
        }
        *self.states.lock().unwrap_or_else(|e| e.into_inner()) = self
            .job
            .vertices
            .iter()
            .map(|v| vec![ExecutionState::Deploying; v.parallelism])
            .collect();
        self.set_status(JobStatus::Running);

        let (reports, updates) = unbounded();
        let channels = Arc::new(LocalChannels::default());
        let total: usize = self.job.vertices.iter().map(|v| v.parallelism).sum();
        let mut deployed = 0;
        let mut failure: Option<TaskFailure> = None;
        'deploy: for vertex in &self.job.vertices {
            for subtask in 0..vertex.parallelism {
                let deployment = TaskDeployment {
                    job_id,
                    job: self.job.clone(),
                    user_code: self.user_code.clone(),
                    settings: self.settings.clone(),
                    vertex: vertex.id,
                    subtask,
                    attempt: 0,
                    channels: channels.clone(),
                };
                if let Err(e) = self.task_executor.submit_task(deployment, reports.clone()) {
                    failure = Some(TaskFailure {
                        task: vertex.name.clone(),
                        operator: "task executor".into(),
                        subtask,
                        parallelism: vertex.parallelism,
                        message: format!("could not start the task thread: {e}"),
                    });
                    break 'deploy;
                }
                deployed += 1;
            }
        }
        drop(reports);

        let mut accumulators = BTreeMap::new();
        let mut terminal = 0;
        let mut finished = 0;
        let mut cancel_requested = false;
        if failure.is_some() {
            self.set_status(JobStatus::Failing);
            self.task_executor.cancel_job(job_id);
        }
        while terminal < deployed {
            crossbeam_channel::select! {
                recv(updates) -> update => {
                    let Ok(update) = update else { break };
                    if self.record(&update) {
                        terminal += 1;
                    }
                    match update.state {
                        ExecutionState::Finished => {
                            finished += 1;
                            for (k, v) in update.accumulators {
                                *accumulators.entry(k).or_insert(0) += v;
                            }
                        }
                        ExecutionState::Failed if failure.is_none() => {
                            failure = update.failure;
                            self.set_status(JobStatus::Failing);
                            self.task_executor.cancel_job(job_id);
                        }
                        _ => {}
                    }
                }
                recv(control) -> msg => {
                    if let Ok(JobControl::Cancel) = msg {
                        if !cancel_requested && failure.is_none() {
                            cancel_requested = true;
                            self.set_status(JobStatus::Cancelling);
                            self.task_executor.cancel_job(job_id);
                        }
                    }
                }
                default(Duration::from_secs(1)) => {}
            }
        }
        self.task_executor.release_job(job_id);
        let outcome = match failure {
            Some(f) => JobOutcome::Failed(f),
            None if cancel_requested || finished < total => JobOutcome::Canceled,
            None => JobOutcome::Finished { accumulators },
        };
        self.set_status(match &outcome {
            JobOutcome::Finished { .. } => JobStatus::Finished,
            JobOutcome::Failed(_) => JobStatus::Failed,
            JobOutcome::Canceled => JobStatus::Canceled,
        });
        outcome
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
