//! The JobManager of a session cluster: the dispatcher (accepts jobs, one job master per job,
//! keeps finished jobs for `jobstore.expiration-time`), the resource manager (TaskManager
//! registration, heartbeats, the slot manager), the blob store for uploaded programs, and the
//! control RPC endpoint TaskManagers and workers connect to. The REST server (`crate::rest`)
//! reads and drives it through [`Cluster`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Sender};

use super::blob::BlobStore;
use super::outbox::Outbox;
use super::rpc::{
    self, FromTaskManager, FromWorker, Hello, TaskLocation, TaskManagerRegistration, ToTaskManager,
    ToWorker, WorkerLaunch, WorkerRegistration,
};
use crate::error::TaskFailure;
use crate::graph::JobGraph;
use crate::runtime::job_master::{
    Deployed, ExecutionStates, JobControl, JobMaster, JobOutcome, JobStatus, RestartStrategy,
    SlotRequestError, TaskDeployer,
};
use crate::runtime::regions::TaskKey;
use crate::runtime::task::{ExecutionState, TaskAttempt, TaskControl, TaskReport, TaskStateUpdate};
use crate::util::ids::JobId;

/// Milliseconds since the epoch, as Flink's REST API reports times.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// JobManager settings resolved from the configuration.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub slot_request_timeout: Duration,
    pub jobstore_expiration: Duration,
    pub blob_dir: PathBuf,
}

/// A job as submitted: the JobGraph from the client's plan run, and how to start its program.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Submission {
    #[serde(rename = "jobGraph")]
    pub job_graph: JobGraph,
    #[serde(default)]
    pub plan: serde_json::Value,
    /// Blob key of the uploaded program.
    #[serde(rename = "programKey")]
    pub program_key: String,
    #[serde(rename = "programArgs", default)]
    pub program_args: Vec<String>,
    /// The client's resolved configuration (flat YAML).
    #[serde(default)]
    pub configuration: String,
    /// Which `execute` of the program's `main` this job is (0 for the first): a worker runs
    /// `main` again and skips the executes before it.
    #[serde(rename = "jobOrdinal", default)]
    pub job_ordinal: usize,
}

impl Submission {
    /// The submission of the job a program's `main` planned (its first, as plan mode stops
    /// there), run with `args` under `config`.
    pub fn planned(
        plan: crate::api::launch::PlanFile,
        program_key: String,
        args: &[String],
        config: &crate::config::Configuration,
    ) -> Self {
        Submission {
            job_graph: plan.job_graph,
            plan: plan.plan,
            program_key,
            program_args: args.to_vec(),
            configuration: config.to_yaml_string(),
            job_ordinal: 0,
        }
    }
}

/// What the dispatcher keeps about a job.
pub struct JobEntry {
    pub job: Arc<JobGraph>,
    pub plan: serde_json::Value,
    pub status: Arc<Mutex<JobStatus>>,
    pub states: ExecutionStates,
    pub start_time: i64,
    pub end_time: Option<i64>,
    /// Root cause of a failure: time and text.
    pub failure: Option<(i64, String)>,
    /// Whether the job failed because a TaskManager or a worker process was lost (rather than
    /// by its own code): its container's exit may then say why.
    pub failed_by_lost_process: bool,
    control: Sender<JobControl>,
    /// When the job last changed state, per state (Flink's `timestamps`).
    pub timestamps: BTreeMap<String, i64>,
    /// Checkpoint counts and history (`/jobs/:id/checkpoints`).
    pub checkpoints: Arc<Mutex<crate::checkpoint::coordinator::CheckpointStats>>,
}

impl JobEntry {
    pub fn status(&self) -> JobStatus {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A registered TaskManager.
pub struct TaskManagerEntry {
    pub registration: TaskManagerRegistration,
    pub address: String,
    pub last_heartbeat: Instant,
    /// Which job holds each slot.
    pub slots: Vec<Option<JobId>>,
    outbox: Outbox,
}

impl TaskManagerEntry {
    pub fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.is_none()).count()
    }
}

#[derive(Default)]
struct WorkerEntry {
    registration: Option<WorkerRegistration>,
    outbox: Option<Outbox>,
    /// Why the worker is gone, once it is.
    gone: Option<String>,
}

