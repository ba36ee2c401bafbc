//! Talking to a running JobManager over its REST API: submit (`run -t remote` / `-m`), `list`,
//! `cancel`. Every request is bounded by `client.timeout`, so an unreachable JobManager gives a
//! clear error instead of a hang.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::program::{self, ProgramError};
use crate::cluster::jobmanager::Submission;
use crate::config::{options, Configuration};

/// A REST client for one JobManager.
pub struct RestClient {
    base: String,
    timeout: Duration,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

fn client_error(message: String) -> ProgramError {
    ProgramError::Program(message)
}

impl RestClient {
    /// The JobManager at `-m host:port`, else at `rest.address`:`rest.port`.
    pub fn new(config: &Configuration, jobmanager: Option<&str>) -> Result<Self, ProgramError> {
        let address = match jobmanager {
            Some(m) => m
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            None => format!(
                "{}:{}",
                config
                    .get(&options::REST_ADDRESS)
                    .unwrap_or_else(|_| "localhost".into()),
                config.get(&options::REST_PORT)?
            ),
        };
        let timeout = config.get(&options::CLIENT_TIMEOUT)?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| client_error(format!("could not set up the REST client: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| client_error(format!("could not start the REST client: {e}")))?;
        Ok(RestClient {
            base: format!("http://{address}"),
            timeout,
            http,
            rt,
        })
    }

    fn call(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Value, ProgramError> {
        let unreachable = |e: reqwest::Error| {
            client_error(format!(
                "Could not {what}: the JobManager at {} did not answer within {} ms (client.timeout): {e}",
                self.base,
                self.timeout.as_millis()
            ))
        };
        self.rt.block_on(async {
            let response = request.send().await.map_err(unreachable)?;
            let status = response.status();
            let body: Value = response.json().await.map_err(unreachable)?;
            if status.is_success() {
                Ok(body)
            } else {
                let errors = body["errors"]
                    .as_array()
                    .map(|e| {
                        e.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                Err(client_error(format!(
                    "Could not {what}: {status}: {errors}"
                )))
            }
        })
    }

    pub fn get(&self, path: &str, what: &str) -> Result<Value, ProgramError> {
        self.call(self.http.get(format!("{}{path}", self.base)), what)
    }

    /// Polls until the job reaches a globally terminal state; returns the job details.
    pub(crate) fn wait_for_end(
        &self,
        id: &str,
        patience: Option<Duration>,
    ) -> Result<Value, ProgramError> {
        let started = Instant::now();
        loop {
            let job = self.get(&format!("/jobs/{id}"), "get the job status")?;
            if matches!(
                job["state"].as_str(),
                Some("FINISHED" | "FAILED" | "CANCELED")
            ) {
                return Ok(job);
            }
            if patience.is_some_and(|p| started.elapsed() > p) {
                return Err(client_error(format!(
                    "job {id} did not end within {} ms (state {})",
                    started.elapsed().as_millis(),
                    job["state"]
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Uploads the program at `path` to the blob store; its key.
    pub(crate) fn upload_program(&self, path: &Path) -> Result<String, ProgramError> {
        let bytes = std::fs::read(path).map_err(|e| {
            client_error(format!(
                "could not read the program '{}': {e}",
                path.display()
            ))
        })?;
        let blob = self.call(
            self.http.post(format!("{}/blobs", self.base)).body(bytes),
            "upload the program",
        )?;
        Ok(blob["key"].as_str().unwrap_or_default().to_string())
    }

    /// Submits a job (`POST /jobs`).
    pub(crate) fn submit(&self, submission: &Submission) -> Result<(), ProgramError> {
        // Serialised as it is: a JSON value cannot hold the 128-bit job id.
        let body = serde_json::to_vec(submission)
            .map_err(|e| client_error(format!("could not encode the job submission: {e}")))?;
        self.call(
            self.http
                .post(format!("{}/jobs", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
            "submit the job",
        )?;
        Ok(())
    }

    /// Asks the JobManager to cancel a job (it may still be running on return).
    pub(crate) fn request_cancel(&self, job_id: &str) -> Result<(), ProgramError> {
        self.call(
            self.http
                .patch(format!("{}/jobs/{job_id}?mode=cancel", self.base)),
            &format!("cancel job {job_id}"),
        )?;
        Ok(())
    }

    /// Takes a savepoint of a job into `target` (or the configured default); with
    /// `terminate = Some(drain)` the job stops after it. Returns the savepoint's path.
    pub(crate) fn savepoint(
        &self,
        job_id: &str,
        target: Option<&str>,
        terminate: Option<bool>,
    ) -> Result<String, ProgramError> {
        let request = match terminate {
            None => trigger(
                self,
                &format!("/jobs/{job_id}/savepoints"),
                serde_json::json!({"target-directory": target, "cancel-job": false}),
                &format!("trigger a savepoint for job {job_id}"),
            )?,
            Some(drain) => trigger(
                self,
                &format!("/jobs/{job_id}/stop"),
                serde_json::json!({"targetDirectory": target, "drain": drain}),
                &format!("stop job {job_id}"),
            )?,
        };
        await_savepoint(self, job_id, &request)
    }

    /// The root cause of a failed job, as the JobManager reports it.
    pub(crate) fn failure_cause(&self, job_id: &str) -> Result<String, ProgramError> {
        let exceptions = self.get(
            &format!("/jobs/{job_id}/exceptions"),
            "get the failure cause",
        )?;
        Ok(exceptions["root-exception"]
            .as_str()
            .unwrap_or("unknown cause")
            .to_string())
    }
}

/// `strato run -t remote` / `-m`: plans the program, uploads it, submits the JobGraph; attached,
/// waits for the result.
pub fn run(
    program_path: &Path,
    args: &[String],
    config: &Configuration,
    jobmanager: Option<&str>,
    detached: bool,
) -> Result<(), ProgramError> {
    let client = RestClient::new(config, jobmanager)?;
    let plan = program::plan(program_path, args, config)?;
    let key = client.upload_program(program_path)?;
    let id = plan.job_graph.job_id.to_string();
    client.submit(&Submission::planned(plan, key, args, config))?;
    println!("Job has been submitted with JobID {id}");
    if detached {
        return Ok(());
    }
    let job = client.wait_for_end(&id, None)?;
    match job["state"].as_str() {
        Some("FINISHED") => {
            println!("Program execution finished");
            println!("Job with JobID {id} has finished.");
            println!("Job Runtime: {} ms", job["duration"]);
            Ok(())
        }
        Some("CANCELED") => Err(client_error(format!("Job {id} was cancelled."))),
        _ => Err(client_error(format!(
            "Job {id} failed.\nCaused by: {}",
            client.failure_cause(&id)?
        ))),
    }
}

/// Which jobs `strato list` shows.
#[derive(Debug, Clone, Copy)]
pub struct ListSelection {
    pub running: bool,
    pub scheduled: bool,
    pub terminated: bool,
}

/// Flink's `dd.MM.yyyy HH:mm:ss` in local time.
fn format_time(ms: i64) -> String {
    let secs = (ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return ms.to_string();
    }
    format!(
        "{:02}.{:02}.{:04} {:02}:{:02}:{:02}",
        tm.tm_mday,
        tm.tm_mon + 1,
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `strato list [-a|-r|-s]` with Flink's output format.
pub fn list(
    config: &Configuration,
    jobmanager: Option<&str>,
    show: ListSelection,
) -> Result<(), ProgramError> {
    let client = RestClient::new(config, jobmanager)?;
    println!("Waiting for response...");
    let overview = client.get("/jobs/overview", "list the jobs")?;
    let mut jobs: Vec<&Value> = overview["jobs"]
        .as_array()
        .map(|j| j.iter().collect())
        .unwrap_or_default();
    jobs.sort_by_key(|j| j["start-time"].as_i64().unwrap_or(0));
    let state = |j: &Value| j["state"].as_str().unwrap_or_default().to_string();
    let line = |j: &Value| {
        format!(
            "{} : {} : {} ({})",
            format_time(j["start-time"].as_i64().unwrap_or(0)),
            j["jid"].as_str().unwrap_or_default(),
            j["name"].as_str().unwrap_or_default(),
            state(j)
        )
    };
    let scheduled: Vec<_> = jobs
        .iter()
        .filter(|j| matches!(state(j).as_str(), "CREATED" | "INITIALIZING"))
        .collect();
    let terminated: Vec<_> = jobs
        .iter()
        .filter(|j| matches!(state(j).as_str(), "FINISHED" | "FAILED" | "CANCELED"))
        .collect();
    let running: Vec<_> = jobs
        .iter()
        .filter(|j| !scheduled.contains(j) && !terminated.contains(j))
        .collect();
    let block = |title: &str, jobs: &[&&Value]| {
        println!("{title}");
        for j in jobs {
            println!("{}", line(j));
        }
        println!("--------------------------------------------------------------");
    };
    if show.running {
        if running.is_empty() {
            println!("No running jobs.");
        } else {
            block(
                "------------------ Running/Restarting Jobs -------------------",
                &running,
            );
        }
    }
    if show.scheduled {
        if scheduled.is_empty() {
            println!("No scheduled jobs.");
        } else {
            block(
                "----------------------- Scheduled Jobs -----------------------",
                &scheduled,
            );
        }
    }
    if show.terminated && !terminated.is_empty() {
        block(
            "---------------------- Terminated Jobs -----------------------",
            &terminated,
        );
    }
    Ok(())
}

/// `strato cancel <jobId>`.
pub fn cancel(
    config: &Configuration,
    jobmanager: Option<&str>,
    job_id: &str,
) -> Result<(), ProgramError> {
    crate::util::ids::JobId::parse(job_id).map_err(ProgramError::Usage)?;
    let client = RestClient::new(config, jobmanager)?;
    println!("Cancelling job {job_id}.");
    client.request_cancel(job_id)?;
    let job = client.wait_for_end(job_id, Some(client.timeout))?;
    match job["state"].as_str() {
        Some("CANCELED") => {
            println!("Cancelled job {job_id}.");
            Ok(())
        }
        other => Err(client_error(format!(
            "job {job_id} ended as {} before it could be cancelled",
            other.unwrap_or("unknown")
        ))),
    }
}

/// Polls a savepoint operation until it completes; returns the savepoint's path.
fn await_savepoint(
    client: &RestClient,
    job_id: &str,
    trigger: &str,
) -> Result<String, ProgramError> {
    loop {
        let status = client.get(
            &format!("/jobs/{job_id}/savepoints/{trigger}"),
            "get the savepoint status",
        )?;
        if status["status"]["id"] == "COMPLETED" {
            if let Some(location) = status["operation"]["location"].as_str() {
                return Ok(location.to_string());
            }
            let cause = status["operation"]["failure-cause"]["stack-trace"]
                .as_str()
                .unwrap_or("unknown cause");
            return Err(client_error(format!(
                "Could not complete the savepoint of job {job_id}: {cause}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn trigger(
    client: &RestClient,
    path: &str,
    body: Value,
    what: &str,
) -> Result<String, ProgramError> {
    let answer = client.call(
        client
            .http
            .post(format!("{}{path}", client.base))
            .json(&body),
        what,
    )?;
    answer["request-id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| client_error(format!("Could not {what}: the answer had no request-id")))
}

/// `strato savepoint <jobId> [targetDirectory]`.
pub fn savepoint(
    config: &Configuration,
    jobmanager: Option<&str>,
    job_id: &str,
    target: Option<&str>,
) -> Result<(), ProgramError> {
    crate::util::ids::JobId::parse(job_id).map_err(ProgramError::Usage)?;
    let client = RestClient::new(config, jobmanager)?;
    println!("Triggering savepoint for job {job_id}.");
    println!("Waiting for response...");
    let path = client.savepoint(job_id, target, None)?;
    println!("Savepoint completed. Path: {path}");
    println!("You can resume your program from this savepoint with the run command.");
    Ok(())
}

/// `strato stop [-p dir] [-d] <jobId>`.
pub fn stop(
    config: &Configuration,
    jobmanager: Option<&str>,
    job_id: &str,
    target: Option<&str>,
    drain: bool,
) -> Result<(), ProgramError> {
    crate::util::ids::JobId::parse(job_id).map_err(ProgramError::Usage)?;
    let client = RestClient::new(config, jobmanager)?;
    println!("Suspending job \"{job_id}\" with a CANONICAL savepoint.");
    let path = client.savepoint(job_id, target, Some(drain))?;
    println!("Savepoint completed. Path: {path}");
    Ok(())
}

/// `strato savepoint -d <path>`: deletes a savepoint directory (refusing one that is not).
pub fn dispose_savepoint(path: &str) -> Result<(), ProgramError> {
    println!("Disposing savepoint '{path}'.");
    println!("Waiting for response...");
    crate::checkpoint::storage::dispose_savepoint(path)
        .map_err(|e| client_error(format!("Could not dispose savepoint '{path}': {e}")))?;
    println!("Savepoint '{path}' disposed.");
    Ok(())
}
