//! `StreamExecutionEnvironment`: where a program builds its dataflow and runs it, and the
//! job client and result it gets back.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::datastream::DataStream;
use super::launch::{self, Launch};
use super::source::{Boundedness, Source};
use crate::checkpoint::{CheckpointingSettings, SavepointRestoreSettings};
use crate::config::{options, Configuration, RuntimeExecutionMode};
use crate::connectors::collection::CollectionSource;
use crate::connectors::socket::SocketTextSource;
use crate::connectors::text_file::TextFileSource;
use crate::error::{Error, Result};
use crate::graph::job_graph::TranslationSettings;
use crate::graph::stream_graph::{
    ChainingStrategy, Invokable, NodeKind, StreamEdge, StreamGraph, StreamNode,
};
use crate::graph::{plan, JobGraph};
use crate::runtime::job_master::{JobControl, JobStatus};
use crate::runtime::operators::factory::{Record, SourceOperatorFactory};
use crate::runtime::task::TaskSettings;
use crate::util::ids::JobId;

/// Job name used when `execute` is given an empty name and `pipeline.name` is not set.
pub const DEFAULT_JOB_NAME: &str = "Strato Streaming Job";

/// The context in which a program builds and runs its dataflow.
#[derive(Clone)]
pub struct StreamExecutionEnvironment {
    inner: Arc<Mutex<EnvState>>,
}

pub(crate) struct EnvState {
    pub(crate) config: Configuration,
    pub(crate) graph: StreamGraph,
    parallelism: Option<usize>,
    max_parallelism: Option<usize>,
    runtime_mode: Option<RuntimeExecutionMode>,
    buffer_timeout: Option<Option<Duration>>,
    chaining: bool,
    /// Used when neither the program nor the configuration sets a parallelism.
    fallback_parallelism: usize,
    /// Mistakes found while building (reported by `execute`, never a panic mid-build).
    pub(crate) errors: Vec<String>,
}

impl StreamExecutionEnvironment {
    /// The environment for how this program was started: the configuration the `strato`
    /// client passed, or `$STRATO_CONF_DIR/strato-conf.yaml`, or defaults with parallelism =
    /// number of CPUs (a plain local run, like Flink's IDE runs).
    pub fn get_execution_environment() -> Result<Self> {
        crate::util::logging::init();
        let (config, fallback) = match launch::client_configuration()? {
            Some(config) => (config, 1),
            None => match std::env::var_os("STRATO_CONF_DIR") {
                Some(dir) => (Configuration::load_from_dir(Path::new(&dir))?, 1),
                None => (Configuration::new(), cpu_count()),
            },
        };
        // Scheme-less paths resolve against fs.default-scheme or Hadoop's fs.defaultFS.
        let fs_config = crate::fs::FsConfig::for_job(&config).map_err(|e| {
            Error::Other(anyhow::anyhow!(
                "could not set up the default file system: {e}"
            ))
        })?;
        crate::fs::FileSystems::init_global(fs_config).map_err(|e| {
            Error::Other(anyhow::anyhow!(
                "could not set up the default file system: {e}"
            ))
        })?;
        Ok(Self::with_fallback(config, fallback))
    }

    /// A local environment with the given configuration; parallelism defaults to
    /// `parallelism.default`, else the number of CPUs.
    pub fn with_configuration(config: Configuration) -> Self {
        Self::with_fallback(config, cpu_count())
    }

    /// A local environment with default configuration and parallelism = number of CPUs.
    pub fn create_local_environment() -> Self {
        Self::with_configuration(Configuration::new())
    }

