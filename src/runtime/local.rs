//! The embedded executor: an in-process cluster of one job master per job and one task
//! executor, the same scheduler and tasks the cluster runtime uses across processes.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::bounded;

use super::job_master::{JobMaster, JobOutcome, JobStatus, LocalDeployer, RestartStrategy};
use super::task::TaskSettings;
use super::task_executor::TaskExecutor;
use crate::api::environment::{JobClient, JobExecutionResult};
use crate::config::FailoverStrategy;
use crate::error::{Error, Result};
use crate::graph::{JobGraph, StreamGraph};

/// Runs a job in this process and returns a client for it.
pub fn submit(
    job: JobGraph,
    user_code: StreamGraph,
    settings: TaskSettings,
    restart: RestartStrategy,
    failover: FailoverStrategy,
) -> Result<JobClient> {
    let job = Arc::new(job);
    let job_id = job.job_id;
    // Like Flink's MiniCluster: exactly as many slots as the job needs.
    let task_executor = Arc::new(TaskExecutor::new(job.required_slots()));
    let status = Arc::new(Mutex::new(JobStatus::Created));
    let states = Arc::new(Mutex::new(Vec::new()));
    let (control_tx, control_rx) = bounded(16);
    let (result_tx, result_rx) = bounded(1);
    let master = JobMaster {
        job: job.clone(),
        deployer: Arc::new(LocalDeployer {
            task_executor,
            user_code: Arc::new(user_code),
            settings,
        }),
        restart,
        failover,
        status: status.clone(),
        on_status: None,
        states,
        checkpoint_stats: Arc::default(),
    };
    let checkpoint_stats = master.checkpoint_stats.clone();
    let started = Instant::now();
    std::thread::Builder::new()
        .name(format!("jobmaster-{job_id}"))
        .spawn(move || {
            let outcome = master.run(control_rx);
            let result = match outcome {
                JobOutcome::Finished { accumulators } => Ok(JobExecutionResult {
                    job_id,
                    net_runtime: started.elapsed(),
                    accumulators,
                    checkpoints: checkpoint_stats
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                }),
                JobOutcome::Failed(cause) => Err(Error::JobFailed { job_id, cause }),
                JobOutcome::Canceled => Err(Error::JobCancelled { job_id }),
            };
            let _ = result_tx.send(result);
        })
        .map_err(|e| {
            Error::Other(anyhow::anyhow!(
                "could not start the job master thread: {e}"
            ))
        })?;
    Ok(JobClient::new(job_id, status, control_tx, result_rx))
}