/// One deployment of a job (all its subtasks, or one pipelined region after a region
/// restart): where each of its subtasks runs, on which worker, and which are done. Its number
/// (`generation`) names the workers it starts: a region restart starts new workers beside the
/// ones still running the job's other regions.
struct Deployment {
    generation: u32,
    /// TaskManager id and attempt number per deployed subtask.
    placement: BTreeMap<TaskKey, (String, u32)>,
    reports: Sender<TaskReport>,
    terminal: HashSet<TaskKey>,
    workers: BTreeMap<String, WorkerEntry>,
    names: Vec<(String, usize)>,
}

impl Deployment {
    /// Fails the tasks on TaskManager `tm` (its process or the job's worker there is gone).
    fn fail_tasks_on(&mut self, tm: &str, message: &str) {
        if let Some(w) = self.workers.get_mut(tm) {
            w.gone.get_or_insert_with(|| message.to_string());
        }
        for (&(vertex, subtask), (placed, attempt)) in &self.placement {
            if placed == tm && self.terminal.insert((vertex, subtask)) {
                let (task, parallelism) = self.names[vertex].clone();
                let _ = self.reports.send(TaskReport::State(TaskStateUpdate {
                    vertex,
                    subtask,
                    attempt: *attempt,
                    state: ExecutionState::Failed,
                    failure: Some(TaskFailure {
                        task,
                        operator: LOST_PROCESS_OPERATOR.into(),
                        subtask,
                        parallelism,
                        message: message.to_string(),
                    }),
                    accumulators: Default::default(),
                }));
            }
        }
    }

    /// The subtasks this deployment placed on TaskManager `tm`.
    fn tasks_on(&self, tm: &str) -> Vec<TaskAttempt> {
        self.placement
            .iter()
            .filter(|(_, (placed, _))| placed == tm)
            .map(|(&(vertex, subtask), (_, attempt))| TaskAttempt {
                vertex,
                subtask,
                attempt: *attempt,
            })
            .collect()
    }
}

/// The "operator" a task failure names when the process running the task was lost.
const LOST_PROCESS_OPERATOR: &str = "task manager";

#[derive(Default)]
struct State {
    task_managers: BTreeMap<String, TaskManagerEntry>,
    jobs: BTreeMap<JobId, JobEntry>,
    /// Each job's deployments by number: one after a full (re)start, one more per region
    /// restart while older ones still run other regions.
    deployments: HashMap<JobId, BTreeMap<u32, Deployment>>,
    /// Slots held by each job: (TaskManager id, slot index) per slot-sharing index (subtask i
    /// of every vertex runs in slot i); `None` where the TaskManager was lost.
    allocations: HashMap<JobId, Vec<Option<(String, usize)>>>,
    /// Slots each job waiting for slots needs: what an active resource manager (YARN)
    /// requests containers for.
    pending_slots: HashMap<JobId, usize>,
}

impl State {
    /// The job's deployments, oldest first.
    fn deployments_of(&self, job: JobId) -> impl Iterator<Item = &Deployment> {
        self.deployments
            .get(&job)
            .into_iter()
            .flat_map(|d| d.values())
    }

    fn deployment_mut(&mut self, job: JobId, generation: u32) -> Option<&mut Deployment> {
        self.deployments.get_mut(&job)?.get_mut(&generation)
    }
}

/// The JobManager's shared state and operations (dispatcher + resource manager + blob store).
pub struct Cluster {
    state: Mutex<State>,
    pub settings: ClusterSettings,
    pub configuration: crate::config::Configuration,
    pub started: i64,
    /// Savepoint, stop and disposal operations, by trigger id.
    pub operations: super::savepoints::Operations,
}

