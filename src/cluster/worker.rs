//! Worker mode: the job's own binary started by a TaskManager. `main` runs as usual and rebuilds
//! the StreamGraph; `execute` lands here instead of running the job locally. The worker checks
//! its graph against the JobGraph the JobManager sent (refusing on a fingerprint mismatch),
//! opens its data server, announces itself to the JobManager, runs the subtasks deployed to it
//! on a task executor of its own, and exits when they are done.
//!
//! Contract with the TaskManager (environment variables):
//! - `STRATO_WORKER_JOB_GRAPH`: path of the JobGraph (JSON);
//! - `STRATO_WORKER_JOBMANAGER`: the JobManager's RPC address (`host:port`);
//! - `STRATO_WORKER_TASKMANAGER`: the id of the TaskManager that started it;
//! - `STRATO_WORKER_ATTEMPT`: the deployment of the job it serves (a full start or restart, or a
//!   region restart; each subtask's own attempt number comes with its deployment);
//! - `STRATO_WORKER_HOST`: the host to bind the data server to;
//! - `STRATO_CLIENT_CONFIG`: the configuration the job was submitted with.

use std::io::BufReader;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use crossbeam_channel::unbounded;

use super::rpc::{self, FromWorker, Hello, TaskLocation, ToWorker, WorkerRegistration};
use crate::graph::{JobGraph, StreamGraph};
use crate::runtime::network::local::LocalChannels;
use crate::runtime::network::remote::{connect_channel, DataServer};
use crate::runtime::network::ChannelId;
use crate::runtime::task::{
    connected_consumers, TaskAttempt, TaskDeployment, TaskReport, TaskSettings,
};
use crate::runtime::task_executor::TaskExecutor;

pub const ENV_JOB_GRAPH: &str = "STRATO_WORKER_JOB_GRAPH";
pub const ENV_JOBMANAGER: &str = "STRATO_WORKER_JOBMANAGER";
pub const ENV_TASKMANAGER: &str = "STRATO_WORKER_TASKMANAGER";
pub const ENV_ATTEMPT: &str = "STRATO_WORKER_ATTEMPT";
pub const ENV_HOST: &str = "STRATO_WORKER_HOST";
/// Which `execute` of `main` the deployed job is (0 when absent).
pub const ENV_JOB_ORDINAL: &str = "STRATO_WORKER_JOB_ORDINAL";

/// How a TaskManager started this worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub job_graph: PathBuf,
    pub jobmanager: String,
    pub task_manager: String,
    pub attempt: u32,
    pub host: String,
    /// The deployed job is `main`'s execute number `job_ordinal` (from 0): the earlier ones
    /// are skipped, so a program of several jobs rebuilds the right one.
    pub job_ordinal: usize,
}

impl WorkerSpec {
    /// The spec from the environment, if this process was started as a worker.
    pub fn from_env() -> Option<Result<Self, String>> {
        let job_graph = std::env::var_os(ENV_JOB_GRAPH)?;
        let var = |name: &str| {
            std::env::var(name)
                .map_err(|_| format!("worker mode needs the environment variable {name}"))
        };
        Some((|| {
            let attempt = var(ENV_ATTEMPT)?;
            let ordinal = std::env::var(ENV_JOB_ORDINAL).unwrap_or_else(|_| "0".into());
            Ok(WorkerSpec {
                job_ordinal: ordinal
                    .parse()
                    .map_err(|_| format!("{ENV_JOB_ORDINAL}='{ordinal}' is not a number"))?,
                job_graph: PathBuf::from(job_graph),
                jobmanager: var(ENV_JOBMANAGER)?,
                task_manager: var(ENV_TASKMANAGER)?,
                attempt: attempt
                    .parse()
                    .map_err(|_| format!("{ENV_ATTEMPT}='{attempt}' is not a number"))?,
                host: var(ENV_HOST).unwrap_or_else(|_| "127.0.0.1".into()),
            })
        })())
    }
}

/// How long a worker that reported everything waits for the JobManager to take it in.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the deployed subtasks and ends the process (0 when they all ran to a terminal state).
pub fn run_and_exit(
    spec: WorkerSpec,
    own: &JobGraph,
    graph: StreamGraph,
    settings: TaskSettings,
) -> ! {
    match run(&spec, own, graph, settings) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!(
                "strato worker (job graph '{}'): {e:#}",
                spec.job_graph.display()
            );
            std::process::exit(1)
        }
    }
}