    fn with_fallback(config: Configuration, fallback_parallelism: usize) -> Self {
        StreamExecutionEnvironment {
            inner: Arc::new(Mutex::new(EnvState {
                config,
                graph: StreamGraph::default(),
                parallelism: None,
                max_parallelism: None,
                runtime_mode: None,
                buffer_timeout: None,
                chaining: true,
                fallback_parallelism,
                errors: Vec::new(),
            })),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, EnvState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Default parallelism of this job's operators.
    pub fn set_parallelism(&self, parallelism: usize) -> &Self {
        if parallelism == 0 {
            self.state().errors.push(
                "the environment's parallelism must be at least 1, but it was set to 0".into(),
            );
        }
        self.state().parallelism = Some(parallelism);
        self
    }

    /// The parallelism operators get unless they set their own.
    pub fn get_parallelism(&self) -> Result<usize> {
        let s = self.state();
        if let Some(p) = s.parallelism {
            return Ok(p);
        }
        let configured = s.config.get_optional(&options::PARALLELISM_DEFAULT)?;
        Ok(match configured {
            Some(p) if s.config.contains(options::PARALLELISM_DEFAULT.key) => p as usize,
            _ => s.fallback_parallelism,
        })
    }

    /// Number of key groups (the upper limit for rescaling keyed state).
    pub fn set_max_parallelism(&self, max_parallelism: usize) -> &Self {
        self.state().max_parallelism = Some(max_parallelism);
        self
    }

    /// STREAMING (default), BATCH or AUTOMATIC (BATCH when every source is bounded).
    pub fn set_runtime_mode(&self, mode: RuntimeExecutionMode) -> &Self {
        self.state().runtime_mode = Some(mode);
        self
    }

    /// How long records may wait in a partly filled network buffer; `None` waits for full
    /// buffers (Flink's `-1`).
    pub fn set_buffer_timeout(&self, timeout: Option<Duration>) -> &Self {
        self.state().buffer_timeout = Some(timeout);
        self
    }

    /// Takes a checkpoint every `interval` (`execution.checkpointing.interval`); the other
    /// checkpoint settings are in [`Self::get_checkpoint_config`].
    pub fn enable_checkpointing(&self, interval: Duration) -> &Self {
        self.get_checkpoint_config()
            .set_checkpoint_interval(interval);
        self
    }

    /// Checkpoint settings of this job (Flink's `CheckpointConfig`), backed by the
    /// `execution.checkpointing.*` and `state.*` keys.
    pub fn get_checkpoint_config(&self) -> CheckpointConfig {
        CheckpointConfig { env: self.clone() }
    }

    /// Sets a configuration key for this job, as `-D key=value` would.
    pub fn set_config(&self, key: &str, value: &str) -> &Self {
        self.state().config.set(key, value);
        self
    }

    /// Turns operator chaining off for the whole job.
    pub fn disable_operator_chaining(&self) -> &Self {
        self.state().chaining = false;
        self
    }

    /// The configuration this environment was created with.
    pub fn configuration(&self) -> Configuration {
        self.state().config.clone()
    }

    // ---- sources --------------------------------------------------------------------------

    /// A stream from a [`Source`].
    pub fn from_source<T: Record, S: Source<T>>(&self, source: S) -> DataStream<T> {
        let name = format!("Source: {}", source.name());
        let non_parallel = !source.is_parallel();
        let bounded = source.boundedness() == Boundedness::Bounded;
        let factory = SourceOperatorFactory {
            source: Arc::new(source),
        };
        let node = self.add_node(
            name,
            NodeKind::Source,
            Invokable::Source(Arc::new(factory)),
            vec![],
            non_parallel,
            bounded,
            std::any::type_name::<T>(),
        );
        DataStream::from_node(self.clone(), node)
    }

    /// A bounded, non-parallel stream of the given elements, in order.
    pub fn from_elements<T: Record + Sync>(&self, elements: Vec<T>) -> DataStream<T> {
        self.from_source(CollectionSource::new(elements))
    }

    /// A bounded, non-parallel stream of a collection's items, in order.
    pub fn from_collection<T: Record + Sync>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> DataStream<T> {
        self.from_elements(items.into_iter().collect())
    }

    /// The numbers `from..=to`, split evenly over the parallel subtasks.
    pub fn from_sequence(&self, from: i64, to: i64) -> DataStream<i64> {
        self.from_source(crate::connectors::datagen::DataGeneratorSource::sequence(
            from, to,
        ))
    }

    /// Lines of a text file, or of every file in a directory, read in parallel splits.
    pub fn read_text_file(&self, path: impl AsRef<Path>) -> DataStream<String> {
        self.from_source(TextFileSource::new(path.as_ref()))
    }

    /// Text from a socket, split at `delimiter` (non-parallel, unbounded). When the connection
    /// closes, it reconnects up to `max_retry` times (`-1`: forever; `0`: end the stream).
    pub fn socket_text_stream(
        &self,
        hostname: &str,
        port: u16,
        delimiter: &str,
        max_retry: i64,
    ) -> DataStream<String> {
        self.from_source(SocketTextSource::new(hostname, port, delimiter, max_retry))
    }

    // ---- graph building (used by DataStream) -------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_node(
        &self,
        name: String,
        kind: NodeKind,
        invokable: Invokable,
        inputs: Vec<StreamEdgeSpec>,
        non_parallel: bool,
        bounded: bool,
        type_signature: &str,
    ) -> usize {
        let mut s = self.state();
        let id = s.graph.nodes.len();
        s.graph.nodes.push(StreamNode {
            id,
            name,
            kind,
            uid: None,
            parallelism: None,
            max_parallelism: None,
            slot_sharing_group: None,
            chaining: ChainingStrategy::Always,
            non_parallel,
            bounded,
            type_signature: type_signature.to_string(),
            invokable,
        });
        for input in inputs {
            s.graph.edges.push(StreamEdge {
                source: input.source,
                target: id,
                input: input.input,
                partitioner: input.partitioner,
                writer: input.writer,
                side_output: input.side_output,
            });
        }
        id
    }

    pub(crate) fn update_node(&self, node: usize, update: impl FnOnce(&mut StreamNode)) {
        if let Some(n) = self.state().graph.nodes.get_mut(node) {
            update(n);
        }
    }

    pub(crate) fn record_error(&self, message: String) {
        self.state().errors.push(message);
    }

    // ---- execution ---------------------------------------------------------------------------

    /// The execution plan as JSON, in the format of Flink's `getExecutionPlan()`.
    pub fn get_execution_plan(&self) -> Result<String> {
        let (graph, job) = self.translate(JobId(0), DEFAULT_JOB_NAME, false)?;
        Ok(plan::execution_plan(&graph, &job).to_string())
    }

    /// The JobGraph the current operators translate to (operators chained into vertices),
    /// without running anything.
    pub fn get_job_graph(&self) -> Result<JobGraph> {
        Ok(self.translate(JobId(0), DEFAULT_JOB_NAME, false)?.1)
    }

    /// Runs the job and waits for it to end. An empty name uses `pipeline.name`, else
    /// "Strato Streaming Job". The operators built so far are consumed: a later `execute` runs
    /// only operators added after this call.
    pub fn execute(&self, job_name: &str) -> Result<JobExecutionResult> {
        self.execute_async(job_name)?.get_job_execution_result()
    }

    /// Submits the job and returns at once with a client to watch or cancel it.
    pub fn execute_async(&self, job_name: &str) -> Result<JobClient> {
        let job_name = self.resolve_job_name(job_name)?;
        let job_id = JobId::generate();
        let (graph, job) = self.translate(job_id, &job_name, true)?;
        let ordinal = launch::next_execution_ordinal();
        match launch::current()? {
            Launch::Plan(path) => {
                launch::write_plan_and_exit(&path, &job, &plan::execution_plan(&graph, &job))
            }
            Launch::Driver(spec) => {
                let plan = plan::execution_plan(&graph, &job);
                let config = self.state().config.clone();
                super::driver::submit(&spec, job, plan, &config, ordinal)
            }
            // An earlier job of a program of several: it ran in its own workers.
            Launch::Worker(spec) if ordinal < spec.job_ordinal => {
                Ok(super::driver::skipped(job_id))
            }
            Launch::Worker(spec) => {
                let settings = self.task_settings(&job)?;
                crate::cluster::worker::run_and_exit(spec, &job, graph, settings)
            }
            Launch::Local => {
                let settings = self.task_settings(&job)?;
                let restart = crate::runtime::job_master::RestartStrategy::from_config(
                    &self.state().config,
                    job.checkpointing.is_some(),
                )?;
                let failover = self
                    .state()
                    .config
                    .get(&crate::config::options::FAILOVER_STRATEGY)?;
                let client =
                    crate::runtime::local::submit(job, graph, settings, restart, failover)?;
                launch::report_job_submitted(job_id);
                Ok(client)
            }
        }
    }

    fn resolve_job_name(&self, job_name: &str) -> Result<String> {
        if !job_name.is_empty() {
            return Ok(job_name.to_string());
        }
        let configured = self.state().config.get_optional(&options::PIPELINE_NAME)?;
        Ok(configured
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_JOB_NAME.to_string()))
    }

