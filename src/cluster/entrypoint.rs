//! Process entry points: `strato jobmanager` and `strato taskmanager` (configuration, logging,
//! ports, working directories, clean exit on SIGTERM).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::jobmanager::{bind_rpc, Cluster, ClusterSettings};
use super::taskmanager::{self, TaskManagerSettings};
use crate::config::{options, Configuration};

/// Where scripts ask a daemon to write its log (`log/strato-<user>-<role>-<n>-<host>.log`).
pub const ENV_LOG_FILE: &str = "STRATO_LOG_FILE";

/// Logs to `$STRATO_LOG_FILE` when set (daemons started by the scripts), else to stderr;
/// levels from `RUST_LOG` (default `info` for the daemons).
pub fn init_logging(config: &Configuration) {
    let level = config
        .get(&options::LOG_LEVEL)
        .unwrap_or_else(|_| "info".to_string());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&level))
        .unwrap_or_else(|e| {
            eprintln!("invalid log.level '{level}' ({e}); logging at info");
            tracing_subscriber::EnvFilter::new("info")
        });
    let max_size = config
        .get(&options::LOG_FILE_MAX_SIZE)
        .map(|s| s.bytes())
        .unwrap_or(100 << 20);
    let max_backups = std::env::var("MAX_LOG_FILE_NUMBER")
        .ok()
        .and_then(|n| n.parse().ok())
        .or_else(|| config.get(&options::LOG_FILE_MAX_BACKUPS).ok())
        .unwrap_or(10);
    let file = std::env::var_os(ENV_LOG_FILE).and_then(|path| {
        crate::util::rolling::RollingFile::open(&PathBuf::from(&path), max_size, max_backups)
            .map_err(|e| {
                eprintln!(
                    "could not open the log file '{}': {e}",
                    PathBuf::from(&path).display()
                )
            })
            .ok()
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match file {
        Some(file) => builder.with_ansi(false).with_writer(file).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}

/// A private temporary directory under the first of `io.tmp.dirs` (or the system's).
pub fn temp_dir(config: &Configuration, prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let base = config
        .get_optional(&options::IO_TMP_DIRS)?
        .and_then(|dirs| dirs.into_iter().next())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .with_context(|| {
            format!(
                "could not create a temporary directory in '{}'",
                base.display()
            )
        })
}

/// Runs `cleanup` and ends the process on SIGTERM or SIGINT.
pub fn exit_on_signal(cleanup: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            });
            tracing::info!("RECEIVED SIGNAL: shutting down");
            cleanup();
            std::process::exit(0);
        })?;
    Ok(())
}

/// The JobManager's settings from the configuration, with blobs kept in `blob_dir`.
pub fn cluster_settings(
    config: &Configuration,
    blob_dir: PathBuf,
) -> anyhow::Result<ClusterSettings> {
    Ok(ClusterSettings {
        heartbeat_interval: config.get(&options::HEARTBEAT_INTERVAL)?,
        heartbeat_timeout: config.get(&options::HEARTBEAT_TIMEOUT)?,
        slot_request_timeout: config.get(&options::SLOT_REQUEST_TIMEOUT)?,
        jobstore_expiration: config.get(&options::JOBSTORE_EXPIRATION_TIME)?,
        blob_dir,
    })
}

/// Binds the REST endpoint to the first free port of `ports` on `host`.
pub async fn bind_rest(
    host: &str,
    ports: &crate::config::PortRange,
) -> anyhow::Result<tokio::net::TcpListener> {
    let mut last = None;
    for port in ports.ports() {
        match tokio::net::TcpListener::bind((host, port)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("empty port range")))
        .with_context(|| format!("could not bind the REST endpoint to {host}:{ports}"))
}

/// A JobManager whose endpoints are bound: the cluster serves RPC, REST is ready to serve.
pub struct BoundJobManager {
    pub cluster: Arc<Cluster>,
    pub rest: tokio::net::TcpListener,
    pub rpc_address: std::net::SocketAddr,
    pub rest_address: std::net::SocketAddr,
    pub blob_dir: tempfile::TempDir,
}

/// Creates the cluster, serves its RPC endpoint on `rpc_host:rpc_port` and binds REST on
/// `rest_host` within `rest_ports` (inside `rt`).
pub fn bind_jobmanager(
    config: Configuration,
    rt: &tokio::runtime::Runtime,
    rpc_host: &str,
    rpc_port: u16,
    rest_host: &str,
    rest_ports: &crate::config::PortRange,
) -> anyhow::Result<BoundJobManager> {
    let blob_dir = temp_dir(&config, "strato-blobs-")?;
    let settings = cluster_settings(&config, blob_dir.path().to_path_buf())?;
    let (rpc_listener, rpc_address) = bind_rpc(rpc_host, rpc_port).with_context(|| {
        format!("could not bind the JobManager RPC endpoint to {rpc_host}:{rpc_port}")
    })?;
    let cluster = Cluster::new(settings, config);
    cluster.serve_rpc(rpc_listener)?;
    let rest = rt.block_on(bind_rest(rest_host, rest_ports))?;
    let rest_address = rest.local_addr()?;
    // Tests and scripts read these two lines to find the ports.
    println!("JobManager RPC endpoint listening at {rpc_address}");
    println!("Rest endpoint listening at {rest_address}");
    tracing::info!("JobManager RPC endpoint listening at {rpc_address}, Rest endpoint listening at {rest_address}");
    Ok(BoundJobManager {
        cluster,
        rest,
        rpc_address,
        rest_address,
        blob_dir,
    })
}

