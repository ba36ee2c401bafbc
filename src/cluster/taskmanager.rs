//! The TaskManager process: registers its slots with the JobManager's resource manager,
//! heartbeats, and starts one worker process per job attempt (the job's own binary, fetched
//! from the blob store once and cached), supervising it and reporting when it exits. A worker
//! dies with its TaskManager (parent-death signal), so a killed TaskManager leaves nothing behind.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use super::blob;
use super::outbox::Outbox;
use super::rpc::{
    self, FromTaskManager, Hello, TaskManagerRegistration, ToTaskManager, WorkerLaunch,
};
use super::worker;
use crate::api::launch::{ENV_CLIENT_CONFIG, ENV_CLIENT_REPORT, ENV_PLAN_OUTPUT};
use crate::util::ids::JobId;

/// TaskManager settings resolved from the configuration.
#[derive(Debug, Clone)]
pub struct TaskManagerSettings {
    pub jobmanager: String,
    pub host: String,
    pub slots: usize,
    pub heartbeat_interval: Duration,
    /// A JobManager silent for this long is considered lost (its workers are killed).
    pub heartbeat_timeout: Duration,
    /// Where programs are cached and workers get their working directories.
    pub work_dir: PathBuf,
    /// The resource id to register with; on YARN the container id, so the resource manager
    /// can tell which container a TaskManager runs in. `None` makes up `host:pid-random`.
    pub resource_id: Option<String>,
}

type Workers = Arc<Mutex<HashMap<(JobId, u32), u32>>>;