/// Errors the dispatcher reports to REST callers.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("Job {0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl Cluster {
    pub fn new(
        settings: ClusterSettings,
        configuration: crate::config::Configuration,
    ) -> Arc<Self> {
        Arc::new(Cluster {
            state: Mutex::new(State::default()),
            settings,
            configuration,
            started: now_ms(),
            operations: Default::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- blob store ----

    fn blobs(&self) -> BlobStore {
        BlobStore::new(&self.settings.blob_dir)
    }

    /// Stores a program; returns its content key.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, DispatchError> {
        self.blobs()
            .put(bytes)
            .map_err(|e| self.blob_store_failed(e))
    }

    /// Stores the program file at `path` (streamed, never whole in memory); its content key.
    pub fn put_blob_file(&self, path: &std::path::Path) -> Result<String, DispatchError> {
        self.blobs()
            .put_file(path)
            .map_err(|e| self.blob_store_failed(e))
    }

    fn blob_store_failed(&self, e: std::io::Error) -> DispatchError {
        DispatchError::Internal(format!(
            "could not store the program in '{}': {e}",
            self.settings.blob_dir.display()
        ))
    }

    fn blob_path(&self, key: &str) -> Result<PathBuf, DispatchError> {
        self.blobs().path(key).map_err(DispatchError::BadRequest)
    }

    // ---- dispatcher ----

    /// Accepts a job and starts its job master.
    pub fn submit(self: &Arc<Self>, submission: Submission) -> Result<JobId, DispatchError> {
        self.blob_path(&submission.program_key)?;
        let configuration = crate::config::Configuration::from_yaml_str(
            &submission.configuration,
            "the submitted configuration",
        )
        .map_err(|e| DispatchError::BadRequest(e.to_string()))?;
        let job = Arc::new(submission.job_graph.clone());
        let restart = RestartStrategy::from_config(&configuration, job.checkpointing.is_some())
            .map_err(|e| DispatchError::BadRequest(e.to_string()))?;
        let failover = configuration
            .get(&crate::config::options::FAILOVER_STRATEGY)
            .map_err(|e| DispatchError::BadRequest(e.to_string()))?;
        let checkpoints = Arc::new(Mutex::new(Default::default()));
        let job_id = job.job_id;
        let status = Arc::new(Mutex::new(JobStatus::Created));
        let states: ExecutionStates = Arc::new(Mutex::new(Vec::new()));
        let (control, control_rx) = bounded(16);
        {
            let mut state = self.lock();
            if state.jobs.contains_key(&job_id) {
                return Err(DispatchError::BadRequest(format!(
                    "Job {job_id} was already submitted"
                )));
            }
            let now = now_ms();
            state.jobs.insert(
                job_id,
                JobEntry {
                    job: job.clone(),
                    plan: submission.plan.clone(),
                    status: status.clone(),
                    states: states.clone(),
                    start_time: now,
                    end_time: None,
                    failure: None,
                    failed_by_lost_process: false,
                    control,
                    timestamps: BTreeMap::from([("CREATED".to_string(), now)]),
                    checkpoints: checkpoints.clone(),
                },
            );
        }
        let master = JobMaster {
            job: job.clone(),
            deployer: Arc::new(ClusterDeployer {
                cluster: self.clone(),
                submission,
            }),
            restart,
            failover,
            status,
            states,
            checkpoint_stats: checkpoints,
            on_status: Some(Box::new({
                let cluster = Arc::downgrade(self);
                move |status| {
                    if let Some(cluster) = cluster.upgrade() {
                        if let Some(entry) = cluster.lock().jobs.get_mut(&job_id) {
                            entry
                                .timestamps
                                .insert(crate::rest::model::job_state_name(status), now_ms());
                        }
                    }
                }
            })),
        };
        let cluster = self.clone();
        std::thread::Builder::new()
            .name(format!("jobmaster-{job_id}"))
            .spawn(move || {
                tracing::info!("Job {job_id} ({}) submitted", master.job.job_name);
                let outcome = master.run(control_rx);
                cluster.job_ended(job_id, outcome);
            })
            .map_err(|e| DispatchError::Internal(format!("could not start a job master: {e}")))?;
        Ok(job_id)
    }

    fn job_ended(&self, job_id: JobId, outcome: JobOutcome) {
        let mut state = self.lock();
        if let Some(entry) = state.jobs.get_mut(&job_id) {
            let now = now_ms();
            entry.end_time = Some(now);
            if let JobOutcome::Failed(f) = &outcome {
                entry.failure = Some((now, f.to_string()));
                entry.failed_by_lost_process = f.operator == LOST_PROCESS_OPERATOR;
            }
        }
        tracing::info!("Job {job_id} ended: {outcome:?}");
    }

    /// Asks a job to cancel.
    pub fn cancel(&self, job_id: JobId) -> Result<(), DispatchError> {
        let state = self.lock();
        let entry = state
            .jobs
            .get(&job_id)
            .ok_or_else(|| DispatchError::NotFound(job_id.to_string()))?;
        let _ = entry.control.send(JobControl::Cancel);
        Ok(())
    }

    /// Triggers a savepoint of a running job (`terminate`: stop-with-savepoint, `Some(drain)`);
    /// returns the trigger id under which its outcome is kept.
    pub fn trigger_savepoint(
        self: &Arc<Self>,
        job_id: JobId,
        target: Option<String>,
        terminate: Option<bool>,
        cancel_after: bool,
    ) -> Result<String, DispatchError> {
        let control = {
            let state = self.lock();
            let entry = state
                .jobs
                .get(&job_id)
                .ok_or_else(|| DispatchError::NotFound(job_id.to_string()))?;
            if entry.status().is_globally_terminal() {
                return Err(DispatchError::BadRequest(format!(
                    "Job {job_id} is not running (it is {:?}).",
                    entry.status()
                )));
            }
            entry.control.clone()
        };
        let target = target.or_else(|| {
            self.configuration
                .get_optional(&crate::config::options::SAVEPOINT_DIRECTORY)
                .ok()
                .flatten()
        });
        let (reply, result) = bounded(1);
        control
            .send(JobControl::TriggerSavepoint {
                target,
                terminate,
                reply,
            })
            .map_err(|_| DispatchError::BadRequest(format!("Job {job_id} is not running.")))?;
        let canceller = control.clone();
        let trigger = self.operations.start();
        let cluster = self.clone();
        let id = trigger.clone();
        std::thread::Builder::new()
            .name(format!("savepoint-{job_id}"))
            .spawn(move || {
                let status = match result.recv() {
                    Ok(Ok(path)) => {
                        // Flink's (deprecated) cancel-with-savepoint.
                        if cancel_after {
                            let _ = canceller.send(JobControl::Cancel);
                        }
                        super::savepoints::OperationStatus::Completed(path)
                    }
                    Ok(Err(cause)) => super::savepoints::OperationStatus::Failed(cause),
                    Err(_) => super::savepoints::OperationStatus::Failed(format!(
                        "job {job_id} ended before the savepoint completed"
                    )),
                };
                cluster.operations.finish(&id, status);
            })
            .map_err(|e| {
                DispatchError::Internal(format!("could not wait for the savepoint: {e}"))
            })?;
        Ok(trigger)
    }

    /// Runs `f` over the jobs, first forgetting finished jobs older than the job store allows.
    pub fn with_jobs<R>(&self, f: impl FnOnce(&BTreeMap<JobId, JobEntry>) -> R) -> R {
        let mut state = self.lock();
        let expiry = now_ms() - self.settings.jobstore_expiration.as_millis() as i64;
        state
            .jobs
            .retain(|_, j| j.end_time.is_none_or(|end| end >= expiry));
        f(&state.jobs)
    }

    /// Runs `f` over the registered TaskManagers.
    pub fn with_task_managers<R>(
        &self,
        f: impl FnOnce(&BTreeMap<String, TaskManagerEntry>) -> R,
    ) -> R {
        f(&self.lock().task_managers)
    }

    // ---- resource manager ----

    /// Slots that jobs wait for beyond the free ones (the demand behind container requests).
    pub fn pending_slot_demand(&self) -> usize {
        let state = self.lock();
        let free: usize = state.task_managers.values().map(|tm| tm.free_slots()).sum();
        state
            .pending_slots
            .values()
            .sum::<usize>()
            .saturating_sub(free)
    }

    fn register_task_manager(
        &self,
        registration: TaskManagerRegistration,
        address: String,
        outbox: Outbox,
    ) {
        let id = registration.id.clone();
        tracing::info!(
            "Registering TaskManager with ResourceID {id} ({address}, {} slots)",
            registration.slots
        );
        outbox.send(&ToTaskManager::Registered {
            heartbeat_interval_ms: self.settings.heartbeat_interval.as_millis() as u64,
        });
        self.lock().task_managers.insert(
            id,
            TaskManagerEntry {
                slots: vec![None; registration.slots],
                registration,
                address,
                last_heartbeat: Instant::now(),
                outbox,
            },
        );
    }

    /// Forgets a TaskManager and fails the tasks it ran.
    pub fn task_manager_lost(&self, id: &str, reason: &str) {
        let mut state = self.lock();
        let Some(tm) = state.task_managers.remove(id) else {
            return;
        };
        tracing::warn!("TaskManager {id} is lost: {reason}");
        tm.outbox.close();
        for slot in state.allocations.values_mut().flatten() {
            if slot.as_ref().is_some_and(|(t, _)| t == id) {
                *slot = None;
            }
        }
        for deployment in state.deployments.values_mut().flat_map(|d| d.values_mut()) {
            if let Some(worker) = deployment.workers.get(id) {
                if let Some(outbox) = &worker.outbox {
                    outbox.close();
                }
                deployment.fail_tasks_on(id, reason);
            }
        }
    }

    /// The resource manager learned why the process of TaskManager `id` ended (e.g. YARN's
    /// memory kill): jobs that failed by losing it get the reason in their failure cause.
    /// The news may come after the job failed: losing a worker is noticed at once, the
    /// container's exit status only when the NodeManager reports it.
    pub fn explain_process_loss(&self, id: &str, reason: &str) {
        let mut state = self.lock();
        for entry in state.jobs.values_mut() {
            if !entry.failed_by_lost_process {
                continue;
            }
            if let Some((_, cause)) = &mut entry.failure {
                if cause.contains(id) && !cause.contains(reason) {
                    cause.push_str("\nCaused by: ");
                    cause.push_str(reason);
                }
            }
        }
    }

    /// Declares TaskManagers whose heartbeats stopped lost.
    fn check_heartbeats(&self) {
        let timeout = self.settings.heartbeat_timeout;
        let expired: Vec<String> = self
            .lock()
            .task_managers
            .iter()
            .filter(|(_, tm)| tm.last_heartbeat.elapsed() > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.task_manager_lost(
                &id,
                &format!("The heartbeat of TaskManager with id {id} timed out."),
            );
        }
    }

    fn worker_gone(&self, job_id: JobId, generation: u32, tm: &str, reason: &str) {
        if let Some(d) = self.lock().deployment_mut(job_id, generation) {
            d.fail_tasks_on(tm, reason);
        }
    }

    // ---- control RPC ----

    /// Serves TaskManager and worker connections on `listener` (background threads).
    pub fn serve_rpc(self: &Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let cluster = self.clone();
        std::thread::Builder::new()
            .name("rpc-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let cluster = cluster.clone();
                    let _ = std::thread::Builder::new()
                        .name("rpc-in".into())
                        .spawn(move || {
                            if let Err(e) = cluster.serve_connection(stream) {
                                tracing::warn!("control connection failed: {e}");
                            }
                        });
                }
            })?;
        let cluster = self.clone();
        let every = (self.settings.heartbeat_timeout / 10).max(Duration::from_millis(50));
        std::thread::Builder::new()
            .name("heartbeat-monitor".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                cluster.check_heartbeats();
            })?;
        Ok(())
    }

    fn serve_connection(&self, stream: TcpStream) -> std::io::Result<()> {
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        stream.set_nodelay(true)?;
        let outbox = Outbox::new(stream.try_clone()?, &peer)?;
        let mut reader = BufReader::new(stream);
        match rpc::receive::<Hello>(&mut reader)? {
            Some(Hello::TaskManager(registration)) => {
                let id = registration.id.clone();
                self.register_task_manager(registration, peer, outbox);
                let result = self.follow_task_manager(&id, &mut reader);
                let reason = match &result {
                    Ok(()) => format!("the connection to TaskManager {id} was closed"),
                    Err(e) => format!("the connection to TaskManager {id} failed: {e}"),
                };
                self.task_manager_lost(&id, &reason);
                result
            }
            Some(Hello::Worker(registration)) => {
                let (job, attempt, tm) = (
                    registration.job_id,
                    registration.attempt,
                    registration.task_manager.clone(),
                );
                let connection = outbox.clone();
                self.worker_registered(registration, outbox);
                let result = self.follow_worker(job, attempt, &mut reader);
                self.worker_gone(
                    job,
                    attempt,
                    &tm,
                    &format!("the worker process of job {job} on TaskManager {tm} disconnected"),
                );
                // Closing our side tells a worker that ended its reports that they are all
                // taken in: only then does it exit (so its TaskManager's "worker exited"
                // cannot overtake them).
                connection.close();
                result
            }
            Some(Hello::BlobFetch { key }) => {
                let mut stream = reader.into_inner();
                self.blobs().serve(&key, &mut stream)
            }
            None => Ok(()),
        }
    }

    fn follow_task_manager(
        &self,
        id: &str,
        reader: &mut impl std::io::Read,
    ) -> std::io::Result<()> {
        while let Some(message) = rpc::receive::<FromTaskManager>(reader)? {
            match message {
                FromTaskManager::Heartbeat => {
                    if let Some(tm) = self.lock().task_managers.get_mut(id) {
                        tm.last_heartbeat = Instant::now();
                        tm.outbox.send(&ToTaskManager::Heartbeat);
                    }
                }
                FromTaskManager::WorkerExited {
                    job_id,
                    attempt,
                    status,
                } => self.worker_gone(
                    job_id,
                    attempt,
                    id,
                    &format!(
                        "the worker process of job {job_id} on TaskManager {id} exited ({status})"
                    ),
                ),
            }
        }
        Ok(())
    }

    fn worker_registered(&self, registration: WorkerRegistration, outbox: Outbox) {
        let mut state = self.lock();
        let current = state
            .deployment_mut(registration.job_id, registration.attempt)
            .and_then(|d| d.workers.get_mut(&registration.task_manager));
        match current {
            Some(worker) => {
                if let Some(refused) = &registration.refused {
                    worker.gone = Some(refused.clone());
                }
                worker.registration = Some(registration);
                worker.outbox = Some(outbox);
            }
            // A worker of a deployment that is over: it has nothing to do.
            None => outbox.close(),
        }
    }

    fn follow_worker(
        &self,
        job: JobId,
        attempt: u32,
        reader: &mut impl std::io::Read,
    ) -> std::io::Result<()> {
        while let Some(message) = rpc::receive::<FromWorker>(reader)? {
            let mut state = self.lock();
            let Some(d) = state.deployment_mut(job, attempt) else {
                continue;
            };
            let report = match message {
                FromWorker::TaskState(update) => {
                    if update.state.is_terminal()
                        && !d.terminal.insert((update.vertex, update.subtask))
                    {
                        continue;
                    }
                    TaskReport::State(update)
                }
                FromWorker::Checkpoint(ack) => TaskReport::Checkpoint(ack),
                FromWorker::EndOfData(task) => TaskReport::EndOfData(task),
            };
            let _ = d.reports.send(report);
        }
        Ok(())
    }
}

