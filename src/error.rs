//! The error type of Strato's public API.
//!
//! User functions return `anyhow::Result` (they may fail for any reason of their own); the
//! engine turns such failures, and panics, into [`TaskFailure`]s that name the operator and the
//! subtask, and a failed job into [`Error::JobFailed`].

use std::fmt;

use crate::util::ids::JobId;

/// Result alias for Strato's API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a task stopped with an error: which operator, which subtask, and what it said.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskFailure {
    /// The task (operator chain) name, e.g. `Source: Text File -> Flat Map`.
    pub task: String,
    /// The operator inside the chain that failed.
    pub operator: String,
    /// 0-based subtask index.
    pub subtask: usize,
    /// Parallelism of the task.
    pub parallelism: usize,
    /// The failure message, including its causes.
    pub message: String,
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operator '{}' in task '{}' ({}/{}) failed: {}",
            self.operator,
            self.task,
            self.subtask + 1,
            self.parallelism,
            self.message
        )
    }
}

impl fmt::Debug for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Everything that can go wrong when building or running a job.
#[derive(thiserror::Error)]
pub enum Error {
    /// The program's dataflow is not valid (e.g. forward partitioning across parallelisms).
    #[error("invalid job graph: {0}")]
    InvalidGraph(String),
    /// A configuration value could not be used.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A file or directory operation failed.
    #[error("could not {operation} '{path}': {source}")]
    Io {
        operation: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The job ran and failed.
    #[error("job {job_id} failed: {cause}")]
    JobFailed { job_id: JobId, cause: TaskFailure },
    /// The job was cancelled before it finished.
    #[error("job {job_id} was cancelled")]
    JobCancelled { job_id: JobId },
    /// Anything else, with its context.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub fn io(operation: &'static str, path: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            operation,
            path: path.to_string(),
            source,
        }
    }
}

/// `Debug` prints the message and its causes, so `fn main() -> strato::Result<()>` reports a
/// failed job readably.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
