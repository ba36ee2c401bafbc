//! The application master of a Strato YARN application: `strato jobmanager` started by YARN
//! with [`ENV_DEPLOYMENT`] set. It is a JobManager (dispatcher, job masters, REST) bound to the
//! container's host, registered with the RM with the REST port as its RPC port (so clients find
//! the REST endpoint in the application report's `amRPCAddress`, as Flink's do) and the web
//! interface as tracking URL, and with a [`YarnResourceManager`] that brings TaskManager
//! containers up on demand.
//!
//! It ends (unregisters with a final status, removes the staging directory) when
//! - per-job / application: the job reached a globally terminal state (its final status);
//! - session: a client asked for it with `DELETE /cluster` (Flink's shutdown endpoint);
//! - YARN killed it (SIGTERM): only the staging directory is removed.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};

use super::amrm::AmRmClient;
use super::ids::ContainerId;
use super::launch::launch_context;
use super::rest::{FinalApplicationStatus, LocalResourceInfo};
use crate::cluster::entrypoint::{self, bind_jobmanager, exit_on_signal};
use crate::cluster::jobmanager::{Cluster, Submission};
use crate::cluster::yarn_resource_manager::{
    LossWatch, YarnResourceManager, YarnResourceManagerSettings,
};
use crate::config::{options, Configuration, PortRange};
use crate::runtime::job_master::JobStatus;

/// Set in the AM container: `session`, `per-job` or `application`.
pub const ENV_DEPLOYMENT: &str = "STRATO_YARN_DEPLOYMENT";
/// JSON map of the local resources every TaskManager container gets (key -> resource).
pub const ENV_TASK_MANAGER_RESOURCES: &str = "STRATO_YARN_TM_RESOURCES";
/// URI of the application's staging directory (removed when the application ends).
pub const ENV_STAGING_DIR: &str = "STRATO_YARN_STAGING_DIR";
/// JSON array of the program's arguments (application mode).
pub const ENV_PROGRAM_ARGS: &str = "STRATO_YARN_PROGRAM_ARGS";

/// Resource key of the `strato` binary.
pub const KEY_STRATO: &str = "strato";
/// Resource key of the user program.
pub const KEY_PROGRAM: &str = "program";
/// Resource key of the effective configuration.
pub const KEY_CONF: &str = "conf/strato-conf.yaml";
/// Directory of the shipped Hadoop configuration files.
pub const HADOOP_CONF_DIR: &str = "hadoop-conf";
/// Resource key of the per-job submission (JobGraph, plan, arguments, configuration).
pub const KEY_JOB_SUBMISSION: &str = "job-submission.json";

/// What kind of cluster the application is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentMode {
    Session,
    PerJob,
    Application,
}

impl DeploymentMode {
    pub fn name(self) -> &'static str {
        match self {
            DeploymentMode::Session => "session",
            DeploymentMode::PerJob => "per-job",
            DeploymentMode::Application => "application",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(Self::Session),
            "per-job" => Some(Self::PerJob),
            "application" => Some(Self::Application),
            _ => None,
        }
    }

    /// The mode this process runs as, if YARN started it as an application master.
    pub fn from_env() -> Option<Result<Self, String>> {
        let value = std::env::var(ENV_DEPLOYMENT).ok()?;
        Some(Self::parse(&value).ok_or_else(|| {
            format!("{ENV_DEPLOYMENT}='{value}' is not one of session, per-job, application")
        }))
    }
}

/// How long a failed job's application waits for YARN to report why its TaskManagers died.
const LOSS_REPORT_PATIENCE: Duration = Duration::from_secs(3);

/// Why the application master ends.
#[derive(Debug)]
struct Shutdown {
    status: FinalApplicationStatus,
    diagnostics: String,
}

/// The environment TaskManager containers (and the AM) get: Strato's conf dir and, when the
/// client shipped one, the Hadoop conf dir, both inside the container's working directory.
pub fn container_environment(
    resources: &BTreeMap<String, LocalResourceInfo>,
    role: &str,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("STRATO_CONF_DIR".to_string(), "$PWD/conf".to_string()),
        (
            entrypoint::ENV_LOG_FILE.to_string(),
            format!("<LOG_DIR>/{role}.log"),
        ),
    ];
    if resources
        .keys()
        .any(|k| k.starts_with(&format!("{HADOOP_CONF_DIR}/")))
    {
        for var in ["HADOOP_CONF_DIR", "YARN_CONF_DIR"] {
            env.push((var.to_string(), format!("$PWD/{HADOOP_CONF_DIR}")));
        }
    }
    env
}

