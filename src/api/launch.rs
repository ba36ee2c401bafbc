//! How this program was started, and what it tells the `strato` client that started it.
//!
//! A job binary is started either by hand (run locally), or by `strato run` (run locally with
//! the client's configuration, reporting job events back), or by `strato info` / `strato run
//! -t remote` (plan mode: write the JobGraph and exit), or by an application cluster (driver
//! mode: every `execute` submits its job to the JobManager, see [`crate::api::driver`]), or by
//! a TaskManager (worker mode: run the deployed subtasks, see `crate::cluster::worker`). The client passes these through environment variables so the
//! user's `main` needs no arguments for them.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::config::Configuration;
use crate::error::{Error, Result};
use crate::graph::JobGraph;
use crate::util::ids::JobId;

/// Path of the effective configuration (flat YAML) written by the client.
pub const ENV_CLIENT_CONFIG: &str = "STRATO_CLIENT_CONFIG";
/// Path of a JSON-lines file where the program reports job events to the client.
pub const ENV_CLIENT_REPORT: &str = "STRATO_CLIENT_REPORT";
/// Set in plan mode: where to write the JobGraph and plan.
pub const ENV_PLAN_OUTPUT: &str = "STRATO_PLAN_OUTPUT";
/// Set in driver mode: the REST address (`host:port`) of the JobManager to submit to.
pub const ENV_DRIVER_JOBMANAGER: &str = "STRATO_DRIVER_JOBMANAGER";
/// Set in driver mode: the blob key under which the JobManager holds this program.
pub const ENV_DRIVER_PROGRAM_KEY: &str = "STRATO_DRIVER_PROGRAM_KEY";

/// What `execute` does in this process.
pub enum Launch {
    /// Run the job on the embedded executor.
    Local,
    /// Write the JobGraph and plan to this path, then exit.
    Plan(PathBuf),
    /// Submit each job to a JobManager and go on with `main` (application mode).
    Driver(crate::api::driver::DriverSpec),
    /// Started by a TaskManager: run the subtasks the JobManager deploys here, then exit.
    Worker(crate::cluster::worker::WorkerSpec),
}

pub fn current() -> Result<Launch> {
    if let Some(spec) = crate::cluster::worker::WorkerSpec::from_env() {
        return spec
            .map(Launch::Worker)
            .map_err(|e| Error::Other(anyhow::anyhow!(e)));
    }
    if let Some(spec) = crate::api::driver::DriverSpec::from_env() {
        return Ok(Launch::Driver(spec));
    }
    Ok(match std::env::var_os(ENV_PLAN_OUTPUT) {
        Some(path) => Launch::Plan(PathBuf::from(path)),
        None => Launch::Local,
    })
}

/// The number of this `execute` among `main`'s (0 for the first): how a worker, which runs
/// `main` again, finds the job it was started for, and what a driver tells the JobManager.
pub fn next_execution_ordinal() -> usize {
    static EXECUTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    EXECUTIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// The marker the client leaves in its launch directory when it returns before the program
/// ends (`strato run -d`): the program then removes the directory when it exits.
pub const LAUNCH_DIR_HANDED_OVER: &str = "handed-over";

/// Removes the client's launch directory (holding `path`) at exit if the client handed it
/// over; registered once, the first time the client configuration is read.
fn remove_launch_dir_at_exit(path: &Path) {
    static LAUNCH_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    extern "C" fn remove_if_handed_over() {
        let Some(dir) = LAUNCH_DIR.get() else { return };
        // Only ever a directory the client created, and only once it let go of it.
        let ours = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("strato-client-"));
        if ours && dir.join(LAUNCH_DIR_HANDED_OVER).exists() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let Some(dir) = path.parent() else { return };
    if LAUNCH_DIR.set(dir.to_path_buf()).is_ok() {
        // SAFETY: registers a function that takes nothing and reads only a set OnceLock.
        unsafe {
            libc::atexit(remove_if_handed_over);
        }
    }
}

/// The configuration the client resolved (conf file, `-D`, `-p`), if started by the client.
pub fn client_configuration() -> Result<Option<Configuration>> {
    let Some(path) = std::env::var_os(ENV_CLIENT_CONFIG) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    remove_launch_dir_at_exit(&path);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io("read the client configuration", path.display(), e))?;
    Ok(Some(Configuration::from_yaml_str(
        &text,
        &path.display().to_string(),
    )?))
}

/// What plan mode writes: the JobGraph and the plan JSON.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PlanFile {
    pub job_graph: JobGraph,
    pub plan: serde_json::Value,
}

/// Plan mode: the client wants the graph, not a run. Writes it atomically and ends the
/// program (like Flink's `ProgramAbortException`), so `main` does not go on to run anything.
pub fn write_plan_and_exit(path: &Path, job: &JobGraph, plan: &serde_json::Value) -> ! {
    let file = PlanFile {
        job_graph: job.clone(),
        plan: plan.clone(),
    };
    let tmp = path.with_extension("partial");
    let written = serde_json::to_vec(&file)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|_| std::fs::rename(&tmp, path));
    match written {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("could not write the job plan to '{}': {e}", path.display());
            std::process::exit(2)
        }
    }
}

fn report(event: serde_json::Value) {
    let Some(path) = std::env::var_os(ENV_CLIENT_REPORT) else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{event}"));
    if let Err(e) = appended {
        eprintln!(
            "could not report to the strato client through '{}': {e}",
            PathBuf::from(path).display()
        );
    }
}

/// Tells the client a job was submitted (and prints Flink's line, as the client would).
pub fn report_job_submitted(job_id: JobId) {
    if std::env::var_os(ENV_CLIENT_REPORT).is_some() {
        println!("Job has been submitted with JobID {job_id}");
        report(json!({"event": "submitted", "job_id": job_id.to_string()}));
    }
}

/// Tells the client how a job ended.
pub fn report_job_end<T>(job_id: JobId, result: &Result<T>)
where
    T: std::borrow::Borrow<crate::api::environment::JobExecutionResult>,
{
    match result {
        Ok(r) => report(
            json!({"event": "finished", "job_id": job_id.to_string(), "runtime_ms": r.borrow().get_net_runtime()}),
        ),
        Err(e) => report(
            json!({"event": "failed", "job_id": job_id.to_string(), "cause": format!("{e:?}")}),
        ),
    }
}