    fn task_settings(&self, job: &JobGraph) -> Result<TaskSettings> {
        let s = self.state();
        let buffer_timeout = match s.buffer_timeout {
            Some(t) => t,
            None => Some(s.config.get(&options::BUFFER_TIMEOUT)?),
        };
        Ok(TaskSettings {
            runtime_mode: if job.runtime_mode == "BATCH" {
                RuntimeExecutionMode::Batch
            } else {
                RuntimeExecutionMode::Streaming
            },
            buffer_timeout,
            auto_watermark_interval: s.config.get(&options::AUTO_WATERMARK_INTERVAL)?,
            checkpointing_mode: s.config.get(&options::CHECKPOINTING_MODE)?,
            state_backend: crate::state::StateBackendSettings::from_config(&s.config)?,
        })
    }

    /// Validates and translates the graph; `take` clears the environment's operators.
    fn translate(
        &self,
        job_id: JobId,
        job_name: &str,
        take: bool,
    ) -> Result<(StreamGraph, JobGraph)> {
        let default_parallelism = self.get_parallelism()?;
        let mut s = self.state();
        if let Some(first) = s.errors.first() {
            return Err(Error::InvalidGraph(first.clone()));
        }
        let configured_mode = match s.runtime_mode {
            Some(m) => m,
            None => s.config.get(&options::RUNTIME_MODE)?,
        };
        let runtime_mode = match configured_mode {
            RuntimeExecutionMode::Automatic
                if s.graph
                    .nodes
                    .iter()
                    .filter(|n| n.kind == NodeKind::Source)
                    .all(|n| n.bounded) =>
            {
                RuntimeExecutionMode::Batch
            }
            RuntimeExecutionMode::Automatic => RuntimeExecutionMode::Streaming,
            m => m,
        };
        let max_parallelism = match s.max_parallelism {
            Some(m) => Some(m),
            None => {
                let configured: i64 = s.config.get(&options::MAX_PARALLELISM)?.into();
                (configured > 0).then_some(configured as usize)
            }
        };
        let settings = TranslationSettings {
            default_parallelism,
            max_parallelism,
            chaining_enabled: s.chaining,
            runtime_mode,
        };
        let mut job = JobGraph::from_stream_graph(&s.graph, job_id, job_name, &settings)
            .map_err(Error::InvalidGraph)?;
        // BATCH jobs recover by re-running, as in Flink: checkpoints apply to streaming only.
        if runtime_mode != RuntimeExecutionMode::Batch {
            job.checkpointing = CheckpointingSettings::from_config(&s.config)?;
        }
        job.savepoint_restore = SavepointRestoreSettings::from_config(&s.config)?;
        let graph = if take {
            std::mem::take(&mut s.graph)
        } else {
            s.graph.clone()
        };
        Ok((graph, job))
    }
}