fn resource_manager_settings(
    config: &Configuration,
) -> anyhow::Result<YarnResourceManagerSettings> {
    let slots = config.get(&options::NUM_TASK_SLOTS)?.max(1) as usize;
    let vcores = config.get(&options::YARN_CONTAINERS_VCORES)?;
    Ok(YarnResourceManagerSettings {
        container_memory_mb: config.get(&options::TASKMANAGER_PROCESS_SIZE)?.mebibytes() as i64,
        container_vcores: if vcores < 1 { slots as i32 } else { vcores },
        slots_per_task_manager: slots,
        heartbeat_interval: config.get(&options::YARN_HEARTBEAT_INTERVAL)?,
        request_heartbeat_interval: config
            .get(&options::YARN_CONTAINER_REQUEST_HEARTBEAT_INTERVAL)?,
        idle_timeout: config.get(&options::TASKMANAGER_TIMEOUT)?,
        node_label: config
            .get_optional(&options::YARN_APPLICATION_NODE_LABEL)?
            .filter(|l| !l.is_empty()),
    })
}

/// How TaskManager containers are launched: the shipped resources, the container
/// environment, and `strato taskmanager` pointed at this JobManager's RPC endpoint.
fn task_manager_launch(
    resources: BTreeMap<String, LocalResourceInfo>,
    rpc_host: String,
    rpc_port: u16,
) -> crate::cluster::yarn_resource_manager::TaskManagerLaunch {
    let env = container_environment(&resources, "taskmanager");
    Box::new(move |_: &ContainerId| {
        let command = format!(
            "./{KEY_STRATO} taskmanager -Djobmanager.rpc.address={rpc_host} -Djobmanager.rpc.port={rpc_port} -Dtaskmanager.host=$NM_HOST -Dio.tmp.dirs=$LOCAL_DIRS 1><LOG_DIR>/taskmanager.out 2><LOG_DIR>/taskmanager.err"
        );
        launch_context(
            vec![command],
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            resources.iter().map(|(k, r)| (k.as_str(), r)),
            None,
        )
    })
}

/// Removes the staging directory named in the environment.
fn remove_staging_dir() {
    let Ok(staging) = std::env::var(ENV_STAGING_DIR) else {
        return;
    };
    let result = crate::fs::FsConfig::for_job(&Configuration::new())
        .and_then(crate::fs::FileSystems::new)
        .and_then(|fs| {
            let (fs, path) = fs.resolve(&staging)?;
            fs.delete(&path, true)
        });
    match result {
        Ok(_) => tracing::info!("Removed the staging directory {staging}"),
        Err(e) => tracing::warn!("could not remove the staging directory {staging}: {e}"),
    }
}

/// Submits the job of a per-job cluster (the shipped JobGraph); returns its id.
fn submit_shipped_job(cluster: &Arc<Cluster>) -> anyhow::Result<crate::util::ids::JobId> {
    let bytes = std::fs::read(KEY_JOB_SUBMISSION)
        .with_context(|| format!("reading the shipped {KEY_JOB_SUBMISSION}"))?;
    let mut submission = serde_json::from_slice::<Submission>(&bytes)
        .with_context(|| format!("decoding the shipped {KEY_JOB_SUBMISSION}"))?;
    submission.program_key = cluster
        .put_blob_file(Path::new(KEY_PROGRAM))
        .map_err(|e| anyhow::anyhow!("storing the shipped program: {e}"))?;
    cluster
        .submit(submission)
        .map_err(|e| anyhow::anyhow!("submitting the job: {e}"))
}

/// How the job or program of an application cluster ended.
struct Ended {
    status: JobStatus,
    diagnostics: String,
    /// A TaskManager or worker process was lost: YARN may still report why (a memory kill).
    lost_process: bool,
}