/// Deploys one job's tasks to worker processes on the cluster's TaskManagers.
pub struct ClusterDeployer {
    cluster: Arc<Cluster>,
    submission: Submission,
}

/// How long workers get to start and announce themselves.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(60);

impl ClusterDeployer {
    fn deployment_failure(&self, job: &JobGraph, message: String) -> Deployed {
        Deployed {
            started: Vec::new(),
            failure: Some(TaskFailure {
                task: job.job_name.clone(),
                operator: "deployment".into(),
                subtask: 0,
                parallelism: 1,
                message,
            }),
        }
    }

    /// Waits until every worker of the deployment announced itself; the error names the first
    /// that could not start.
    fn await_workers(&self, job_id: JobId, generation: u32) -> Result<(), String> {
        let deadline = Instant::now() + WORKER_START_TIMEOUT;
        loop {
            {
                let mut state = self.cluster.lock();
                let d = state
                    .deployment_mut(job_id, generation)
                    .ok_or("the deployment was released while starting")?;
                if let Some((tm, w)) = d.workers.iter().find(|(_, w)| w.gone.is_some()) {
                    return Err(format!(
                        "The worker for job {job_id} on TaskManager {tm} could not start: {}",
                        w.gone.as_deref().unwrap_or_default()
                    ));
                }
                if d.workers.values().all(|w| w.registration.is_some()) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "The workers for job {job_id} did not start within {WORKER_START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Places `tasks` on the job's slots and records the deployment; returns the TaskManagers
    /// to start workers on.
    fn place(
        &self,
        job: &JobGraph,
        generation: u32,
        tasks: &[TaskAttempt],
        reports: Sender<TaskReport>,
    ) -> Result<Vec<(String, Outbox)>, String> {
        let mut state = self.cluster.lock();
        let slots = state
            .allocations
            .get(&job.job_id)
            .ok_or("the job holds no slots")?;
        let mut placement = BTreeMap::new();
        for task in tasks {
            // Slot sharing: subtask i of every vertex goes to the job's slot i.
            let Some(Some((tm, _))) = slots.get(task.subtask) else {
                return Err(format!(
                    "the job lost slot {} before deployment (its TaskManager is gone)",
                    task.subtask
                ));
            };
            placement.insert(task.key(), (tm.clone(), task.attempt));
        }
        let workers: BTreeMap<String, WorkerEntry> = placement
            .values()
            .map(|(tm, _)| (tm.clone(), WorkerEntry::default()))
            .collect();
        let launches = workers
            .keys()
            .filter_map(|id| {
                let tm = state.task_managers.get(id)?;
                Some((id.clone(), tm.outbox.clone()))
            })
            .collect();
        state.deployments.entry(job.job_id).or_default().insert(
            generation,
            Deployment {
                generation,
                placement,
                reports,
                terminal: HashSet::new(),
                workers,
                names: job
                    .vertices
                    .iter()
                    .map(|v| (v.name.clone(), v.parallelism))
                    .collect(),
            },
        );
        Ok(launches)
    }

    /// Sends every started worker of the deployment its tasks and where their peers are.
    fn send_deployments(
        &self,
        job_id: JobId,
        generation: u32,
        restore: &crate::checkpoint::restore::RestorePlan,
    ) -> Result<Vec<TaskKey>, String> {
        let mut state = self.cluster.lock();
        let d = state
            .deployment_mut(job_id, generation)
            .ok_or("the deployment was released while deploying")?;
        let address = |tm: &str| {
            d.workers
                .get(tm)
                .and_then(|w| w.registration.as_ref())
                .map(|r| r.data_address.clone())
                .unwrap_or_default()
        };
        // No exchange leaves a deployment (the whole job or one pipelined region), so its
        // own subtasks are all the peers its tasks have.
        let locations: Vec<TaskLocation> = d
            .placement
            .iter()
            .map(|(&(vertex, subtask), (tm, _))| TaskLocation {
                vertex,
                subtask,
                data_address: address(tm),
            })
            .collect();
        let mut started = Vec::new();
        for (tm, worker) in &d.workers {
            let tasks = d.tasks_on(tm);
            started.extend(tasks.iter().map(TaskAttempt::key));
            let restore: Vec<_> = tasks
                .iter()
                .filter_map(|t| restore.get(&t.key()).map(|r| (t.key(), r.clone())))
                .collect();
            if let Some(outbox) = &worker.outbox {
                outbox.send(&ToWorker::Deploy {
                    tasks,
                    locations: locations.clone(),
                    restore,
                });
            }
        }
        Ok(started)
    }
}

impl TaskDeployer for ClusterDeployer {
    fn allocate_slots(
        &self,
        job: &Arc<JobGraph>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), SlotRequestError> {
        let needed = job.required_slots();
        let timeout = self.cluster.settings.slot_request_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut state = self.cluster.lock();
                let mut held = state.allocations.remove(&job.job_id).unwrap_or_default();
                held.resize(needed, None);
                let missing: Vec<usize> = (0..needed).filter(|&i| held[i].is_none()).collect();
                // Spread the job: the first free slot of every TaskManager before second ones.
                let mut free: Vec<(usize, String)> = state
                    .task_managers
                    .iter()
                    .flat_map(|(id, tm)| {
                        tm.slots
                            .iter()
                            .enumerate()
                            .filter(|(_, s)| s.is_none())
                            .map(move |(i, _)| (i, id.clone()))
                    })
                    .collect();
                free.sort();
                if free.len() >= missing.len() {
                    for (index, (i, id)) in missing.into_iter().zip(free) {
                        if let Some(tm) = state.task_managers.get_mut(&id) {
                            tm.slots[i] = Some(job.job_id);
                        }
                        held[index] = Some((id, i));
                    }
                    state.allocations.insert(job.job_id, held);
                    state.pending_slots.remove(&job.job_id);
                    return Ok(());
                }
                let still_needed = missing.len();
                state.allocations.insert(job.job_id, held);
                state.pending_slots.insert(job.job_id, still_needed);
                if Instant::now() >= deadline {
                    state.pending_slots.remove(&job.job_id);
                    let total: usize = state.task_managers.values().map(|t| t.slots.len()).sum();
                    return Err(SlotRequestError::Unavailable(format!(
                        "NoResourceAvailableException: Could not acquire the minimum required resources: the job needs {needed} slots but only {} of {total} slots were available within the slot request timeout of {} ms (slot.request.timeout)",
                        free.len() + (needed - still_needed),
                        timeout.as_millis()
                    )));
                }
            }
            if cancelled() {
                self.cluster.lock().pending_slots.remove(&job.job_id);
                return Err(SlotRequestError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn deploy(
        &self,
        job: &Arc<JobGraph>,
        generation: u32,
        tasks: &[TaskAttempt],
        restore: &crate::checkpoint::restore::RestorePlan,
        reports: Sender<TaskReport>,
    ) -> Deployed {
        let job_id = job.job_id;
        let job_json = match serde_json::to_string(job.as_ref()) {
            Ok(j) => j,
            Err(e) => {
                return self.deployment_failure(job, format!("could not encode the JobGraph: {e}"))
            }
        };
        if let Err(e) = self.cluster.blob_path(&self.submission.program_key) {
            return self.deployment_failure(job, e.to_string());
        }
        let launches = match self.place(job, generation, tasks, reports) {
            Ok(launches) => launches,
            Err(message) => return self.deployment_failure(job, message),
        };
        // TaskManagers without the program fetch it from the blob service.
        for (_, outbox) in launches {
            outbox.send(&ToTaskManager::StartWorker(WorkerLaunch {
                job_id,
                attempt: generation,
                program_key: self.submission.program_key.clone(),
                job_ordinal: self.submission.job_ordinal,
                args: self.submission.program_args.clone(),
                configuration: self.submission.configuration.clone(),
                job_graph: job_json.clone(),
            }));
        }
        let sent = self
            .await_workers(job_id, generation)
            .and_then(|()| self.send_deployments(job_id, generation, restore));
        match sent {
            Ok(started) => Deployed {
                started,
                failure: None,
            },
            Err(message) => self.deployment_failure(job, message),
        }
    }

    fn task_control(&self, job: JobId, vertex: usize, subtask: usize, control: TaskControl) {
        let state = self.cluster.lock();
        // The newest deployment of the subtask runs it (older ones ran earlier attempts).
        let worker = state
            .deployments_of(job)
            .filter_map(|d| {
                let (tm, _) = d.placement.get(&(vertex, subtask))?;
                d.workers.get(tm)
            })
            .last();
        if let Some(outbox) = worker.and_then(|w| w.outbox.as_ref()) {
            outbox.send(&ToWorker::Control {
                vertex,
                subtask,
                control,
            });
        }
    }

    fn cancel_job(&self, job: JobId) {
        let state = self.cluster.lock();
        for d in state.deployments_of(job) {
            for worker in d.workers.values() {
                if let Some(outbox) = &worker.outbox {
                    outbox.send(&ToWorker::Cancel);
                }
            }
        }
    }

    fn cancel_tasks(&self, job: JobId, tasks: &[TaskKey]) {
        let state = self.cluster.lock();
        for d in state.deployments_of(job) {
            for (tm, worker) in &d.workers {
                let here: Vec<TaskKey> = tasks
                    .iter()
                    .copied()
                    .filter(|t| {
                        !d.terminal.contains(t)
                            && d.placement.get(t).is_some_and(|(placed, _)| placed == tm)
                    })
                    .collect();
                if let (false, Some(outbox)) = (here.is_empty(), &worker.outbox) {
                    outbox.send(&ToWorker::CancelTasks(here));
                }
            }
        }
    }

    fn release_job(&self, job: JobId) {
        let mut state = self.cluster.lock();
        for d in state
            .deployments
            .remove(&job)
            .into_iter()
            .flat_map(|d| d.into_values())
        {
            for tm in d.workers.keys() {
                if let Some(tm_entry) = state.task_managers.get(tm) {
                    tm_entry.outbox.send(&ToTaskManager::StopWorker {
                        job_id: job,
                        attempt: d.generation,
                    });
                }
            }
        }
        state.allocations.remove(&job);
        for tm in state.task_managers.values_mut() {
            for slot in tm.slots.iter_mut().filter(|s| **s == Some(job)) {
                *slot = None;
            }
        }
    }
}

/// Binds the JobManager's RPC endpoint.
pub fn bind_rpc(host: &str, port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((host, port))?;
    let address = listener.local_addr()?;
    Ok((listener, address))
}