fn run(
    spec: &WorkerSpec,
    own: &JobGraph,
    graph: StreamGraph,
    settings: TaskSettings,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&spec.job_graph)
        .with_context(|| format!("could not read the JobGraph '{}'", spec.job_graph.display()))?;
    let job: JobGraph = serde_json::from_str(&text).with_context(|| {
        format!(
            "could not parse the JobGraph '{}'",
            spec.job_graph.display()
        )
    })?;
    let refused = (job.fingerprint != own.fingerprint).then(|| {
        format!(
            "the program built a different dataflow in the worker (fingerprint {}) than when the job was submitted (fingerprint {}): main must build the same graph on every run",
            own.fingerprint, job.fingerprint
        )
    });
    let channels = Arc::new(LocalChannels::default());
    let server = DataServer::start(&spec.host, channels.clone())
        .with_context(|| format!("could not open a data port on {}", spec.host))?;
    let own_address = server.address().to_string();
    let stream = TcpStream::connect(&spec.jobmanager)
        .with_context(|| format!("could not connect to the JobManager at {}", spec.jobmanager))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    rpc::send(
        &mut writer,
        &Hello::Worker(WorkerRegistration {
            job_id: job.job_id,
            attempt: spec.attempt,
            task_manager: spec.task_manager.clone(),
            data_address: own_address.clone(),
            refused: refused.clone(),
        }),
    )?;
    if let Some(refused) = refused {
        bail!(refused);
    }
    let (tasks, locations, restore) = match rpc::receive::<ToWorker>(&mut reader)? {
        Some(ToWorker::Deploy {
            tasks,
            locations,
            restore,
        }) => (tasks, locations, restore),
        Some(ToWorker::Cancel)
        | Some(ToWorker::CancelTasks(_))
        | Some(ToWorker::Control { .. })
        | None => return Ok(()),
    };
    let restore: std::collections::HashMap<_, _> = restore.into_iter().collect();
    let job = Arc::new(job);
    let user_code = Arc::new(graph);
    let location = |vertex: usize, subtask: usize| -> anyhow::Result<&TaskLocation> {
        locations
            .iter()
            .find(|l| l.vertex == vertex && l.subtask == subtask)
            .with_context(|| {
                format!("the deployment places no subtask {subtask} of vertex {vertex}")
            })
    };
    let executor = Arc::new(TaskExecutor::new(tasks.len()));
    let (reports, updates) = unbounded();
    let mut bridges = Vec::new();
    for &TaskAttempt {
        vertex,
        subtask,
        attempt,
    } in &tasks
    {
        let v = job.vertices.get(vertex).with_context(|| {
            format!(
                "the deployment names vertex {vertex}, the job has {}",
                job.vertices.len()
            )
        })?;
        for edge in job.edges.iter().filter(|e| e.source_vertex == vertex) {
            let target = &job.vertices[edge.target_vertex];
            let consumers = connected_consumers(
                subtask,
                v.parallelism,
                target.parallelism,
                edge.partitioner.is_pointwise(),
            );
            for consumer in consumers {
                let remote = location(edge.target_vertex, consumer)?;
                if remote.data_address == own_address {
                    continue;
                }
                let id = ChannelId {
                    edge: edge.id,
                    producer: subtask,
                    consumer,
                };
                let queue = channels
                    .take_receiver(id)
                    .with_context(|| format!("channel {id:?} was connected twice"))?;
                bridges.push(connect_channel(remote.data_address.clone(), id, queue)?);
            }
        }
        executor
            .submit_task(
                TaskDeployment {
                    job_id: job.job_id,
                    job: job.clone(),
                    user_code: user_code.clone(),
                    settings: settings.clone(),
                    vertex,
                    subtask,
                    attempt,
                    channels: channels.clone(),
                    restore: restore.get(&(vertex, subtask)).cloned(),
                },
                reports.clone(),
            )
            .context("could not start a task thread")?;
    }
    drop(reports);
    let job_id = job.job_id;
    let canceller = executor.clone();
    // Set once every task reported a terminal state: the JobManager closing the connection
    // is then the expected goodbye, not a loss.
    let reported = Arc::new(AtomicBool::new(false));
    let (closed_tx, closed) = unbounded::<()>();
    let reported_all = reported.clone();
    std::thread::Builder::new()
        .name("jobmanager-in".into())
        .spawn(move || loop {
            match rpc::receive::<ToWorker>(&mut reader) {
                Ok(Some(ToWorker::Cancel)) => canceller.cancel_job(job_id),
                Ok(Some(ToWorker::CancelTasks(tasks))) => canceller.cancel_tasks(job_id, &tasks),
                Ok(Some(ToWorker::Control {
                    vertex,
                    subtask,
                    control,
                })) => {
                    canceller.send_control(job_id, vertex, subtask, control);
                }
                Ok(Some(ToWorker::Deploy { .. })) => {
                    tracing::warn!("ignoring a second deployment for job {job_id}")
                }
                Ok(None) | Err(_) if reported_all.load(Ordering::Acquire) => {
                    let _ = closed_tx.send(());
                    return;
                }
                Ok(None) | Err(_) => {
                    // Without its JobManager the worker's results go nowhere: stop at once.
                    eprintln!("strato worker: lost the connection to the JobManager; exiting");
                    std::process::exit(1)
                }
            }
        })?;
    let mut terminal = 0;
    for report in updates.iter() {
        let message = match report {
            TaskReport::State(update) => {
                if update.state.is_terminal() {
                    terminal += 1;
                }
                FromWorker::TaskState(update)
            }
            TaskReport::Checkpoint(ack) => FromWorker::Checkpoint(ack),
            TaskReport::EndOfData(task) => FromWorker::EndOfData(task),
        };
        rpc::send(&mut writer, &message)
            .context("could not report a task state to the JobManager")?;
        if terminal == tasks.len() {
            break;
        }
    }
    executor.release_job(job_id);
    for bridge in bridges {
        let _ = bridge.join();
    }
    // Exit only once the JobManager has read every report: its TaskManager tells it when
    // this process exits, on another connection, and that news must not arrive first.
    reported.store(true, Ordering::Release);
    let _ = writer.shutdown(std::net::Shutdown::Write);
    let _ = closed.recv_timeout(GOODBYE_TIMEOUT);
    Ok(())
}