/// Waits until the job of a per-job cluster ends.
async fn watch_job(cluster: Arc<Cluster>, job: crate::util::ids::JobId) -> Ended {
    loop {
        let ended = cluster.with_jobs(|jobs| {
            jobs.get(&job).and_then(|entry| {
                let status = entry.status();
                (status.is_globally_terminal() && entry.end_time.is_some()).then(|| {
                    (
                        status,
                        entry.failure.as_ref().map(|(_, f)| f.clone()),
                        entry.failed_by_lost_process,
                    )
                })
            })
        });
        if let Some((status, failure, lost_process)) = ended {
            let diagnostics = match failure {
                Some(cause) => format!("Job {job} failed: {cause}"),
                None => format!(
                    "Job {job} ended {}",
                    crate::rest::model::job_state_name(status)
                ),
            };
            return Ended {
                status,
                diagnostics,
                lost_process,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the program of an application cluster as a driver until `main` ends; its outcome.
async fn watch_program(
    cluster: Arc<Cluster>,
    config: Configuration,
    rest_address: String,
) -> Ended {
    let watched = cluster.clone();
    let run = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let args: Vec<String> = match std::env::var(ENV_PROGRAM_ARGS) {
            Ok(json) => serde_json::from_str(&json)
                .with_context(|| format!("decoding {ENV_PROGRAM_ARGS}"))?,
            Err(_) => Vec::new(),
        };
        crate::cluster::application::run_program(
            &cluster,
            Path::new(KEY_PROGRAM),
            &args,
            &config,
            &rest_address,
        )
    })
    .await;
    let (status, diagnostics) = match run {
        Ok(Ok(outcome)) if outcome.status == JobStatus::Finished => (
            JobStatus::Finished,
            "The application's program finished.".into(),
        ),
        Ok(Ok(outcome)) => (outcome.status, outcome.diagnostics),
        Ok(Err(e)) => (
            JobStatus::Failed,
            format!("Could not run the program: {e:#}"),
        ),
        Err(e) => (
            JobStatus::Failed,
            format!("The program's driver failed: {e}"),
        ),
    };
    let lost_process = watched.with_jobs(|jobs| jobs.values().any(|j| j.failed_by_lost_process));
    Ended {
        status,
        diagnostics,
        lost_process,
    }
}

/// The final status of an application whose job (or program) ended. After a failure by a
/// lost process it waits (briefly) for YARN's reason and adds the containers' exits.
async fn application_end(
    ended: Ended,
    abnormal_exits: Arc<Mutex<Vec<String>>>,
    losses: LossWatch,
) -> Shutdown {
    let Ended {
        status,
        mut diagnostics,
        lost_process,
    } = ended;
    let final_status = match status {
        JobStatus::Finished => FinalApplicationStatus::SUCCEEDED,
        JobStatus::Canceled => FinalApplicationStatus::KILLED,
        _ => FinalApplicationStatus::FAILED,
    };
    if final_status == FinalApplicationStatus::FAILED {
        // A lost TaskManager is in `unreported` at once; a lost worker only once its container
        // is reported (a memory kill ends the worker before its TaskManager).
        let reported = || {
            !abnormal_exits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
        };
        let deadline = tokio::time::Instant::now() + LOSS_REPORT_PATIENCE;
        while (losses.unreported() > 0 || (lost_process && !reported()))
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let exits = abnormal_exits.lock().unwrap_or_else(|e| e.into_inner());
    if final_status != FinalApplicationStatus::SUCCEEDED && !exits.is_empty() {
        diagnostics.push_str("\nTaskManager containers that ended abnormally:\n");
        diagnostics.push_str(&exits.join("\n"));
    }
    Shutdown {
        status: final_status,
        diagnostics,
    }
}

/// Runs the application master until the application ends.
pub fn run(mut config: Configuration, mode: DeploymentMode) -> anyhow::Result<()> {
    let host = std::env::var("NM_HOST").unwrap_or_else(|_| "localhost".into());
    let token_file = PathBuf::from(
        std::env::var("HADOOP_TOKEN_FILE_LOCATION")
            .context("HADOOP_TOKEN_FILE_LOCATION is not set: not started by YARN")?,
    );
    // Ephemeral ports unless configured: several AMs may share a host.
    // (`rest.port` is the standalone default and does not count here.)
    let rest_ports = if config.contains(options::REST_BIND_PORT.key) {
        config.get(&options::REST_BIND_PORT)?
    } else {
        PortRange { start: 0, end: 0 }
    };
    let rpc_port = config
        .get(&options::YARN_APPLICATION_MASTER_PORT)?
        .ports()
        .next()
        .unwrap_or(0);
    config.set(options::JOBMANAGER_RPC_ADDRESS.key, host.clone());
    // Temporary files go where YARN cleans up after the application (Flink does the same).
    if let Ok(local_dirs) = std::env::var("LOCAL_DIRS") {
        if !config.contains(options::IO_TMP_DIRS.key) {
            config.set(options::IO_TMP_DIRS.key, local_dirs);
        }
    }
    let rm_settings = resource_manager_settings(&config)?;
    let resources: BTreeMap<String, LocalResourceInfo> =
        match std::env::var(ENV_TASK_MANAGER_RESOURCES) {
            Ok(json) => serde_json::from_str(&json)
                .with_context(|| format!("decoding {ENV_TASK_MANAGER_RESOURCES}"))?,
            Err(_) => bail!("{ENV_TASK_MANAGER_RESOURCES} is not set"),
        };

    let rt = entrypoint::jobmanager_runtime()?;
    let jm = bind_jobmanager(config.clone(), &rt, &host, rpc_port, &host, &rest_ports)?;
    let rest_port = jm.rest_address.port();
    let tracking_url = format!("http://{host}:{rest_port}");
    let blob_path = jm.blob_dir.path().to_path_buf();
    // Killed by YARN: the staging directory goes only if no other attempt will need it.
    let last_attempt = std::env::var("CONTAINER_ID")
        .ok()
        .and_then(|id| id.parse::<ContainerId>().ok())
        .is_some_and(|id| {
            let attempts = config
                .get_optional(&options::YARN_APPLICATION_ATTEMPTS)
                .ok()
                .flatten()
                .unwrap_or(1);
            id.attempt.attempt_id >= attempts as i32
        });
    exit_on_signal(move || {
        let _ = std::fs::remove_dir_all(&blob_path);
        if last_attempt {
            remove_staging_dir();
        }
    })?;

    let cluster = jm.cluster.clone();
    let launch = task_manager_launch(resources, host.clone(), jm.rpc_address.port());
    let result: anyhow::Result<()> = rt.block_on(async move {
        let token = AmRmClient::amrm_token_from_file(&token_file)?;
        let addrs = super::dshell::scheduler_addresses(&token.service).await?;
        let amrm = Arc::new(AmRmClient::connect_any(&addrs, token, Duration::from_secs(20)).await?);
        amrm.register(&host, i32::from(rest_port), &tracking_url)
            .await
            .context("registering with the ResourceManager")?;
        tracing::info!("Registered with the ResourceManager; web interface at {tracking_url}");

        let (shutdown_tx, mut shutdown_rx) = tokio::sync::mpsc::unbounded_channel::<Shutdown>();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let rm = YarnResourceManager::new(cluster.clone(), amrm.clone(), rm_settings, launch);
        let abnormal_exits = rm.abnormal_exits();
        let losses = rm.loss_watch();
        let mut rm_task = tokio::spawn(rm.run(stop_rx.clone()));

        let rest_address = jm.rest_address.to_string();
        let per_job = match mode {
            DeploymentMode::PerJob => match submit_shipped_job(&cluster) {
                Ok(job) => Some(job),
                Err(e) => {
                    let diagnostics = format!("Could not start the job: {e:#}");
                    let _ = stop_tx.send(true);
                    amrm.finish(FinalApplicationStatus::FAILED, &diagnostics, None)
                        .await?;
                    remove_staging_dir();
                    bail!(diagnostics);
                }
            },
            _ => None,
        };
        if mode != DeploymentMode::Session {
            let tx = shutdown_tx.clone();
            let watched = cluster.clone();
            let config = config.clone();
            tokio::spawn(async move {
                let ended = match per_job {
                    Some(job) => watch_job(watched, job).await,
                    None => watch_program(watched, config, rest_address).await,
                };
                let shutdown = application_end(ended, abnormal_exits, losses).await;
                let _ = tx.send(shutdown);
            });
        }

        let shutdown_route = {
            let tx = shutdown_tx.clone();
            move || {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(Shutdown {
                        status: FinalApplicationStatus::SUCCEEDED,
                        diagnostics: "Strato cluster shut down by the client.".into(),
                    });
                    axum::Json(serde_json::json!({}))
                }
            }
        };
        let app = crate::rest::router(cluster.clone())
            .route("/cluster", axum::routing::delete(shutdown_route.clone()))
            .route("/v1/cluster", axum::routing::delete(shutdown_route));
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(
            axum::serve(jm.rest, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop.wait_for(|stop| *stop).await;
                })
                .into_future(),
        );
        let shutdown = tokio::select! {
            shutdown = shutdown_rx.recv() => shutdown.unwrap_or(Shutdown {
                status: FinalApplicationStatus::FAILED,
                diagnostics: "the application master lost its shutdown channel".into(),
            }),
            ended = &mut rm_task => {
                // The RM forgot this attempt: nobody to unregister from.
                let reason = match ended {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(())) => "the resource manager stopped".to_string(),
                    Err(e) => format!("the resource manager task failed: {e}"),
                };
                bail!("The ResourceManager no longer knows this application attempt: {reason}");
            }
        };
        tracing::info!(
            "Shutting down with final status {:?}: {}",
            shutdown.status,
            shutdown.diagnostics
        );
        // Let clients polling the job see its end before the REST endpoint goes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = stop_tx.send(true);
        let _ = rm_task.await;
        amrm.finish(shutdown.status, &shutdown.diagnostics, None)
            .await
            .context("unregistering from the ResourceManager")?;
        remove_staging_dir();
        let _ = server.await;
        Ok(())
    });
    drop(jm.blob_dir);
    result?;
    // Job master threads may linger; the application is over.
    std::process::exit(0);
}