/// The multi-threaded runtime the JobManager's REST server runs on.
pub fn jobmanager_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the REST server's runtime")
}

/// Binds a JobManager where the configuration says: `jobmanager.rpc.address`/`.port`, REST on
/// `rest.bind-address` (else `rest.address`, else the RPC host) within `rest.bind-port`.
fn bind_configured_jobmanager(
    config: Configuration,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<BoundJobManager> {
    let rpc_host = config.get(&options::JOBMANAGER_RPC_ADDRESS)?;
    let rpc_port = config.get(&options::JOBMANAGER_RPC_PORT)?;
    let rest_host = match config.get_optional(&options::REST_BIND_ADDRESS)? {
        Some(h) => h,
        None => config
            .get(&options::REST_ADDRESS)
            .unwrap_or_else(|_| rpc_host.clone()),
    };
    let rest_ports = config.get(&options::REST_BIND_PORT)?;
    bind_jobmanager(config, rt, &rpc_host, rpc_port, &rest_host, &rest_ports)
}

/// `strato jobmanager`: a session cluster's JobManager, until SIGTERM.
pub fn run_jobmanager(config: Configuration) -> anyhow::Result<()> {
    let rt = jobmanager_runtime()?;
    let jm = bind_configured_jobmanager(config, &rt)?;
    let blob_path = jm.blob_dir.path().to_path_buf();
    exit_on_signal(move || {
        let _ = std::fs::remove_dir_all(&blob_path);
    })?;
    rt.block_on(crate::rest::serve(jm.rest, Arc::clone(&jm.cluster)))
        .context("the REST server stopped")?;
    drop(jm.blob_dir);
    Ok(())
}

/// `strato standalone-job`: a JobManager in application mode. It runs `program`'s main
/// itself, runs the job on the TaskManagers that register, and exits when the job has ended
/// (status 0 when it finished).
pub fn run_standalone_job(
    config: Configuration,
    program: &std::path::Path,
    args: &[String],
) -> anyhow::Result<crate::runtime::job_master::JobStatus> {
    let rt = jobmanager_runtime()?;
    let jm = bind_configured_jobmanager(config.clone(), &rt)?;
    let blob_path = jm.blob_dir.path().to_path_buf();
    exit_on_signal(move || {
        let _ = std::fs::remove_dir_all(&blob_path);
    })?;
    rt.spawn(crate::rest::serve(jm.rest, Arc::clone(&jm.cluster)));
    let rest_address = jm.rest_address.to_string();
    let outcome =
        super::application::run_program(&jm.cluster, program, args, &config, &rest_address)?;
    if outcome.status != crate::runtime::job_master::JobStatus::Finished {
        tracing::error!("{}", outcome.diagnostics);
    }
    tracing::info!(
        "The application ended {:?}; shutting the cluster down.",
        outcome.status
    );
    drop(jm.blob_dir);
    Ok(outcome.status)
}

/// `strato taskmanager`: registers with the JobManager and runs workers, until SIGTERM.
pub fn run_taskmanager(config: Configuration) -> anyhow::Result<()> {
    let jobmanager = format!(
        "{}:{}",
        config.get(&options::JOBMANAGER_RPC_ADDRESS)?,
        config.get(&options::JOBMANAGER_RPC_PORT)?
    );
    let host = config
        .get_optional(&options::TASKMANAGER_HOST)?
        .unwrap_or_else(|| "127.0.0.1".into());
    let work_dir = temp_dir(&config, "strato-taskmanager-")?;
    let settings = TaskManagerSettings {
        jobmanager,
        host,
        slots: config.get(&options::NUM_TASK_SLOTS)? as usize,
        heartbeat_interval: config.get(&options::HEARTBEAT_INTERVAL)?,
        heartbeat_timeout: config.get(&options::HEARTBEAT_TIMEOUT)?,
        work_dir: work_dir.path().to_path_buf(),
        // On YARN the container id names the TaskManager (Flink does the same).
        resource_id: std::env::var("CONTAINER_ID").ok(),
    };
    let path = work_dir.path().to_path_buf();
    exit_on_signal(move || {
        let _ = std::fs::remove_dir_all(&path);
    })?;
    taskmanager::run(settings)
}
