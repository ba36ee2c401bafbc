//! Application mode: the JobManager runs the program itself (Flink's application clusters:
//! `standalone-job.sh`, YARN application mode, and REST `/jars/:id/run`). The binary goes into
//! the blob store for the TaskManagers.
//!
//! Application clusters run `main` as a driver ([`run_program`]): it runs to its end on the
//! JobManager's host, each `execute` submitting its job to this dispatcher, so a program may run
//! several jobs one after another. `/jars/:id/run` submits only the first job
//! ([`submit_program`], plan mode), as Flink's web submission does.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::Context;

use super::jobmanager::{Cluster, Submission};
use crate::api::launch::{ENV_CLIENT_CONFIG, ENV_DRIVER_JOBMANAGER, ENV_DRIVER_PROGRAM_KEY};
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
        .submit(Submission::planned(plan, key, args, config))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(job_id)
}

/// How a program's `main` ended in driver mode.
#[derive(Debug, Clone)]
pub struct ProgramOutcome {
    /// `Finished` when `main` returned normally, `Canceled` when it failed after one of its jobs
    /// was cancelled, else `Failed`.
    pub status: JobStatus,
    /// What went wrong (the end of the program's error output), empty on success.
    pub diagnostics: String,
}

/// How many of the program's last error lines a failure reports.
const DIAGNOSTIC_LINES: usize = 30;

/// Runs `main` of `program` as a driver against this cluster, whose REST endpoint is at
/// `rest_address` (`host:port`); returns when `main` ends. Its output goes to this process's.
pub fn run_program(
    cluster: &Arc<Cluster>,
    program: &Path,
    args: &[String],
    config: &Configuration,
    rest_address: &str,
) -> anyhow::Result<ProgramOutcome> {
    let program =
        crate::client::program::check_program(program).map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = cluster
        .put_blob_file(&program)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = crate::client::program::launch_dir(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut command = Command::new(&program);
    command
        .args(args)
        .env(ENV_DRIVER_JOBMANAGER, rest_address)
        .env(ENV_DRIVER_PROGRAM_KEY, &key)
        .env(ENV_CLIENT_CONFIG, dir.path().join("strato-conf.yaml"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    crate::util::process::kill_with_parent(&mut command);
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start the program '{}'", program.display()))?;
    // The error output goes on to ours, and its end is kept for the diagnostics.
    let mut tail: std::collections::VecDeque<String> = Default::default();
    if let Some(stderr) = child.stderr.take() {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("{line}");
            if tail.len() == DIAGNOSTIC_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let exit = child
        .wait()
        .with_context(|| format!("waiting for the program '{}'", program.display()))?;
    if exit.success() {
        return Ok(ProgramOutcome {
            status: JobStatus::Finished,
            diagnostics: String::new(),
        });
    }
    let cancelled =
        cluster.with_jobs(|jobs| jobs.values().any(|j| j.status() == JobStatus::Canceled));
    let output: Vec<String> = tail.into_iter().collect();
    Ok(ProgramOutcome {
        status: if cancelled {
            JobStatus::Canceled
        } else {
            JobStatus::Failed
        },
        diagnostics: format!(
            "The program's main ended with {exit}:\n{}",
            output.join("\n")
        ),
    })
}