/// A job's checkpoint settings; every setter writes the Flink configuration key it stands for.
pub struct CheckpointConfig {
    env: StreamExecutionEnvironment,
}

impl CheckpointConfig {
    fn set(&self, key: &str, value: String) -> &Self {
        self.env.state().config.set(key, &value);
        self
    }
    pub fn set_checkpoint_interval(&self, interval: Duration) -> &Self {
        self.set(
            options::CHECKPOINTING_INTERVAL.key,
            format!("{} ms", interval.as_millis()),
        )
    }
    /// EXACTLY_ONCE (aligned barriers, the default) or AT_LEAST_ONCE.
    pub fn set_checkpointing_mode(&self, mode: options::CheckpointingMode) -> &Self {
        let name = match mode {
            options::CheckpointingMode::ExactlyOnce => "EXACTLY_ONCE",
            options::CheckpointingMode::AtLeastOnce => "AT_LEAST_ONCE",
        };
        self.set(options::CHECKPOINTING_MODE.key, name.to_string())
    }
    pub fn set_checkpoint_timeout(&self, timeout: Duration) -> &Self {
        self.set(
            options::CHECKPOINTING_TIMEOUT.key,
            format!("{} ms", timeout.as_millis()),
        )
    }
    pub fn set_min_pause_between_checkpoints(&self, pause: Duration) -> &Self {
        self.set(
            options::CHECKPOINTING_MIN_PAUSE.key,
            format!("{} ms", pause.as_millis()),
        )
    }
    pub fn set_max_concurrent_checkpoints(&self, n: u32) -> &Self {
        self.set(options::MAX_CONCURRENT_CHECKPOINTS.key, n.to_string())
    }
    pub fn set_tolerable_checkpoint_failure_number(&self, n: u32) -> &Self {
        self.set(options::TOLERABLE_FAILED_CHECKPOINTS.key, n.to_string())
    }
    /// `state.checkpoints.dir` (any file system URI).
    pub fn set_checkpoint_storage(&self, dir: &str) -> &Self {
        self.set(options::CHECKPOINTS_DIRECTORY.key, dir.to_string())
    }
    pub fn set_externalized_checkpoint_retention(
        &self,
        retention: options::ExternalizedCheckpointRetention,
    ) -> &Self {
        let name = match retention {
            options::ExternalizedCheckpointRetention::DeleteOnCancellation => {
                "DELETE_ON_CANCELLATION"
            }
            options::ExternalizedCheckpointRetention::RetainOnCancellation => {
                "RETAIN_ON_CANCELLATION"
            }
            options::ExternalizedCheckpointRetention::NoExternalizedCheckpoints => {
                "NO_EXTERNALIZED_CHECKPOINTS"
            }
        };
        self.set(
            options::EXTERNALIZED_CHECKPOINT_RETENTION.key,
            name.to_string(),
        )
    }
}

