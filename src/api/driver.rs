//! Driver mode (Flink's application mode): the program's `main` runs next to a JobManager, and
//! each `execute` submits its job there, waits for it like a local run would, and lets `main`
//! go on to the next one. A program may so run several jobs one after another, each seeing
//! the results (files, tables) of the ones before.
//!
//! The application cluster starts the program with [`ENV_DRIVER_JOBMANAGER`] and
//! [`ENV_DRIVER_PROGRAM_KEY`] set (see `crate::cluster::application::ProgramDriver`). Each job
//! carries its ordinal, the count of `execute` calls before it, so that the workers, which run
//! `main` again, skip to the right one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::environment::{JobClient, JobExecutionResult};
use super::launch::{ENV_DRIVER_JOBMANAGER, ENV_DRIVER_PROGRAM_KEY};
use crate::client::remote::RestClient;
use crate::cluster::jobmanager::Submission;
use crate::config::Configuration;
use crate::error::{Error, Result};
use crate::graph::JobGraph;
use crate::runtime::job_master::{JobControl, JobStatus};
use crate::util::ids::JobId;

/// How often a driver asks the JobManager about a running job.
const POLL: Duration = Duration::from_millis(100);

/// Where a driver submits its jobs.
#[derive(Debug, Clone)]
pub struct DriverSpec {
    /// REST address (`host:port`) of the JobManager.
    pub jobmanager: String,
    /// The blob key of this program in the JobManager's blob store.
    pub program_key: String,
}

impl DriverSpec {
    /// The spec from the environment, if this process was started as a driver.
    pub fn from_env() -> Option<DriverSpec> {
        Some(DriverSpec {
            jobmanager: std::env::var(ENV_DRIVER_JOBMANAGER).ok()?,
            program_key: std::env::var(ENV_DRIVER_PROGRAM_KEY).ok()?,
        })
    }
}

fn driver_error(e: impl std::fmt::Display) -> Error {
    Error::Other(anyhow::anyhow!("{e}"))
}

/// Submits `job` (the `ordinal`-th of `main`) to the driver's JobManager; the client watches it
/// there.
pub(crate) fn submit(
    spec: &DriverSpec,
    job: JobGraph,
    plan: serde_json::Value,
    config: &Configuration,
    ordinal: usize,
) -> Result<JobClient> {
    let client = RestClient::new(config, Some(&spec.jobmanager)).map_err(driver_error)?;
    let job_id = job.job_id;
    client
        .submit(&Submission {
            job_graph: job,
            plan,
            program_key: spec.program_key.clone(),
            program_args: std::env::args().skip(1).collect(),
            configuration: config.to_yaml_string(),
            job_ordinal: ordinal,
        })
        .map_err(driver_error)?;
    println!("Job has been submitted with JobID {job_id}");
    let status = Arc::new(Mutex::new(JobStatus::Created));
    let (control_tx, control) = bounded(16);
    let (result_tx, result) = bounded(1);
    let watched = status.clone();
    std::thread::Builder::new()
        .name(format!("driver-{job_id}"))
        .spawn(move || watch(&client, job_id, &watched, &control, &result_tx))
        .map_err(|e| driver_error(format!("could not start watching job {job_id}: {e}")))?;
    Ok(JobClient::new(job_id, status, control_tx, result))
}

/// Relays the client's requests to the JobManager and reports the job's end.
fn watch(
    client: &RestClient,
    job_id: JobId,
    status: &Mutex<JobStatus>,
    control: &Receiver<JobControl>,
    result: &Sender<Result<JobExecutionResult>>,
) {
    let id = job_id.to_string();
    let mut listening = true;
    loop {
        let request = if listening {
            control.recv_timeout(POLL)
        } else {
            std::thread::sleep(POLL);
            Err(RecvTimeoutError::Timeout)
        };
        match request {
            Ok(JobControl::Cancel) => {
                if let Err(e) = client.request_cancel(&id) {
                    tracing::warn!("could not cancel job {id}: {e}");
                }
            }
            Ok(JobControl::TriggerSavepoint {
                target,
                terminate,
                reply,
            }) => {
                let taken = client
                    .savepoint(&id, target.as_deref(), terminate)
                    .map_err(|e| e.to_string());
                let _ = reply.send(taken);
            }
            Err(RecvTimeoutError::Disconnected) => listening = false,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let details = match client.get(&format!("/jobs/{id}"), "get the job status") {
            Ok(details) => details,
            Err(e) => {
                let _ = result.send(Err(driver_error(format!(
                    "lost the JobManager while job {id} ran: {e}"
                ))));
                return;
            }
        };
        let Ok(now) = serde_json::from_value::<JobStatus>(details["state"].clone()) else {
            continue;
        };
        *status.lock().unwrap_or_else(|e| e.into_inner()) = now;
        if !now.is_globally_terminal() {
            continue;
        }
        let outcome = match now {
            JobStatus::Finished => Ok(JobExecutionResult {
                job_id,
                net_runtime: Duration::from_millis(details["duration"].as_u64().unwrap_or(0)),
                accumulators: Default::default(),
                checkpoints: Default::default(),
            }),
            JobStatus::Canceled => Err(Error::JobCancelled { job_id }),
            _ => {
                let cause = client
                    .failure_cause(&id)
                    .unwrap_or_else(|e| format!("unknown ({e})"));
                Err(driver_error(format!("Job {id} failed: {cause}")))
            }
        };
        let _ = result.send(outcome);
        return;
    }
}

/// The result an `execute` before a worker's own job gives: that job ran elsewhere, and
/// its outcome is not known here.
pub(crate) fn skipped(job_id: JobId) -> JobClient {
    let (control, _) = bounded(1);
    let (result_tx, result) = bounded(1);
    let _ = result_tx.send(Ok(JobExecutionResult {
        job_id,
        net_runtime: Duration::ZERO,
        accumulators: Default::default(),
        checkpoints: Default::default(),
    }));
    JobClient::new(
        job_id,
        Arc::new(Mutex::new(JobStatus::Finished)),
        control,
        result,
    )
}
