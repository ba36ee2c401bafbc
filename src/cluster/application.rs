//! Application mode: the JobManager runs the program itself (Flink's application clusters:
//! `standalone-job.sh`, YARN application mode, and REST `/jars/:id/run`). The program binary
//! is run in plan mode on the JobManager's host, which yields its JobGraph; the binary goes
//! into the blob store for the TaskManagers, and the job is submitted to this dispatcher.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::jobmanager::{Cluster, Submission};
use crate::config::Configuration;
use crate::runtime::job_master::JobStatus;
use crate::util::ids::JobId;

/// Plans `program` with `args` under `config` and submits its job; returns the job id.
pub fn submit_program(
    cluster: &Arc<Cluster>,
    program: &Path,
    args: &[String],
    config: &Configuration,
) -> anyhow::Result<JobId> {
    let plan = crate::client::program::plan(program, args, config)
        .map_err(|e| anyhow::anyhow!("running the program's main: {e}"))?;
    let key = cluster
        .put_blob_file(program)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let job_id = plan.job_graph.job_id;
    cluster
        .submit(Submission {
            job_graph: plan.job_graph,
            plan: plan.plan,
            program_key: key,
            program_args: args.to_vec(),
            configuration: config.to_yaml_string(),
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(job_id)
}

/// Waits until the job reached a globally terminal state; returns it.
pub fn wait_for_end(cluster: &Cluster, job_id: JobId) -> JobStatus {
    loop {
        let status = cluster.with_jobs(|jobs| {
            jobs.get(&job_id)
                .map(|j| (j.status(), j.end_time.is_some()))
        });
        match status {
            Some((status, true)) if status.is_globally_terminal() => return status,
            None => return JobStatus::Failed,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