/// An input of a node being added: the upstream node, the edge's partitioning and its writer.
pub(crate) struct StreamEdgeSpec {
    pub source: usize,
    pub input: usize,
    pub partitioner: crate::runtime::network::partitioner::PartitionerKind,
    pub writer: Arc<dyn crate::graph::stream_graph::WriterFactory>,
    pub side_output: Option<String>,
}

fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// What a finished job reports (Flink's `JobExecutionResult`).
#[derive(Debug, Clone)]
pub struct JobExecutionResult {
    pub job_id: JobId,
    pub net_runtime: Duration,
    pub accumulators: BTreeMap<String, i64>,
    /// The job's checkpoint counts and recent history (empty without checkpointing).
    pub checkpoints: crate::checkpoint::coordinator::CheckpointStats,
}

impl JobExecutionResult {
    pub fn job_id(&self) -> JobId {
        self.job_id
    }
    /// Net runtime in milliseconds.
    pub fn get_net_runtime(&self) -> u64 {
        self.net_runtime.as_millis() as u64
    }
    pub fn get_accumulator_result(&self, name: &str) -> Option<i64> {
        self.accumulators.get(name).copied()
    }
}

/// A handle on a submitted job (Flink's `JobClient`).
pub struct JobClient {
    job_id: JobId,
    status: Arc<Mutex<JobStatus>>,
    control: Sender<JobControl>,
    result: Receiver<Result<JobExecutionResult>>,
}

impl JobClient {
    pub(crate) fn new(
        job_id: JobId,
        status: Arc<Mutex<JobStatus>>,
        control: Sender<JobControl>,
        result: Receiver<Result<JobExecutionResult>>,
    ) -> Self {
        JobClient {
            job_id,
            status,
            control,
            result,
        }
    }

    pub fn job_id(&self) -> JobId {
        self.job_id
    }

    pub fn get_job_status(&self) -> JobStatus {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the job to cancel; `get_job_execution_result` then reports the cancellation.
    /// Takes a savepoint into `target_dir` (or `state.savepoints.dir`) and returns its path.
    pub fn trigger_savepoint(&self, target_dir: Option<&str>) -> Result<String> {
        self.savepoint(target_dir, None)
    }

    /// Stop-with-savepoint: takes a savepoint, then ends the sources so the job finishes;
    /// `drain` first emits the maximum watermark so all event-time windows and timers fire.
    pub fn stop_with_savepoint(&self, drain: bool, target_dir: Option<&str>) -> Result<String> {
        self.savepoint(target_dir, Some(drain))
    }

    fn savepoint(&self, target_dir: Option<&str>, terminate: Option<bool>) -> Result<String> {
        let (reply, result) = crossbeam_channel::bounded(1);
        self.control
            .send(JobControl::TriggerSavepoint {
                target: target_dir.map(str::to_string),
                terminate,
                reply,
            })
            .map_err(|_| {
                Error::Other(anyhow::anyhow!("job {} is no longer running", self.job_id))
            })?;
        match result.recv() {
            Ok(Ok(path)) => Ok(path),
            Ok(Err(reason)) => Err(Error::Other(anyhow::anyhow!(
                "could not take a savepoint of job {}: {reason}",
                self.job_id
            ))),
            Err(_) => Err(Error::Other(anyhow::anyhow!(
                "job {} ended before the savepoint completed",
                self.job_id
            ))),
        }
    }

    pub fn cancel(&self) {
        let _ = self.control.send(JobControl::Cancel);
    }

    /// Waits for the job to end.
    pub fn get_job_execution_result(self) -> Result<JobExecutionResult> {
        let result = self.result.recv().unwrap_or_else(|_| {
            Err(Error::Other(anyhow::anyhow!(
                "the job master of job {} stopped without a result",
                self.job_id
            )))
        });
        launch::report_job_end(self.job_id, &result);
        result
    }
}