/// Runs the TaskManager until the process is killed: registers, and registers again whenever
/// the JobManager connection is lost (killing the workers of the lost connection).
pub fn run(settings: TaskManagerSettings) -> anyhow::Result<()> {
    std::fs::create_dir_all(settings.work_dir.join("blobs")).with_context(|| {
        format!(
            "could not create the working directory '{}'",
            settings.work_dir.display()
        )
    })?;
    let id = settings.resource_id.clone().unwrap_or_else(|| {
        format!(
            "{}:{}-{:06x}",
            settings.host,
            std::process::id(),
            rand::random::<u32>() & 0xff_ffff
        )
    });
    let workers: Workers = Arc::default();
    loop {
        match TcpStream::connect(&settings.jobmanager) {
            Ok(stream) => {
                tracing::info!("Connected to the JobManager at {}", settings.jobmanager);
                if let Err(e) = serve(&settings, &id, stream, &workers) {
                    tracing::warn!(
                        "connection to the JobManager at {} failed: {e:#}",
                        settings.jobmanager
                    );
                }
                kill_workers(&workers);
            }
            Err(e) => tracing::info!(
                "Could not connect to the JobManager at {}: {e}; retrying",
                settings.jobmanager
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn kill_workers(workers: &Workers) {
    for (_, pid) in workers.lock().unwrap_or_else(|e| e.into_inner()).drain() {
        // SAFETY: kill(2) with a pid we spawned; at worst it names a process that already exited.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

fn serve(
    settings: &TaskManagerSettings,
    id: &str,
    stream: TcpStream,
    workers: &Workers,
) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    // The JobManager answers every heartbeat: silence for the timeout means it is gone.
    stream.set_read_timeout(Some(settings.heartbeat_timeout))?;
    let outbox = Outbox::new(stream.try_clone()?, &settings.jobmanager)?;
    let mut reader = BufReader::new(stream);
    outbox.send(&Hello::TaskManager(TaskManagerRegistration {
        id: id.to_string(),
        host: settings.host.clone(),
        slots: settings.slots,
        cpu_cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        physical_memory: physical_memory(),
    }));
    let heartbeat_outbox = outbox.clone();
    let interval = settings.heartbeat_interval;
    std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            while heartbeat_outbox.send(&FromTaskManager::Heartbeat) {
                std::thread::sleep(interval);
            }
        })?;
    loop {
        let message = match rpc::receive::<ToTaskManager>(&mut reader) {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                outbox.close();
                anyhow::bail!(
                    "The heartbeat of JobManager {} timed out (nothing heard for {} ms).",
                    settings.jobmanager,
                    settings.heartbeat_timeout.as_millis()
                );
            }
            Err(e) => return Err(e.into()),
        };
        match message {
            ToTaskManager::Heartbeat => {}
            ToTaskManager::Registered { .. } => {
                tracing::info!("Successful registration at the resource manager as {id}")
            }
            ToTaskManager::StartWorker(launch) => {
                let (job_id, attempt) = (launch.job_id, launch.attempt);
                if let Err(e) = start_worker(settings, id, launch, workers, &outbox) {
                    tracing::error!("could not start the worker of job {job_id}: {e:#}");
                    outbox.send(&FromTaskManager::WorkerExited {
                        job_id,
                        attempt,
                        status: format!("not started: {e:#}"),
                    });
                }
            }
            ToTaskManager::StopWorker { job_id, attempt } => {
                stop_worker(workers, job_id, attempt);
            }
        }
    }
    outbox.close();
    Ok(())
}

/// Gives a worker that is still running after its job attempt ended a moment to exit, then
/// kills it.
fn stop_worker(workers: &Workers, job_id: JobId, attempt: u32) {
    let workers = workers.clone();
    let _ = std::thread::Builder::new()
        .name("worker-stop".into())
        .spawn(move || {
            std::thread::sleep(Duration::from_secs(2));
            if let Some(pid) = workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(job_id, attempt))
            {
                // SAFETY: as in kill_workers.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        });
}

/// The program of a launch: from the cache, else fetched from the JobManager's blob service.
fn cached_program(
    settings: &TaskManagerSettings,
    launch: &WorkerLaunch,
) -> anyhow::Result<PathBuf> {
    let key = &launch.program_key;
    if !blob::is_key(key) {
        anyhow::bail!("'{key}' is not a blob key");
    }
    let path = settings.work_dir.join("blobs").join(key);
    if !path.is_file() {
        blob::fetch(&settings.jobmanager, key, &path)
            .with_context(|| format!("could not fetch the program of job {}", launch.job_id))?;
    }
    Ok(path)
}

fn start_worker(
    settings: &TaskManagerSettings,
    id: &str,
    launch: WorkerLaunch,
    workers: &Workers,
    outbox: &Outbox,
) -> anyhow::Result<()> {
    let program = cached_program(settings, &launch)?;
    let dir = settings
        .work_dir
        .join(format!("job-{}-{}", launch.job_id, launch.attempt));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("could not create '{}'", dir.display()))?;
    let graph_path = dir.join("job-graph.json");
    let conf_path = dir.join("strato-conf.yaml");
    std::fs::write(&graph_path, &launch.job_graph)
        .and_then(|_| std::fs::write(&conf_path, &launch.configuration))
        .with_context(|| format!("could not write the job files into '{}'", dir.display()))?;
    let mut command = Command::new(&program);
    command
        .args(&launch.args)
        .current_dir(&dir)
        .env(worker::ENV_JOB_GRAPH, &graph_path)
        .env(worker::ENV_JOBMANAGER, &settings.jobmanager)
        .env(worker::ENV_TASKMANAGER, id)
        .env(worker::ENV_ATTEMPT, launch.attempt.to_string())
        .env(worker::ENV_JOB_ORDINAL, launch.job_ordinal.to_string())
        .env(worker::ENV_HOST, &settings.host)
        .env(ENV_CLIENT_CONFIG, &conf_path)
        .env_remove(ENV_CLIENT_REPORT)
        .env_remove(ENV_PLAN_OUTPUT);
    crate::util::process::kill_with_parent(&mut command);
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start '{}'", program.display()))?;
    let key = (launch.job_id, launch.attempt);
    workers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, child.id());
    tracing::info!(
        "Started worker (pid {}) for job {} attempt {}",
        child.id(),
        launch.job_id,
        launch.attempt
    );
    let workers = workers.clone();
    let outbox = outbox.clone();
    std::thread::Builder::new()
        .name(format!("worker-{}", launch.job_id))
        .spawn(move || {
            let status = child
                .wait()
                .map(|s| s.to_string())
                .unwrap_or_else(|e| format!("unknown: {e}"));
            workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            let _ = std::fs::remove_dir_all(&dir);
            outbox.send(&FromTaskManager::WorkerExited {
                job_id: key.0,
                attempt: key.1,
                status,
            });
        })?;
    Ok(())
}

/// Total physical memory in bytes (0 when unknown).
fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        0
    }
}
